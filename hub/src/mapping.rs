//! Row → event mapping: the pure heart of the RudderStack actions.
//!
//! One Looker row (a JSON object of cells) plus the query's field metadata becomes one
//! RudderStack event, written straight into a byte buffer (no `serde_json::Value` per row).
//!
//! # Entry points
//! - [`map_row`]: the one-shot, pure function `(fields, row, context) -> event bytes`. It compiles
//!   a [`Plan`] every call; use it in property tests and examples.
//! - [`Plan::new`] + [`Plan::map_row`]: the same mapping, with the per-Look work (which field is
//!   which id, trait key order, hidden fields) done once. The hub's hot path uses this.
//!
//! # The two modes
//! [`MappingMode::RudderStack`] reproduces what RudderStack's hosted hub (rudderlabs/actions,
//! SDK 0.0.3) sends, quirks included, because users reproduce that system's behaviour with this hub:
//! 1. a falsy cell value (`null`, `0`, `false`, `""`) goes through the fork's `filterJson` and
//!    becomes `[]`; keys before `value` in a cell push one `{}` each (recursively: a link object
//!    `{label,url,type}` pushes 3 + 1, its array 1 more);
//! 2. pivoted measures become `[{"pivot":value},…]` in JavaScript key order (integer-like keys
//!    first), falsy values inside pivots kept; pivot keys equal to an id field name are skipped;
//! 3. the first email-tagged field is copied to `traits.email` even when hidden or null;
//! 4. `groupId` rides along on every call type when a `rudder_group_id` field exists (dropped only
//!    when null); id-tagged fields never become traits;
//! 5. `anonymousId` = the anon field's value (even null) if the field exists, else a fresh uuid when
//!    `userId` is falsy, else `null`; truthy numeric ids are stringified (`123` → `"123"`), falsy
//!    ones kept as they are (`0`, `""`);
//! 6. key order of the observed message: `userId, anonymousId, groupId?, traits|properties, event?,
//!    context{library, app, traits?}, timestamp, type, originalTimestamp, messageId, sentAt`;
//!    values re-serialised as `JSON.stringify` would (number formatting, escapes, key order).
//!
//! Not reproduced (SDK artefacts that say nothing about Looker, as the spec allows):
//! `_metadata.nodeVersion`, the `node-<md5>-<uuid>` messageId format, and `context.library`
//! naming `analytics-node` (ours honestly names this hub).
//!
//! [`MappingMode::Clean`] keeps values as they are (`0`, `false`, `""`, `null`), writes pivots as
//! `{pivot_key: value}`, stringifies numeric `userId`/`anonymousId` (`0` included), and generates
//! a uuid `anonymousId` whenever neither id is usable (`null`, `""` or blank), instead of sending
//! an event the gateway would reject. `groupId` follows the same rule as in RudderStack mode (sent
//! on every call type when the group column is not null) but keeps its value as is.
//! Values are copied from the input verbatim (insignificant whitespace removed).
//!
//! # Per-row validation (both modes)
//! Like the SDK, each row is validated: `"userId" must be a string or number.` (and for
//! `anonymousId`, `groupId`), `You must pass either an "anonymousId" or a "userId".`,
//! `You must pass an "event".` (track), `You must pass a "groupId".` (group). Such a row yields
//! [`RowError::Rejected`]; the caller decides whether the run continues (it does, like the SDK).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// How rows become events. See the module docs for the exact differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum MappingMode {
    /// Byte-for-byte what RudderStack's hosted hub sends, quirks included.
    #[default]
    RudderStack,
    /// Values kept as they are; pivots as objects.
    Clean,
}

impl FromStr for MappingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rudderstack" => Ok(Self::RudderStack),
            "clean" => Ok(Self::Clean),
            other => Err(format!(
                "unknown mapping mode {other:?}: expected \"rudderstack\" or \"clean\""
            )),
        }
    }
}

impl fmt::Display for MappingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RudderStack => "rudderstack",
            Self::Clean => "clean",
        })
    }
}

/// The RudderStack call an action makes per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallType {
    /// `rudder_event`: traits under `traits` and copied into `context.traits`.
    Identify,
    /// `rudder_track`: traits under `properties`, `event` from the form.
    Track,
    /// `rudder_group`: traits under `traits`, `groupId` required.
    Group,
}

impl CallType {
    /// The event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identify => "identify",
            Self::Track => "track",
            Self::Group => "group",
        }
    }
}

/// The id tags the RudderStack actions recognise.
pub const TAG_USER_ID: &str = "user_id";
/// Anonymous id tag.
pub const TAG_ANONYMOUS_ID: &str = "rudder_anonymous_id";
/// Email tag.
pub const TAG_EMAIL: &str = "email";
/// Group id tag.
pub const TAG_GROUP_ID: &str = "rudder_group_id";

/// The message of the fork when no field carries an id tag (also for group: it does not mention
/// `rudder_group_id`).
pub const NO_ID_FIELD: &str =
    "Query requires a field tagged email or user_id or rudder_anonymous_id.";

/// One field of the query's metadata. Only `name` and `tags` matter for the mapping; every other
/// key of Looker's field object is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Field {
    /// Looker field name, `view.field`.
    pub name: String,
    /// Tags; `null` is read as empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
}

impl Field {
    /// A field with the given name and tags (test and example helper).
    pub fn new(name: &str, tags: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// The `fields` object of a json_detail result. The mapping walks
/// `dimensions ++ measures ++ filters ++ parameters ++ table_calculations`, the order of the
/// official hub's `allFields`; `pivots` (the pivot dimensions) are not columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Fields {
    /// Dimensions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub dimensions: Vec<Field>,
    /// Measures.
    #[serde(default, deserialize_with = "null_as_default")]
    pub measures: Vec<Field>,
    /// Filters (read by the official hub's `allFields`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub filters: Vec<Field>,
    /// Parameters (read by the official hub's `allFields`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub parameters: Vec<Field>,
    /// Table calculations.
    #[serde(default, deserialize_with = "null_as_default")]
    pub table_calculations: Vec<Field>,
}

impl Fields {
    /// Every field in mapping order.
    pub fn all(&self) -> impl Iterator<Item = &Field> {
        self.dimensions
            .iter()
            .chain(&self.measures)
            .chain(&self.filters)
            .chain(&self.parameters)
            .chain(&self.table_calculations)
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// How a row's cells look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowShape {
    /// json_detail / json_detail_lite_stream: `{"view.field": {"value": …, "rendered": …}}`.
    #[default]
    Cells,
    /// json: `{"view.field": value}`; each value is treated as the cell's `value`.
    Flat,
}

/// Where `anonymousId` comes from when the rules say "generate one".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnonymousId<'a> {
    /// A fresh uuid v4 per row (what the hub does).
    Random,
    /// This fixed value (the official tests' `"stubanon"`).
    Fixed(&'a str),
}

/// Everything besides the fields and the row that goes into an event.
#[derive(Debug, Clone, Copy)]
pub struct MapContext<'a> {
    /// Identify, track or group.
    pub call: CallType,
    /// RudderStack-exact or clean.
    pub mode: MappingMode,
    /// `scheduled_plan.query.vis_config.hidden_fields`.
    pub hidden_fields: &'a [String],
    /// `form_params.event` (track); dropped when empty.
    pub event: Option<&'a str>,
    /// `timestamp`: `ran_at` (if it came before the data) or the execute's start, ISO ms Z.
    pub timestamp: &'a str,
    /// `originalTimestamp`: when the event was made.
    pub original_timestamp: &'a str,
    /// `sentAt`; the sender overwrites it in place at flush time (see [`Mapped::sent_at`]).
    pub sent_at: &'a str,
    /// `messageId`.
    pub message_id: &'a str,
    /// Source of generated anonymous ids.
    pub anonymous_id: AnonymousId<'a>,
    /// `context.app.version` (`$APP_VERSION` or `"dev"` in the real hub).
    pub app_version: &'a str,
    /// `context.library.name`.
    pub library_name: &'a str,
    /// `context.library.version`.
    pub library_version: &'a str,
}

impl<'a> MapContext<'a> {
    /// A context with the official tests' fixed values, for examples and tests.
    pub fn example(call: CallType, mode: MappingMode) -> Self {
        Self {
            call,
            mode,
            hidden_fields: &[],
            event: None,
            timestamp: "2017-07-28T02:25:19.000Z",
            original_timestamp: "2017-07-28T02:25:19.001Z",
            sent_at: "2017-07-28T02:25:19.002Z",
            message_id: "00000000-0000-4000-8000-000000000000",
            anonymous_id: AnonymousId::Fixed("stubanon"),
            app_version: "dev",
            library_name: crate::LIBRARY_NAME,
            library_version: crate::LIBRARY_VERSION,
        }
    }
}

/// Why a row (or the whole Look) could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// No field carries an id tag: the whole Look fails.
    #[error("{}", NO_ID_FIELD)]
    NoIdField,
    /// A column the mapping needs is missing from the row: the run stops.
    #[error("Field id {0} does not exist for JsonDetail.Row")]
    MissingField(String),
    /// The row or a cell is not shaped as the format says: the run stops.
    #[error("{0}")]
    Malformed(String),
    /// The SDK-style validation rejected this row (the run continues).
    #[error("{0}")]
    Rejected(String),
}

/// What [`Plan::map_row`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    /// Byte range of the `sentAt` value (inside the quotes) in the output buffer, so a sender can
    /// overwrite it when the batch is flushed (the placeholder has the same length).
    pub sent_at: (usize, usize),
}

/// Where a trait's value comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A non-id column: its value (or the filterJson rendering in RudderStack mode).
    Column(usize),
    /// The email column's `value`, whatever it is.
    Email(usize),
}

#[derive(Debug, Clone)]
struct Slot {
    /// The trait key, JSON-encoded with quotes.
    key: Vec<u8>,
    source: Source,
}

/// The per-Look part of the mapping, computed once from the field metadata.
#[derive(Debug, Clone)]
pub struct Plan {
    call: CallType,
    mode: MappingMode,
    shape: RowShape,
    /// Names of every id-tagged field (`idFieldNames`).
    id_names: Vec<String>,
    /// Columns read per row, in the order the real hub reads them (first missing one is reported).
    needed: Vec<String>,
    user: Option<usize>,
    anon: Option<usize>,
    group: Option<usize>,
    slots: Vec<Slot>,
}

impl Plan {
    /// Compiles the mapping for a Look. Fails with [`RowError::NoIdField`] when no field carries
    /// an id tag, as the real hub does as soon as `fields` arrives.
    pub fn new(fields: &Fields, ctx: &MapContext<'_>, shape: RowShape) -> Result<Plan, RowError> {
        let all: Vec<&Field> = fields.all().collect();
        let id_tags = [TAG_EMAIL, TAG_ANONYMOUS_ID, TAG_USER_ID, TAG_GROUP_ID];
        let id_names: Vec<String> = all
            .iter()
            .filter(|f| id_tags.iter().any(|t| f.has(t)))
            .map(|f| f.name.clone())
            .collect();
        if id_names.is_empty() {
            return Err(RowError::NoIdField);
        }
        let first = |tag: &str| all.iter().find(|f| f.has(tag)).map(|f| f.name.clone());
        let email = first(TAG_EMAIL);
        let mut needed: Vec<String> = Vec::new();
        let need = |name: &str, needed: &mut Vec<String>| -> usize {
            if let Some(i) = needed.iter().position(|n| n == name) {
                i
            } else {
                needed.push(name.to_owned());
                needed.len() - 1
            }
        };
        // traits, in the real hub's assignment order, deduplicated JS-style (a later assignment
        // keeps the key's first position).
        let mut slots: Vec<Slot> = Vec::new();
        let assign = |key: &str, source: Source, slots: &mut Vec<Slot>| {
            let enc = serde_json::to_vec(key).expect("a string serialises");
            if let Some(s) = slots.iter_mut().find(|s| s.key == enc) {
                s.source = source;
            } else {
                slots.push(Slot { key: enc, source });
            }
        };
        for f in &all {
            let is_id = id_names.contains(&f.name);
            if !is_id && !ctx.hidden_fields.contains(&f.name) {
                let i = need(&f.name, &mut needed);
                assign(&f.name, Source::Column(i), &mut slots);
            }
            if email.as_deref() == Some(f.name.as_str()) {
                let i = need(&f.name, &mut needed);
                assign("email", Source::Email(i), &mut slots);
            }
        }
        if ctx.mode == MappingMode::RudderStack {
            // JavaScript objects list integer-like keys first, ascending.
            slots.sort_by_key(|s| {
                let k: String = serde_json::from_slice(&s.key).unwrap_or_default();
                array_index(&k).map_or((1, 0), |i| (0, i))
            });
        }
        let user = first(TAG_USER_ID).map(|n| need(&n, &mut needed));
        let anon = first(TAG_ANONYMOUS_ID).map(|n| need(&n, &mut needed));
        let group = first(TAG_GROUP_ID).map(|n| need(&n, &mut needed));
        Ok(Plan {
            call: ctx.call,
            mode: ctx.mode,
            shape,
            id_names,
            needed,
            user,
            anon,
            group,
            slots,
        })
    }

    /// Whether the Look has a `rudder_group_id` field.
    pub fn has_group_field(&self) -> bool {
        self.group.is_some()
    }

    /// Maps one row (the JSON text of the row object) and appends the event to `out`.
    /// On error `out` is left as it was.
    pub fn map_row(
        &self,
        row: &str,
        ctx: &MapContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Mapped, RowError> {
        let start = out.len();
        let r = self.write_event(row, ctx, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn write_event(
        &self,
        row: &str,
        ctx: &MapContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Mapped, RowError> {
        let cells = parse_entries(row)
            .map_err(|e| RowError::Malformed(format!("row is not valid JSON: {e}")))?
            .ok_or_else(|| RowError::Malformed("row is not a JSON object".into()))?;
        // Resolve every needed column; the first missing one is the error, as in the real hub.
        let mut resolved: Vec<&RawValue> = Vec::with_capacity(self.needed.len());
        let mut hint = 0usize;
        for name in &self.needed {
            let n = cells.len();
            let found = (0..n)
                .map(|k| (hint + k) % n.max(1))
                .find(|&k| cells[k].0 == name.as_str());
            match found {
                Some(k) => {
                    hint = k + 1;
                    resolved.push(cells[k].1);
                }
                None => return Err(RowError::MissingField(name.clone())),
            }
        }
        let value_of = |i: usize| -> Result<Option<&RawValue>, RowError> {
            match self.shape {
                RowShape::Flat => Ok(Some(resolved[i])),
                RowShape::Cells => cell_value(resolved[i], &self.needed[i]),
            }
        };
        let rs = self.mode == MappingMode::RudderStack;

        // Ids.
        let user = match self.user {
            Some(i) => value_of(i)?,
            None => None,
        };
        let anon_field = match self.anon {
            Some(i) => Some(value_of(i)?),
            None => None,
        };
        let group = match self.group {
            Some(i) => value_of(i)?,
            None => None,
        };
        let user_k = kind(user);
        let group_k = kind(group);

        // SDK-style validation on the values as the SDK would see them.
        check_id_type("userId", user_k)?;
        if let Some(a) = anon_field {
            check_id_type("anonymousId", kind(a))?;
        }
        check_id_type("groupId", group_k)?;

        enum Anon<'r> {
            Raw(Option<&'r RawValue>),
            Generate,
        }
        let anon = if rs {
            let anon = match anon_field {
                Some(a) => Anon::Raw(a),
                None if user_k.truthy() => Anon::Raw(None),
                None => Anon::Generate,
            };
            let anon_truthy = match &anon {
                Anon::Raw(a) => kind(*a).truthy(),
                Anon::Generate => true,
            };
            if !(user_k.truthy() || anon_truthy) {
                return Err(RowError::Rejected(
                    "You must pass either an \"anonymousId\" or a \"userId\".".into(),
                ));
            }
            anon
        } else {
            let user_ok = user_k.present_id();
            match anon_field {
                Some(a) if kind(a).present_id() => Anon::Raw(a),
                _ if user_ok => Anon::Raw(None),
                _ => Anon::Generate,
            }
        };
        if self.call == CallType::Track && ctx.event.is_none_or(str::is_empty) {
            return Err(RowError::Rejected("You must pass an \"event\".".into()));
        }
        let group_ok = if rs {
            group_k.truthy()
        } else {
            group_k.present_id()
        };
        if self.call == CallType::Group && !group_ok {
            return Err(RowError::Rejected("You must pass a \"groupId\".".into()));
        }

        out.extend_from_slice(b"{\"userId\":");
        if rs {
            write_rs_id(user, out);
        } else {
            write_clean_id(user, out);
        }
        out.extend_from_slice(b",\"anonymousId\":");
        match anon {
            Anon::Raw(a) if rs => write_rs_id(a, out),
            Anon::Raw(a) => write_clean_id(a, out),
            Anon::Generate => match ctx.anonymous_id {
                AnonymousId::Fixed(s) => write_str(s, out),
                AnonymousId::Random => {
                    let mut buf = uuid::Uuid::encode_buffer();
                    let s = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
                    out.push(b'"');
                    out.extend_from_slice(s.as_bytes());
                    out.push(b'"');
                }
            },
        }
        if group_k != Kind::Null {
            out.extend_from_slice(b",\"groupId\":");
            write_value(group.expect("non-null"), self.mode, out)?;
        }
        out.extend_from_slice(if self.call == CallType::Track {
            b",\"properties\":"
        } else {
            b",\"traits\":"
        });
        let traits_start = out.len();
        out.push(b'{');
        let mut first = true;
        for slot in &self.slots {
            let (i, email) = match slot.source {
                Source::Column(i) => (i, false),
                Source::Email(i) => (i, true),
            };
            let cell = resolved[i];
            let value = value_of(i)?;
            if email {
                // `traits.email = cell.value`: undefined drops the key in JSON.stringify.
                let Some(v) = value else { continue };
                sep(&mut first, out);
                out.extend_from_slice(&slot.key);
                out.push(b':');
                write_value(v, self.mode, out)?;
                continue;
            }
            sep(&mut first, out);
            out.extend_from_slice(&slot.key);
            out.push(b':');
            if rs {
                match value {
                    Some(v) if kind(Some(v)).truthy() => write_js_value(v, out)?,
                    _ => {
                        out.push(b'[');
                        let mut f = true;
                        // A flat value is its own `value`: a falsy one just gives `[]`.
                        if self.shape == RowShape::Cells {
                            filter_json(cell, &self.id_names, &mut f, out)?;
                        }
                        out.push(b']');
                    }
                }
            } else {
                match value {
                    Some(v) => write_compact(v.get(), out),
                    None => write_clean_pivot(cell, out)?,
                }
            }
        }
        out.push(b'}');
        let traits_end = out.len();
        if let Some(e) = ctx.event.filter(|e| !e.is_empty()) {
            out.extend_from_slice(b",\"event\":");
            write_str(e, out);
        }
        out.extend_from_slice(b",\"context\":{\"library\":{\"name\":");
        write_str(ctx.library_name, out);
        out.extend_from_slice(b",\"version\":");
        write_str(ctx.library_version, out);
        out.extend_from_slice(b"},\"app\":{\"name\":\"looker/actions\",\"version\":");
        write_str(ctx.app_version, out);
        out.push(b'}');
        if self.call == CallType::Identify {
            out.extend_from_slice(b",\"traits\":");
            out.extend_from_within(traits_start..traits_end);
        }
        out.extend_from_slice(b"},\"timestamp\":");
        write_str(ctx.timestamp, out);
        out.extend_from_slice(b",\"type\":\"");
        out.extend_from_slice(self.call.as_str().as_bytes());
        out.extend_from_slice(b"\",\"originalTimestamp\":");
        write_str(ctx.original_timestamp, out);
        out.extend_from_slice(b",\"messageId\":");
        write_str(ctx.message_id, out);
        out.extend_from_slice(b",\"sentAt\":\"");
        let s = out.len();
        out.extend_from_slice(ctx.sent_at.as_bytes());
        let e = out.len();
        out.extend_from_slice(b"\"}");
        Ok(Mapped { sent_at: (s, e) })
    }
}

/// Maps one row to one event, compiling the [`Plan`] on the way: the pure, one-shot form of the
/// mapping, `(fields, row, context) -> event JSON` appended to `out`.
///
/// `row` is the JSON text of one row of a json_detail result (`{"view.field": {"value": …}}`).
/// The result is the event exactly as the hub puts it in a batch (its `sentAt` is later
/// overwritten in place by the sender with the flush time).
///
/// ```
/// use hub::mapping::{map_row, CallType, Field, Fields, MapContext, MappingMode};
/// let fields = Fields {
///     dimensions: vec![Field::new("users.id", &["user_id"]), Field::new("users.n", &[])],
///     ..Fields::default()
/// };
/// let ctx = MapContext::example(CallType::Identify, MappingMode::RudderStack);
/// let mut out = Vec::new();
/// map_row(&fields, r#"{"users.id":{"value":7},"users.n":{"value":0}}"#, &ctx, &mut out).unwrap();
/// let event: serde_json::Value = serde_json::from_slice(&out).unwrap();
/// assert_eq!(event["userId"], "7");
/// assert_eq!(event["traits"]["users.n"], serde_json::json!([]));
/// ```
pub fn map_row(
    fields: &Fields,
    row: &str,
    ctx: &MapContext<'_>,
    out: &mut Vec<u8>,
) -> Result<Mapped, RowError> {
    Plan::new(fields, ctx, RowShape::Cells)?.map_row(row, ctx, out)
}

fn sep(first: &mut bool, out: &mut Vec<u8>) {
    if *first {
        *first = false;
    } else {
        out.push(b',');
    }
}

/// The `value` of a json_detail cell; `None` when the cell has no `value` key (a pivoted measure).
fn cell_value<'r>(cell: &'r RawValue, name: &str) -> Result<Option<&'r RawValue>, RowError> {
    let entries = parse_entries(cell.get())
        .map_err(|e| RowError::Malformed(format!("cell of field {name} is not valid JSON: {e}")))?
        .ok_or_else(|| {
            RowError::Malformed(format!(
                "cell of field {name} is {} where json_detail has an object {{\"value\":…}}",
                cell.get()
            ))
        })?;
    // JSON.parse keeps the last duplicate.
    Ok(entries
        .iter()
        .rev()
        .find(|(k, _)| k == "value")
        .map(|(_, v)| *v))
}

/// The JavaScript truthiness and type of a raw JSON value (`None` = undefined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool(bool),
    Number(bool), // non-zero?
    Str(bool),    // non-empty?
    StrBlank,     // non-empty but whitespace only
    Composite,
}

impl Kind {
    fn truthy(self) -> bool {
        matches!(
            self,
            Kind::Bool(true)
                | Kind::Number(true)
                | Kind::Str(true)
                | Kind::StrBlank
                | Kind::Composite
        )
    }
    /// An id the gateway accepts (non-empty after trimming).
    fn present_id(self) -> bool {
        matches!(self, Kind::Number(_) | Kind::Str(true))
    }
}

fn kind(v: Option<&RawValue>) -> Kind {
    let Some(v) = v else { return Kind::Null };
    let s = v.get();
    match s.as_bytes().first() {
        Some(b'n') | None => Kind::Null,
        Some(b't') => Kind::Bool(true),
        Some(b'f') => Kind::Bool(false),
        Some(b'"') => {
            if s.len() == 2 {
                Kind::Str(false)
            } else {
                let text: Cow<str> = serde_json::from_str::<Key>(s)
                    .map(|k| k.0)
                    .unwrap_or_default();
                if text.trim().is_empty() {
                    Kind::StrBlank
                } else {
                    Kind::Str(true)
                }
            }
        }
        Some(b'{') | Some(b'[') => Kind::Composite,
        Some(_) => Kind::Number(s.parse::<f64>().map(|f| f != 0.0).unwrap_or(true)),
    }
}

fn check_id_type(name: &str, k: Kind) -> Result<(), RowError> {
    if k.truthy() && matches!(k, Kind::Bool(_) | Kind::Composite) {
        return Err(RowError::Rejected(format!(
            "\"{name}\" must be a string or number."
        )));
    }
    Ok(())
}

/// RudderStack mode id: truthy numbers stringified (as the SDK does), the rest as is.
fn write_rs_id(v: Option<&RawValue>, out: &mut Vec<u8>) {
    let Some(v) = v else {
        out.extend_from_slice(b"null");
        return;
    };
    match kind(Some(v)) {
        Kind::Number(true) => {
            out.push(b'"');
            let _ = write_js_value(v, out);
            out.push(b'"');
        }
        _ => {
            let _ = write_js_value(v, out);
        }
    }
}

/// Clean mode id: numbers as strings (ids are strings in the event spec), strings as they are
/// (`""` included), anything else null.
fn write_clean_id(v: Option<&RawValue>, out: &mut Vec<u8>) {
    match kind(v) {
        Kind::Number(_) => {
            out.push(b'"');
            out.extend_from_slice(v.expect("number").get().trim().as_bytes());
            out.push(b'"');
        }
        Kind::Str(_) | Kind::StrBlank => write_compact(v.expect("string").get(), out),
        _ => out.extend_from_slice(b"null"),
    }
}

fn write_value(v: &RawValue, mode: MappingMode, out: &mut Vec<u8>) -> Result<(), RowError> {
    match mode {
        MappingMode::RudderStack => write_js_value(v, out),
        MappingMode::Clean => {
            write_compact(v.get(), out);
            Ok(())
        }
    }
}

/// The fork's `filterJson`: walks an object's (or array's) keys in JavaScript order; a `value`
/// key ends the walk of that object with `{parentKey: value}`; any other key that is not an id
/// field name is walked recursively and its result (`{}` when it had no `value`) pushed.
fn filter_json<'r>(
    v: &'r RawValue,
    ids: &[String],
    first: &mut bool,
    out: &mut Vec<u8>,
) -> Result<Option<&'r RawValue>, RowError> {
    let Some(entries) = js_entries(v)? else {
        return Ok(None);
    };
    for (k, child) in entries {
        if k == "value" {
            return Ok(Some(child));
        }
        if ids.iter().any(|i| *i == k) {
            continue;
        }
        let res = filter_json(child, ids, first, out)?;
        sep(first, out);
        out.push(b'{');
        if let Some(r) = res {
            write_str(&k, out);
            out.push(b':');
            write_js_value(r, out)?;
        }
        out.push(b'}');
    }
    Ok(None)
}

/// Clean pivots: `{pivot_key: value}`, nested pivots recursively; a cell without `value` and
/// without object members is `null`.
fn write_clean_pivot(cell: &RawValue, out: &mut Vec<u8>) -> Result<(), RowError> {
    let entries = parse_entries(cell.get())
        .map_err(|e| RowError::Malformed(format!("invalid cell: {e}")))?
        .unwrap_or_default();
    let pivots: Vec<_> = entries
        .iter()
        .filter(|(_, v)| v.get().starts_with('{'))
        .collect();
    if pivots.is_empty() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    out.push(b'{');
    let mut first = true;
    for (k, v) in pivots {
        sep(&mut first, out);
        write_str(k, out);
        out.push(b':');
        match cell_value(v, k)? {
            Some(x) => write_compact(x.get(), out),
            None => write_clean_pivot(v, out)?,
        }
    }
    out.push(b'}');
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Borrowed JSON helpers.

/// An object key or string, borrowed when it has no escapes.
#[derive(Debug, Default)]
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

pub type Entries<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Members of a JSON object (in document order, duplicates kept), or `None` if `s` is not an
/// object.
pub fn parse_entries(s: &str) -> Result<Option<Entries<'_>>, serde_json::Error> {
    if !s.trim_start().starts_with('{') {
        // Still validate that it is JSON.
        let _: &RawValue = serde_json::from_str(s)?;
        return Ok(None);
    }
    struct Obj<'a>(Entries<'a>);
    impl<'de> Deserialize<'de> for Obj<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Obj<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                    let mut v = Vec::with_capacity(m.size_hint().unwrap_or(8));
                    while let Some((k, val)) = m.next_entry::<Key<'de>, &'de RawValue>()? {
                        v.push((k.0, val));
                    }
                    Ok(Obj(v))
                }
            }
            d.deserialize_map(V)
        }
    }
    Ok(Some(serde_json::from_str::<Obj<'_>>(s)?.0))
}

fn parse_array(s: &str) -> Result<Vec<&RawValue>, serde_json::Error> {
    struct Arr<'a>(Vec<&'a RawValue>);
    impl<'de> Deserialize<'de> for Arr<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Arr<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON array")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                    let mut v = Vec::new();
                    while let Some(x) = s.next_element::<&'de RawValue>()? {
                        v.push(x);
                    }
                    Ok(Arr(v))
                }
            }
            d.deserialize_seq(V)
        }
    }
    Ok(serde_json::from_str::<Arr<'_>>(s)?.0)
}

/// An object's or array's members as JavaScript's `for…in` lists them after `JSON.parse`:
/// duplicate keys collapse (last value, first position), integer-like keys first in ascending
/// order, then the rest in document order. `None` for scalars.
fn js_entries(v: &RawValue) -> Result<Option<Entries<'_>>, RowError> {
    let s = v.get();
    let bad = |e: serde_json::Error| RowError::Malformed(format!("invalid JSON value: {e}"));
    match s.as_bytes().first() {
        Some(b'[') => Ok(Some(
            parse_array(s)
                .map_err(bad)?
                .into_iter()
                .enumerate()
                .map(|(i, x)| (Cow::Owned(i.to_string()), x))
                .collect(),
        )),
        Some(b'{') => {
            let raw = parse_entries(s).map_err(bad)?.unwrap_or_default();
            let mut dedup: Entries<'_> = Vec::with_capacity(raw.len());
            for (k, x) in raw {
                if let Some(e) = dedup.iter_mut().find(|(dk, _)| *dk == k) {
                    e.1 = x;
                } else {
                    dedup.push((k, x));
                }
            }
            dedup.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |i| (0, i)));
            Ok(Some(dedup))
        }
        _ => Ok(None),
    }
}

/// `Some(n)` if `k` is a canonical array index (what JavaScript orders first).
fn array_index(k: &str) -> Option<u64> {
    if k.is_empty() || k.len() > 10 || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if k.len() > 1 && k.starts_with('0') {
        return None;
    }
    let n: u64 = k.parse().ok()?;
    (n < u64::from(u32::MAX)).then_some(n)
}

/// Writes a string as a JSON string, escaped the way `JSON.stringify` escapes.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Copies a JSON value, dropping insignificant whitespace.
pub(crate) fn write_compact(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    if !b.iter().any(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t')) {
        out.extend_from_slice(b);
        return;
    }
    let mut in_str = false;
    let mut esc = false;
    for &c in b {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            out.push(c);
        }
    }
}

/// Writes a JSON value as `JSON.stringify(JSON.parse(v))` would: JavaScript number formatting
/// (numbers are doubles), `JSON.stringify` string escapes, JavaScript key order.
pub fn write_js_value(v: &RawValue, out: &mut Vec<u8>) -> Result<(), RowError> {
    let s = v.get();
    match s.as_bytes().first() {
        Some(b'"') => {
            if !s.contains('\\') {
                out.extend_from_slice(s.as_bytes());
            } else {
                let k: Key<'_> = serde_json::from_str(s)
                    .map_err(|e| RowError::Malformed(format!("invalid string: {e}")))?;
                write_str(&k.0, out);
            }
        }
        Some(b't' | b'f' | b'n') => out.extend_from_slice(s.as_bytes()),
        Some(b'{') => {
            out.push(b'{');
            let mut first = true;
            for (k, x) in js_entries(v)?.unwrap_or_default() {
                sep(&mut first, out);
                write_str(&k, out);
                out.push(b':');
                write_js_value(x, out)?;
            }
            out.push(b'}');
        }
        Some(b'[') => {
            out.push(b'[');
            let mut first = true;
            for x in
                parse_array(s).map_err(|e| RowError::Malformed(format!("invalid array: {e}")))?
            {
                sep(&mut first, out);
                write_js_value(x, out)?;
            }
            out.push(b']');
        }
        _ => {
            let b = s.as_bytes();
            let digits = b.strip_prefix(b"-").unwrap_or(b);
            let simple = !digits.is_empty()
                && digits.len() <= 15
                && digits.iter().all(u8::is_ascii_digit)
                && (digits[0] != b'0' || digits.len() == 1)
                && s != "-0";
            if simple {
                out.extend_from_slice(b);
            } else {
                let f: f64 = s
                    .parse()
                    .map_err(|_| RowError::Malformed(format!("invalid number {s}")))?;
                write_js_number(f, out);
            }
        }
    }
    Ok(())
}

/// `Number.prototype.toString()` for finite doubles (what `JSON.stringify` writes).
pub fn write_js_number(f: f64, out: &mut Vec<u8>) {
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let mut buf = ryu::Buffer::new();
    let r = buf.format_finite(f.abs());
    let (mant, exp) = match r.find('e') {
        Some(i) => (&r[..i], r[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (r, 0),
    };
    let point = mant.find('.').unwrap_or(mant.len()) as i32;
    let mut digits: Vec<u8> = mant.bytes().filter(|c| *c != b'.').collect();
    let lead = digits.iter().take_while(|c| **c == b'0').count();
    digits.drain(..lead);
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let n = point - lead as i32 + exp; // value = 0.d1d2… × 10^n
    let k = digits.len() as i32;
    if f < 0.0 {
        out.push(b'-');
    }
    if k <= n && n <= 21 {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        let e = n - 1;
        out.push(if e < 0 { b'-' } else { b'+' });
        let mut ib = itoa::Buffer::new();
        out.extend_from_slice(ib.format(e.unsigned_abs()).as_bytes());
    }
}
