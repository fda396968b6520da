//! No silent blind spots: every file the run does not read (unreadable, a name that is not
//! UTF-8, over the size limit, a directory that cannot be listed) or does not understand
//! (nesting deeper than the walk allows) is listed with its reason, in text, JSON and SARIF,
//! and the run is incomplete (exit 3) unless `--accept-incomplete`. Fixtures are written for
//! these tests, not kernel code.

use std::path::Path;
use std::process::{Command, Output};

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("Makefile"), "# fixture\n").expect("write");
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
    d.to_str().expect("utf-8 temp path")
}

const CLEAN: &str = r#"
int f(unsigned long addr)
{
	struct page *pages[1];
	pin_user_pages_fast(addr, 1, FOLL_WRITE, pages);
	return 0;
}
"#;

const FINDING: &str = r#"
int g(struct bio *bio, unsigned long addr)
{
	struct page *pages[1];
	get_user_pages_fast(addr, 1, FOLL_WRITE, pages);
	bio_add_page(bio, pages[0], 4096, 0);
	return 0;
}
"#;

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "json: {e}\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn not_read(v: &serde_json::Value) -> Vec<(String, String)> {
    v["not_read"]
        .as_array()
        .expect("not_read")
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap_or("").to_string(),
                n["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_clean_tree_is_complete_exit_0() {
    let d = tree(&[("mm/a.c", CLEAN)]);
    let o = run(&[p(d.path()), "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert!(not_read(&v).is_empty());
    assert_eq!(v["incomplete"], false);
}

#[test]
fn a_non_utf8_file_name_is_listed_and_the_run_is_incomplete() {
    use std::os::unix::ffi::OsStrExt;
    let d = tree(&[("mm/a.c", CLEAN)]);
    let name = std::ffi::OsStr::from_bytes(b"b\xff.c");
    std::fs::write(d.path().join("mm").join(name), FINDING).expect("write");
    let o = run(&[p(d.path()), "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["incomplete"], true);
    assert_eq!(v["exit_code"], 3);
    let nr = not_read(&v);
    assert_eq!(nr.len(), 1, "{nr:?}");
    assert_eq!(nr[0].0, "mm/b\\xFF.c");
    assert!(nr[0].1.contains("not UTF-8"));
    // Text: counted in the coverage lines and listed.
    let t = run(&[p(d.path())]);
    let text = String::from_utf8_lossy(&t.stdout);
    assert!(
        text.contains("not read or not understood: 1 — the run is INCOMPLETE"),
        "{text}"
    );
    assert!(
        text.contains("mm/b\\xFF.c: not read: the name is not UTF-8"),
        "{text}"
    );
    // Accepted: exit 0, still listed.
    let a = run(&[p(d.path()), "--format", "json", "--accept-incomplete"]);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(not_read(&json(&a)).len(), 1);
}

#[test]
fn an_unreadable_file_is_listed() {
    let d = tree(&[("mm/a.c", CLEAN)]);
    // A dangling link cannot be read by anyone (root included).
    std::os::unix::fs::symlink("gone.c", d.path().join("mm/lost.c")).expect("symlink");
    // Permissions stop a user that is not root.
    std::fs::write(d.path().join("mm/secret.c"), FINDING).expect("write");
    let secret = d.path().join("mm/secret.c");
    set_mode(&secret, 0o000);
    let secret_unreadable = std::fs::read(&secret).is_err();
    let o = run(&[p(d.path()), "--format", "json"]);
    set_mode(&secret, 0o644);
    let v = json(&o);
    let nr = not_read(&v);
    assert!(
        nr.iter()
            .any(|(p, r)| p == "mm/lost.c" && r.contains("cannot stat")),
        "{nr:?}"
    );
    assert_eq!(
        nr.iter().any(|(p, _)| p == "mm/secret.c"),
        secret_unreadable,
        "{nr:?}"
    );
    if secret_unreadable {
        assert_eq!(o.status.code(), Some(3));
    } else {
        // Read (as root): its finding is reported, the dangling link still makes it incomplete.
        assert_eq!(o.status.code(), Some(1));
    }
    assert_eq!(v["incomplete"], true);
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_directory_that_cannot_be_listed_is_listed_and_the_rest_is_audited() {
    let d = tree(&[("mm/a.c", CLEAN), ("block/b.c", FINDING)]);
    // A path longer than PATH_MAX cannot be listed by anyone: directories made one by one
    // relative to the last (as root, permissions would not stop the listing).
    // 15 levels of 255-byte names can be entered; the 16th directory's path is over 4096 bytes.
    let comp = "d".repeat(255);
    let script = format!(
        "cd '{}/drivers' && for i in $(seq 1 15); do mkdir {comp} && cd {comp} || exit 1; done && mkdir {comp}",
        p(d.path())
    );
    std::fs::create_dir_all(d.path().join("drivers")).expect("mkdir");
    let st = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .status()
        .expect("sh");
    assert!(st.success());
    // And a directory without permissions (effective for a user that is not root).
    std::fs::create_dir_all(d.path().join("fs/closed")).expect("mkdir");
    std::fs::write(d.path().join("fs/closed/c.c"), CLEAN).expect("write");
    set_mode(&d.path().join("fs/closed"), 0o000);
    let closed_unlistable = std::fs::read_dir(d.path().join("fs/closed")).is_err();
    let o = run(&[p(d.path()), "--format", "json"]);
    set_mode(&d.path().join("fs/closed"), 0o755);
    // The run goes on: the finding in block/ is there (exit 1 wins over incomplete).
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["findings"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(v["incomplete"], true);
    let nr = not_read(&v);
    assert!(
        nr.iter().any(|(p, r)| p.starts_with("drivers/ddd")
            && p.ends_with('/')
            && r.contains("cannot be listed")),
        "{nr:?}"
    );
    assert_eq!(
        nr.iter().any(|(p, _)| p == "fs/closed/"),
        closed_unlistable,
        "{nr:?}"
    );
    // SARIF: each one is a tool execution notification.
    let s = run(&[p(d.path()), "--format", "sarif"]);
    let sv: serde_json::Value = serde_json::from_slice(&s.stdout).expect("sarif");
    let notes = sv["runs"][0]["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .expect("notifications");
    assert_eq!(notes.len(), nr.len());
    assert!(notes[0]["message"]["text"]
        .as_str()
        .unwrap_or("")
        .starts_with("not read:"));
}

#[test]
fn a_file_over_the_size_limit_is_listed() {
    let d = tree(&[("mm/a.c", CLEAN), ("mm/big.c", FINDING)]);
    let o = run(&[p(d.path()), "--format", "json", "--max-file-size", "100"]);
    let v = json(&o);
    let nr = not_read(&v);
    assert!(
        nr.iter()
            .any(|(p, r)| p == "mm/big.c" && r.contains("over the size limit of 100 bytes")),
        "{nr:?}"
    );
    // Its finding is not reported (the file was not read) and the run says so: exit 3.
    assert_eq!(o.status.code(), Some(3));
    // With the default limit it is read.
    let o = run(&[p(d.path()), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
}

/// ~100,000 nested blocks (and as many nested parentheses in an initialiser) degrade to "not
/// understood" for that function or declaration; the rest of the file is audited.
#[test]
fn deep_nesting_degrades_to_not_understood_never_a_crash() {
    let n = 100_000;
    let mut src = String::from(FINDING);
    src.push_str("int deep(void)\n{\n");
    src.push_str(&"{".repeat(n));
    src.push_str(&"}".repeat(n));
    src.push_str("\nreturn 0;\n}\n");
    src.push_str("int deep_init = ");
    src.push_str(&"(".repeat(n));
    src.push('1');
    src.push_str(&")".repeat(n));
    src.push_str(";\n");
    let d = tree(&[("block/deep.c", &src)]);
    let o = run(&[p(d.path()), "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    // The finding in the same file is still there.
    assert_eq!(v["findings"].as_array().map(|a| a.len()), Some(1));
    let nr = not_read(&v);
    assert!(
        nr.iter().any(|(p, r)| p == "block/deep.c"
            && r.contains("(deep())")
            && r.contains("not understood")),
        "{nr:?}"
    );
    assert_eq!(nr.len(), 2, "{nr:?}");
    assert_eq!(v["incomplete"], true);
    // Without findings the same file makes the run incomplete.
    let only_deep = src.replace(FINDING, CLEAN);
    let d = tree(&[("block/deep.c", &only_deep)]);
    let o = run(&[p(d.path())]);
    assert_eq!(o.status.code(), Some(3));
}

/// Nesting just under the limit is walked (the library runs the walk on threads with a stack
/// for it, whoever calls it).
#[test]
fn nesting_under_the_limit_is_understood() {
    let n = audit::extract::MAX_DEPTH - 40;
    let mut src = String::from(
        "int nested(struct bio *bio, unsigned long addr)\n{\n\tstruct page *pages[1];\n",
    );
    src.push_str("get_user_pages_fast(addr, 1, FOLL_WRITE, pages);\n");
    src.push_str(&"{".repeat(n));
    src.push_str("bio_add_page(bio, pages[0], 4096, 0);\n");
    src.push_str(&"}".repeat(n));
    src.push_str("return 0;\n}\n");
    let d = tree(&[("block/n.c", &src)]);
    let rules = audit::rules::Rules::builtin().expect("rules");
    let (o, stats) =
        audit::scan::audit_tree(d.path(), &rules, audit::rules::BUILTIN, None).expect("audit");
    assert!(o.not_understood.is_empty(), "{:?}", o.not_understood);
    assert!(stats.not_read.is_empty());
    assert_eq!(o.findings.len(), 1);
}
