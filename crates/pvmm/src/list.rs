//! `pvmm list`: the scenarios, and the kernel model's vocabulary from its declarations —
//! presets, switches (values and histories), scenario operations, properties.

use crate::cli::{Format, ListArgs};
use crate::common::*;
use checker::text::escape;
use kernel::vocab::ops::{Arg, Batch, Presence, OPS};
use kernel::vocab::presets::{preset, Base, PRESETS};
use kernel::vocab::properties::PROPERTIES;
use kernel::vocab::switches::{one_line, SWITCHES};
use report::json::{
    self, ListBoundary, ListDoc, ListField, ListOp, ListOverride, ListPreset, ListProperty,
    ListScenario, ListSwitch, ListValue,
};

fn presets() -> Vec<ListPreset> {
    PRESETS
        .iter()
        .map(|p| ListPreset {
            name: p.name.to_string(),
            text: p.doc.to_string(),
            base_release: match p.base {
                Base::Release(r) => Some(r.to_string()),
                Base::Preset(_) => None,
            },
            base_preset: match p.base {
                Base::Preset(b) => Some(b.to_string()),
                Base::Release(_) => None,
            },
            overrides: p
                .overrides
                .iter()
                .map(|o| ListOverride {
                    switch: o.switch.to_string(),
                    value: o.value.to_string(),
                    why: o.why.to_string(),
                })
                .collect(),
            values: preset(p.name)
                .map(|k| {
                    k.values()
                        .into_iter()
                        .map(|(s, v)| (s.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn switches() -> Vec<ListSwitch> {
    SWITCHES
        .iter()
        .map(|s| ListSwitch {
            name: s.name().to_string(),
            text: s
                .values()
                .iter()
                .map(|v| v.name)
                .collect::<Vec<_>>()
                .join(" | "),
            doc: one_line(s.doc()),
            values: s
                .values()
                .iter()
                .map(|v| ListValue {
                    name: v.name.to_string(),
                    doc: one_line(v.doc),
                    defect: v.defect.map(str::to_string),
                })
                .collect(),
            history: s
                .history()
                .iter()
                .map(|b| ListBoundary {
                    from: b.from.to_string(),
                    value: b.value.to_string(),
                    commit: b.commit.map(str::to_string),
                    evidence: b.evidence.kind().to_string(),
                    evidence_text: b.evidence.text().to_string(),
                })
                .collect(),
        })
        .collect()
}

fn default_text(p: Presence) -> Option<String> {
    match p {
        Presence::Default(Arg::Bool(b)) => Some(b.to_string()),
        Presence::Default(Arg::Num(n) | Arg::Id(n)) => Some(n.to_string()),
        Presence::Default(a) => Some(format!("{a:?}")),
        Presence::Required | Presence::Optional => None,
    }
}

fn ops() -> Vec<ListOp> {
    OPS.iter()
        .map(|o| ListOp {
            name: o.name.to_string(),
            doc: o.doc.to_string(),
            fields: o
                .fields
                .iter()
                .map(|f| ListField {
                    name: f.name.to_string(),
                    kind: f.kind.describe(),
                    required: f.presence == Presence::Required,
                    default: default_text(f.presence),
                    doc: f.doc.to_string(),
                })
                .collect(),
            calls: o.calls.to_string(),
            cites: o.cites.iter().map(|c| c.to_string()).collect(),
            switches: o
                .switches
                .iter()
                .map(|(s, e)| (s.to_string(), e.to_string()))
                .collect(),
            references: match o.batch {
                Batch::None => "none",
                Batch::Acquires => "acquires",
                Batch::Uses => "uses",
                Batch::Releases => "releases",
            }
            .to_string(),
        })
        .collect()
}

fn properties() -> Vec<ListProperty> {
    PROPERTIES
        .iter()
        .map(|p| ListProperty {
            id: p.id.to_string(),
            abbrev: p.abbrev.to_string(),
            meaning: p.meaning.to_string(),
            severity: match p.severity {
                explore::Severity::Violation => "violation",
                explore::Severity::Observation => "observation",
            }
            .to_string(),
            checked: p.checked.to_string(),
        })
        .collect()
}

fn scenarios(files: &[std::path::PathBuf]) -> Vec<ListScenario> {
    files
        .iter()
        .map(|f| match load_scenario(f) {
            Ok(s) => ListScenario {
                name: s.name.clone(),
                path: f.display().to_string(),
                presets: s.presets.clone(),
                description: s.description.clone(),
                error: None,
            },
            Err(e) => ListScenario {
                name: f
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path: f.display().to_string(),
                presets: Vec::new(),
                description: String::new(),
                error: Some(e.to_string()),
            },
        })
        .collect()
}

pub fn run(a: ListArgs) -> u8 {
    let dir = scenarios_dir(a.dir.as_deref());
    let files = match scenario_files(&dir) {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    let doc = ListDoc {
        header: json::Header::new("list"),
        scenarios_dir: dir.display().to_string(),
        scenarios: scenarios(&files),
        presets: presets(),
        switches: switches(),
        ops: ops(),
        properties: properties(),
    };
    // Every scenario is listed; one that does not parse is also an error (exit 2).
    let mut code = EXIT_OK;
    for e in doc.scenarios.iter().filter_map(|s| s.error.as_ref()) {
        code = bad(e);
    }
    if a.format == Format::Json {
        print!("{}", json::to_string(&doc));
        return code;
    }
    print_text(&doc, is_builtin_dir(&dir));
    code
}

fn print_text(doc: &ListDoc, builtin: bool) {
    if builtin {
        println!("scenarios (built in; no ./scenarios here):");
    } else {
        println!("scenarios ({}):", escape(&doc.scenarios_dir));
    }
    for s in &doc.scenarios {
        match &s.error {
            None => println!(
                "  {:<34} [{}] {}",
                escape(&s.name),
                s.presets.join(", "),
                escape(s.description.lines().next().unwrap_or(""))
            ),
            Some(e) => println!("  {}", escape(e)),
        }
    }
    println!("\nkernel presets (--kernel PRESET):");
    for p in &doc.presets {
        let base = match (&p.base_release, &p.base_preset) {
            (Some(r), _) => format!("release {r}"),
            (_, Some(b)) => b.clone(),
            _ => String::new(),
        };
        let over: Vec<String> = p
            .overrides
            .iter()
            .map(|o| format!("{}={}", o.switch, o.value))
            .collect();
        println!("  {:<20} {}", p.name, p.text);
        if !over.is_empty() {
            println!("  {:<20} = {base} with {}", "", over.join(" "));
        }
    }
    println!("\nswitches (--set SWITCH=VALUE, or [set] in a scenario):");
    for s in &doc.switches {
        println!("  {:<32} {}", s.name, s.text);
        println!("      {}", s.doc);
        for v in &s.values {
            let defect = v
                .defect
                .as_ref()
                .map(|d| format!(" [seeded defect: {d}]"))
                .unwrap_or_default();
            println!("      {:<26} {}{defect}", v.name, v.doc);
        }
        for b in &s.history {
            println!(
                "      from {:<10} {:<26} {:<13} {}: {}",
                b.from,
                b.value,
                b.commit.as_deref().unwrap_or("-"),
                b.evidence,
                b.evidence_text
            );
        }
    }
    println!(
        "\nscenario operations (ops = [{{ op = \"NAME\", FIELD = VALUE, frame = \"a > b\" }}]):"
    );
    for o in &doc.ops {
        let fields: Vec<String> = o
            .fields
            .iter()
            .map(|f| match (&f.default, f.required) {
                (Some(d), _) => format!("{}={d}", f.name),
                (None, true) => f.name.clone(),
                (None, false) => format!("[{}]", f.name),
            })
            .collect();
        println!("  {:<18} {}", o.name, fields.join(" "));
        println!("      {}", o.doc);
        println!("      {}", o.calls);
    }
    println!("\nproperties:");
    for p in &doc.properties {
        let sev = if p.severity == "observation" {
            " (observation)"
        } else {
            ""
        };
        println!("  {:<20} {:<10} {}{sev}", p.id, p.abbrev, p.meaning);
    }
}
