//! Helpers shared by the subcommands: exit codes, the scenarios directory, `--set` parsing.

use std::path::{Path, PathBuf};

/// Exit codes.
pub const EXIT_OK: u8 = 0;
pub const EXIT_VIOLATION: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_INCOMPLETE: u8 = 3;

include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));

/// The directory the built-in scenarios stand for: `scenarios/NAME.toml` names one of them
/// when no such file exists (see [`load_scenario`]).
pub const BUILTIN_DIR: &str = "scenarios";

/// The scenarios directory: $PVMM_SCENARIOS, or ./scenarios — which, where it does not
/// exist, means the scenarios built into this binary (the repository's, when it was built).
pub fn scenarios_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(d) = explicit {
        return d.to_path_buf();
    }
    if let Ok(d) = std::env::var("PVMM_SCENARIOS") {
        return PathBuf::from(d);
    }
    PathBuf::from(BUILTIN_DIR)
}

/// Whether `dir` stands for the built-in scenarios (./scenarios does not exist).
pub fn is_builtin_dir(dir: &Path) -> bool {
    dir == Path::new(BUILTIN_DIR) && !dir.exists()
}

/// The built-in text of `path` when no file is there and it names a built-in scenario
/// (`scenarios/NAME.toml`, as `check --all` and trace files written from it say).
fn builtin_text(path: &Path) -> Option<&'static str> {
    if path.exists() || path.parent() != Some(Path::new(BUILTIN_DIR)) {
        return None;
    }
    let name = path.file_name()?.to_str()?;
    BUILTIN_SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
}

/// Reads a scenario: the file, or — where there is none — the built-in scenario of that
/// name (`scenarios/d3-sendfile.toml` works in any directory).
pub fn load_scenario(path: &Path) -> Result<checker::Scenario, checker::ScenarioError> {
    match builtin_text(path) {
        Some(text) => checker::parse(path, text),
        None => checker::load(path),
    }
}

pub fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if is_builtin_dir(dir) {
        return Ok(BUILTIN_SCENARIOS.iter().map(|(n, _)| dir.join(n)).collect());
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: cannot read scenarios directory: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

pub fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("--set {s}: expected SWITCH=VALUE"))?;
        let mut probe = kernel::config::preset("v5.7").expect("preset exists");
        probe
            .set(k.trim(), v.trim())
            .map_err(|e| format!("--set {s}: {e}"))?;
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// Checks `--kernel` names: presets or releases ([`kernel::vocab::presets::resolve`]).
pub fn check_presets(kernels: &[String]) -> Result<(), String> {
    for k in kernels {
        kernel::vocab::presets::resolve(k).map_err(|e| format!("--kernel {k}: {e}"))?;
    }
    Ok(())
}

/// Prints an error (`FILE:LINE:COL: error: …` or `error: …`, see `audit::cli::error_line`)
/// and returns the bad-input exit code.
pub fn bad(msg: impl std::fmt::Display) -> u8 {
    eprintln!("{}", audit::cli::error_line(&msg.to_string()));
    EXIT_BAD_INPUT
}

pub fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        EXIT_OK => 0,
        EXIT_INCOMPLETE => 1,
        EXIT_VIOLATION => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Writes an output file, creating its directory.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}
