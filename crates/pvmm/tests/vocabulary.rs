//! The kernel model's vocabulary as the command line shows it: `pvmm list` (text and JSON,
//! keys `ops`, `properties`, `switches`, `presets`) prints every declaration, the JSON
//! schema's enums are the declared names (`PVMM_BLESS=1` rewrites them), `pvmm explain`
//! shows each preset's own flow, and the completions offer every preset and `SWITCH=VALUE`.

use kernel::vocab::ops::OPS;
use kernel::vocab::presets::PRESETS;
use kernel::vocab::properties::PROPERTIES;
use kernel::vocab::switches::SWITCHES;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pvmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvmm"))
        .args(args)
        .current_dir(repo())
        .env_remove("PVMM_SCENARIOS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("pvmm runs")
}

fn stdout(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const SCHEMA: &str = "docs/json-schema/pvmm-output.v1.schema.json";

/// The schema's `$defs` enums that list declared names: (def, names).
fn declared_enums() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("property", PROPERTIES.iter().map(|p| p.id).collect()),
        ("op", OPS.iter().map(|o| o.name).collect()),
        ("switch", SWITCHES.iter().map(|s| s.name()).collect()),
    ]
}

/// `"enum": [...]` of `$defs/<def>` in the schema text, rewritten to `names`.
fn with_enum(schema: &str, def: &str, names: &[&str]) -> String {
    let key = format!("\n    \"{def}\": {{\n");
    let at = schema
        .find(&key)
        .unwrap_or_else(|| panic!("$defs/{def} in {SCHEMA}"));
    let open = at + schema[at..].find("\"enum\": [").expect("an enum") + "\"enum\": [".len();
    let close = open + schema[open..].find(']').expect("the enum ends");
    let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("{}{}{}", &schema[..open], list.join(", "), &schema[close..])
}

#[test]
fn the_schema_enums_are_the_declared_names() {
    let path = repo().join(SCHEMA);
    let text = std::fs::read_to_string(&path).expect("schema file");
    let mut fresh = text.clone();
    for (def, names) in declared_enums() {
        fresh = with_enum(&fresh, def, &names);
    }
    if fresh != text {
        if std::env::var_os("PVMM_BLESS").is_some() {
            std::fs::write(&path, &fresh).expect("writable");
        } else {
            panic!("{SCHEMA}'s enums disagree with the declarations: rewrite them with PVMM_BLESS=1 cargo test -p pvmm --test vocabulary");
        }
    }
    let schema: serde_json::Value = serde_json::from_str(&fresh).expect("schema is json");
    for (def, names) in declared_enums() {
        let got: Vec<&str> = schema["$defs"][def]["enum"]
            .as_array()
            .expect("enum")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(got, names, "$defs/{def}");
    }
}

#[test]
fn list_prints_every_declaration_as_text_and_json() {
    let t = stdout(&pvmm(&["list"]));
    for o in OPS {
        assert!(
            t.contains(o.name) && t.contains(o.calls),
            "op {} missing:\n{t}",
            o.name
        );
    }
    for p in PROPERTIES {
        assert!(
            t.contains(p.id) && t.contains(p.meaning),
            "property {}",
            p.id
        );
    }
    for s in SWITCHES {
        assert!(t.contains(s.name()), "switch {}", s.name());
        for b in s.history() {
            assert!(t.contains(b.evidence.text()), "{}: history", s.name());
        }
    }
    for p in PRESETS {
        assert!(t.contains(p.name) && t.contains(p.doc), "preset {}", p.name);
    }
    assert!(
        t.contains("[seeded defect:"),
        "seeded defects are marked:\n{t}"
    );

    let o = pvmm(&["list", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join(SCHEMA)).expect("schema"))
            .expect("json");
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let names = |key: &str, field: &str| -> Vec<String> {
        doc[key]
            .as_array()
            .unwrap_or_else(|| panic!("key `{key}`"))
            .iter()
            .map(|x| x[field].as_str().expect(field).to_string())
            .collect()
    };
    assert_eq!(
        names("ops", "name"),
        OPS.iter().map(|o| o.name).collect::<Vec<_>>()
    );
    assert_eq!(
        names("properties", "id"),
        PROPERTIES.iter().map(|p| p.id).collect::<Vec<_>>()
    );
    assert_eq!(
        names("switches", "name"),
        SWITCHES.iter().map(|s| s.name()).collect::<Vec<_>>()
    );
    assert_eq!(
        names("presets", "name"),
        PRESETS.iter().map(|p| p.name).collect::<Vec<_>>()
    );
    // A preset's values are its switches, resolved from the histories.
    let v71 = doc["presets"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == "v7.1"))
        .expect("v7.1");
    assert!(v71["values"]
        .as_array()
        .expect("values")
        .iter()
        .any(|kv| kv[0] == "import_flow" && kv[1] == "new-gmap-trylock"));
    assert_eq!(v71["base_release"], "v7.1");
    // A distribution's tree: a stable point with overrides.
    let deb = doc["presets"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == "debian-6.12.118"))
        .expect("debian-6.12.118");
    assert_eq!(deb["base_release"], "v6.12.118");
    assert!(deb["values"]
        .as_array()
        .expect("values")
        .iter()
        .any(|kv| kv[0] == "import_flow" && kv[1] == "pte-lock-trylock-ref"));
}

/// Before the vocabulary, explain read the import flow back from `Kernel::describe`'s
/// Debug text: v6.4 and v6.11 showed the same flow, 2026-06 (now v7.1) showed `new-gmap`.
#[test]
fn explain_shows_each_presets_own_flow() {
    let t = stdout(&pvmm(&[
        "explain",
        "scenarios/d1-second-mapping-foll-pin.toml",
        "--kernel",
        "v6.4",
        "--kernel",
        "v6.11",
        "--kernel",
        "v7.1",
    ]));
    assert!(
        t.contains("switch* import_flow: v6.4 pte-lock-trylock · v6.11 pte-lock-trylock-ref · v7.1 new-gmap-trylock"),
        "{t}"
    );
    // What each of those flows is, from the value's declaration.
    for v in [
        "pte-lock-trylock:",
        "pte-lock-trylock-ref:",
        "new-gmap-trylock:",
    ] {
        assert!(t.contains(v), "missing `{v}`:\n{t}");
    }
    assert!(t.contains("3f29f6537f54 takes `folio_get`"), "{t}");

    let o = pvmm(&[
        "explain",
        "scenarios/d1-second-mapping-foll-pin.toml",
        "--kernel",
        "v6.4",
        "--kernel",
        "v6.11",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let sw = doc["threads"][0]["ops"][0]["switches"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["switch"] == "import_flow"))
        .expect("import_flow")
        .clone();
    assert_eq!(sw["values"][0][1], "pte-lock-trylock");
    assert_eq!(sw["values"][1][1], "pte-lock-trylock-ref");
    assert_eq!(sw["meanings"].as_array().map(|m| m.len()), Some(2));
    assert!(doc["presets"][1]["kernel"]
        .as_str()
        .is_some_and(|k| k.contains("import_flow=pte-lock-trylock-ref")));
}

#[test]
fn completions_offer_every_preset_and_switch_value() {
    for shell in ["bash", "zsh", "fish"] {
        let t = stdout(&pvmm(&["completions", shell]));
        for p in PRESETS {
            assert!(t.contains(p.name), "{shell}: preset {}", p.name);
        }
        for s in SWITCHES {
            for v in s.values() {
                let pair = format!("{}={}", s.name(), v.name);
                assert!(t.contains(&pair), "{shell}: {pair}");
            }
        }
    }
}
