//! Looker versions from `User-Agent: LookerOutgoingWebhook/<version>`.

use std::cmp::Ordering;
use std::fmt;

/// A Looker version, parsed like node-semver's `semver.valid(v, {loose: true})`:
/// `7.3.00004561` → `7.3.4561`; anything without three numeric parts is no version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Pre-release part (sorts before the release).
    pub pre: Option<String>,
}

impl Version {
    /// `major.minor.patch`.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
            pre: None,
        }
    }

    /// Loose semver parsing.
    pub fn parse_loose(s: &str) -> Option<Self> {
        let s = s.trim().trim_start_matches(['v', '=', ' ', '\t']);
        let (main, _build) = s.split_once('+').unwrap_or((s, ""));
        let (nums, pre) = match main.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
            Some(i) => {
                let p = main[i..].trim_start_matches('-');
                if p.is_empty()
                    || !p.split('.').all(|x| {
                        !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
                {
                    return None;
                }
                (&main[..i], Some(p.to_owned()))
            }
            None => (main, None),
        };
        let mut it = nums.split('.');
        let mut num = || -> Option<u64> {
            let p = it.next()?;
            if p.is_empty() || p.len() > 16 {
                return None;
            }
            p.parse().ok()
        };
        let (major, minor, patch) = (num()?, num()?, num()?);
        if it.next().is_some() {
            return None;
        }
        Some(Self {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// The version in `User-Agent: LookerOutgoingWebhook/<v>`, if any.
    pub fn from_user_agent(ua: &str) -> Option<Self> {
        let rest = ua.split("LookerOutgoingWebhook/").nth(1)?;
        Self::parse_loose(rest.split_whitespace().next().unwrap_or(""))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (&self.pre, &o.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        Ok(())
    }
}
