//! Actions as listed by a hub, and Looker's rules for offering one for a Look.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::format::Format;
use crate::look::Look;

/// An action param (admin setting).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub label: Option<String>,
    pub description: Option<String>,
    pub required: bool,
    /// Looker's default is true: values are never shown back.
    pub sensitive: bool,
    pub per_user: bool,
    pub user_attribute_name: Option<String>,
}

/// One `required_fields` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequiredField {
    pub tag: Option<String>,
    pub any_tag: Vec<String>,
    pub all_tags: Vec<String>,
}

impl RequiredField {
    /// `any_tag` and `all_tags` supersede `tag` (docs/action_api.md).
    pub fn matches(&self, tags: &[String]) -> bool {
        if !self.any_tag.is_empty() {
            self.any_tag.iter().any(|t| tags.contains(t))
        } else if !self.all_tags.is_empty() {
            self.all_tags.iter().all(|t| tags.contains(t))
        } else if let Some(t) = &self.tag {
            tags.contains(t)
        } else {
            true
        }
    }

    pub fn describe(&self) -> String {
        if !self.any_tag.is_empty() {
            format!("a field tagged any of {:?}", self.any_tag)
        } else if !self.all_tags.is_empty() {
            format!("a field tagged all of {:?}", self.all_tags)
        } else {
            format!("a field tagged {:?}", self.tag.as_deref().unwrap_or(""))
        }
    }
}

/// An action as Looker keeps it after listing a hub (lenient: contract breaches are reported
/// separately, what can be read is kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    pub label: String,
    pub description: Option<String>,
    pub url: Option<String>,
    pub form_url: Option<String>,
    pub params: Vec<Param>,
    pub required_fields: Vec<RequiredField>,
    pub supported_action_types: Vec<String>,
    pub supported_formats: Vec<String>,
    pub supported_formattings: Vec<String>,
    pub supported_visualization_formattings: Vec<String>,
    pub supported_download_settings: Vec<String>,
    pub uses_oauth: bool,
    pub delegate_oauth: bool,
    pub icon_data_uri: Option<String>,
    /// The action exactly as listed.
    pub raw: Value,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

impl Action {
    pub fn from_json(v: &Value) -> Option<Action> {
        let o = v.as_object()?;
        let name = string(o.get("name"))?;
        let params = o
            .get("params")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        Some(Param {
                            name: string(p.get("name"))?,
                            label: string(p.get("label")),
                            description: string(p.get("description")),
                            required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                            sensitive: p.get("sensitive").and_then(Value::as_bool).unwrap_or(true),
                            per_user: p.get("per_user").and_then(Value::as_bool).unwrap_or(false),
                            user_attribute_name: string(p.get("user_attribute_name")),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let required_fields = o
            .get("required_fields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|r| RequiredField {
                        tag: string(r.get("tag")),
                        any_tag: strings(r.get("any_tag")),
                        all_tags: strings(r.get("all_tags")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Action {
            label: string(o.get("label")).unwrap_or_else(|| name.clone()),
            name,
            description: string(o.get("description")),
            url: string(o.get("url")),
            form_url: string(o.get("form_url")),
            params,
            required_fields,
            supported_action_types: strings(o.get("supported_action_types")),
            supported_formats: strings(o.get("supported_formats")),
            supported_formattings: strings(o.get("supported_formattings")),
            supported_visualization_formattings: strings(
                o.get("supported_visualization_formattings"),
            ),
            supported_download_settings: strings(o.get("supported_download_settings")),
            uses_oauth: o
                .get("uses_oauth")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            delegate_oauth: o
                .get("delegate_oauth")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            icon_data_uri: string(o.get("icon_data_uri")),
            raw: v.clone(),
        })
    }

    /// Whether Looker offers this action to send `look` (a query) given the admin `params`.
    /// `Err` carries the reason, as a user would read it.
    pub fn offer(
        &self,
        look: &Look,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        if self
            .url
            .as_deref()
            .is_none_or(|u| !crate::contract::is_http_url(u))
        {
            return Err(format!("action {:?} has no usable url", self.name));
        }
        if !self.supported_action_types.iter().any(|t| t == "query") {
            return Err(format!(
                "action {:?} does not support Looks: supported_action_types is {:?}, not \"query\"",
                self.name, self.supported_action_types
            ));
        }
        self.required_params_set(params)?;
        for rf in &self.required_fields {
            if !look.columns().iter().any(|c| rf.matches(&c.def.tags)) {
                return Err(format!(
                    "the Look {:?} has no {} required by action {:?}",
                    look.title(),
                    rf.describe(),
                    self.name
                ));
            }
        }
        Ok(())
    }

    /// Whether Looker offers this action to send a dashboard given the admin `params`: a usable
    /// url, `dashboard` in `supported_action_types`, every required param set.
    pub fn offer_dashboard(
        &self,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        if self
            .url
            .as_deref()
            .is_none_or(|u| !crate::contract::is_http_url(u))
        {
            return Err(format!("action {:?} has no usable url", self.name));
        }
        if !self.supported_action_types.iter().any(|t| t == "dashboard") {
            return Err(format!(
                "action {:?} does not accept dashboards: supported_action_types is {:?}, not \"dashboard\"",
                self.name, self.supported_action_types
            ));
        }
        self.required_params_set(params)
    }

    fn required_params_set(
        &self,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), String> {
        for p in &self.params {
            if p.required && params.get(&p.name).is_none_or(|v| v.is_empty()) {
                return Err(format!(
                    "required setting {:?} ({}) is not set for action {:?}",
                    p.label.as_deref().unwrap_or(&p.name),
                    p.name,
                    self.name
                ));
            }
        }
        Ok(())
    }

    /// The format Looker sends: `wanted` if the action supports it, else the first supported
    /// format the mock can produce. An empty list means every format.
    pub fn pick_format(&self, wanted: Option<Format>) -> Result<Format, String> {
        let supports = |f: Format| {
            self.supported_formats.is_empty()
                || self.supported_formats.iter().any(|s| s == f.as_str())
        };
        match wanted {
            Some(f) if supports(f) => Ok(f),
            Some(f) => Err(format!(
                "action {:?} does not support format {f}: supported_formats is {:?}",
                self.name, self.supported_formats
            )),
            None if self.supported_formats.is_empty() => Ok(Format::JsonDetail),
            None => self
                .supported_formats
                .iter()
                .find_map(|s| s.parse::<Format>().ok())
                .ok_or_else(|| format!("the mock produces none of {:?}", self.supported_formats)),
        }
    }

    /// Picks a formatting option pair: `(first, second)` values, returning whether `first` applies.
    pub(crate) fn pick_flag(
        &self,
        list: &[String],
        wanted: Option<bool>,
        on: &str,
        off: &str,
        what: &str,
    ) -> Result<bool, String> {
        match wanted {
            Some(w) => {
                let name = if w { on } else { off };
                if list.is_empty() || list.iter().any(|s| s == name) {
                    Ok(w)
                } else {
                    Err(format!(
                        "action {:?} does not support {what} {name:?}: it lists {list:?}",
                        self.name
                    ))
                }
            }
            None => Ok(if list.iter().any(|s| s == off) || list.is_empty() {
                false
            } else {
                list.iter().any(|s| s == on)
            }),
        }
    }
}
