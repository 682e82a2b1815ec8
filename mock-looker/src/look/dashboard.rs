//! Dashboards: a title and tiles that show Looks, sent to actions that list `dashboard` in
//! their `supported_action_types` as a rendered PDF or PNG of the tiles (or a zip of one CSV
//! per tile).
//!
//! A dashboard is written in the same directory and the same YAML or JSON as the Looks; a file
//! with a top-level `tiles` list is a dashboard:
//!
//! ```yaml
//! id: "1"                 # optional, a string (assigned when absent); its own id space
//! title: Sales overview
//! description: optional
//! tiles:
//!   - look: "1"           # the id of a Look (built-in or from the same directory)
//!     title: All users    # optional; the Look's title when absent
//!   - look: "3"
//! ```

use serde::{Deserialize, Serialize};

use super::{Look, LookError};

/// Tiles a dashboard may have: each is rendered into the files sent, so their number bounds
/// the size of a rendered dashboard.
pub const MAX_TILES: usize = 50;

/// A dashboard definition as written in a `.yaml`/`.yml`/`.json` file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardDef {
    /// Dashboard id (a string, as in API 4.0). Assigned by the mock when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub tiles: Vec<TileDef>,
}

/// One tile: a Look shown on the dashboard.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileDef {
    /// The id of the Look the tile shows.
    pub look: String,
    /// The tile's title; the Look's when absent.
    #[serde(default)]
    pub title: Option<String>,
}

/// A tile with its Look resolved.
#[derive(Debug, Clone)]
pub struct Tile {
    pub title: String,
    pub look: Look,
}

/// A dashboard whose tiles' Looks are resolved, ready to be rendered. Built by
/// [`resolve`](Self::resolve), so it always has between 1 and [`MAX_TILES`] tiles.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    tiles: Vec<Tile>,
}

impl Dashboard {
    /// The tiles, in order (never empty).
    pub fn tiles(&self) -> &[Tile] {
        &self.tiles
    }

    /// Resolves the tiles' Looks with `find` (by Look id); errors name the dashboard and tile.
    pub fn resolve(
        def: &DashboardDef,
        id: &str,
        find: impl Fn(&str) -> Option<Look>,
    ) -> Result<Dashboard, LookError> {
        let invalid = |message: String| LookError::Invalid {
            look: def.title.clone(),
            message,
        };
        if def.tiles.is_empty() {
            return Err(invalid("the dashboard has no tiles".into()));
        }
        if def.tiles.len() > MAX_TILES {
            return Err(invalid(format!(
                "{} tiles; a dashboard has at most {MAX_TILES}",
                def.tiles.len()
            )));
        }
        let tiles = def
            .tiles
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let look = find(&t.look)
                    .ok_or_else(|| invalid(format!("tiles[{i}]: no Look with id {:?}", t.look)))?;
                Ok(Tile {
                    title: t.title.clone().unwrap_or_else(|| look.title().to_owned()),
                    look,
                })
            })
            .collect::<Result<_, LookError>>()?;
        Ok(Dashboard {
            id: id.to_owned(),
            title: def.title.clone(),
            description: def.description.clone(),
            tiles,
        })
    }
}

/// Whether a Look-directory file is a dashboard (a top-level `tiles` key). A file that does
/// not parse is not: loading it as a Look reports the parse error.
pub(crate) fn is_dashboard(text: &str, json: bool) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        tiles: Option<serde::de::IgnoredAny>,
    }
    let probe = if json {
        serde_json::from_str::<Probe>(text).ok()
    } else {
        crate::yaml::check_nesting(text)
            .ok()
            .and_then(|_| serde_norway::from_str::<Probe>(text).ok())
    };
    probe.is_some_and(|p| p.tiles.is_some())
}

/// Parses a dashboard file; errors name `origin`.
pub fn parse_dashboard(text: &str, origin: &str, json: bool) -> Result<DashboardDef, LookError> {
    let parsed = if json {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_norway::from_str(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|message| LookError::Parse {
        path: origin.into(),
        message,
    })
}
