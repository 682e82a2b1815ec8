//! Looker versions from `User-Agent: LookerOutgoingWebhook/<version>`.
//!
//! Parsing and ordering come from the `semver` crate. Looker's own hubs parse the version with
//! node-semver in loose mode, which accepts more than strict SemVer 2.0 (`v` and `=` prefixes,
//! leading zeros such as `7.3.00004561`, a pre-release without its hyphen), so the text is
//! normalised to strict SemVer first, then handed to `semver`.

use std::fmt;

/// A Looker version, parsed like node-semver's `semver.valid(v, {loose: true})`:
/// `7.3.00004561` → `7.3.4561`; anything without three numeric parts is no version.
/// Build metadata (`+…`) is dropped, as node-semver ignores it when comparing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(semver::Version);

/// node-semver's `MAX_SAFE_COMPONENT_LENGTH`: a longer numeric part is no version.
const MAX_COMPONENT_DIGITS: usize = 16;

impl Version {
    /// `major.minor.patch`.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self(semver::Version::new(major, minor, patch))
    }

    /// Loose semver parsing (see the module doc).
    pub fn parse_loose(s: &str) -> Option<Self> {
        let s = s.trim().trim_start_matches(['v', '=', ' ', '\t']);
        let main = s.split_once('+').map_or(s, |(main, _build)| main);
        let (nums, pre) = match main.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
            Some(i) => (&main[..i], Some(main[i..].trim_start_matches('-'))),
            None => (main, None),
        };
        let mut parts = nums.split('.');
        let mut num = || -> Option<u64> {
            let p = parts.next()?;
            if p.is_empty() || p.len() > MAX_COMPONENT_DIGITS {
                return None;
            }
            p.parse().ok()
        };
        let (major, minor, patch) = (num()?, num()?, num()?);
        if parts.next().is_some() {
            return None;
        }
        let mut v = semver::Version::new(major, minor, patch);
        if let Some(pre) = pre {
            v.pre = semver::Prerelease::new(&strict_prerelease(pre)?).ok()?;
            if v.pre.is_empty() {
                return None;
            }
        }
        Some(Self(v))
    }

    /// The version in `User-Agent: LookerOutgoingWebhook/<v>`, if any.
    pub fn from_user_agent(ua: &str) -> Option<Self> {
        let rest = ua.split("LookerOutgoingWebhook/").nth(1)?;
        Self::parse_loose(rest.split_whitespace().next().unwrap_or(""))
    }
}

/// Loose pre-release identifiers may be numeric with leading zeros (`01`), which strict SemVer
/// forbids; node-semver compares them as numbers, so `01` becomes `1`.
fn strict_prerelease(pre: &str) -> Option<String> {
    let ids: Vec<&str> = pre
        .split('.')
        .map(|id| {
            if id.len() > 1 && id.bytes().all(|b| b.is_ascii_digit()) {
                let t = id.trim_start_matches('0');
                if t.is_empty() { "0" } else { t }
            } else {
                id
            }
        })
        .collect();
    ids.iter().all(|id| !id.is_empty()).then(|| ids.join("."))
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
