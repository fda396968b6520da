//! The `pvmm` binary end to end: exit codes, error messages, trace files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pvmm(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvmm"))
        .args(args)
        .current_dir(dir)
        .env_remove("PVMM_SCENARIOS")
        .output()
        .expect("pvmm runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pvmm-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn malformed_scenario_is_exit_2_with_file_and_line() {
    let d = tmpdir("bad");
    let f = d.join("broken.toml");
    std::fs::write(
        &f,
        "presets = [\"v5.7\"]\n[[thread]]\nname = \"t\"\nops = [{ op = \"warp\" }]\n",
    )
    .expect("write");
    let o = pvmm(&["check", f.to_str().expect("utf8")], &d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("broken.toml:4:"), "{t}");
    assert!(t.contains("warp"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn unknown_preset_and_switch_are_exit_2() {
    let sc = repo().join("scenarios/d4-reference-then-import.toml");
    let sc = sc.to_str().expect("utf8");
    let o = pvmm(&["check", sc, "--kernel", "v9.9"], &repo());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("v9.9"));
    let o = pvmm(&["check", sc, "--set", "warp_drive=true"], &repo());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("warp_drive"));
    let o = pvmm(&["check", "/no/such/file.toml"], &repo());
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn expected_violations_exit_0_and_unexpected_exit_1_with_replayable_trace_files() {
    let d = tmpdir("traces");
    let sc = repo().join("scenarios/d3-sendfile.toml");
    let sc = sc.to_str().expect("utf8");
    let td = d.join("t");
    let td_s = td.to_str().expect("utf8");
    // As expected (violation on v5.7, verified with the patch): exit 0.
    let o = pvmm(&["check", sc, "-q", "--trace-dir", td_s], &repo());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("io-on-secure-page"));
    // The patch's hook switched off on the patched preset: not what the file expects.
    let o = pvmm(
        &[
            "check",
            sc,
            "-q",
            "--kernel",
            "v5.7+splice-patch",
            "--set",
            "splice_confirm_hook=false",
            "--trace-dir",
            td_s,
        ],
        &repo(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let tf = td.join("d3-sendfile.v5.7.io-on-secure-page.json");
    assert!(tf.exists());
    // The replay reproduces what the trace file recorded: exit 0.
    let o = pvmm(&["replay", tf.to_str().expect("utf8")], &repo());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("identical to the recorded trace"),
        "{}",
        text(&o)
    );
}

#[test]
fn replay_with_a_schedule_that_does_not_fit_is_exit_2() {
    let sc = repo().join("scenarios/d3-sendfile.toml");
    let o = pvmm(
        &["replay", sc.to_str().expect("utf8"), "--schedule", "0.7"],
        &repo(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // On stderr, naming the position in the schedule.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("schedule element 2 is thread 7, but the scenario has 2 threads"),
        "{err}"
    );
}

#[test]
fn incomplete_search_is_never_verified() {
    let sc = repo().join("scenarios/d4-reference-then-import.toml");
    let o = pvmm(
        &[
            "check",
            sc.to_str().expect("utf8"),
            "-q",
            "--kernel",
            "v5.7",
            "--max-executions",
            "3",
        ],
        &repo(),
    );
    let t = text(&o);
    assert!(t.contains("incomplete"), "{t}");
    assert!(!t.contains(" verified "), "{t}");
    // The scenario expects `verified`; a search that stopped before the end and found
    // nothing that contradicts it is incomplete, exit 3 (not 1, "unexpected").
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains("incomplete (executions)"), "{t}");
    assert!(t.contains("max-executions=3"), "{t}");
    // Without an expectation, an incomplete search exits 3.
    let fx = repo().join("crates/checker/tests/naive/import-vs-lookup.toml");
    let o = pvmm(
        &[
            "check",
            fx.to_str().expect("utf8"),
            "-q",
            "--kernel",
            "v5.7",
            "--max-executions",
            "3",
        ],
        &repo(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn list_shows_scenarios_and_presets() {
    let o = pvmm(&["list"], &repo());
    assert_eq!(o.status.code(), Some(0));
    let t = text(&o);
    assert!(
        t.contains("d3-sendfile")
            && t.contains("v5.7+splice-patch")
            && t.contains("hook_on_foll_pin"),
        "{t}"
    );
}
