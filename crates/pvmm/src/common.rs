//! Helpers shared by the subcommands: exit codes, the scenarios directory, `--set` parsing,
//! bounds and limits as text.

use checker::text::escape;
use std::path::{Path, PathBuf};

/// Exit codes (README, `pvmm --help`). A run of several checks (`check --all`, the matrix)
/// exits with the worst of its checks' codes, in the order 2 (bad input) before 1
/// (violation or unexpected verdict) before 3 (incomplete) before 0 (see [`worse`]).
pub const EXIT_OK: u8 = 0;
pub const EXIT_VIOLATION: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_INCOMPLETE: u8 = 3;

/// The exit code of one check's status.
pub fn status_code(s: checker::Status) -> u8 {
    match s {
        checker::Status::AsExpected => EXIT_OK,
        checker::Status::Unexpected => EXIT_VIOLATION,
        checker::Status::Incomplete => EXIT_INCOMPLETE,
    }
}

/// The most worker threads `--jobs` may ask for: four per CPU, at most 256 (each worker of
/// the stateful search is an OS thread with its own stack and search state; more than the
/// CPUs only adds contention).
pub fn max_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .saturating_mul(4)
        .clamp(1, 256)
}

/// Checks `--jobs N`.
pub fn check_jobs(jobs: usize) -> Result<(), String> {
    let max = max_jobs();
    if jobs == 0 {
        return Err("--jobs: at least 1".to_string());
    }
    if jobs > max {
        return Err(format!(
            "--jobs {jobs}: at most {max} (four per CPU, at most 256: more workers than CPUs only contend)"
        ));
    }
    Ok(())
}

/// Creates the output directory `dir` (named by `option` in errors) and checks that a file
/// can be written there.
pub fn prepare_dir(dir: &Path, option: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "{option} {}: cannot create the directory: {e}",
            dir.display()
        )
    })?;
    let probe = dir.join(format!(".pvmm-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| format!("{option} {}: cannot write there: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Bounds for people: `max depth 2000 steps per execution, max-time 3600s, …`.
pub fn bounds_text(b: &explore::Bounds) -> String {
    let mut v = vec![format!("max depth {} steps per execution", b.max_depth)];
    if let Some(p) = b.max_preemptions {
        v.push(format!("at most {p} preemptions"));
    }
    if let Some(n) = b.max_executions {
        v.push(format!("max-executions {n}"));
    }
    match b.max_time {
        Some(t) => v.push(format!("max-time {}s", t.as_secs())),
        None => v.push("no time bound".to_string()),
    }
    match (b.max_memory_mib, b.max_address_space_mib) {
        (None, None) => v.push("no memory bound".to_string()),
        (m, a) => {
            let mut parts = Vec::new();
            if let Some(m) = m {
                parts.push(format!("{m} MiB resident"));
            }
            if let Some(a) = a {
                parts.push(format!("{a} MiB address space"));
            }
            v.push(format!("max-memory {}", parts.join(", ")));
        }
    }
    v.join(", ")
}

/// The line under the title of `check` and `matrix` that states the time and memory bounds
/// of each check (`what`: check or cell) and where they come from.
pub fn limits_line(
    max_time: Option<u64>,
    max_memory: Option<u64>,
    limits: &checker::limits::MachineLimits,
    what: &str,
) -> String {
    let default_time = if what == "cell" {
        checker::limits::DEFAULT_CELL_TIME_SECS
    } else {
        checker::limits::DEFAULT_MAX_TIME_SECS
    };
    let time = match max_time {
        Some(0) => "no time bound (--max-time 0)".to_string(),
        Some(t) => format!("max-time {t}s"),
        None if what == "cell" => format!("max-time {default_time}s (default)"),
        None => format!("max-time {default_time}s (default, unless the scenario sets one)"),
    };
    let memory = match (max_memory, limits.max_memory_mib) {
        (Some(m), _) => format!("max-memory {m} MiB resident (--max-memory)"),
        (None, Some(m)) => format!("max-memory {m} MiB resident"),
        (None, None) => "no resident memory bound".to_string(),
    };
    let space = limits
        .max_address_space_mib
        .map(|a| format!(", {a} MiB address space"))
        .unwrap_or_default();
    format!(
        "bounds per {what}: {time}, {memory}{space} ({})",
        limits.source
    )
}

/// The machine's limits for JSON.
pub fn limits_out(
    max_memory: Option<u64>,
    limits: &checker::limits::MachineLimits,
) -> report::json::LimitsOut {
    report::json::LimitsOut {
        max_memory_mib: max_memory.or(limits.max_memory_mib),
        max_address_space_mib: limits.max_address_space_mib,
        source: match max_memory {
            Some(_) => format!("--max-memory; machine: {}", limits.source),
            None => limits.source.clone(),
        },
    }
}

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

/// Whether `path` names a built-in scenario and no file is there.
pub fn is_builtin_scenario(path: &Path) -> bool {
    builtin_text(path).is_some()
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

/// Prints an error (`FILE:LINE:COL: error: …` or `error: …`, see `audit::cli::error_line`;
/// control characters of user text in it escaped) and returns the bad-input exit code.
pub fn bad(msg: impl std::fmt::Display) -> u8 {
    eprintln!("{}", audit::cli::error_line(&escape(&msg.to_string())));
    EXIT_BAD_INPUT
}

/// The worse of two exit codes: 2 before 1 before 3 before 0.
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
