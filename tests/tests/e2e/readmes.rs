//! Each library crate's README opens its "Library" part with the shortest use of its handle,
//! and the same code is the crate's doc-test (`src/lib.rs`), which `cargo test` compiles and
//! runs. This keeps the two from drifting apart: the README's first `rust` block must be the
//! doc-test's visible lines, comments and blank lines aside.

use std::path::Path;

/// The lines of code of a snippet: trailing `// comments` and blank lines dropped, spaces
/// trimmed, and the doc-test's hidden lines (`# …`) left out.
fn code_lines(snippet: &str) -> Vec<String> {
    snippet
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t == "#" || t.starts_with("# "))
        })
        .map(|l| match l.find(" //") {
            Some(i) => l[..i].trim().to_owned(),
            None if l.trim_start().starts_with("//") => String::new(),
            None => l.trim().to_owned(),
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// The first ```rust block of the README.
fn readme_example(readme: &str) -> Option<String> {
    let start = readme.find("```rust\n")? + "```rust\n".len();
    let len = readme[start..].find("```")?;
    Some(readme[start..start + len].to_owned())
}

/// The first doc-test of the crate docs (`//!` lines of `src/lib.rs`).
fn doctest(lib: &str) -> Option<String> {
    let docs: Vec<&str> = lib
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .collect();
    let open = docs.iter().position(|l| l.starts_with("```"))?;
    let close = open + 1 + docs[open + 1..].iter().position(|l| l.starts_with("```"))?;
    Some(docs[open + 1..close].join("\n"))
}

#[test]
fn every_readme_example_is_the_crate_doctest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in ["hub", "mock-dataplane", "mock-looker", "serving"] {
        let read = |p: &str| {
            std::fs::read_to_string(root.join(krate).join(p))
                .unwrap_or_else(|e| panic!("{krate}/{p}: {e}"))
        };
        let readme = readme_example(&read("README.md"))
            .unwrap_or_else(|| panic!("{krate}/README.md has no ```rust example"));
        let test = doctest(&read("src/lib.rs"))
            .unwrap_or_else(|| panic!("{krate}/src/lib.rs has no doc-test"));
        assert_eq!(
            code_lines(&readme),
            code_lines(&test),
            "{krate}: the README's first example differs from the doc-test in src/lib.rs"
        );
    }
}
