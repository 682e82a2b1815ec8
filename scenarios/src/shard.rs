//! `--shard i/n`: one CI job's part of the selected scenarios.
//!
//! A scenario belongs to shard `1 + fnv1a64(name) mod n`. The name is the scenario's path
//! relative to the directory given (`identify/01_user_id`, or its `name:`), so every machine
//! puts it in the same shard whatever the checkout directory, the operating system or the
//! order the files were found in; each scenario is in exactly one shard, and adding a scenario
//! never moves the others. FNV-1a is written out here because its output is fixed by its
//! definition, unlike `std`'s `DefaultHasher`, which may change between Rust releases.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (1-based, as CI matrices number jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 1 to `count`.
    pub index: u64,
    /// How many parts the selection is split into.
    pub count: u64,
}

impl Shard {
    /// Whether the scenario (or broken file) called `name` runs in this shard.
    pub fn contains(&self, name: &str) -> bool {
        fnv1a64(name.as_bytes()) % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected a shard as I/N with 1 <= I <= N (e.g. 2/4), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// 64-bit FNV-1a.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_what_is_not_i_of_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "1", "a/b", "-1/2", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("I/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_hash_is_fnv1a_as_published() {
        // Test vectors of the FNV reference (draft-eastlake-fnv): machine-independent.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_shards_of_the_embedded_scenarios_cover_each_exactly_once() {
        let all = crate::load::load_embedded().expect("embedded scenarios load");
        for n in 1..=5u64 {
            let mut seen = std::collections::BTreeMap::new();
            for i in 1..=n {
                let shard = Shard { index: i, count: n };
                for s in all.iter().filter(|s| shard.contains(&s.name)) {
                    assert!(seen.insert(s.name.clone(), i).is_none(), "{} twice", s.name);
                }
            }
            assert_eq!(seen.len(), all.len(), "n = {n}");
        }
    }
}
