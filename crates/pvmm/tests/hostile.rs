//! The hostile-input corpus (`tests/hostile/`): malformed and hostile scenario and trace
//! files, each run through the `pvmm` binary as `cases.toml` says, with the exit code and the
//! message fragments it must produce — one category of issue 27 at a time (ranges, panics,
//! blow-ups, silent acceptance, exit codes, traces). No case may panic, and every file of the
//! corpus is used by a case.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    exit: i32,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    stdout: Vec<String>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// Runs pvmm in the corpus directory (where no ./scenarios exists: the built-in scenarios
/// are not in the way) with `args` and `env`.
fn run(args: &[String], env: &BTreeMap<String, String>, dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pvmm"))
        .args(args)
        .env_remove("PVMM_SCENARIOS")
        .envs(env)
        .current_dir(dir)
        .output()
        .expect("run pvmm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check(c: &Case, dir: &Path) -> Vec<String> {
    let (code, out, err) = run(&c.args, &c.env, dir);
    let what = format!("pvmm {}", c.args.join(" "));
    let mut bad = Vec::new();
    if err.contains("panicked") {
        bad.push(format!("{what}: panicked:\n{err}"));
    }
    if code != c.exit {
        bad.push(format!("{what}: exit {code}, expected {}\n{err}", c.exit));
    }
    for f in &c.stderr {
        if !err.contains(f.as_str()) {
            bad.push(format!("{what}: stderr lacks `{f}`:\n{err}"));
        }
    }
    for f in &c.stdout {
        if !out.contains(f.as_str()) {
            bad.push(format!("{what}: stdout lacks `{f}`"));
        }
    }
    if c.exit == 2 && !err.lines().any(|l| l.contains(": error: ")) {
        bad.push(format!("{what}: bad input without an error line:\n{err}"));
    }
    bad
}

#[test]
fn every_hostile_input_gets_its_exit_code_and_message() {
    let dir = corpus();
    let text = std::fs::read_to_string(dir.join("cases.toml")).expect("cases.toml");
    let cases: Cases = toml::from_str(&text).expect("cases.toml parses");
    let failures: Vec<String> = cases.case.iter().flat_map(|c| check(c, &dir)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.case.len(),
        failures.join("\n\n")
    );
    // Every file of the corpus is named by a case (or is the scenario of `all/` or of the
    // trace cases).
    let named: String = cases
        .case
        .iter()
        .flat_map(|c| c.args.iter().chain(c.env.values()))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    for sub in ["", "traces"] {
        for e in std::fs::read_dir(dir.join(sub)).expect("corpus dir") {
            let p = e.expect("entry").path();
            if !p.is_file() || p.file_name().is_some_and(|n| n == "cases.toml") {
                continue;
            }
            let rel = p.strip_prefix(&dir).expect("inside").display().to_string();
            assert!(
                named.contains(&rel),
                "{rel} is used by no case in cases.toml"
            );
        }
    }
}

/// A trace whose schedule is longer than any execution may be (MAX_DEPTH steps) is refused
/// before anything is allocated for it (the file is 2 MB: written here, not committed).
#[test]
fn a_schedule_beyond_max_depth_is_refused() {
    let dir = corpus();
    let base = std::fs::read_to_string(dir.join("traces/format-2.json")).expect("a trace");
    let mut tf: serde_json::Value = serde_json::from_str(&base).expect("json");
    tf["format"] = 1.into();
    tf["steps"] = serde_json::Value::Array(Vec::new());
    tf["schedule"] = vec!["0"; 1_000_001].join(".").into();
    let tmp = std::env::temp_dir().join(format!("pvmm-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let trace = tmp.join("long.json");
    std::fs::write(&trace, serde_json::to_string_pretty(&tf).expect("json")).expect("write");
    let scenario = dir.join("two-threads.toml").display().to_string();
    let args = [
        "replay".to_string(),
        trace.display().to_string(),
        "--scenario".to_string(),
        scenario,
    ];
    let (code, _, err) = run(&args, &BTreeMap::new(), &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("long.json:10:15: error: field `schedule`: 1000001 steps; at most 1000000"),
        "{err}"
    );
}
