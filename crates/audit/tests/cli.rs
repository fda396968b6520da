//! The command line: exit codes, bad input, baseline, two-tree diff, SARIF against the schema.

use std::path::Path;
use std::process::{Command, Output};

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("Makefile"), "# fixture\n").expect("write");
    std::fs::create_dir_all(d.path().join("include/linux")).expect("mkdir");
    for (p, text) in files {
        let full = d.path().join(p);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
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

const FOLL_GET_DIO: &str = r#"
int dio(struct bio *bio, unsigned long addr)
{
	struct page *pages[4];
	get_user_pages_fast(addr, 4, FOLL_WRITE, pages);
	bio_add_page(bio, pages[0], PAGE_SIZE, 0);
	return 0;
}
"#;

const FOLL_PIN_DIO: &str = r#"
int dio(struct bio *bio, unsigned long addr)
{
	struct page *pages[4];
	pin_user_pages_fast(addr, 4, FOLL_WRITE, pages);
	bio_add_page(bio, pages[0], PAGE_SIZE, 0);
	return 0;
}
"#;

#[test]
fn a_path_that_is_not_a_kernel_tree_is_a_clear_error_with_exit_2() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("hello.c"), "int main(void) { return 0; }\n").expect("write");
    let o = run(&[p(d.path())]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a kernel source tree"), "{err}");
    assert!(err.contains(p(d.path())), "{err}");

    let o = run(&["/nonexistent/linux"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/linux"));

    let f = d.path().join("hello.c");
    let o = run(&[p(&f)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a directory"));
}

#[test]
fn findings_exit_1_clean_tree_exit_0() {
    let bad = tree(&[("block/dio.c", FOLL_GET_DIO)]);
    let o = run(&[p(bad.path())]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("coverage:"), "{out}");
    assert!(out.contains("== block (1) =="), "{out}");
    assert!(out.contains("block/dio.c:5:2: 1. dio()"), "{out}");
    assert!(out.contains("block/dio.c:6:2: 2. dio()"), "{out}");

    let good = tree(&[("block/dio.c", FOLL_PIN_DIO)]);
    let o = run(&[p(good.path())]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("covered 1"));
}

#[test]
fn bad_rules_and_bad_baseline_exit_2_naming_the_file() {
    let t = tree(&[("block/dio.c", FOLL_GET_DIO)]);
    let rules = t.path().join("rules.toml");
    std::fs::write(&rules, "[hooks]\ndirect = 3\n").expect("write");
    let o = run(&[p(t.path()), "--rules", p(&rules)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rules.toml"));

    let base = t.path().join("baseline.toml");
    std::fs::write(&base, "[[suppress]]\nid = \"PVA-1\"\nreason = \"\"\n").expect("write");
    let o = run(&[p(t.path()), "--baseline", p(&base)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("baseline.toml") && err.contains("empty reason"),
        "{err}"
    );
}

#[test]
fn baseline_suppresses_a_finding_by_id_with_a_reason() {
    let t = tree(&[("block/dio.c", FOLL_GET_DIO)]);
    let o = run(&[p(t.path()), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let id = v["findings"][0]["id"].as_str().expect("id").to_string();
    let base = t.path().join("baseline.toml");
    std::fs::write(
        &base,
        format!("[[suppress]]\nid = \"{id}\"\nreason = \"test fixture, reviewed\"\n"),
    )
    .expect("write");
    let o = run(&[p(t.path()), "--baseline", p(&base)]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1 suppressed"), "{out}");
    assert!(out.contains("test fixture, reviewed"), "{out}");
}

#[test]
fn two_trees_show_what_appeared_and_disappeared() {
    let old = tree(&[("block/dio.c", FOLL_GET_DIO)]);
    let new = tree(&[("block/dio.c", FOLL_PIN_DIO)]);
    let o = run(&["--base", p(old.path()), p(new.path()), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "nothing appeared");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["appeared"].as_array().map(|a| a.len()), Some(0));
    assert_eq!(v["disappeared"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(
        v["disappeared"][0]["scenario"].as_str(),
        Some("d2-direct-io-foll-get")
    );
    // The other way round, it appeared: exit 1.
    let o = run(&["--base", p(new.path()), p(old.path())]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Appeared (1)"), "{out}");
    assert!(out.contains("Disappeared (0)"), "{out}");
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let t = tree(&[("block/dio.c", FOLL_GET_DIO)]);
    let o = run(&[p(t.path()), "--format", "sarif", "--jobs", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let instance: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif is json");
    let schema_text = include_str!("fixtures/sarif-schema-2.1.0.json");
    let schema: serde_json::Value = serde_json::from_str(schema_text).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = instance["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    let flow = &results[0]["codeFlows"][0]["threadFlows"][0]["locations"];
    assert_eq!(flow.as_array().map(|a| a.len()), Some(2));
    // And an invalid document is rejected, so the check is not vacuous.
    let mut broken = instance.clone();
    broken["version"] = serde_json::json!("9.9");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn two_tree_sarif_marks_new_results_and_validates() {
    let old = tree(&[("block/dio.c", FOLL_PIN_DIO)]);
    let new = tree(&[("block/dio.c", FOLL_GET_DIO)]);
    let o = run(&["--base", p(old.path()), p(new.path()), "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(1));
    let instance: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif is json");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sarif-schema-2.1.0.json")).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    assert!(validator.is_valid(&instance));
    assert_eq!(
        instance["runs"][0]["results"][0]["baselineState"].as_str(),
        Some("new")
    );
}

#[test]
fn jobs_zero_is_bad_input() {
    let t = tree(&[("block/dio.c", FOLL_GET_DIO)]);
    let o = run(&[p(t.path()), "--jobs", "0"]);
    assert_eq!(o.status.code(), Some(2));
}
