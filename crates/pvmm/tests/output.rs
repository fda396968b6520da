//! Machine output (JSON validated against docs/json-schema), the progress line (absent when
//! piped, present on a terminal), colours, explain, completions, help examples, SVG.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pvmm-out-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn pvmm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvmm"))
        .args(args)
        .current_dir(repo())
        .env_remove("PVMM_SCENARIOS")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("pvmm runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/json-schema/pvmm-output.v1.schema.json"))
            .expect("schema file"),
    )
    .expect("schema is json");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Parses stdout as one JSON document and validates it.
fn valid_doc(o: &Output) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", text(o)));
    let v = validator();
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    doc
}

#[test]
fn check_json_validates_for_verified_violation_and_incomplete() {
    let d = tmpdir("json");
    let td = d.join("t");
    let td = td.to_str().expect("utf8");
    // Verified.
    let o = pvmm(&[
        "check",
        "scenarios/d1-second-mapping-foll-get.toml",
        "--kernel",
        "v5.15",
        "--format",
        "json",
        "--trace-dir",
        td,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = valid_doc(&o);
    assert_eq!(doc["kind"], "check");
    assert_eq!(doc["format"], 1);
    let r = &doc["results"][0];
    assert_eq!(r["verdict"], "verified");
    assert_eq!(r["as_expected"], true);
    assert!(r["stopped_by"].is_null());
    assert!(r["stats"]["executions"].as_u64().expect("executions") > 0);

    // Violation, with its trace.
    let o = pvmm(&[
        "check",
        "scenarios/d3-sendfile.toml",
        "--kernel",
        "v5.7",
        "--format",
        "json",
        "--trace-dir",
        td,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = valid_doc(&o);
    let r = &doc["results"][0];
    assert_eq!(r["verdict"], "violation");
    let f = &r["findings"][0];
    assert_eq!(f["property"], "io-on-secure-page");
    assert_eq!(f["severity"], "violation");
    assert_eq!(f["trace"].as_array().map(|a| a.len()), Some(26));
    assert_eq!(
        f["trace"][25]["findings"][0]["property"],
        "io-on-secure-page"
    );
    assert!(f["trace_file"]
        .as_str()
        .is_some_and(|p| Path::new(p).exists()));

    // Incomplete: a bound stopped it; never verified.
    let o = pvmm(&[
        "check",
        "scenarios/d4-reference-then-import.toml",
        "--kernel",
        "v5.7",
        "--max-executions",
        "3",
        "--format",
        "json",
        "--trace-dir",
        td,
    ]);
    // Nothing found that contradicts the expectation (verified): incomplete, exit 3.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let doc = valid_doc(&o);
    let r = &doc["results"][0];
    assert_eq!(r["verdict"], "incomplete");
    assert_eq!(r["as_expected"], false);
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["stopped_by"], "max-executions=3");
    assert_eq!(doc["exit_code"], 3);

    // The schema is not vacuous: broken documents are rejected.
    let v = validator();
    let mut broken = doc.clone();
    broken["results"][0]["verdict"] = serde_json::json!("probably-fine");
    assert!(!v.is_valid(&broken));
    let mut broken = doc.clone();
    broken["results"][0]["stopped_by"] = serde_json::Value::Null;
    assert!(
        !v.is_valid(&broken),
        "an incomplete result must name its bound"
    );
    let mut broken = doc;
    broken["format"] = serde_json::json!(2);
    assert!(!v.is_valid(&broken));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_check_dpor_does_not_finish_is_finished_by_the_stateful_search() {
    // DPOR does not finish the 3-thread sendfile in minutes: by default its first 2,000
    // executions are followed by the stateful search, in text and in JSON.
    let d = tmpdir("auto");
    let td = d.join("t");
    let td = td.to_str().expect("utf8");
    let args = [
        "check",
        "bench/scenarios/d3-sendfile-3t.toml",
        "--trace-dir",
        td,
    ];
    let o = pvmm(&[&args[..], &["--format", "json"]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc = valid_doc(&o);
    let rs = doc["results"].as_array().expect("results");
    assert_eq!(rs.len(), 2);
    for r in rs {
        assert_eq!(r["search"], "stateless, then stateful", "{r}");
        assert!(r["stopped_by"].is_null(), "{r}");
        assert!(r["stats"]["states"].as_u64().is_some_and(|s| s > 0), "{r}");
    }
    assert_eq!(rs[0]["verdict"], "violation");
    assert_eq!(rs[0]["findings"][0]["property"], "io-on-secure-page");
    assert_eq!(rs[1]["verdict"], "verified");
    let o = pvmm(&args);
    assert!(text(&o).contains(" st "), "{}", text(&o));
    assert!(
        text(&o).contains("then the stateful search"),
        "{}",
        text(&o)
    );
    // --stateless: DPOR alone (here stopped by its bound: incomplete, not verified).
    let o = pvmm(
        &[
            &args[..],
            &[
                "--kernel",
                "v5.7+splice-patch",
                "--stateless",
                "--max-executions",
                "100",
            ],
            &["--format", "json"],
        ]
        .concat(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r = &valid_doc(&o)["results"][0];
    assert_eq!(r["search"], "stateless", "{r}");
    assert_eq!(r["verdict"], "incomplete", "{r}");
    assert_eq!(r["stopped_by"], "max-executions=100", "{r}");
}

#[test]
fn a_stateful_check_writes_json_and_a_report() {
    // --stateful alone: the JSON says so and carries the states; the report's card too, and
    // it does not call the stateful search's end states equivalence classes.
    let d = tmpdir("stateful-out");
    let html = d.join("r.html");
    let td = d.join("t");
    let args = [
        "check",
        "scenarios/d3-sendfile.toml",
        "--kernel",
        "v5.7",
        "--stateful",
        "--trace-dir",
        td.to_str().expect("utf8"),
    ];
    // The scenario expects the violation: exit 0.
    let o = pvmm(&[&args[..], &["--format", "json"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = &valid_doc(&o)["results"][0];
    assert_eq!(r["search"], "stateful", "{r}");
    assert_eq!(r["verdict"], "violation", "{r}");
    assert_eq!(r["as_expected"], true, "{r}");
    assert_eq!(r["findings"][0]["property"], "io-on-secure-page", "{r}");
    let states = r["stats"]["states"].as_u64().expect("states");
    assert!(states > 0, "{r}");
    let o = pvmm(&[&args[..], &["--report", html.to_str().expect("utf8")]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(
        page.contains(&format!("{states} states")),
        "states on the card"
    );
    assert!(page.contains("n/a (stateful search)"), "no classes claimed");
    assert!(page.contains("not necessarily the shortest"));
}

#[test]
fn replay_list_and_explain_json_validate() {
    let o = pvmm(&[
        "replay",
        "scenarios/d3-sendfile.toml",
        "--kernel",
        "v5.7",
        "--schedule",
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.1.1.1.1.1.1.1",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc = valid_doc(&o);
    assert_eq!(doc["kind"], "replay");
    assert_eq!(doc["steps"].as_array().map(|a| a.len()), Some(26));
    assert!(doc["diverged"].is_null());

    // A schedule naming a thread the scenario does not have: bad input, no document.
    let o = pvmm(&[
        "replay",
        "scenarios/d3-sendfile.toml",
        "--schedule",
        "0.7",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("schedule element 2 is thread 7"));
    // A schedule that runs a thread past its end: one valid document naming the step, exit 2.
    let long = vec!["0"; 300].join(".");
    let o = pvmm(&[
        "replay",
        "scenarios/d3-sendfile.toml",
        "--schedule",
        &long,
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let doc = valid_doc(&o);
    assert!(doc["diverged"]
        .as_str()
        .is_some_and(|d| d.contains("has already finished")));

    let o = pvmm(&["list", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let doc = valid_doc(&o);
    assert!(doc["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .any(|s| s["name"] == "d3-sendfile"));
    assert!(doc["switches"]
        .as_array()
        .expect("switches")
        .iter()
        .any(|s| s["name"] == "splice_confirm_hook"));

    let o = pvmm(&["explain", "scenarios/d3-sendfile.toml", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = valid_doc(&o);
    assert_eq!(doc["kind"], "explain");
}

#[test]
fn matrix_json_validates() {
    // Bounded by DPOR's executions and the stateful search's end alone (`--max-time 0`): the
    // same cells on any machine, however loaded.
    let o = pvmm(&[
        "matrix",
        "--kernel",
        "v5.7",
        "--max-time",
        "0",
        "--jobs",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = valid_doc(&o);
    assert_eq!(doc["kind"], "matrix");
    assert_eq!(doc["$schema"], report::json::SCHEMA_ID);
    assert_eq!(doc["pvmm_version"], env!("CARGO_PKG_VERSION"));
    let cells = doc["cells"].as_array().expect("cells");
    assert!(!cells.is_empty());
    assert!(cells.iter().all(|c| c["preset"] == "v5.7"));
    assert!(cells.iter().any(|c| c["verdict"] == "violation"));
    // Cells DPOR's bound stops (user-access on v5.7 needs far more than 2,000 executions)
    // are finished by the stateful search: no bound left, the states counted.
    let finished: Vec<_> = cells
        .iter()
        .filter(|c| !c["stateful_states"].is_null())
        .collect();
    assert!(
        finished.iter().any(|c| c["row"] == "user-access"),
        "{finished:?}"
    );
    for c in finished {
        assert!(c["stateful_states"].as_u64().is_some_and(|s| s > 0), "{c}");
        assert!(c["stopped_by"].is_null(), "{c}");
    }
}

/// CPU seconds (user + system) the process `pid` has used so far (Linux).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (in parentheses): utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    let tick = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    f.iter().sum::<f64>() / tick
}

/// Waits until the process has run past the progress line's first second (1.5 s of CPU: at
/// least as much of its search), however loaded the machine is.
fn wait_cpu(pid: u32, child: &mut std::process::Child) {
    while cpu_secs(pid) < 1.5 {
        assert!(
            child.try_wait().expect("child").is_none(),
            "pvmm ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn progress_is_absent_when_piped_and_shown_on_a_terminal() {
    // The naive search of the patched sendfile does not end by itself (no time bound): a
    // SIGINT (or, on the terminal, a typed Ctrl-C) ends each run below once it has run long
    // enough to show progress.
    let args = [
        "check",
        "scenarios/d3-sendfile.toml",
        "--kernel",
        "v5.7+splice-patch",
        "--naive",
        "--max-time",
        "0",
    ];
    let d = tmpdir("progress");
    let td = d.join("t");
    let mut piped: Vec<&str> = args.to_vec();
    piped.extend(["--trace-dir", td.to_str().expect("utf8")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pvmm"))
        .args(&piped)
        .current_dir(repo())
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pvmm starts");
    wait_cpu(child.id(), &mut child);
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let o = child.wait_with_output().expect("pvmm ends");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !err.contains("/s, depth") && !err.contains('\r') && !out.contains('\r'),
        "progress output while piped:\n{err}"
    );
    assert!(out.contains("incomplete (interrupted)"), "{out}");
    // No colours when piped either.
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b'),
        "colour codes while piped"
    );

    // On a terminal (util-linux `script` gives the command a pty, and passes what the test
    // writes to its input on to the terminal, where ^C is an interrupt): the progress line
    // with the bound that will stop the search, and colours unless NO_COLOR is set.
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("(no /usr/bin/script: the terminal half of this test is skipped)");
        return;
    }
    let cmd = format!(
        "exec {} {} --trace-dir {}",
        env!("CARGO_BIN_EXE_pvmm"),
        args.join(" "),
        td.display()
    );
    // Runs the command on a terminal until `until` is in its output (or, with None, until it
    // has used 1.5 s of CPU), then types Ctrl-C; returns everything the terminal showed.
    let run_pty = |no_color: bool, extra: &str, until: Option<&str>| {
        use std::io::{Read, Write};
        let mut c = Command::new(script);
        c.args(["-qec", &format!("{cmd}{extra}"), "/dev/null"])
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .env("COLUMNS", "200")
            .env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let mut child = c.spawn().expect("script runs");
        let mut stdout = child.stdout.take().expect("stdout");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().expect("seen").extend_from_slice(&buf[..n]);
                }
            })
        };
        match until {
            Some(pattern) => loop {
                let shown = String::from_utf8_lossy(&seen.lock().expect("seen")).into_owned();
                if shown.contains(pattern) {
                    break;
                }
                assert!(
                    child.try_wait().expect("script").is_none(),
                    "ended without `{pattern}`:\n{shown}"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            },
            None => {
                // pvmm is script's child (the shell execs it).
                let children = format!("/proc/{0}/task/{0}/children", child.id());
                let pid = loop {
                    let c = std::fs::read_to_string(&children).unwrap_or_default();
                    if let Some(p) = c.split_whitespace().next() {
                        break p.parse::<u32>().expect("pid");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                };
                wait_cpu(pid, &mut child);
            }
        }
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(b"\x03").expect("Ctrl-C");
        input.flush().expect("flush");
        let status = child.wait().expect("script ends");
        reader.join().expect("reader");
        drop(input);
        let shown = String::from_utf8_lossy(&seen.lock().expect("seen")).into_owned();
        (status.code(), shown)
    };
    let (code, t) = run_pty(false, "", Some("/s, depth "));
    assert!(
        t.contains(" executions, ") && t.contains("no time or execution bound"),
        "no progress line on a terminal:\n{t}"
    );
    assert!(
        t.contains("\x1b[32m") || t.contains("\x1b[33m") || t.contains("\x1b[1m"),
        "no colour on a terminal"
    );
    assert_eq!(code, Some(3), "Ctrl-C: exit 3\n{t}");
    assert!(t.contains("incomplete (interrupted)"), "{t}");
    let (_, t) = run_pty(true, "", Some("/s, depth "));
    assert!(
        !t.contains("\x1b[3") && !t.contains("\x1b[1m"),
        "colours with NO_COLOR:\n{t}"
    );
    let (_, t) = run_pty(false, " --quiet", None);
    assert!(!t.contains("/s, depth"), "progress with --quiet:\n{t}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn explain_shows_kernel_calls_and_switches_before_checking() {
    let o = pvmm(&["explain", "scenarios/d3-sendfile.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    for needle in [
        "T0 vcpu",
        "T1 sendfile",
        "gmap_make_secure",
        "do_splice_direct",
        "page_cache_pipe_buf_confirm",
        "splice_confirm_hook",
        "splice_confirm_hook: v5.7 false · v5.7+splice-patch true",
        "import_freezes",
    ] {
        assert!(t.contains(needle), "missing `{needle}`:\n{t}");
    }
    assert!(!t.contains("executions"), "explain must not check:\n{t}");
    // --kernel and --set pick the configuration shown.
    let o = pvmm(&[
        "explain",
        "scenarios/d3-sendfile.toml",
        "--kernel",
        "v5.15",
        "--set",
        "splice_confirm_hook=true",
    ]);
    let t = text(&o);
    assert!(
        t.contains("splice_confirm_hook: v5.15 true") && !t.contains("v5.7 false"),
        "{t}"
    );
    let o = pvmm(&["explain", "scenarios/no-such.toml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn completions_and_help_examples() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = pvmm(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", text(&o));
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(t.contains("explain") && t.contains("replay"), "{shell}");
    }
    for cmd in ["check", "replay", "list", "explain", "audit", "completions"] {
        let o = pvmm(&[cmd, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{cmd}");
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(
            t.contains("Examples:") && t.contains(&format!("pvmm {cmd}")),
            "{cmd} --help has no example:\n{t}"
        );
    }
    let o = pvmm(&["--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Examples:"));
}

#[test]
fn replay_writes_a_standalone_svg_with_lanes_strip_and_mark() {
    let d = tmpdir("svg");
    let svg = d.join("d1.svg");
    let html = d.join("d1.html");
    let o = pvmm(&[
        "replay",
        "scenarios/d1-second-mapping-foll-get.toml",
        "--kernel",
        "v5.7",
        "--schedule",
        "0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.0.0.1.0",
        "--svg",
        svg.to_str().expect("utf8"),
        "--report",
        html.to_str().expect("utf8"),
    ]);
    let t = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert!(t.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_eq!(t.matches("<g class=\"lane\"").count(), 2);
    assert!(t.contains("page state after each step"));
    assert!(t.contains("class=\"violation-mark\""), "{}", text(&o));
    assert!(
        t.contains("class=\"arrow freeze\""),
        "a step on the frozen refcount"
    );
    assert!(t.contains("0 frozen"));
    assert!(std::fs::read_to_string(&html)
        .expect("html")
        .contains("<svg"));
    let _ = std::fs::remove_dir_all(&d);
}

/// A kernel-like tree with one hook-less direct I/O path (for `pvmm audit`).
fn audit_tree(d: &Path, call: &str) -> PathBuf {
    let t = d.join(call);
    std::fs::create_dir_all(t.join("block")).expect("tree");
    std::fs::create_dir_all(t.join("include/linux")).expect("tree");
    std::fs::write(t.join("Makefile"), "# fixture\n").expect("write");
    std::fs::write(
        t.join("block/dio.c"),
        format!("int dio(struct bio *bio, unsigned long addr)\n{{\n\tstruct page *pages[4];\n\t{call}(addr, 4, FOLL_WRITE, pages);\n\tbio_add_page(bio, pages[0], PAGE_SIZE, 0);\n\treturn 0;\n}}\n"),
    )
    .expect("write");
    t
}

#[test]
fn audit_json_validates_and_every_command_has_the_same_envelope() {
    let d = tmpdir("envelope");
    let get = audit_tree(&d, "get_user_pages_fast");
    let pin = audit_tree(&d, "pin_user_pages_fast");
    let o = pvmm(&[
        "audit",
        get.to_str().expect("utf8"),
        "--no-cache",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let one = valid_doc(&o);
    assert_eq!(one["kind"], "audit");
    assert_eq!(one["exit_code"], 1);
    assert_eq!(one["findings"][0]["chain"][0]["line"], 4);
    // The text output names the place as FILE:LINE:COL: (the call is after one tab).
    let o = pvmm(&["audit", get.to_str().expect("utf8"), "--no-cache"]);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("\nblock/dio.c:4:2: 1. dio(): source get_user_pages_fast()"),
        "{}",
        text(&o)
    );
    let o = pvmm(&[
        "audit",
        pin.to_str().expect("utf8"),
        "--base",
        get.to_str().expect("utf8"),
        "--no-cache",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let diff = valid_doc(&o);
    assert_eq!(diff["kind"], "audit-diff");
    assert_eq!(diff["disappeared"].as_array().map(|a| a.len()), Some(1));
    // The schema is not vacuous for the audit either.
    let mut broken = one.clone();
    broken["findings"][0]["chain"] = serde_json::json!([]);
    assert!(!validator().is_valid(&broken), "a finding needs a chain");
    let mut broken = one.clone();
    broken["exit_code"] = serde_json::json!(7);
    assert!(!validator().is_valid(&broken));

    // One envelope: the same four fields, with the same values but `kind`, in every
    // command's document.
    let docs = [
        (
            "check",
            pvmm(&[
                "check",
                "scenarios/d1-same-mm-foll-get.toml",
                "--kernel",
                "v5.7",
                "--format",
                "json",
                "--trace-dir",
                d.join("t").to_str().expect("utf8"),
            ]),
        ),
        (
            "replay",
            pvmm(&[
                "replay",
                "scenarios/d3-sendfile.toml",
                "--kernel",
                "v5.7",
                "--schedule",
                "0.1",
                "--format",
                "json",
            ]),
        ),
        ("list", pvmm(&["list", "--format", "json"])),
        (
            "explain",
            pvmm(&["explain", "scenarios/d3-sendfile.toml", "--format", "json"]),
        ),
    ];
    let mut kinds = Vec::new();
    for (kind, o) in &docs {
        let doc = valid_doc(o);
        assert_eq!(doc["kind"], *kind);
        kinds.push(doc);
    }
    kinds.push(one);
    kinds.push(diff);
    for doc in &kinds {
        assert_eq!(doc["$schema"], report::json::SCHEMA_ID, "{}", doc["kind"]);
        assert_eq!(doc["format"], report::json::FORMAT, "{}", doc["kind"]);
        assert_eq!(
            doc["pvmm_version"],
            env!("CARGO_PKG_VERSION"),
            "{}",
            doc["kind"]
        );
    }
    assert_eq!(audit::report::JSON_SCHEMA_ID, report::json::SCHEMA_ID);
    assert_eq!(audit::report::JSON_FORMAT, report::json::FORMAT);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn every_command_prints_errors_in_one_form() {
    // `FILE:LINE:COL: error: …` where the message is about a place in a file, `error: …`
    // otherwise; one line on stderr, exit 2.
    let d = tmpdir("errors");
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        "presets = [\"v5.7\"]\n[[thread]]\nname = \"a\"\nops = [{ op = \"gupp\" }]\n",
    )
    .expect("write");
    let trace = d.join("t.json");
    std::fs::write(&trace, "{ not json").expect("write");
    let rules = d.join("rules.toml");
    std::fs::write(&rules, "x = [\n").expect("write");
    let b = bad.display().to_string();
    let t = trace.display().to_string();
    let r = rules.display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["check", &b], format!("{b}:4:")),
        (vec!["explain", &b], format!("{b}:4:")),
        (vec!["replay", &b, "--schedule", "0"], format!("{b}:4:")),
        (vec!["replay", &t], format!("{t}:1:")),
        (
            vec!["audit", ".", "--rules", &r],
            format!("{r}:2:1: error: "),
        ),
        (
            vec!["check", "--all", "--kernel", "v9"],
            "error: --kernel v9".to_string(),
        ),
        (
            vec!["matrix", "--kernel", "v9"],
            "error: --kernel v9".to_string(),
        ),
        (vec!["audit", "/no/such/tree"], "error: ".to_string()),
        (
            vec!["check", "/no/such.toml"],
            "error: /no/such.toml: cannot read".to_string(),
        ),
    ];
    for (args, start) in cases {
        let o = pvmm(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            err.starts_with(&start),
            "{args:?}: `{err}` does not start with `{start}`"
        );
        assert_eq!(err.matches("error: ").count(), 1, "{args:?}: {err}");
        if start.ends_with(':') {
            let rest = &err[start.len()..];
            let col_end = rest.find(": error: ").expect("a column, then error:");
            assert!(rest[..col_end].parse::<u32>().is_ok(), "{args:?}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_binary_checks_its_built_in_scenarios_from_any_directory() {
    // An installed pvmm (cargo install, a release archive) has no repository around it: in a
    // directory without ./scenarios, `scenarios/NAME.toml` is the scenario built into the
    // binary, and `check --all` checks all of them.
    let d = tmpdir("elsewhere");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pvmm"))
            .args(args)
            .current_dir(&d)
            .env_remove("PVMM_SCENARIOS")
            .stdin(Stdio::null())
            .output()
            .expect("pvmm runs")
    };
    let o = run(&["check", "--all", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = valid_doc(&o);
    let mut names: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios")
        .filter_map(|e| e.ok())
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".toml")
                .to_string()
        })
        .collect();
    names.sort();
    let mut checked: Vec<String> = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["scenario"].as_str().expect("name").to_string())
        .collect();
    checked.dedup();
    // `check --all` goes by file name (`pv-teardown-async.toml` before `pv-teardown.toml`).
    checked.sort();
    assert_eq!(checked, names, "every scenario of the repository, built in");
    // Its trace files replay from there too.
    let o = run(&["check", "scenarios/d3-sendfile.toml", "--kernel", "v5.7"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&[
        "replay",
        "target/pvmm-traces/d3-sendfile.v5.7.io-on-secure-page.json",
    ]);
    assert!(
        text(&o).contains("identical to the recorded trace; io-on-secure-page reproduced"),
        "{}",
        text(&o)
    );
    let o = run(&["list"]);
    assert!(
        text(&o).contains("built in") && text(&o).contains("d3-sendfile"),
        "{}",
        text(&o)
    );
    // A name that is not built in is still an error.
    let o = run(&["check", "scenarios/no-such.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

/// `pvmm audit --check` validates against the schema with its model links and checks, and
/// `pvmm check` runs the scenario `--emit-scenario` writes (bounded by executions).
#[test]
fn audit_check_json_validates_and_pvmm_check_runs_the_emitted_scenario() {
    let d = tmpdir("audit-check");
    let t = audit_tree(&d, "get_user_pages_fast");
    std::fs::write(
        t.join("Makefile"),
        "# fixture\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\n",
    )
    .expect("write");
    let tree = t.to_str().expect("utf8");
    let o = pvmm(&[
        "audit",
        tree,
        "--no-cache",
        "--check",
        "--check-max-executions",
        "300",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc = valid_doc(&o);
    let id = doc["findings"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(doc["model"][&id]["path"], "row gup-fast-get-io");
    assert_eq!(doc["checks"][0]["verdict"], "violation");
    assert_eq!(doc["checks"][0]["release"], "6.1.192");
    // The schema is not vacuous for the checks.
    let mut broken = doc.clone();
    broken["checks"][0]["verdict"] = serde_json::json!("maybe");
    assert!(!validator().is_valid(&broken));

    let o = pvmm(&["audit", tree, "--no-cache", "--emit-scenario", &id]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sc = d.join("finding.toml");
    std::fs::write(&sc, &o.stdout).expect("write");
    let o = pvmm(&[
        "check",
        sc.to_str().expect("utf8"),
        "--max-executions",
        "300",
        "--format",
        "json",
        "--trace-dir",
        d.join("traces").to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run = valid_doc(&o);
    let r = &run["results"][0];
    assert_eq!(r["preset"], "6.1.192");
    assert_eq!(r["verdict"], "violation");
    let props: Vec<&str> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["property"].as_str())
        .collect();
    assert!(props.contains(&"io-on-secure-page"), "{props:?}");
    let _ = std::fs::remove_dir_all(&d);
}
