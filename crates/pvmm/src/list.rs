//! `pvmm list`: scenarios, kernel presets, switches.

use crate::cli::{Format, ListArgs};
use crate::common::*;
use report::json::{self, ListDoc, ListScenario, NameText};

pub fn run(a: ListArgs) -> u8 {
    let dir = scenarios_dir(a.dir.as_deref());
    let files = match scenario_files(&dir) {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    let scenarios: Vec<ListScenario> = files
        .iter()
        .map(|f| match checker::load(f) {
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
        .collect();
    if a.format == Format::Json {
        let doc = ListDoc {
            header: json::Header::new("list"),
            scenarios_dir: dir.display().to_string(),
            scenarios,
            presets: kernel::config::PRESETS
                .iter()
                .map(|p| NameText {
                    name: p.name.to_string(),
                    text: p.doc.to_string(),
                })
                .collect(),
            switches: kernel::config::SWITCHES
                .iter()
                .map(|s| NameText {
                    name: s.name().to_string(),
                    text: s
                        .values()
                        .iter()
                        .map(|v| v.name)
                        .collect::<Vec<_>>()
                        .join(" | "),
                })
                .collect(),
        };
        print!("{}", json::to_string(&doc));
        return EXIT_OK;
    }
    println!("scenarios ({}):", dir.display());
    for s in &scenarios {
        match &s.error {
            None => println!(
                "  {:<34} [{}] {}",
                s.name,
                s.presets.join(", "),
                s.description.lines().next().unwrap_or("")
            ),
            Some(e) => println!("  {e}"),
        }
    }
    println!("\nkernel presets:");
    for p in kernel::config::PRESETS {
        println!("  {:<20} {}", p.name, p.doc);
    }
    println!("\nswitches (--set SWITCH=VALUE, or [set] in a scenario):");
    for s in kernel::config::SWITCHES {
        let v: Vec<&str> = s.values().iter().map(|v| v.name).collect();
        println!("  {:<32} {}", s.name(), v.join(" | "));
    }
    EXIT_OK
}
