//! The parts of the documents that the declarations write: `docs/scenarios.md`'s op table
//! and op reference, and README's lists of properties and presets. The tests below fail when a document
//! disagrees; `PVMM_BLESS=1 cargo test -p kernel docs` rewrites the generated parts (between
//! the `<!-- generated ... -->` and `<!-- end generated -->` lines).

use super::ops::{Batch, Kind, Presence, OPS};
use super::properties::PROPERTIES;
use super::switches::one_line;
use explore::Severity;
use std::fmt::Write as _;

/// How a field's default reads in a document.
fn presence(f: &super::ops::FieldSpec) -> String {
    match (f.presence, f.default_text()) {
        (Presence::Required, _) => String::new(),
        (Presence::Optional, _) => ", optional".into(),
        (Presence::Default(_), Some(d)) => format!(", default {d}"),
        (Presence::Default(a), None) => format!(", default {a:?}"),
    }
}

/// `docs/scenarios.md`'s table of thread operations.
pub fn ops_table() -> String {
    let mut t =
        String::from("| op | fields | held references | kernel path |\n|---|---|---|---|\n");
    for o in OPS {
        let fields: Vec<String> = o
            .fields
            .iter()
            .map(|f| {
                let kind = match f.kind {
                    Kind::Flags(_) => "flags".to_string(),
                    k => k.describe(),
                };
                format!("`{}` ({kind}{})", f.name, presence(f))
            })
            .collect();
        let _ = writeln!(
            t,
            "| `{}` | {} | {} | {} |",
            o.name,
            fields.join(", "),
            o.batch.describe(),
            o.calls.replace('|', "\\|")
        );
    }
    t
}

/// `docs/scenarios.md`'s reference of every op: what it does, its fields, the functions it
/// follows and the switches that change it.
pub fn ops_reference() -> String {
    let mut t = String::new();
    for o in OPS {
        let _ = writeln!(t, "### `{}`\n\n{}\n", o.name, o.doc);
        for f in o.fields {
            let kind = f.kind.describe();
            let _ = writeln!(t, "* `{}` ({kind}{}): {}", f.name, presence(f), f.doc);
            if let Kind::Flags(flags) = f.kind {
                for fl in flags {
                    let _ = writeln!(t, "  * `{}`: {}", fl.name, fl.doc);
                }
            }
        }
        if o.batch != Batch::None {
            let _ = writeln!(t, "* references: {}", o.batch.describe());
        }
        if !o.cites.is_empty() {
            let cites: Vec<String> = o.cites.iter().map(|c| format!("`{c}`")).collect();
            let _ = writeln!(t, "* follows: {}", cites.join("; "));
        }
        if !o.switches.is_empty() {
            let sw: Vec<String> = o
                .switches
                .iter()
                .map(|(s, e)| format!("`{s}` ({e})"))
                .collect();
            let _ = writeln!(t, "* switches: {}", sw.join("; "));
        }
        t.push('\n');
    }
    t
}

/// README's "Properties checked in every run".
pub fn properties_list() -> String {
    let item =
        |p: &super::properties::PropertySpec| format!("`{}` ({})", p.id, one_line(p.meaning));
    let v: Vec<String> = PROPERTIES
        .iter()
        .filter(|p| p.severity == Severity::Violation)
        .map(item)
        .collect();
    let o: Vec<String> = PROPERTIES
        .iter()
        .filter(|p| p.severity == Severity::Observation)
        .map(item)
        .collect();
    format!(
        "Violations: {}.\n\nObservations, reported in parentheses and never a violation: {}.\n",
        v.join(", "),
        o.join(", ")
    )
}

/// README's list of presets.
pub fn presets_list() -> String {
    let mut t = String::new();
    for p in super::presets::PRESETS {
        let base = match p.base {
            super::presets::Base::Release(r) => format!("release {r}"),
            super::presets::Base::Preset(b) => format!("`{b}`"),
        };
        let over: Vec<String> = p
            .overrides
            .iter()
            .map(|o| format!("{}={}", o.switch, o.value))
            .collect();
        let _ = writeln!(
            t,
            "* `{}` ({base}{}): {}",
            p.name,
            if over.is_empty() {
                String::new()
            } else {
                format!(" with {}", over.join(", "))
            },
            p.doc
        );
    }
    t
}

/// Replaces the generated section `name` of `text` with `body`; `None` if the markers are
/// missing.
pub fn replace_section(text: &str, name: &str, body: &str) -> Option<String> {
    let open = format!("<!-- generated: {name}");
    let start = text.find(&open)?;
    let body_start = start + text[start..].find('\n')? + 1;
    let end = body_start + text[body_start..].find("<!-- end generated -->")?;
    Some(format!("{}{}{}", &text[..body_start], body, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn repo(file: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(file)
    }

    /// The generated sections of `file` are what the declarations write (rewritten with
    /// PVMM_BLESS=1).
    fn check(file: &str, sections: &[(&str, String)]) {
        let path = repo(file);
        let text = std::fs::read_to_string(&path).expect("the document exists");
        let mut fresh = text.clone();
        for (name, body) in sections {
            fresh = replace_section(&fresh, name, body)
                .unwrap_or_else(|| panic!("{file}: no generated section `{name}`"));
        }
        if fresh != text {
            if std::env::var_os("PVMM_BLESS").is_some() {
                std::fs::write(&path, fresh).expect("writable");
                return;
            }
            let first = text
                .lines()
                .zip(fresh.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{file} disagrees with the declarations at line {}:\n  committed: {:?}\n  declared:  {:?}\nrewrite it with PVMM_BLESS=1 cargo test -p kernel docs",
                first + 1,
                text.lines().nth(first),
                fresh.lines().nth(first)
            );
        }
    }

    #[test]
    fn docs_scenarios_md_lists_every_op_as_declared() {
        check(
            "docs/scenarios.md",
            &[
                ("ops table", ops_table()),
                ("ops reference", ops_reference()),
            ],
        );
    }

    #[test]
    fn docs_readme_lists_every_property_and_preset_as_declared() {
        check(
            "README.md",
            &[
                ("properties", properties_list()),
                ("presets", presets_list()),
            ],
        );
    }

    #[test]
    fn sections_are_replaced_between_their_markers() {
        let t = "a\n<!-- generated: x (y) -->\nold\n<!-- end generated -->\nb\n";
        assert_eq!(
            replace_section(t, "x", "new\n").as_deref(),
            Some("a\n<!-- generated: x (y) -->\nnew\n<!-- end generated -->\nb\n")
        );
        assert_eq!(replace_section(t, "z", ""), None);
    }
}
