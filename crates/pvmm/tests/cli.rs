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

/// The pair matrix's subset of the shard tests: two rows, one preset (2 single-row and 3 pair
/// checks).
const PAIR_SUBSET: [&str; 7] = [
    "--quiet",
    "--row",
    "read-copy",
    "--row",
    "sendfile",
    "--kernel",
    "v6.1",
];

/// `matrix --pairs` on a subset (two rows, one preset: 2 single-row and 3 pair checks),
/// whole and as shards 1/2 + 2/2 merged: the same JSON and Markdown bytes; a shard cut in the
/// middle of a line resumes from what it wrote and still merges to the same bytes.
#[test]
fn pair_matrix_shards_merge_to_one_run() {
    let d = tmpdir("pairs");
    let with = |extra: &[&str]| -> Output {
        let mut args: Vec<&str> = vec!["matrix", "--pairs"];
        args.extend_from_slice(&PAIR_SUBSET);
        args.extend_from_slice(extra);
        pvmm(&args, &d)
    };
    let whole = with(&["--format", "json"]);
    assert!(
        matches!(whole.status.code(), Some(0 | 3)),
        "{}",
        text(&whole)
    );
    let doc: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("JSON document");
    assert_eq!(doc["kind"], "pair-matrix", "{doc}");
    let whole_md = with(&["--out", "whole.md"]);
    assert!(whole_md.status.success() || whole_md.status.code() == Some(3));
    for k in ["1/2", "2/2"] {
        let out = format!("shard{}.jsonl", &k[..1]);
        let o = with(&["--shard", k, "--out", &out]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // Cut shard 2's output inside its last line (as a crash would) and resume it.
    let s2 = d.join("shard2.jsonl");
    let full = std::fs::read_to_string(&s2).expect("shard 2 output");
    let lines = full.lines().count();
    assert!(lines >= 2, "a header and at least one check: {full}");
    let cut = full.trim_end().rfind('\n').expect("several lines") + 10;
    std::fs::write(&s2, &full[..cut]).expect("cut");
    let o = with(&["--shard", "2/2", "--out", "shard2.jsonl"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(&s2)
            .expect("resumed")
            .lines()
            .count(),
        lines
    );
    let merged = with(&[
        "--merge",
        "shard1.jsonl",
        "shard2.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(
        merged.status.code(),
        whole.status.code(),
        "{}",
        text(&merged)
    );
    assert_eq!(
        String::from_utf8_lossy(&merged.stdout),
        String::from_utf8_lossy(&whole.stdout)
    );
    let o = with(&[
        "--merge",
        "shard1.jsonl",
        "shard2.jsonl",
        "--out",
        "merged.md",
    ]);
    assert_eq!(o.status.code(), whole_md.status.code(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("merged.md")).expect("merged.md"),
        std::fs::read_to_string(d.join("whole.md")).expect("whole.md")
    );
    // One shard missing: an error naming it, exit 2.
    let o = with(&["--merge", "shard1.jsonl"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("2/2"), "{}", text(&o));
}

/// The bounded-waiting bound on the command line (`--max-spins`): a scripted count of busy
/// answers is within the default bound (2) or past a lower one; the trace file records the
/// bound and replays with it.
#[test]
fn max_spins_bounds_the_spin_and_is_recorded_in_the_trace_file() {
    let d = tmpdir("spins");
    let f = d.join("spins.toml");
    let text_of = |spins: u32| {
        format!(
            "presets = [\"v5.7\"]\n\
             [[file]]\nname = \"g\"\npages = 1\n\
             [[mm]]\nname = \"qemu\"\nprotected = true\n\
             [[map]]\nmm = \"qemu\"\nvpn = 0\nfile = \"g\"\nindex = 0\n\
             [[guest]]\ngfn = 0\nmm = \"qemu\"\nvpn = 0\n\
             [[thread]]\nname = \"vcpu\"\nops = [{{ op = \"guest-access\", gfn = 0, write = 0x5a }}]\n\
             [[thread]]\nname = \"fw\"\nops = [{{ op = \"uv-busy\", call = \"import\", count = {spins} }}]\n"
        )
    };
    std::fs::write(&f, text_of(2)).expect("write");
    let f = f.to_str().expect("utf8");
    let td = d.join("t");
    let td_s = td.to_str().expect("utf8");
    let o = pvmm(&["check", f, "-q", "--trace-dir", td_s], &d);
    assert_eq!(
        o.status.code(),
        Some(0),
        "two busy answers, bound 2: {}",
        text(&o)
    );
    let o = pvmm(
        &["check", f, "-q", "--max-spins", "1", "--trace-dir", td_s],
        &d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("bounded-waiting"), "{}", text(&o));
    let tf = td.join("spins.v5.7.bounded-waiting.json");
    let json = std::fs::read_to_string(&tf).expect("trace file");
    assert!(json.contains("\"max_spins\": 1"), "{json}");
    let o = pvmm(&["replay", tf.to_str().expect("utf8")], &d);
    assert!(
        text(&o).contains("identical to the recorded trace"),
        "{}",
        text(&o)
    );
    // The scenario's own bound.
    std::fs::write(
        d.join("spins.toml"),
        text_of(2) + "[bounds]\nmax_spins = 1\n",
    )
    .expect("write");
    let o = pvmm(&["check", f, "-q", "--trace-dir", td_s], &d);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = pvmm(
        &["check", f, "-q", "--max-spins", "2", "--trace-dir", td_s],
        &d,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "the command line wins: {}",
        text(&o)
    ); // The bound changes the model: a checkpoint written with one is not resumed with another.
    let ck = d.join("spins.ck");
    let ck_s = ck.to_str().expect("utf8");
    let o = pvmm(
        &[
            "check",
            f,
            "-q",
            "--max-spins",
            "1",
            "--trace-dir",
            td_s,
            "--checkpoint",
            ck_s,
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = pvmm(
        &[
            "check",
            f,
            "-q",
            "--max-spins",
            "2",
            "--trace-dir",
            td_s,
            "--resume",
            ck_s,
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("max_spins"), "{}", text(&o));
    let o = pvmm(
        &[
            "check",
            f,
            "-q",
            "--max-spins",
            "1",
            "--trace-dir",
            td_s,
            "--resume",
            ck_s,
        ],
        &d,
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "the same bound resumes: {}",
        text(&o)
    );
}

/// The firmware ops' bad input: a UV call that is not one, a return code out of range, a
/// teardown beside a vCPU — each an error at its line and field (exit 2).
#[test]
fn firmware_and_teardown_ops_reject_bad_input_at_their_line() {
    let d = tmpdir("fwbad");
    let base = "presets = [\"v6.12\"]\n\
                [[mm]]\nname = \"qemu\"\nprotected = true\n\
                [[map]]\nmm = \"qemu\"\nvpn = 0\nanon = true\n\
                [[guest]]\ngfn = 0\nmm = \"qemu\"\nvpn = 0\n\
                [[thread]]\nname = \"vcpu\"\nops = [{ op = \"guest-access\", gfn = 0 }]\n";
    for (extra, want) in [
        ("[[thread]]\nname = \"fw\"\nops = [{ op = \"uv-fail\", call = \"export|warp\", rc = 0x102 }]\n", "warp"),
        ("[[thread]]\nname = \"fw\"\nops = [{ op = \"uv-fail\", call = \"export\", rc = 0x10000 }]\n", "rc"),
        ("[[thread]]\nname = \"fw\"\nops = [{ op = \"uv-fail\", call = \"export\" }]\n", "rc"),
        ("[[thread]]\nname = \"vmm\"\nops = [{ op = \"pv-teardown\" }]\n", "vCPU"),
        ("[[thread]]\nname = \"fw\"\nops = [{ op = \"uv-busy\", count = 2, forever = true }]\n", "forever"),
    ] {
        let f = d.join("fw.toml");
        std::fs::write(&f, format!("{base}{extra}")).expect("write");
        let o = pvmm(&["check", f.to_str().expect("utf8")], &d);
        assert_eq!(o.status.code(), Some(2), "{extra}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains("fw.toml:18:") && t.contains(want), "{extra}: {t}");
        assert!(!t.contains("panicked"), "{t}");
    }
}

/// The recipes of recipes/pairs/ (Slurm array, Kubernetes Indexed Job, GitHub Actions job
/// matrix) run the shard entry under each scheduler's environment; their shards, merged by the
/// merge entry, are the same document as one run. Bad indexes are exit 2. Every recipe file
/// calls the same entry, so they cannot drift apart.
#[test]
fn pair_recipes_shard_under_each_scheduler_and_merge_to_one_run() {
    let d = tmpdir("recipes");
    let subset = PAIR_SUBSET;
    let mut args = vec!["matrix", "--pairs", "--format", "json"];
    args.extend_from_slice(&subset);
    let whole = pvmm(&args, &d);
    assert!(
        matches!(whole.status.code(), Some(0 | 3)),
        "{}",
        text(&whole)
    );
    let script = |name: &str| repo().join("recipes/pairs").join(name);
    let run = |name: &str, env: &[(&str, String)], extra: &[&str]| -> Output {
        let mut c = Command::new(script(name));
        c.args(extra)
            .current_dir(&d)
            .env("PVMM", env!("CARGO_BIN_EXE_pvmm"))
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("PVMM_SHARD")
            .env_remove("PVMM_SHARDS");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("recipe runs")
    };
    type Scheduler = (&'static str, fn(usize) -> Vec<(&'static str, String)>);
    let schedulers: [Scheduler; 3] = [
        ("slurm", |k| {
            vec![
                ("SLURM_ARRAY_TASK_ID", (k + 4).to_string()),
                ("SLURM_ARRAY_TASK_MIN", "5".into()),
                ("SLURM_ARRAY_TASK_COUNT", "2".into()),
            ]
        }),
        ("k8s", |k| {
            vec![
                ("JOB_COMPLETION_INDEX", (k - 1).to_string()),
                ("PVMM_SHARDS", "2".into()),
            ]
        }),
        ("github", |k| {
            vec![("PVMM_SHARD", k.to_string()), ("PVMM_SHARDS", "2".into())]
        }),
    ];
    for (name, env) in schedulers {
        let out = d.join(name);
        for k in 1..=2 {
            let mut e = env(k);
            e.push(("PVMM_OUT", out.display().to_string()));
            let o = run("shard", &e, &subset);
            assert!(o.status.success(), "{name} shard {k}: {}", text(&o));
            assert!(
                out.join(format!("shard-{k}-of-2.jsonl")).exists(),
                "{name} {k}"
            );
        }
        let mut extra = vec![out.to_str().expect("utf-8")];
        extra.extend_from_slice(&["--format", "json"]);
        extra.extend_from_slice(&subset);
        let merged = run("merge", &[], &extra);
        assert_eq!(
            merged.status.code(),
            whole.status.code(),
            "{name}: {}",
            text(&merged)
        );
        assert_eq!(
            String::from_utf8_lossy(&merged.stdout),
            String::from_utf8_lossy(&whole.stdout),
            "{name}: the merged shards differ from one run"
        );
    }
    // No index, an index out of range, a merge of an empty directory: exit 2.
    assert_eq!(run("shard", &[], &subset).status.code(), Some(2));
    let o = run(
        "shard",
        &[("PVMM_SHARD", "3".into()), ("PVMM_SHARDS", "2".into())],
        &subset,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    std::fs::create_dir_all(d.join("empty")).expect("mkdir");
    let o = run("merge", &[], &[d.join("empty").to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    for f in ["slurm.sbatch", "k8s-indexed-job.yaml"] {
        let t = std::fs::read_to_string(script(f)).expect("recipe");
        assert!(t.contains("recipes/pairs/shard"), "{f}");
        assert!(t.contains("recipes/pairs/merge"), "{f}");
    }
    let wf = std::fs::read_to_string(repo().join(".github/workflows/pairs.yml")).expect("wf");
    assert!(wf.contains("run: recipes/pairs/shard") && wf.contains("recipes/pairs/merge"));
}
