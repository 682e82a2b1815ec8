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
//! A value nested deeper than [`MAX_DEPTH`] where the hub re-serialises it (RudderStack mode,
//! clean-mode pivots) yields [`RowError::Unsendable`]: the row is not sent, the run continues.
//!
//! # Layout
//! [`js`] emulates `JSON.stringify(JSON.parse(v))` (numbers, escapes, key order, lone
//! surrogates) without recursion; [`raw`] has the borrowed helpers that read a row's members.

mod ids;
mod js;
mod raw;

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::Deserializer;
use serde_json::value::RawValue;

pub use js::{MAX_DEPTH, write_js_number, write_js_value, write_str};
pub use raw::{Entries, parse_entries};

use ids::{Kind, check_id_type, kind, write_clean_id, write_rs_id};
use js::{Node, Tape, write_wtf8};
use raw::write_compact;

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
            library_name: crate::identity::LIBRARY_NAME,
            library_version: crate::identity::LIBRARY_VERSION,
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
    /// The hub cannot send this row although it is valid JSON, e.g. a value nested deeper than
    /// [`MAX_DEPTH`] (the run continues; the caller names the row).
    #[error("{0}")]
    Unsendable(String),
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
                js::array_index(k.as_bytes()).map_or((1, 0), |i| (0, i))
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
            write_rs_id(user, out)?;
        } else {
            write_clean_id(user, out);
        }
        out.extend_from_slice(b",\"anonymousId\":");
        match anon {
            Anon::Raw(a) if rs => write_rs_id(a, out)?,
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
                            let tape = Tape::parse(cell.get())?;
                            filter_json(&tape, tape.root(), &self.id_names, &mut f, out)?;
                        }
                        out.push(b']');
                    }
                }
            } else {
                match value {
                    Some(v) => write_compact(v.get(), out),
                    None => {
                        let tape = Tape::parse(cell.get())?;
                        write_clean_pivot(&tape, tape.root(), out);
                    }
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
/// The recursion is as deep as the tape, which [`js::MAX_DEPTH`] bounds.
fn filter_json(
    tape: &Tape<'_>,
    node: usize,
    ids: &[String],
    first: &mut bool,
    out: &mut Vec<u8>,
) -> Result<Option<usize>, RowError> {
    let Some(entries) = tape.js_entries(node) else {
        return Ok(None);
    };
    for (k, child) in entries {
        if k.as_ref() == b"value" {
            return Ok(Some(child));
        }
        if ids.iter().any(|i| i.as_bytes() == k.as_ref()) {
            continue;
        }
        let res = filter_json(tape, child, ids, first, out)?;
        sep(first, out);
        out.push(b'{');
        if let Some(r) = res {
            write_wtf8(&k, out);
            out.push(b':');
            tape.write(r, out)?;
        }
        out.push(b'}');
    }
    Ok(None)
}

/// Clean pivots: `{pivot_key: value}`, nested pivots recursively (as deep as the tape, which
/// [`js::MAX_DEPTH`] bounds); a cell without `value` and without object members is `null`.
fn write_clean_pivot(tape: &Tape<'_>, node: usize, out: &mut Vec<u8>) {
    let members: &[_] = match tape.node(node) {
        Node::Object(m) => m,
        _ => &[],
    };
    let is_obj = |x: usize| matches!(tape.node(x), Node::Object(_));
    if !members.iter().any(|(_, v)| is_obj(*v)) {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'{');
    let mut first = true;
    for (k, v) in members.iter().filter(|(_, v)| is_obj(*v)) {
        sep(&mut first, out);
        write_wtf8(k, out);
        out.push(b':');
        // JSON.parse keeps the last duplicate `value`.
        let value = match tape.node(*v) {
            Node::Object(m) => m.iter().rev().find(|(k, _)| k.as_ref() == b"value"),
            _ => None,
        };
        match value {
            Some((_, x)) => write_compact(tape.raw(*x), out),
            None => write_clean_pivot(tape, *v, out),
        }
    }
    out.push(b'}');
}
