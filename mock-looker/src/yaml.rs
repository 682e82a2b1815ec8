//! A guard in front of serde_norway for YAML files (Looks here, scenarios in the `scenarios`
//! crate): it refuses deeply nested flow collections before libyaml scans them.
//!
//! libyaml's scanner re-checks every open flow level for each token, so its time grows with
//! tokens × flow depth: fuzzing found 50,000 nested `{a: ` (200 KB) taking 9 s, and a
//! megabyte would take minutes, a hang in practice. serde_norway refuses documents nested
//! deeper than 128 anyway, but only after that scan. [`check_nesting`] estimates the flow
//! depth in one linear pass and refuses the file past [`MAX_FLOW_DEPTH`], naming the line.
//!
//! The estimate follows YAML closely enough to never matter for a real file: quoted strings and
//! comments are skipped, and outside flow collections `[` or `{` count only where a value can
//! start (so `title: a[b` is text). It errs on the side of counting, and the limit is twice
//! serde_norway's own, so a document this refuses could not have loaded.

/// Flow nesting refused by [`check_nesting`] (serde_norway's recursion limit is 128).
pub const MAX_FLOW_DEPTH: usize = 256;

/// A file whose flow collections nest deeper than [`MAX_FLOW_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flow collections ([…] or {{…}}) nested deeper than {MAX_FLOW_DEPTH} levels")]
pub struct TooDeep {
    /// 1-based line of the bracket that went past the limit.
    pub line: usize,
    /// 1-based column (in characters) of that bracket.
    pub column: usize,
}

/// Ok when the flow collections of `text` nest at most [`MAX_FLOW_DEPTH`] deep.
pub fn check_nesting(text: &str) -> Result<(), TooDeep> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    // Whether a value (a quoted string, a flow collection) can start at `i`: after blanks, and
    // inside flow collections after `[`, `{`, `,` and `:`. Elsewhere `"`, `'`, `[`, `{` are text.
    let mut value_start = true;
    let mut after_blank = true;
    while i < b.len() {
        let c = b[i];
        let mut starts_value = false;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => starts_value = true,
            b'#' if after_blank => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' if value_start => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if value_start => {
                i += 1;
                // `''` inside is an escaped quote, not the end.
                while i < b.len() {
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' if depth > 0 || value_start => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(position(text, i));
                }
                starts_value = true;
            }
            b']' | b'}' if depth > 0 => depth -= 1,
            b',' | b':' if depth > 0 => starts_value = true,
            _ => {}
        }
        value_start = starts_value;
        after_blank = matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        i += 1;
    }
    Ok(())
}

fn position(text: &str, at: usize) -> TooDeep {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    TooDeep {
        line,
        column: before[line_start..].chars().count() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_measured_outside_strings_comments_and_plain_text() {
        let deep = |n: usize| format!("a: {}1{}", "[".repeat(n), "]".repeat(n));
        assert!(check_nesting(&deep(MAX_FLOW_DEPTH)).is_ok());
        assert_eq!(
            check_nesting(&deep(MAX_FLOW_DEPTH + 1)),
            Err(TooDeep {
                line: 1,
                column: 4 + MAX_FLOW_DEPTH
            })
        );
        let many = "[".repeat(1000);
        for text in [
            format!("a: \"{many}\"\n"),
            format!("a: '{many}'\n"),
            format!("a: 'it''s {many}'\n"),
            format!("# {many}\n"),
            format!("a: x{many}\n"),
            format!("a: [\"\\\"{many}\", '{many}']\n"),
            format!("{}\n", "[a], ".repeat(1000)),
        ] {
            assert!(check_nesting(&text).is_ok(), "{text}");
        }
        assert_eq!(
            check_nesting(&format!("x: 1\nb: {}", "{a: ".repeat(300))).map_err(|e| e.line),
            Err(2)
        );
    }
}
