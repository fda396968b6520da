//! Run control end to end: exit codes (each one produced here), interruption by SIGINT and
//! SIGTERM with checkpoints and resumes, resource bounds under an address-space cap, replay
//! messages, input files that are not regular files or too large, control characters in
//! names. Every search here is bounded by executions or states, never by time; a child is
//! signalled when it has printed or written something (a progress line, a trace file, a
//! checkpoint entry), not after a sleep.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pvmm-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn cmd(args: &[&str], dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pvmm"));
    c.args(args)
        .current_dir(dir)
        .env_remove("PVMM_SCENARIOS")
        .stdin(Stdio::null());
    c
}

fn pvmm(args: &[&str], dir: &Path) -> Output {
    cmd(args, dir).output().expect("pvmm runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", text(o)))
}

/// A copy of a built-in scenario with its `[expect]` tables replaced by `expect`.
fn with_expectations(src: &str, dir: &Path, name: &str, expect: &str) -> PathBuf {
    let t = std::fs::read_to_string(repo().join(src)).expect("scenario");
    let body = match t.find("\n[expect") {
        Some(i) => &t[..i],
        None => &t[..],
    };
    let p = dir.join(name);
    std::fs::write(&p, format!("{body}\n{expect}")).expect("write scenario");
    p
}

/// Sends `signal` (INT, TERM) to the child.
fn signal(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success(), "kill -{signal} failed");
}

/// Waits until `ready` holds (a file appeared, a checkpoint holds something), polling: the
/// child runs a search that only the signal ends, so there is no race to lose.
fn wait_for(what: &str, child: &mut Child, ready: impl Fn() -> bool) {
    while !ready() {
        if let Some(status) = child.try_wait().expect("child") {
            panic!("pvmm ended ({status}) before {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Keeps a JSON document's fields that do not depend on time or on the machine's free
/// memory at the moment: a resumed run's document must equal an uninterrupted one's there.
fn comparable(mut v: serde_json::Value) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for k in ["elapsed_secs", "executions_per_sec", "limits"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[test]
fn a_violation_the_expectation_does_not_list_is_exit_1_even_in_a_stopped_search() {
    let d = tmpdir("unexpected");
    // d3-sendfile on v5.7 has a violation; this copy expects none. Ten executions do not
    // finish the search, but the violation they find is a fact: exit 1, not 3.
    let sc = with_expectations(
        "scenarios/d3-sendfile.toml",
        &d,
        "d3-expects-verified.toml",
        "[expect.\"v5.7\"]\nverdict = \"verified\"\n",
    );
    let o = pvmm(
        &[
            "check",
            s(&sc),
            "--kernel",
            "v5.7",
            "--stateless",
            "--max-executions",
            "200",
            "--trace-dir",
            s(&d.join("t")),
            "--format",
            "json",
        ],
        &d,
    );
    let doc = json(&o);
    let r = &doc["results"][0];
    assert!(!r["stopped_by"].is_null(), "{r}");
    assert_eq!(r["verdict"], "violation", "{r}");
    assert_eq!(r["status"], "unexpected", "{r}");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(doc["exit_code"], 1);
    // Expecting exactly that violation, the same stopped search is incomplete: exit 3.
    let sc = with_expectations(
        "scenarios/d3-sendfile.toml",
        &d,
        "d3-expects-io.toml",
        "[expect.\"v5.7\"]\nverdict = \"violation\"\nproperties = [\"io-on-secure-page\"]\n",
    );
    let o = pvmm(
        &[
            "check",
            s(&sc),
            "--kernel",
            "v5.7",
            "--stateless",
            "--max-executions",
            "200",
            "--trace-dir",
            s(&d.join("t")),
            "--format",
            "json",
        ],
        &d,
    );
    let doc = json(&o);
    assert_eq!(doc["results"][0]["status"], "incomplete", "{doc}");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // Unbounded, it finishes as expected: exit 0.
    let o = pvmm(
        &[
            "check",
            s(&sc),
            "--kernel",
            "v5.7",
            "--trace-dir",
            s(&d.join("t")),
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn several_checks_exit_with_the_worst_two_before_one_before_three_before_zero() {
    let d = tmpdir("worst");
    let td = d.join("t");
    let ok = repo().join("scenarios/d2-direct-io-foll-pin.toml");
    // Stopped by its own execution bound, nothing found: incomplete.
    let incomplete = with_expectations(
        "scenarios/d4-reference-then-import.toml",
        &d,
        "d4.toml",
        "[bounds]\nmax_executions = 30\n\n[expect.\"v5.7\"]\nverdict = \"verified\"\n",
    );
    // A violation where none is expected: unexpected.
    let unexpected = with_expectations(
        "scenarios/d3-sendfile.toml",
        &d,
        "d3.toml",
        "[expect.\"v5.7\"]\nverdict = \"verified\"\n",
    );
    let run = |files: &[&Path]| {
        let mut args = vec!["check", "-q", "--kernel", "v5.7"];
        args.extend(files.iter().map(|f| s(f)));
        args.extend(["--trace-dir", s(&td)]);
        pvmm(&args, &d)
    };
    let o = run(&[&ok]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&[&ok, &incomplete]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = run(&[&incomplete, &unexpected, &ok]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "presets = [\"v5.7\"]\nwarp = 1\n").expect("write");
    let o = run(&[&unexpected, &bad]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_unwritable_trace_dir_is_exit_2_naming_it() {
    let d = tmpdir("tracedir");
    let file = d.join("a-file");
    std::fs::write(&file, "").expect("write");
    // A directory below a regular file cannot be made (also not by root).
    let td = file.join("traces");
    let sc = repo().join("scenarios/d3-sendfile.toml");
    let o = pvmm(
        &["check", s(&sc), "--kernel", "v5.7", "--trace-dir", s(&td)],
        &d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--trace-dir") && err.contains(s(&td)), "{err}");
    // The default trace directory, found unwritable when the first trace file is written.
    std::fs::write(d.join("target"), "").expect("write");
    let o = pvmm(&["check", s(&sc), "--kernel", "v5.7", "-q"], &d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("target/pvmm-traces"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn input_files_that_are_not_regular_or_too_large_are_refused() {
    let d = tmpdir("files");
    let o = pvmm(&["check", "/dev/zero"], &d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a regular file (a character device)"));
    let big = d.join("big.toml");
    std::fs::write(&big, vec![b'#'; 2 << 20]).expect("write");
    let o = pvmm(&["check", s(&big)], &d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("larger than 1048576 bytes"),
        "{}",
        text(&o)
    );
    for name in ["fifo.toml", "fifo.json"] {
        let fifo = d.join(name);
        let made = Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|st| st.success()) {
            eprintln!("(no mkfifo: the FIFO case is skipped)");
            break;
        }
        // Refused without opening it for a blocking read (which would wait for a writer).
        let sub = if name.ends_with(".json") {
            "replay"
        } else {
            "check"
        };
        let o = pvmm(&[sub, s(&fifo)], &d);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("a FIFO"), "{}", text(&o));
    }
    // A trace file whose scenario is /dev/zero: not read, and the paths tried are named.
    let tf = serde_json::json!({
        "format": 1, "pvmm_version": "0.1.0", "scenario": "zero",
        "scenario_path": "/dev/zero", "scenario_sha256": "0", "preset": "v5.7",
        "overrides": [], "property": "io-on-secure-page", "schedule": "0", "steps": []
    });
    let trace = d.join("zero.json");
    std::fs::write(&trace, tf.to_string()).expect("write");
    let o = pvmm(&["replay", s(&trace)], &d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("tried /dev/zero") && t.contains("--scenario"),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn replay_names_the_differing_step_or_says_only_the_scenario_text_changed() {
    let d = tmpdir("replay");
    let td = d.join("traces");
    let sc = with_expectations(
        "scenarios/d3-sendfile.toml",
        &d,
        "d3.toml",
        "[expect.\"v5.7\"]\nverdict = \"violation\"\nproperties = [\"io-on-secure-page\"]\n",
    );
    let o = pvmm(
        &[
            "check",
            s(&sc),
            "--kernel",
            "v5.7",
            "-q",
            "--trace-dir",
            s(&td),
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let trace = td.join("d3.v5.7.io-on-secure-page.json");
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).expect("trace")).expect("json");
    assert!(
        Path::new(recorded["scenario_path"].as_str().expect("path")).is_absolute(),
        "{recorded}"
    );
    assert_eq!(recorded["scenario_path_from_trace"], "../d3.toml");
    // Reproduced as recorded, from another directory: exit 0.
    let elsewhere = tmpdir("replay-elsewhere");
    let o = pvmm(&["replay", s(&trace)], &elsewhere);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("identical to the recorded trace"));

    // A value the steps do not show changes: same steps, scenario text changed; exit 0.
    let original = std::fs::read_to_string(&sc).expect("read");
    std::fs::write(&sc, original.replace("write = 0x5a", "write = 0x5b")).expect("write");
    let o = pvmm(&["replay", s(&trace)], &d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("same steps, scenario text changed"),
        "{}",
        text(&o)
    );

    // The guest reads twice instead of writing once: the steps differ from a named step on.
    std::fs::write(
        &sc,
        original.replace(
            "ops = [{ op = \"guest-access\", gfn = 0, write = 0x5a }]",
            "ops = [{ op = \"guest-access\", gfn = 0 }, { op = \"guest-access\", gfn = 0 }]",
        ),
    )
    .expect("write");
    let o = pvmm(&["replay", s(&trace), "--format", "json"], &d);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc = json(&o);
    let step = doc["first_difference"]["step"].as_u64().expect("a step");
    assert!(step >= 1, "{doc}");
    let o = pvmm(&["replay", s(&trace)], &d);
    assert!(
        text(&o).contains(&format!("DIFFERS at step {step}:"))
            && text(&o).contains(&format!("from step {step} on")),
        "{}",
        text(&o)
    );

    // The tree moved: the scenario is found relative to the trace file.
    std::fs::write(&sc, &original).expect("write");
    let moved = tmpdir("replay-moved");
    std::fs::create_dir_all(moved.join("traces")).expect("dir");
    std::fs::copy(&sc, moved.join("d3.toml")).expect("copy");
    let moved_trace = moved.join("traces/d3.v5.7.io-on-secure-page.json");
    std::fs::copy(&trace, &moved_trace).expect("copy");
    let _ = std::fs::remove_dir_all(&d);
    let o = pvmm(&["replay", s(&moved_trace)], &elsewhere);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Neither path exists: both are named, with the way out.
    std::fs::remove_file(moved.join("d3.toml")).expect("rm");
    let o = pvmm(&["replay", s(&moved_trace)], &elsewhere);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("traces/../d3.toml") && err.contains(" and ") && err.contains("--scenario"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&moved);
    let _ = std::fs::remove_dir_all(&elsewhere);
}

#[test]
fn control_characters_in_names_are_escaped_in_text_and_kept_in_json() {
    let d = tmpdir("escape");
    let t = std::fs::read_to_string(repo().join("scenarios/d3-sendfile.toml")).expect("read");
    let t = t.replace(
        "name = \"sendfile\"\nops",
        "name = \"send\\u001b[2J\\nfile\"\nops",
    );
    let sc = d.join("evil\x1b[31m.toml");
    std::fs::write(&sc, t).expect("write");
    let o = pvmm(
        &[
            "check",
            s(&sc),
            "--kernel",
            "v5.7",
            "--trace-dir",
            s(&d.join("t")),
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains('\x1b'), "a raw escape in the output:\n{out}");
    assert!(
        out.contains("evil\\u{1b}[31m") && out.contains("send\\u{1b}[2J\\nfile"),
        "{out}"
    );
    // The trace file's name is made of plain characters.
    let names: Vec<String> = std::fs::read_dir(d.join("t"))
        .expect("traces")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains('\x1b')), "{names:?}");
    let o = pvmm(
        &["check", s(&sc), "--kernel", "v5.7", "--format", "json"],
        &d,
    );
    let doc = json(&o);
    assert_eq!(doc["results"][0]["scenario"], "evil\x1b[31m");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn jobs_are_bounded() {
    let sc = repo().join("scenarios/d3-sendfile.toml");
    let o = pvmm(
        &["check", s(&sc), "--stateful", "--jobs", "100000"],
        &repo(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--jobs 100000: at most"), "{}", text(&o));
    let o = pvmm(&["matrix", "--jobs", "0"], &repo());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// A search that grows (six threads, the stateful search) under an address-space cap of
/// 400 MiB (`ulimit -v`): it ends `incomplete (memory)`, exit 3, where it used to abort in
/// the allocator. Where the process starts near the cap, it stops at once — still named.
#[test]
fn an_address_space_cap_ends_the_search_incomplete_memory_not_in_an_abort() {
    let d = tmpdir("memory");
    let base =
        std::fs::read_to_string(repo().join("bench/scenarios/d3-sendfile-4t.toml")).expect("read");
    let mut t = base.replace(
        "presets = [\"v5.7\", \"v5.7+splice-patch\"]",
        "presets = [\"v5.7+splice-patch\"]",
    );
    for i in 4..7 {
        t.push_str(&format!(
            "\n[[thread]]\nname = \"vcpu{i}\"\nops = [{{ op = \"guest-access\", gfn = 0, write = {i} }}]\n"
        ));
    }
    t.push_str("\n[[thread]]\nname = \"sendfile2\"\nops = [{ op = \"sendfile\", file = \"guest.img\", index = 0, pipe = \"sendfile\" }]\n");
    t.push_str("\n[expect.\"v5.7+splice-patch\"]\nverdict = \"verified\"\n");
    let sc = d.join("grow.toml");
    std::fs::write(&sc, t).expect("write");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 409600 && exec \"$0\" check {} --stateful --format json --trace-dir {}",
            s(&sc),
            s(&d.join("t"))
        ))
        .arg(env!("CARGO_BIN_EXE_pvmm"))
        .current_dir(&d)
        .output()
        .expect("sh runs");
    let t = text(&o);
    assert!(!t.contains("memory allocation"), "{t}");
    assert_eq!(o.status.code(), Some(3), "{t}");
    let doc = json(&o);
    let r = &doc["results"][0];
    assert_eq!(r["verdict"], "incomplete", "{r}");
    assert!(
        r["stopped_by"]
            .as_str()
            .is_some_and(|b| b.contains("address space")),
        "{r}"
    );
    assert!(
        r["bounds"]["max_address_space_mib"].as_u64().is_some(),
        "{r}"
    );
    assert!(doc["limits"]["source"]
        .as_str()
        .is_some_and(|s| s.contains("RLIMIT_AS 400 MiB")));
    // The text output names the bound.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 409600 && exec \"$0\" check {} --stateful --trace-dir {}",
            s(&sc),
            s(&d.join("t"))
        ))
        .arg(env!("CARGO_BIN_EXE_pvmm"))
        .current_dir(&d)
        .output()
        .expect("sh runs");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("incomplete (memory)"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

/// SIGINT on a long single check after it found a violation (a progress line says so): the
/// verdict so far, the violation with its trace file (which replays), exit 3.
#[test]
fn sigint_stops_a_long_check_with_what_it_found_and_its_trace_file() {
    let d = tmpdir("sigint-one");
    let td = d.join("t");
    // DPOR alone does not finish this in ten minutes (bench/README.md): only the signal ends it.
    let sc = with_expectations(
        "bench/scenarios/d3-sendfile-3t.toml",
        &d,
        "d3-3t.toml",
        "[expect.\"v5.7\"]\nverdict = \"violation\"\nproperties = [\"io-on-secure-page\"]\n",
    );
    let mut child = cmd(
        &[
            "check",
            s(&sc),
            "--kernel",
            "v5.7",
            "--stateless",
            "--max-time",
            "0",
            "--progress",
            "lines",
            "--trace-dir",
            s(&td),
        ],
        &d,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("pvmm starts");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = err.read_line(&mut line).expect("stderr");
        assert!(n > 0, "pvmm ended before finding anything:\n{seen}");
        seen.push_str(&line);
        if line.contains("found io-on-secure-page") {
            break;
        }
    }
    signal(&child, "INT");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).expect("stderr");
    let o = child.wait_with_output().expect("pvmm ends");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}\n{rest}");
    assert!(
        out.contains("violation, incomplete (interrupted)")
            && out.contains("stopped by interrupted")
            && out.contains("VIOLATION io-on-secure-page"),
        "{out}"
    );
    assert!(
        rest.contains("interrupted: 0 of 1 checks finished"),
        "{rest}"
    );
    let trace = td.join("d3-3t.v5.7.io-on-secure-page.json");
    assert!(out.contains(s(&trace)), "{out}");
    let o = pvmm(&["replay", s(&trace)], &d);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

/// Several checks with a checkpoint: SIGTERM while the second scenario runs (the first one's
/// trace file is there); the first scenario's checks are kept; `--resume` runs only the
/// rest and prints the document an uninterrupted run prints.
#[test]
fn sigterm_keeps_finished_checks_and_resume_finishes_them_as_one_run_would() {
    let d = tmpdir("sigterm-all");
    let td = d.join("t");
    let first = repo().join("scenarios/d3-sendfile.toml");
    // Four GUP threads on v5.15: 72,738 DPOR executions to the end; the run stops it at
    // 40,000 (incomplete, exit 3, in every run below alike).
    let long = d.join("d1-4t.toml");
    let t = std::fs::read_to_string(repo().join("bench/scenarios/d1-second-mapping-3t.toml"))
        .expect("read")
        .replace("presets = [\"v5.7\", \"v5.15\"]", "presets = [\"v5.15\"]");
    std::fs::write(
        &long,
        format!("{t}\n[[thread]]\nname = \"mm2-gup3\"\nops = [{{ op = \"gup\", mm = \"mm2\", vpn = 0, flags = \"FOLL_GET\" }}, {{ op = \"put\" }}]\n"),
    )
    .expect("write");
    let ck = d.join("ck.json");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "check",
            s(&first),
            s(&long),
            "--stateless",
            "--max-executions",
            "40000",
            "--max-time",
            "0",
            "--max-memory",
            "4096",
            "--trace-dir",
            s(&td),
            "--format",
            "json",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        pvmm(&a.iter().map(String::as_str).collect::<Vec<_>>(), &d)
    };
    let whole = run(&[]);
    assert_eq!(whole.status.code(), Some(3), "{}", text(&whole));
    let whole = json(&whole);

    let _ = std::fs::remove_dir_all(&td);
    let a = args(&["--checkpoint", s(&ck)]);
    let mut child = cmd(&a.iter().map(String::as_str).collect::<Vec<_>>(), &d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pvmm starts");
    let trace = td.join("d3-sendfile.v5.7.io-on-secure-page.json");
    let ck_has_first =
        || std::fs::read_to_string(&ck).is_ok_and(|t| t.matches("\"scenario_path\"").count() >= 2);
    wait_for("the first scenario's checks", &mut child, || {
        trace.exists() && ck_has_first()
    });
    signal(&child, "TERM");
    let o = child.wait_with_output().expect("pvmm ends");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let part = json(&o);
    assert_eq!(part["interrupted"], true, "{part}");
    let results = part["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "{part}");
    assert_eq!(
        results[2]["stopped_by"], "interrupted (SIGINT/SIGTERM)",
        "{part}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 of 3 checks finished"));
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ck).expect("checkpoint")).expect("json");
    assert_eq!(kept["done"].as_array().map(Vec::len), Some(2), "{kept}");

    let resumed = run(&["--resume", s(&ck)]);
    assert_eq!(resumed.status.code(), Some(3), "{}", text(&resumed));
    let resumed = json(&resumed);
    assert_eq!(comparable(resumed.clone()), comparable(whole));
    // The kept checks come back as they were, times included.
    assert_eq!(resumed["results"][0], part["results"][0]);
    // A resume with other options is refused, naming what differs.
    let o = pvmm(
        &[
            "check",
            s(&first),
            "--resume",
            s(&ck),
            "--trace-dir",
            s(&td),
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "the checkpoint is of another run: `max_executions` was 40000 and is now null"
        ),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// The matrix, SIGINT after two cells are in the checkpoint: no table is written, what was
/// found is listed, exit 3; `--resume` computes the rest and prints the same document (and
/// writes the same Markdown) as an uninterrupted run.
#[test]
fn sigint_on_the_matrix_keeps_finished_cells_and_resume_gives_the_same_matrix() {
    let d = tmpdir("sigint-matrix");
    let ck = d.join("ck.json");
    let base = [
        "matrix",
        "--kernel",
        "v5.7",
        "--max-time",
        "0",
        "--max-memory",
        "4096",
        "--format",
        "json",
        "--jobs",
        "1",
    ];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        pvmm(&a, &d)
    };
    let whole_md = d.join("whole.md");
    let o = run(&["--out", s(&whole_md)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let whole = json(&o);
    let total = whole["cells"].as_array().map(Vec::len).expect("cells");

    let mut a = base.to_vec();
    a.extend(["--checkpoint", s(&ck)]);
    let mut child = cmd(&a, &d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pvmm starts");
    let cells_kept = || {
        std::fs::read_to_string(&ck)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["done"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    wait_for("two cells", &mut child, || cells_kept() >= 2);
    signal(&child, "INT");
    let o = child.wait_with_output().expect("pvmm ends");
    let part = json(&o);
    let kept = cells_kept();
    if o.status.code() == Some(0) {
        panic!("the matrix finished before the signal ({kept} cells kept): nothing tested");
    }
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(part["interrupted"], true);
    let not_run = part["not_run"].as_array().map(Vec::len).expect("not_run");
    assert!(
        not_run > 0 && kept < total,
        "{kept} kept, {not_run} not run"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{kept} of {total} cells finished")) && err.contains("--resume"),
        "{err}"
    );

    let resumed_md = d.join("resumed.md");
    let o = run(&["--resume", s(&ck), "--out", s(&resumed_md)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let resumed = json(&o);
    assert_eq!(comparable(resumed), comparable(whole));
    let without_times = |p: &Path| {
        std::fs::read_to_string(p)
            .expect("markdown")
            .lines()
            .filter(|l| !l.starts_with("Measured:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(without_times(&resumed_md), without_times(&whole_md));
    let _ = std::fs::remove_dir_all(&d);
}
