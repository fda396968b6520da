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
    assert!(out.contains("== 1. device-dma · block =="), "{out}");
    assert!(out.contains("block/dio.c:6:2: warning: [PVA-"), "{out}");
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

/// The 2020 sendfile hole in two shapes: the old tree sends the page with `->sendpage` from
/// `pipe_to_sendpage`, the new one with `sock_sendmsg(MSG_SPLICE_PAGES)` from
/// `splice_to_socket`, and the zero-copy source function is renamed too.
fn sendfile_tree(new: bool) -> tempfile::TempDir {
    let source = r#"
static const struct pipe_buf_operations page_cache_pipe_buf_ops = {
	.confirm = page_cache_pipe_buf_confirm,
};
int page_cache_pipe_buf_confirm(struct pipe_inode_info *pipe, struct pipe_buffer *buf)
{
	return 0;
}
ssize_t read_into_pipe(struct kiocb *iocb, struct pipe_inode_info *pipe)
{
	struct folio_batch fbatch;
	filemap_get_pages(iocb, 4096, &fbatch, true);
	struct pipe_buffer *buf = pipe_head_buf(pipe);
	*buf = (struct pipe_buffer){ .ops = &page_cache_pipe_buf_ops, .page = fbatch.folios[0] };
	return 0;
}
"#;
    let old_sink = r#"
int pipe_to_sendpage(struct pipe_inode_info *pipe, struct pipe_buffer *buf, struct file *out)
{
	struct socket *sock = out->private_data;
	return sock->ops->sendpage(sock, buf->page, buf->offset, buf->len, 0);
}
"#;
    let new_sink = r#"
ssize_t splice_to_socket(struct pipe_inode_info *pipe, struct file *out)
{
	struct pipe_buffer *buf = pipe_tail_buf(pipe);
	struct msghdr msg = {};
	struct bio_vec bvec;
	bvec_set_page(&bvec, buf->page, buf->len, buf->offset);
	msg.msg_flags = MSG_SPLICE_PAGES;
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bvec, 1, buf->len);
	return sock_sendmsg(sock, &msg);
}
"#;
    let zc = |name: &str| {
        format!(
            "int {name}(struct sk_buff *skb, struct iov_iter *from)\n{{\n\tstruct page *pages[4];\n\tsize_t start;\n\tiov_iter_get_pages2(from, pages, 4096, 4, &start);\n\tskb_fill_page_desc_noacc(skb, 0, pages[0], 0, 4096);\n\treturn 0;\n}}\n"
        )
    };
    if new {
        tree(&[
            ("mm/filemap.c", source),
            ("fs/splice.c", new_sink),
            ("net/core/datagram.c", &zc("zerocopy_fill_skb_from_iter")),
        ])
    } else {
        tree(&[
            ("mm/filemap.c", source),
            ("fs/splice.c", old_sink),
            ("net/core/datagram.c", &zc("__zerocopy_sg_from_iter")),
        ])
    }
}

#[test]
fn renamed_sinks_and_functions_are_updated_not_appeared_and_disappeared() {
    let old = sendfile_tree(false);
    let new = sendfile_tree(true);
    let o = run(&["--base", p(old.path()), p(new.path()), "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        v["appeared"].as_array().map(|a| a.len()),
        Some(0),
        "{:#}",
        v["appeared"]
    );
    assert_eq!(v["disappeared"].as_array().map(|a| a.len()), Some(0));
    let up = v["updated"].as_array().expect("updated");
    assert_eq!(up.len(), 2, "{up:#?}");
    let sinks: Vec<(String, String)> = up
        .iter()
        .map(|pair| {
            let last = |f: &serde_json::Value| {
                let c = f["chain"].as_array().expect("chain");
                c[c.len() - 1]["callee"].as_str().unwrap_or("").to_string()
            };
            (last(&pair[0]), last(&pair[1]))
        })
        .collect();
    assert!(
        sinks.contains(&("->sendpage".into(), "sock_sendmsg".into())),
        "{sinks:?}"
    );
    // The ids differ (functions and sinks are part of the id), the identities do not.
    for pair in up {
        assert_ne!(pair[0]["id"], pair[1]["id"]);
        assert_eq!(pair[0]["identity"], pair[1]["identity"]);
    }
    // A different path from the same source (another sink class) is not an update.
    let other = tree(&[(
        "net/core/datagram.c",
        "int __zerocopy_sg_from_iter(struct bio *bio, struct iov_iter *from)\n{\n\tstruct page *pages[4];\n\tsize_t start;\n\tiov_iter_get_pages2(from, pages, 4096, 4, &start);\n\tbio_add_page(bio, pages[0], 4096, 0);\n\treturn 0;\n}\n",
    )]);
    let o = run(&["--base", p(old.path()), p(other.path()), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["appeared"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(v["updated"].as_array().map(|a| a.len()), Some(0));
}

#[test]
fn sarif_baseline_states_new_unchanged_updated_absent() {
    // The new tree: the two updated paths and a new one; the old tree has one that is gone.
    let old = sendfile_tree(false);
    let new = sendfile_tree(true);
    std::fs::create_dir_all(new.path().join("block")).expect("mkdir");
    std::fs::write(new.path().join("block/dio.c"), FOLL_GET_DIO).expect("write");
    std::fs::create_dir_all(old.path().join("drivers/x")).expect("mkdir");
    let gone = FOLL_GET_DIO.replace("dio(", "gone(");
    std::fs::write(old.path().join("drivers/x/gone.c"), &gone).expect("write");
    let o = run(&["--base", p(old.path()), p(new.path()), "--format", "sarif"]);
    assert_eq!(o.status.code(), Some(1));
    let instance: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sarif-schema-2.1.0.json")).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let states: Vec<&str> = instance["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["baselineState"].as_str())
        .collect();
    for s in ["new", "updated", "absent"] {
        assert!(states.contains(&s), "{states:?}");
    }
    // Unchanged: the same finding id in both trees.
    let both = tree(&[("block/dio.c", FOLL_GET_DIO)]);
    let o = run(&[
        "--base",
        p(both.path()),
        p(both.path()),
        "--format",
        "sarif",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif");
    assert_eq!(v["runs"][0]["results"][0]["baselineState"], "unchanged");
    // No placeholder host in the rules' help.
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("example.invalid/pvmm/docs"), "{text}");
    assert!(v["runs"][0]["tool"]["driver"]["rules"][0]["help"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("FOLL_PIN")));
}

/// A unified diff between two fixture files, as `diff -u` / git write it (paths a/ and b/).
fn unified(path: &str, old: &str, new: &str) -> String {
    let o: Vec<&str> = old.lines().collect();
    let n: Vec<&str> = new.lines().collect();
    let mut s = format!(
        "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1,{} +1,{} @@\n",
        o.len(),
        n.len()
    );
    for l in &o {
        s.push_str(&format!("-{l}\n"));
    }
    for l in &n {
        s.push_str(&format!("+{l}\n"));
    }
    s
}

#[test]
fn a_patch_is_audited_as_the_two_trees_it_yields_and_the_tree_is_not_written() {
    let t = tree(&[("block/dio.c", FOLL_PIN_DIO)]);
    let file = t.path().join("block/dio.c");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&file).expect("stat"));
    let diff = t.path().join("fix.diff");
    std::fs::write(&diff, unified("block/dio.c", FOLL_PIN_DIO, FOLL_GET_DIO)).expect("write");
    let o = run(&[p(t.path()), "--patch", p(&diff), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "a finding appeared");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["appeared"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(v["disappeared"].as_array().map(|a| a.len()), Some(0));
    assert!(
        v["new"]["revision"]
            .as_str()
            .is_some_and(|r| r.contains("fix.diff")),
        "{}",
        v["new"]
    );
    // The tree still has its text, in the same inode (the copy was unlinked, not written).
    assert_eq!(std::fs::read_to_string(&file).expect("read"), FOLL_PIN_DIO);
    let after = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&file).expect("stat"));
    assert_eq!(ino, after);
    // The patch read from standard input, text output: the appeared finding at its line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pvmm-audit"))
        .args([p(t.path()), "--patch", "-", "--no-cache"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        std::fs::read(&diff).expect("read").as_slice(),
    )
    .expect("write stdin");
    drop(child.stdin.take());
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Appeared (1):\nblock/dio.c:"), "{out}");
}

#[test]
fn a_patch_that_does_not_apply_is_bad_input_naming_the_diff_line() {
    let t = tree(&[("block/dio.c", FOLL_PIN_DIO)]);
    let diff = t.path().join("stale.diff");
    // Written against the other text: its removed lines are not in the file.
    std::fs::write(&diff, unified("block/dio.c", FOLL_GET_DIO, FOLL_PIN_DIO)).expect("write");
    let o = run(&[p(t.path()), "--patch", p(&diff)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("stale.diff:1:1: error: block/dio.c: error applying hunk #1"),
        "{err}"
    );
    // A hunk header that counts more lines than follow.
    let text = unified("block/dio.c", FOLL_PIN_DIO, FOLL_GET_DIO);
    let cut: String = text.lines().take(6).map(|l| format!("{l}\n")).collect();
    std::fs::write(&diff, cut).expect("write");
    let o = run(&[p(t.path()), "--patch", p(&diff)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ends inside a hunk"));
    // Not a diff at all; a file the patch creates that exists; --patch with --base.
    std::fs::write(&diff, "hello\n").expect("write");
    let o = run(&[p(t.path()), "--patch", p(&diff)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a unified diff"));
    std::fs::write(
        &diff,
        "--- /dev/null\n+++ b/block/dio.c\n@@ -0,0 +1 @@\n+x\n",
    )
    .expect("write");
    let o = run(&[p(t.path()), "--patch", p(&diff)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"));
    let o = run(&[p(t.path()), "--patch", p(&diff), "--base", p(t.path())]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn two_git_revisions_are_audited_as_their_trees() {
    let git = |d: &Path, args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(d)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output();
        match o {
            Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
            _ => None,
        }
    };
    let t = tree(&[("block/dio.c", FOLL_PIN_DIO)]);
    if git(t.path(), &["init", "-q"]).is_none() {
        panic!("git is needed for this test (CI installs it)");
    }
    git(t.path(), &["add", "-A"]).expect("add");
    git(t.path(), &["commit", "-qm", "pin"]).expect("commit");
    std::fs::write(t.path().join("block/dio.c"), FOLL_GET_DIO).expect("write");
    git(t.path(), &["commit", "-qam", "get"]).expect("commit");
    // The work tree is at neither revision's text for a third file: untracked, in both.
    std::fs::write(t.path().join("block/extra.c"), "int x;\n").expect("write");
    let o = run(&[p(t.path()), "--rev", "HEAD~1..HEAD", "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["appeared"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(v["base"]["revision"].as_str(), Some("@ HEAD~1"));
    // The other way round it disappeared; the work tree is left as it was.
    let o = run(&[p(t.path()), "--rev", "HEAD..HEAD~1", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["disappeared"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(
        std::fs::read_to_string(t.path().join("block/dio.c")).expect("read"),
        FOLL_GET_DIO
    );
    let o = run(&[p(t.path()), "--rev", "HEAD"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[p(t.path()), "--rev", "nosuchrev..HEAD"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("git diff failed"));
}
