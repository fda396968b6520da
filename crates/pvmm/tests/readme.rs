//! The README says what the program does: every code block in README.md that shows output
//! (a block whose first line is `$ cargo run --release -- ARGS`) is run, and the lines it
//! shows must be what pvmm prints — in order, `...` standing for lines left out (and a line
//! ending in ` ...` for the rest of that line: a figure of this machine, such as its memory
//! bound), times (`0.02s`) compared as times, not values. The figures the prose states (rows,
//! presets, the DPOR budget, the preset list) are compared with the program's, and every
//! scenario file a command names exists.
//!
//! When a block is stale the failure prints the program's output to paste.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("README.md")
}

/// A command shown with its output.
struct Example {
    /// 1-based line of the `$` line in README.md.
    line: usize,
    args: Vec<String>,
    expected: Vec<String>,
}

const PROMPT: &str = "$ cargo run --release -- ";

/// The fenced code blocks of `text`: (line of the first line inside, lines).
fn blocks(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, Vec<&str>)> = None;
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => cur = Some((i + 2, Vec::new())),
            }
        } else if let Some((_, v)) = cur.as_mut() {
            v.push(l);
        }
    }
    out
}

fn examples(text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    for (first, lines) in blocks(text) {
        if !lines.first().is_some_and(|l| l.starts_with(PROMPT)) {
            continue;
        }
        for (i, l) in lines.iter().enumerate() {
            if let Some(cmd) = l.strip_prefix(PROMPT) {
                let expected = lines[i + 1..]
                    .iter()
                    .take_while(|l| !l.starts_with(PROMPT))
                    .map(|l| l.to_string())
                    .collect();
                out.push(Example {
                    line: first + i,
                    args: cmd.split_whitespace().map(str::to_string).collect(),
                    expected,
                });
            }
        }
    }
    out
}

/// Replaces every time (`0.02s`, `12.5s`, with the spaces that align it) by ` <t>s`, and
/// drops trailing spaces.
fn normalise(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        // A number with a fraction followed by `s` and then a space or the end of the line.
        let start = i;
        let mut j = i;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        let digits = j > i;
        if digits
            && (start == 0 || !chars[start - 1].is_ascii_alphanumeric())
            && chars.get(j) == Some(&'.')
        {
            let mut k = j + 1;
            while k < chars.len() && chars[k].is_ascii_digit() {
                k += 1;
            }
            if k > j + 1 && chars.get(k) == Some(&'s') && chars.get(k + 1).is_none_or(|c| *c == ' ')
            {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push_str(" <t>s");
                i = k + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out.trim_end().to_string()
}

/// Whether the expected line `e` is the actual line `a`; an expected line that ends in ` ...`
/// stands for every line that starts with what comes before (a figure of this machine, such
/// as the memory bound, left out).
fn line_matches(e: &str, a: &str) -> bool {
    match e.strip_suffix(" ...") {
        Some(prefix) => a.starts_with(prefix),
        None => e == a,
    }
}

/// Whether `expected` (with `...` lines standing for any lines) is found in `actual`: each
/// run of lines between `...` consecutively, the runs in order; without a leading `...` the
/// first run starts the output.
fn matches(expected: &[String], actual: &[String]) -> Result<(), String> {
    let actual: Vec<String> = actual.iter().map(|l| normalise(l)).collect();
    let mut pos = 0;
    let mut anchored = true;
    let mut run: Vec<String> = Vec::new();
    let mut runs: Vec<(bool, Vec<String>)> = Vec::new();
    for e in expected {
        if e.trim() == "..." {
            if !run.is_empty() {
                runs.push((anchored, std::mem::take(&mut run)));
            }
            anchored = false;
        } else {
            run.push(normalise(e));
        }
    }
    if !run.is_empty() {
        runs.push((anchored, run));
    }
    for (anchored, run) in runs {
        let found = (pos..=actual.len().saturating_sub(run.len()))
            .take(if anchored { 1 } else { usize::MAX })
            .find(|&s| {
                actual.len() >= s + run.len()
                    && run
                        .iter()
                        .zip(&actual[s..])
                        .all(|(e, a)| line_matches(e, a))
            });
        match found {
            Some(s) => pos = s + run.len(),
            None => {
                return Err(format!(
                    "not found {}after output line {pos}:\n  {}",
                    if anchored { "at the start or " } else { "" },
                    run.join("\n  ")
                ))
            }
        }
    }
    Ok(())
}

#[test]
fn every_readme_example_prints_what_the_readme_shows() {
    let text = readme();
    let ex = examples(&text);
    assert!(
        ex.len() >= 2,
        "README.md shows fewer examples than expected ({})",
        ex.len()
    );
    let trace_dir = std::env::temp_dir().join(format!("pvmm-readme-{}", std::process::id()));
    let mut failures = Vec::new();
    for e in &ex {
        let mut args = e.args.clone();
        // Trace files of `check` go to a private directory (the README's default is
        // target/pvmm-traces, which other tests read).
        if args.first().is_some_and(|a| a == "check") {
            args.extend(["--trace-dir".to_string(), trace_dir.display().to_string()]);
        }
        let o = Command::new(env!("CARGO_BIN_EXE_pvmm"))
            .args(&args)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env_remove("PVMM_SCENARIOS")
            .stdin(Stdio::null())
            .output()
            .expect("pvmm runs");
        let stdout = String::from_utf8_lossy(&o.stdout);
        let actual: Vec<String> = stdout.lines().map(str::to_string).collect();
        if let Err(why) = matches(&e.expected, &actual) {
            failures.push(format!(
                "README.md:{}: `pvmm {}` does not print what the README shows: {why}\n--- pvmm printed (exit {:?}) ---\n{stdout}{}",
                e.line,
                e.args.join(" "),
                o.status.code(),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&trace_dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn readme_figures_are_the_programs() {
    let text = readme();
    let rows = checker::matrix::rows().len();
    let presets: Vec<&str> = kernel::config::PRESETS.iter().map(|p| p.name).collect();
    for needle in [
        format!("{rows} rows"),
        format!("{} presets", presets.len()),
        format!("{} cells", rows * presets.len()),
    ] {
        assert!(
            text.contains(&needle),
            "README.md does not say `{needle}` (the program's figure)"
        );
    }
    let budget = checker::DPOR_BUDGET;
    let budget = format!("{},{:03}", budget / 1000, budget % 1000);
    assert!(
        text.contains(&format!("{budget} executions")),
        "README.md does not state DPOR's budget as `{budget} executions`"
    );
    // The preset list itself is generated from the declarations and checked by the kernel
    // crate's docs test (`PVMM_BLESS=1 cargo test -p kernel docs`).
}

#[test]
fn every_scenario_a_readme_command_names_exists() {
    let text = readme();
    let mut named = 0;
    for (line, lines) in blocks(&text) {
        for (i, l) in lines.iter().enumerate() {
            if !l.contains("cargo run --release -- ") {
                continue;
            }
            for word in l.split_whitespace().filter(|w| w.ends_with(".toml")) {
                named += 1;
                assert!(
                    repo().join(word).is_file(),
                    "README.md:{}: {word} does not exist",
                    line + i
                );
            }
        }
    }
    assert!(named >= 3, "only {named} scenario files named");
}

#[test]
fn the_matcher_rejects_what_it_should() {
    let a: Vec<String> = ["x", "a 0.02s b", "c", "d"].map(String::from).to_vec();
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["x", "a 1.50s b"]), &a).is_ok());
    assert!(matches(&e(&["...", "c", "d"]), &a).is_ok());
    assert!(matches(&e(&["x", "...", "d"]), &a).is_ok());
    assert!(matches(&e(&["c"]), &a).is_err(), "anchored at the start");
    assert!(matches(&e(&["...", "d", "...", "c"]), &a).is_err(), "order");
    assert!(matches(&e(&["x", "c"]), &a).is_err(), "consecutive");
    assert!(
        matches(&e(&["x", "a 0.02s c"]), &a).is_err(),
        "text after a time"
    );
    assert!(
        matches(&e(&["x", "a ..."]), &a).is_ok(),
        "the rest of a line"
    );
    assert!(
        matches(&e(&["x", "b ..."]), &a).is_err(),
        "a prefix, not a part"
    );
    assert_eq!(normalise("v5.7   726    0.02s  io"), "v5.7   726 <t>s  io");
    assert_eq!(normalise("v5.7+splice-patch"), "v5.7+splice-patch");
}

/// bench/mutants.toml (the mutation set bench/README.md describes) still applies to the model:
/// every mutant's `find` text occurs exactly once in its file, as `bench/mutants --check`
/// requires. Twelve of its 42 mutants had silently stopped applying when the model's code
/// moved; a run of the set would then report them as not built rather than judged.
#[test]
fn every_mutant_of_the_mutation_set_applies_exactly_once() {
    let text = std::fs::read_to_string(repo().join("bench/mutants.toml")).expect("mutants.toml");
    let v: toml::Value = toml::from_str(&text).expect("bench/mutants.toml parses");
    let ms = v["mutant"].as_array().expect("[[mutant]]");
    assert!(!ms.is_empty());
    let mut bad = Vec::new();
    for m in ms {
        let field = |k: &str| {
            m[k].as_str()
                .unwrap_or_else(|| panic!("mutant without {k}"))
        };
        let (name, file, find) = (field("name"), field("file"), field("find"));
        assert_ne!(find, field("replace"), "{name}: replace equals find");
        let src = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
        let n = src.matches(find).count();
        if n != 1 {
            bad.push(format!("{name}: {file}: `find` occurs {n} times"));
        }
    }
    assert!(
        bad.is_empty(),
        "mutants that no longer apply:\n{}",
        bad.join("\n")
    );
}
