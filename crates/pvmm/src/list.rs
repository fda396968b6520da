//! `pvmm list`: scenarios, kernel presets, switches.

use crate::cli::{Format, ListArgs};
use crate::common::*;
use checker::text::escape;
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
                .map(|(n, t)| NameText {
                    name: n.to_string(),
                    text: t.to_string(),
                })
                .collect(),
            switches: kernel::config::SWITCHES
                .iter()
                .map(|(n, t)| NameText {
                    name: n.to_string(),
                    text: t.to_string(),
                })
                .collect(),
        };
        print!("{}", json::to_string(&doc));
        return EXIT_OK;
    }
    println!("scenarios ({}):", escape(&dir.display().to_string()));
    for s in &scenarios {
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
    println!("\nkernel presets:");
    for (p, d) in kernel::config::PRESETS {
        println!("  {p:<20} {d}");
    }
    println!("\nswitches (--set SWITCH=VALUE, or [set] in a scenario):");
    for (s, v) in kernel::config::SWITCHES {
        println!("  {s:<32} {v}");
    }
    EXIT_OK
}
