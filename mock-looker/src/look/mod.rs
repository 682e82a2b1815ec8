//! Looks: the data a mock Looker sends to actions.
//!
//! A Look is defined in YAML or JSON ([`LookDef`]): model, explore, fields with the json_detail
//! field metadata Looker emits, optional pivots, `vis_config` (with `hidden_fields`), and either
//! literal `rows` or a `generate` block. Generated Looks are produced row by row from a seeded
//! generator into one reused [`Row`] buffer, so ten million rows cost the memory of one.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod dashboard;
mod rows;

pub use dashboard::{Dashboard, DashboardDef, MAX_TILES, Tile, TileDef, parse_dashboard};

use rows::check_generator;
pub use rows::{RowCursor, SplitMix64};
use serde_json::{Map, Value};

/// Why a Look definition was rejected.
#[derive(Debug, thiserror::Error)]
pub enum LookError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: invalid Look definition: {message}")]
    Parse { path: String, message: String },
    #[error("Look {look:?}: {message}")]
    Invalid { look: String, message: String },
}

/// A Look definition as written in a `.yaml`/`.yml`/`.json` file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookDef {
    /// Look id (a string, as in API 4.0). Assigned by the mock when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// LookML model name, e.g. `thelook`.
    pub model: String,
    /// Explore name (the query's `view`).
    pub explore: String,
    #[serde(default)]
    pub explore_label: Option<String>,
    pub fields: FieldsDef,
    /// Pivot columns, in order. When present every measure is pivoted.
    #[serde(default)]
    pub pivots: Vec<PivotDef>,
    /// Literal rows: `field name -> scalar | {value, rendered, html, links}`; a pivoted measure is
    /// `{pivot key -> scalar | cell}`.
    #[serde(default)]
    pub rows: Vec<Value>,
    /// Generate rows instead of listing them.
    #[serde(default)]
    pub generate: Option<GenerateDef>,
    /// The query's `vis_config`; `hidden_fields` is what hubs read.
    #[serde(default)]
    pub vis_config: Map<String, Value>,
    #[serde(default)]
    pub filters: Map<String, Value>,
    #[serde(default)]
    pub sorts: Vec<String>,
    /// Query limit, a string in API 4.0 (`"500"`, `"-1"` for unlimited).
    #[serde(default)]
    pub limit: Option<String>,
    /// Fixed `ran_at`; "now" when absent.
    #[serde(default)]
    pub ran_at: Option<String>,
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// The four field lists of json_detail's `fields` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsDef {
    #[serde(default)]
    pub dimensions: Vec<FieldDef>,
    #[serde(default)]
    pub measures: Vec<FieldDef>,
    #[serde(default)]
    pub table_calculations: Vec<FieldDef>,
    /// The pivoted dimensions (metadata only; their values are the pivot keys).
    #[serde(default)]
    pub pivots: Vec<FieldDef>,
}

/// One field. Only `name` is required; the rest of the json_detail metadata is derived the way
/// Looker derives it (view from the name, labels from the view and field name, alignment and
/// `is_numeric` from the type) unless given. `extra` keys are appended verbatim.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub label_short: Option<String>,
    #[serde(default)]
    pub view: Option<String>,
    #[serde(default)]
    pub view_label: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_numeric: Option<bool>,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub primary_key: bool,
    #[serde(default)]
    pub value_format: Option<String>,
    #[serde(default)]
    pub field_group_label: Option<String>,
    #[serde(default)]
    pub field_group_variant: Option<String>,
    /// Table calculation expression (table_calculations only).
    #[serde(default)]
    pub expression: Option<String>,
    /// `{sort_index, desc}` when the query sorts on this field.
    #[serde(default)]
    pub sorted: Option<Value>,
    /// `{name, count}` for time fields; also sets `is_timeframe`.
    #[serde(default)]
    pub time_interval: Option<Value>,
    /// Value generator (generated Looks only).
    #[serde(default)]
    pub generator: Option<Generator>,
    /// Share of generated values that are null, 0.0..=1.0.
    #[serde(default)]
    pub null_ratio: f64,
    /// Extra metadata keys, appended after the standard ones.
    #[serde(default)]
    pub extra: Map<String, Value>,
}

/// One pivot column: `key` as it appears in pivoted cells, `data` the pivot dimension values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PivotDef {
    pub key: String,
    #[serde(default)]
    pub data: Map<String, Value>,
    #[serde(default)]
    pub is_total: bool,
}

/// How many rows to generate and from which seed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateDef {
    pub rows: u64,
    #[serde(default)]
    pub seed: u64,
}

/// Per-column value generators for generated Looks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Generator {
    /// `user{n}@{domain}` with n the row number (unique per row).
    Email {
        #[serde(default = "default_domain")]
        domain: String,
    },
    /// `{prefix}{start + row}` as a string (or a number without prefix when `numeric`).
    Sequence {
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        start: u64,
        #[serde(default)]
        numeric: bool,
    },
    /// A random (seeded) UUID v4 string.
    Uuid,
    /// A uniform integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// A uniform float in `min..max` rounded to `decimals`.
    Float {
        min: f64,
        max: f64,
        #[serde(default = "default_decimals")]
        decimals: u32,
    },
    /// One of the given values, uniformly.
    Choice { values: Vec<Value> },
    /// Always this value.
    Const { value: Value },
    /// A date `YYYY-MM-DD` within `days` after `start`.
    Date {
        #[serde(default = "default_start_date")]
        start: String,
        #[serde(default = "default_days")]
        days: u32,
    },
}

fn default_domain() -> String {
    "example.com".into()
}
fn default_decimals() -> u32 {
    2
}
fn default_start_date() -> String {
    "2024-01-01".into()
}
fn default_days() -> u32 {
    365
}

/// A scalar cell value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn from_json(v: &Value) -> Result<Scalar, String> {
        Ok(match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => Scalar::Float(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => Scalar::Str(s.clone()),
            other => return Err(format!("expected a scalar value, got {other}")),
        })
    }

    /// The value as text (csv/txt and `rendered` defaults).
    pub fn to_text(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Scalar::Null => {}
            Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Scalar::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Scalar::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Scalar::Str(s) => out.push_str(s),
        }
    }
}

/// A drill or action link in a json_detail cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub label: String,
    pub url: String,
    pub kind: String,
    pub type_label: Option<String>,
}

/// One json_detail cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub value: Scalar,
    pub rendered: Option<String>,
    pub html: Option<String>,
    pub links: Vec<Link>,
    pub filterable_value: Option<String>,
}

impl Cell {
    pub fn new(value: Scalar) -> Cell {
        Cell {
            value,
            rendered: None,
            html: None,
            links: Vec::new(),
            filterable_value: None,
        }
    }

    fn from_json(v: &Value) -> Result<Cell, String> {
        match v {
            Value::Object(o) if o.contains_key("value") => {
                let mut cell = Cell::new(Scalar::from_json(&o["value"])?);
                for (k, v) in o {
                    match k.as_str() {
                        "value" => {}
                        "rendered" => cell.rendered = v.as_str().map(str::to_owned),
                        "html" => cell.html = v.as_str().map(str::to_owned),
                        "filterable_value" => cell.filterable_value = v.as_str().map(str::to_owned),
                        "links" => {
                            for l in v.as_array().ok_or("links must be an array")? {
                                let s =
                                    |k: &str| l.get(k).and_then(Value::as_str).map(str::to_owned);
                                cell.links.push(Link {
                                    label: s("label").unwrap_or_default(),
                                    url: s("url").unwrap_or_default(),
                                    kind: s("type").unwrap_or_else(|| "drill".into()),
                                    type_label: s("type_label"),
                                });
                            }
                        }
                        other => return Err(format!("unknown cell key {other:?}")),
                    }
                }
                Ok(cell)
            }
            Value::Object(_) => Err("a cell object needs a \"value\" key".into()),
            scalar => Ok(Cell::new(Scalar::from_json(scalar)?)),
        }
    }
}

/// A column's data in one row: a plain cell, or one cell per pivot key (in pivot order).
#[derive(Debug, Clone, PartialEq)]
pub enum CellData {
    Plain(Cell),
    Pivoted(Vec<Cell>),
}

/// One row: one [`CellData`] per column, in column order (dimensions, measures, table calcs).
pub type Row = Vec<CellData>;

/// Which json_detail list a column belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Dimension,
    Measure,
    TableCalculation,
}

/// A compiled column: the definition plus what the writers need precomputed.
#[derive(Debug, Clone)]
pub struct Column {
    pub def: FieldDef,
    pub category: Category,
    pub label: String,
    pub pivoted: bool,
    pub hidden_in_vis: bool,
    pub is_numeric: bool,
}

/// A Look ready to be written: cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Look {
    inner: Arc<LookInner>,
}

#[derive(Debug)]
struct LookInner {
    def: LookDef,
    columns: Vec<Column>,
    rows: Vec<Row>,
}

impl Look {
    /// Compiles a definition, checking rows against the fields.
    pub fn from_def(mut def: LookDef) -> Result<Look, LookError> {
        let look_name = def.title.clone();
        let invalid = |message: String| LookError::Invalid {
            look: look_name.clone(),
            message,
        };
        if def.fields.dimensions.is_empty()
            && def.fields.measures.is_empty()
            && def.fields.table_calculations.is_empty()
        {
            return Err(invalid("the Look has no fields".into()));
        }
        let hidden: Vec<String> = def
            .vis_config
            .get("hidden_fields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let pivoted = !def.pivots.is_empty();
        let mut columns = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (list, category) in [
            (&mut def.fields.dimensions, Category::Dimension),
            (&mut def.fields.measures, Category::Measure),
            (
                &mut def.fields.table_calculations,
                Category::TableCalculation,
            ),
        ] {
            for f in list.iter_mut() {
                if f.name.is_empty() {
                    return Err(invalid("a field has an empty name".into()));
                }
                if !seen.insert(f.name.clone()) {
                    return Err(invalid(format!("field {:?} is listed twice", f.name)));
                }
                if !(0.0..=1.0).contains(&f.null_ratio) {
                    return Err(invalid(format!(
                        "field {:?}: null_ratio must be in 0..=1",
                        f.name
                    )));
                }
                let is_numeric = f
                    .is_numeric
                    .unwrap_or_else(|| numeric_type(f.kind.as_deref(), category));
                columns.push(Column {
                    label: f.label.clone().unwrap_or_else(|| default_label(&f.name)),
                    pivoted: pivoted && category == Category::Measure,
                    hidden_in_vis: hidden.iter().any(|h| h == &f.name),
                    is_numeric,
                    category,
                    def: f.clone(),
                });
            }
        }
        if def.generate.is_some() && !def.rows.is_empty() {
            return Err(invalid("give either `rows` or `generate`, not both".into()));
        }
        let rows_to_generate = def.generate.as_ref().map_or(0, |g| g.rows);
        for c in &columns {
            if let Some(g) = &c.def.generator {
                check_generator(g, rows_to_generate)
                    .map_err(|e| invalid(format!("field {:?}: {e}", c.def.name)))?;
            }
        }
        if def.generate.is_some()
            && let Some(c) = columns.iter().find(|c| c.def.generator.is_none())
        {
            return Err(invalid(format!(
                "generated Look: field {:?} has no generator",
                c.def.name
            )));
        }
        let mut rows = Vec::with_capacity(def.rows.len());
        for (i, raw) in def.rows.iter().enumerate() {
            let obj = raw
                .as_object()
                .ok_or_else(|| invalid(format!("rows[{i}] is not an object")))?;
            for k in obj.keys() {
                if !columns.iter().any(|c| &c.def.name == k) {
                    return Err(invalid(format!("rows[{i}]: unknown field {k:?}")));
                }
            }
            let mut row = Vec::with_capacity(columns.len());
            for c in &columns {
                let v = obj.get(&c.def.name).unwrap_or(&Value::Null);
                let at = |e: String| invalid(format!("rows[{i}].{}: {e}", c.def.name));
                if c.pivoted {
                    let m = match v {
                        Value::Object(m) => m.clone(),
                        Value::Null => Map::new(),
                        _ => return Err(at("a pivoted measure needs {pivot key: value}".into())),
                    };
                    for k in m.keys() {
                        if !def.pivots.iter().any(|p| &p.key == k) {
                            return Err(at(format!("unknown pivot key {k:?}")));
                        }
                    }
                    let mut cells = Vec::with_capacity(def.pivots.len());
                    for p in &def.pivots {
                        cells.push(
                            Cell::from_json(m.get(&p.key).unwrap_or(&Value::Null)).map_err(at)?,
                        );
                    }
                    row.push(CellData::Pivoted(cells));
                } else {
                    row.push(CellData::Plain(Cell::from_json(v).map_err(at)?));
                }
            }
            rows.push(row);
        }
        def.rows.clear();
        Ok(Look {
            inner: Arc::new(LookInner { def, columns, rows }),
        })
    }

    /// Parses and compiles a YAML Look; errors name `origin` (the file) and the field.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Look, LookError> {
        crate::yaml::check_nesting(text).map_err(|e| LookError::Parse {
            path: origin.into(),
            message: format!("line {} column {}: {e}", e.line, e.column),
        })?;
        let def: LookDef = serde_norway::from_str(text).map_err(|e| LookError::Parse {
            path: origin.into(),
            message: e.to_string(),
        })?;
        Look::from_def(def).map_err(|e| in_file(e, origin))
    }

    /// Parses and compiles a JSON Look; errors name `origin` (the file) and the field.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Look, LookError> {
        let def: LookDef = serde_json::from_str(text).map_err(|e| LookError::Parse {
            path: origin.into(),
            message: e.to_string(),
        })?;
        Look::from_def(def).map_err(|e| in_file(e, origin))
    }

    /// Loads a `.json`, `.yaml` or `.yml` file.
    pub fn from_file(path: &Path) -> Result<Look, LookError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LookError::Io {
            path: origin.clone(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            Look::from_json_str(&text, &origin)
        } else {
            Look::from_yaml_str(&text, &origin)
        }
    }

    /// Loads every `.json`/`.yaml`/`.yml` file of a directory, sorted by file name (dashboard
    /// files left out: see [`load_dir`]).
    pub fn load_dir(dir: &Path) -> Result<Vec<Look>, LookError> {
        Ok(load_dir(dir)?.0)
    }

    /// Loads every `.json`/`.yaml`/`.yml` file of a directory, sorted by file name: the Looks
    /// and the dashboard definitions (files with a top-level `tiles` list).
    pub fn load_dir_with_dashboards(
        dir: &Path,
    ) -> Result<(Vec<Look>, Vec<DashboardDef>), LookError> {
        load_dir(dir)
    }

    /// A generated Look: `def`'s fields must all carry a generator; `rows` rows from `seed`.
    pub fn generated(mut def: LookDef, rows: u64, seed: u64) -> Result<Look, LookError> {
        def.rows.clear();
        def.generate = Some(GenerateDef { rows, seed });
        Look::from_def(def)
    }

    pub fn def(&self) -> &LookDef {
        &self.inner.def
    }

    pub fn title(&self) -> &str {
        &self.inner.def.title
    }

    pub fn id(&self) -> Option<&str> {
        self.inner.def.id.as_deref()
    }

    /// Returns a copy with the given id (the registry assigns ids).
    pub fn with_id(&self, id: &str) -> Look {
        let mut def = self.inner.def.clone();
        def.id = Some(id.to_owned());
        Look {
            inner: Arc::new(LookInner {
                def,
                columns: self.inner.columns.clone(),
                rows: self.inner.rows.clone(),
            }),
        }
    }

    /// The first `n` rows only (a query `limit`).
    pub fn limited(&self, n: u64) -> Look {
        let mut def = self.inner.def.clone();
        if let Some(g) = &mut def.generate {
            g.rows = g.rows.min(n);
        }
        let rows = self.inner.rows.iter().take(n as usize).cloned().collect();
        Look {
            inner: Arc::new(LookInner {
                def,
                columns: self.inner.columns.clone(),
                rows,
            }),
        }
    }

    /// Only the given fields, in the Look's column order. Generated values of a projection
    /// differ from the full Look's (one seeded stream feeds the remaining columns).
    pub fn select(&self, fields: &[String]) -> Result<Look, String> {
        for f in fields {
            if !self.inner.columns.iter().any(|c| &c.def.name == f) {
                return Err(format!(
                    "field {f:?} is not in the explore {:?}",
                    self.inner.def.explore
                ));
            }
        }
        let keep: Vec<usize> = (0..self.inner.columns.len())
            .filter(|&i| fields.contains(&self.inner.columns[i].def.name))
            .collect();
        let mut def = self.inner.def.clone();
        def.fields.dimensions.retain(|f| fields.contains(&f.name));
        def.fields.measures.retain(|f| fields.contains(&f.name));
        def.fields
            .table_calculations
            .retain(|f| fields.contains(&f.name));
        let columns = keep
            .iter()
            .map(|&i| self.inner.columns[i].clone())
            .collect();
        let rows = self
            .inner
            .rows
            .iter()
            .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
            .collect();
        Ok(Look {
            inner: Arc::new(LookInner { def, columns, rows }),
        })
    }

    pub fn columns(&self) -> &[Column] {
        &self.inner.columns
    }

    pub fn pivots(&self) -> &[PivotDef] {
        &self.inner.def.pivots
    }

    /// Number of rows this Look produces.
    pub fn row_count(&self) -> u64 {
        match &self.inner.def.generate {
            Some(g) => g.rows,
            None => self.inner.rows.len() as u64,
        }
    }

    /// Every tag of every field (dimensions, measures, table calculations).
    pub fn field_tags(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.inner
            .columns
            .iter()
            .map(|c| (c.def.name.as_str(), c.def.tags.as_slice()))
    }

    pub fn hidden_fields(&self) -> Vec<String> {
        self.inner
            .columns
            .iter()
            .filter(|c| c.hidden_in_vis)
            .map(|c| c.def.name.clone())
            .collect()
    }

    /// A cursor over the rows; generated rows are produced on demand into one buffer.
    pub fn rows(&self) -> RowCursor {
        RowCursor::new(self.clone())
    }
}

/// A compile error of a Look read from a file, with the file named (a title alone does not say
/// which of many files is wrong).
fn in_file(e: LookError, origin: &str) -> LookError {
    match e {
        LookError::Invalid { look, message } => LookError::Parse {
            path: origin.into(),
            message: format!("Look {look:?}: {message}"),
        },
        other => other,
    }
}

fn numeric_type(kind: Option<&str>, category: Category) -> bool {
    match kind {
        Some(
            "number" | "count" | "count_distinct" | "sum" | "sum_distinct" | "average"
            | "average_distinct" | "min" | "max" | "median" | "percentile" | "int"
            | "percent_of_total",
        ) => true,
        Some(_) => false,
        None => category != Category::Dimension,
    }
}

/// Looker's default label: view and field name title-cased ("users.first_name" -> "Users First Name").
pub fn default_label(name: &str) -> String {
    name.split(['.', '_'])
        .filter(|w| !w.is_empty())
        .map(capitalise)
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalise(w: &str) -> String {
    // Looker upper-cases the word "id" in generated labels ("Users ID").
    if w.eq_ignore_ascii_case("id") {
        return "ID".into();
    }
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// See [`Look::load_dir_with_dashboards`].
fn load_dir(dir: &Path) -> Result<(Vec<Look>, Vec<DashboardDef>), LookError> {
    let io = |source| LookError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
        })
        .collect();
    paths.sort();
    let (mut looks, mut dashboards) = (Vec::new(), Vec::new());
    for path in &paths {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LookError::Io {
            path: origin.clone(),
            source,
        })?;
        let json = path.extension().is_some_and(|e| e == "json");
        if dashboard::is_dashboard(&text, json) {
            dashboards.push(parse_dashboard(&text, &origin, json)?);
        } else if json {
            looks.push(Look::from_json_str(&text, &origin)?);
        } else {
            looks.push(Look::from_yaml_str(&text, &origin)?);
        }
    }
    Ok((looks, dashboards))
}
