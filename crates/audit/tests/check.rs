//! `--check`: findings mapped to model paths through the rules' `[[model]]` entries, checked
//! on the kernel inferred from the tree (fixtures written for this test, not kernel code;
//! every check bounded by executions).

use std::path::Path;
use std::process::{Command, Output};

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(d.path().join("include/linux")).expect("mkdir");
    for (p, text) in files {
        let full = d.path().join(p);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvmm-audit"))
        .args(args)
        .arg("--no-cache")
        .output()
        .expect("run pvmm-audit")
}

fn p(d: &Path) -> &str {
    d.to_str().expect("utf-8 path")
}

const MAKEFILE: &str = "# fixture\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\nEXTRAVERSION =\n";

/// Block direct I/O that gets (FOLL_GET) the pages: the tree's code says dio_pins = false,
/// where the model's 6.12.118 pins.
const DIO: &str =
    "static int __bio_iov_iter_get_pages(struct bio *bio, struct iov_iter *iter)\n{\n\
\tstruct page **pages;\n\tsize_t off;\n\
\tiov_iter_get_pages2(iter, pages, 4096, 1, &off);\n\
\tbio_add_page(bio, pages[0], 4096, off);\n\treturn 0;\n}\n";

fn driver(name: &str) -> String {
    format!(
        "int {name}(struct device *dev, unsigned long addr)\n{{\n\tstruct page *pages[4];\n\
\tget_user_pages_fast(addr, 4, FOLL_WRITE, pages);\n\
\tdma_map_page(dev, pages[0], 0, 4096, 1);\n\treturn 0;\n}}\n"
    )
}

/// A page-cache lookup handed to a bio: no `[[model]]` entry maps it.
const PAGE_CACHE_BIO: &str = "int rd(struct kiocb *iocb, struct bio *bio)\n{\n\
\tstruct folio_batch fbatch;\n\tfilemap_get_pages(iocb, 1, &fbatch, false);\n\
\tbio_add_folio(bio, fbatch.folios[0], 4096, 0);\n\treturn 0;\n}\n";

fn fixture() -> tempfile::TempDir {
    let a = driver("first_map");
    let b = driver("second_map");
    tree(&[
        ("Makefile", MAKEFILE),
        ("block/bio.c", DIO),
        ("drivers/first/a.c", &a),
        ("drivers/second/b.c", &b),
        ("mm/rd.c", PAGE_CACHE_BIO),
    ])
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn finding<'v>(v: &'v serde_json::Value, source_func: &str) -> &'v serde_json::Value {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["chain"][0]["func"] == source_func)
        .unwrap_or_else(|| panic!("no finding from {source_func}"))
}

#[test]
fn every_finding_gets_a_model_path_a_shared_check_and_a_verdict_with_a_trace() {
    let t = fixture();
    let o = run(&[
        p(t.path()),
        "--check",
        "--check-max-executions",
        "400",
        "--format",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["checked"], true);
    let model = &v["model"];
    let id = |f: &str| finding(&v, f)["id"].as_str().expect("id").to_string();
    // The two drivers' paths have the same shape: one row, one check, shared.
    let (a, b) = (&model[id("first_map")], &model[id("second_map")]);
    assert_eq!(a["path"], "row gup-fast-get-io");
    assert_eq!(a["shape"]["source"], "gup-foll-get");
    assert_eq!(a["shape"]["marker"], "FOLL_WRITE");
    assert_eq!(a["shape"]["sink_class"], "device-dma");
    assert_eq!(a["check"], b["check"]);
    // Block direct I/O is its own row, with the switch the code decided.
    let dio = &model[id("__bio_iov_iter_get_pages")];
    assert_eq!(dio["path"], "row direct-io");
    assert_ne!(dio["check"], a["check"]);
    // No entry maps a page-cache page into a bio: said so, with the shape.
    let rd = &model[id("rd")];
    assert!(rd["path"].is_null());
    assert!(
        rd["why"]
            .as_str()
            .expect("why")
            .contains("source page-cache-lookup (filemap_get_pages)"),
        "{rd}"
    );
    assert!(rd["check"].is_null());
    let checks = v["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 2, "one check per distinct scenario");
    for c in checks {
        assert_eq!(c["release"], "6.12.118");
        assert_eq!(c["verdict"], "violation", "{c}");
        assert!(c["executions"].as_u64().expect("executions") <= 400);
        assert!(c["violated"]
            .as_array()
            .expect("violated")
            .iter()
            .any(|p| p == "io-on-secure-page"));
        let steps = c["steps"].as_u64().expect("steps") as usize;
        assert!(c["trace"].as_array().expect("trace").len() >= steps);
        assert!(c["kernel"]
            .as_str()
            .expect("kernel")
            .contains("dio_pins=false"));
    }
    let shared = checks
        .iter()
        .find(|c| c["key"] == a["check"])
        .expect("shared check");
    assert_eq!(shared["findings"].as_array().map(|f| f.len()), Some(2));

    // Text: each finding's model line, the counts per verdict, the trace.
    let o = run(&[p(t.path()), "--check", "--check-max-executions", "400"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "Model: findings per verdict: no model path 1, violation 3; 2 distinct checks"
        ),
        "{out}"
    );
    assert!(
        out.contains("      model: row direct-io on 6.12.118: violation"),
        "{out}"
    );
    assert!(
        out.contains("      model: no model path (no [[model]] entry maps"),
        "{out}"
    );
    assert!(out.contains("!! io-on-secure-page"), "{out}");

    // Without --check: the paths only, no check run.
    let o = run(&[p(t.path()), "--format", "json"]);
    let v = json(&o);
    assert_eq!(v["checked"], false);
    assert_eq!(v["checks"].as_array().map(|c| c.len()), Some(0));
    assert_eq!(v["model"][id("first_map")]["path"], "row gup-fast-get-io");
}

#[test]
fn the_sarif_and_html_carry_the_model_trace() {
    let t = fixture();
    let html = t.path().join("report.html");
    let o = run(&[
        p(t.path()),
        "--check",
        "--check-max-executions",
        "400",
        "--format",
        "sarif",
        "--html",
        p(&html),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let instance = json(&o);
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sarif-schema-2.1.0.json")).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = instance["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 4);
    let with_trace = results
        .iter()
        .filter(|r| r["codeFlows"].as_array().map(|a| a.len()) == Some(2))
        .count();
    assert_eq!(
        with_trace, 3,
        "the three checked findings have the model trace"
    );
    for r in results {
        let m = &r["properties"]["model"];
        match m["verdict"].as_str() {
            Some(v) => {
                assert_eq!(v, "violation");
                let flow = &r["codeFlows"][1];
                assert!(flow["message"]["text"]
                    .as_str()
                    .expect("message")
                    .starts_with("model trace [MC-"));
                let steps = flow["threadFlows"][0]["locations"]
                    .as_array()
                    .expect("steps");
                assert!(steps.iter().any(|s| s["location"]["message"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("io-on-secure-page"))));
            }
            None => assert!(m["text"]
                .as_str()
                .expect("text")
                .starts_with("no model path")),
        }
    }
    let page = std::fs::read_to_string(&html).expect("html written");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<section class=\"check\"").count(), 2);
    assert!(page.contains("<svg"), "the traces are drawn");
    assert!(page.contains("no model path"));
}

#[test]
fn emit_scenario_writes_a_scenario_the_checker_runs_and_the_inferred_switch_decides_it() {
    let t = fixture();
    let v = json(&run(&[p(t.path()), "--format", "json"]));
    let f = finding(&v, "__bio_iov_iter_get_pages");
    let id = f["id"].as_str().expect("id");
    let o = run(&[p(t.path()), "--emit-scenario", id]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.starts_with(&format!("# pvmm audit finding {id} ")),
        "{text}"
    );
    assert!(text.contains(
        "#   1. block/bio.c:5: __bio_iov_iter_get_pages(): source iov_iter_get_pages2()"
    ));
    assert!(text.contains("row direct-io"));
    assert!(text.contains("#   dio_pins = false  from the code: block/bio.c:5"));
    assert!(text.contains(
        "#   import_flow = make-hva-secure  not decided by the code: the release's value from its history"
    ));
    let sc = checker::parse(Path::new("emitted.toml"), &text).expect("the scenario parses");
    assert_eq!(sc.presets, vec!["6.12.118".to_string()]);
    assert_eq!(
        sc.overrides,
        vec![("dio_pins".to_string(), "false".to_string())]
    );
    let bounds = explore::Bounds {
        max_executions: Some(2_000),
        ..sc.bounds.clone()
    };
    let run_with = |over: Vec<(String, String)>| {
        checker::check(
            &sc,
            "6.12.118",
            checker::RunOptions {
                search: checker::Search::Stateless,
                bounds: Some(bounds.clone()),
                overrides: over,
                ..checker::RunOptions::default()
            },
        )
        .expect("check runs")
    };
    let as_written = run_with(Vec::new());
    assert_eq!(as_written.verdict, checker::Verdict::Violation);
    assert!(as_written
        .violated()
        .contains(&"io-on-secure-page".to_string()));
    // The release's own model (block direct I/O pins since v6.5) verifies the same path: the
    // inferred switch is what makes the difference.
    let pinned = run_with(vec![("dio_pins".into(), "true".into())]);
    assert_eq!(
        pinned.verdict,
        checker::Verdict::Verified,
        "{:?}",
        pinned.outcome.stopped_by
    );

    // The stable identity names the finding too; an unknown id and a finding with no model
    // path are errors (exit 2) that say why.
    let ident = f["identity"].as_str().expect("identity");
    let o = run(&[p(t.path()), "--emit-scenario", ident]);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&[p(t.path()), "--emit-scenario", "PVA-000000000000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such finding"));
    let rd = finding(&v, "rd")["id"].as_str().expect("id").to_string();
    let o = run(&[p(t.path()), "--emit-scenario", &rd]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no model path"));
}

#[test]
fn a_tree_without_a_release_has_no_model_kernel_and_the_check_is_incomplete() {
    let a = driver("first_map");
    let t = tree(&[("Makefile", "# fixture\n"), ("drivers/first/a.c", &a)]);
    let v = json(&run(&[p(t.path()), "--check", "--format", "json"]));
    assert!(v["model_kernel_error"]
        .as_str()
        .expect("error")
        .contains("release is unknown"));
    assert_eq!(v["incomplete"], true);
    assert_eq!(v["checks"].as_array().map(|c| c.len()), Some(0));
}

#[test]
fn model_entries_are_checked_against_the_matrix_rows_and_the_op_vocabulary() {
    let t = fixture();
    let base = audit::rules::BUILTIN;
    for (extra, expect) in [
        (
            "\n[[model]]\nsource = [\"x\"]\nrow = \"no-such-row\"\nwhat = \"x\"\n",
            "row `no-such-row` is not a matrix row",
        ),
        (
            "\n[[model]]\nrow = \"gup-fast-get-io\"\nops = '{ op = \"no-such-op\" }'\nwhat = \"x\"\n",
            "does not parse as a scenario",
        ),
        (
            "\n[[model]]\nsource = [\"x\"]\nwhat = \"x\"\n",
            "give `row` (a matrix row) or `no_path`",
        ),
    ] {
        // The entry goes before [benign], at the end of the [[model]] array.
        let text = base.replace("\n[benign]", &format!("{extra}\n[benign]"));
        let rules = t.path().join("rules.toml");
        std::fs::write(&rules, text).expect("write");
        let o = run(&[p(t.path()), "--rules", p(&rules)]);
        assert_eq!(o.status.code(), Some(2), "{extra}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect) && err.contains("[[model]] #"), "{err}");
    }
    // An op sequence on a row's set-up: the host thread's operations replaced.
    let text = base.replace(
        "\n[[model]]\nsource = [\"page-cache-lookup\"]",
        "\n[[model]]\nsource = [\"page-cache-lookup\"]\ncarrier = \"none\"\nrow = \"gup-fast-get-io\"\nops = '{ op = \"find-get-page\", file = \"guest.img\", index = 0 }, { op = \"dma\" }, { op = \"put\" }'\nwhat = \"a page-cache page handed to a device\"\n\n[[model]]\nsource = [\"page-cache-lookup\"]",
    );
    let rules = t.path().join("rules.toml");
    std::fs::write(&rules, text).expect("write");
    let o = run(&[
        p(t.path()),
        "--rules",
        p(&rules),
        "--check",
        "--check-max-executions",
        "400",
        "--format",
        "json",
    ]);
    let v = json(&o);
    let rd = &v["model"][finding(&v, "rd")["id"].as_str().expect("id")];
    assert!(rd["path"]
        .as_str()
        .expect("path")
        .starts_with("row gup-fast-get-io with host ops [{ op = \"find-get-page\""));
    let c = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["key"] == rd["check"])
        .expect("its check");
    assert!(c["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .any(|l| l.as_str().is_some_and(|l| l.contains("find_get_page"))));
}
