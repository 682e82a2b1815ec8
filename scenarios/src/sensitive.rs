//! `${sensitive.NAME}`: the value of a param the hub marks `sensitive`, in a recorded scenario
//! (`scenarios record` never writes the real one). The runner fills it with a stand-in,
//! `sensitive-NAME`: non-empty, so a required param is still set, and the same in every run.
//! A hub whose behaviour depends on the real secret (an API key it calls out with) cannot be
//! replayed faithfully this way; the scenario says which param it was.

const PREFIX: &str = "${sensitive.";

/// `s` with every `${sensitive.NAME}` replaced by `sensitive-NAME`.
pub fn fill(s: &str) -> String {
    if !s.contains(PREFIX) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(PREFIX) {
        out.push_str(&rest[..i]);
        let after = &rest[i + PREFIX.len()..];
        match after.find('}') {
            Some(j) => {
                out.push_str("sensitive-");
                out.push_str(&after[..j]);
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_stand_ins() {
        assert_eq!(super::fill("${sensitive.api_key}"), "sensitive-api_key");
        assert_eq!(
            super::fill("a ${sensitive.x} b ${sensitive.y"),
            "a sensitive-x b ${sensitive.y"
        );
        assert_eq!(super::fill("plain"), "plain");
    }
}
