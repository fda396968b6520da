//! The scenario parser reads ops through their declarations (`kernel::vocab::ops`): a field
//! an op does not declare, a value of the wrong kind, a name that is not defined, or an op
//! that uses or releases references the thread cannot hold is an error at the file, line and
//! column of what is wrong; `frame` names the caller frames shown in the trace.

use checker::parse;
use kernel::vocab::ops::OPS;
use std::path::Path;

const SETUP: &str = r#"presets = ["v5.7"]

[[file]]
name = "f"
pages = 1

[[mm]]
name = "qemu"
protected = true

[[map]]
mm = "qemu"
vpn = 0
file = "f"
index = 0

[[guest]]
gfn = 0
mm = "qemu"
vpn = 0

[[pipe]]
name = "p"

[[thread]]
name = "host"
"#;

/// The line of `ops = [...]` in a scenario made from `SETUP`.
const OPS_LINE: usize = 27;

fn scenario(ops: &str) -> String {
    format!("{SETUP}ops = [{ops}]\n")
}

/// The error of a scenario whose host thread runs `ops`: (column, message).
fn error(ops: &str) -> (usize, String) {
    let e = parse(Path::new("ops.toml"), &scenario(ops)).expect_err(ops);
    assert_eq!(e.line, OPS_LINE, "{e}");
    (e.column, e.message)
}

#[test]
fn a_field_the_op_does_not_declare_is_an_error_at_its_key() {
    // Before the vocabulary, every op shared one flat field struct and this was accepted.
    let ops = r#"{ op = "find-get-page", file = "f", index = 0 }, { op = "put", pipe = "nonexistent", count = 9 }"#;
    let (col, msg) = error(ops);
    assert!(msg.contains("`put` has no such field"), "{msg}");
    assert!(msg.contains("field `pipe`"), "{msg}");
    assert_eq!(
        col,
        1 + "ops = [".len() + ops.find("pipe =").unwrap(),
        "{msg}"
    );
    // Every op rejects a key it does not declare.
    for o in OPS {
        let (_, msg) = error(&format!("{{ op = \"{}\", colour = 3 }}", o.name));
        assert!(
            msg.contains("field `colour`") && msg.contains("no such field"),
            "{}: {msg}",
            o.name
        );
    }
}

#[test]
fn values_are_parsed_by_their_kind_and_names_resolved() {
    for (ops, word) in [
        (
            r#"{ op = "gup", mm = "qemu", vpn = 0, flags = "FOLL_GET", fast = 1 }"#,
            "true or false",
        ),
        (
            r#"{ op = "gup", mm = "qemu", vpn = 0, flags = "FOLL_GET|FOLL_PIN" }"#,
            "mutually exclusive",
        ),
        (
            r#"{ op = "gup", mm = "qemu", vpn = 0, flags = "FOLL_GET|FOLL_BOGUS" }"#,
            "FOLL_BOGUS",
        ),
        (
            r#"{ op = "gup", mm = "qemu", vpn = 0, flags = "FOLL_WRITE" }"#,
            "FOLL_GET or FOLL_PIN",
        ),
        (
            r#"{ op = "gup", mm = "qemu", vpn = -1, flags = "FOLL_GET" }"#,
            "expected a vpn 0..=4503599627370494 (s390's last user page: TASK_SIZE_MAX is -PAGE_SIZE), not `-1`",
        ),
        (
            r#"{ op = "gup", mm = "qemu", vpn = 3, flags = "FOLL_GET" }"#,
            "no mapping at vpn 3",
        ),
        (
            r#"{ op = "gup", vpn = 0, flags = "FOLL_GET" }"#,
            "field `mm`: missing",
        ),
        (
            r#"{ op = "sendfile", file = "f", index = 0, pipe = "q" }"#,
            "no pipe named `q` (defined: p)",
        ),
        (
            r#"{ op = "kernel-read", file = "f", index = 1 }"#,
            "pages 0..1, not 1",
        ),
        (r#"{ op = "guest-access", gfn = 0, write = 0 }"#, "1..=255"),
        (
            r#"{ op = "guest-access", gfn = 5 }"#,
            "no [[guest]] frame 5",
        ),
        (r#"{ op = "uv-busy", count = 0 }"#, "a count 1..=4294967295, not `0`"),
        (r#"{ op = "tee", from = "p" }"#, "field `to`: missing"),
        (r#"{ gfn = 0 }"#, "field `op`: missing"),
        (r#"{ op = 7 }"#, "a string"),
    ] {
        let (_, msg) = error(ops);
        assert!(msg.contains(word), "{ops}: expected `{word}` in: {msg}");
    }
}

#[test]
fn an_op_that_needs_a_held_batch_is_an_error_without_one() {
    for (ops, op) in [
        (r#"{ op = "put" }"#, "put"),
        (r#"{ op = "dma" }"#, "dma"),
        (r#"{ op = "hook" }"#, "hook"),
        (
            r#"{ op = "gup", mm = "qemu", vpn = 0, flags = "FOLL_GET" }, { op = "put" }, { op = "dma", to_device = false }"#,
            "dma",
        ),
        (
            r#"{ op = "kernel-read", file = "f", index = 0 }, { op = "put" }"#,
            "put",
        ),
    ] {
        let (col, msg) = error(ops);
        assert!(
            msg.contains(&format!("`{op}`")) && msg.contains("holds none"),
            "{ops}: {msg}"
        );
        // At the op's name.
        let at = ops.rfind(&format!("{{ op = \"{op}\"")).unwrap() + "{ op = ".len();
        assert_eq!(col, 1 + "ops = [".len() + at, "{ops}: {msg}");
    }
    // Acquired first, it parses; so do two acquisitions and two releases.
    for ok in [
        r#"{ op = "gup", mm = "qemu", vpn = 0, flags = "FOLL_PIN" }, { op = "dma" }, { op = "hook" }, { op = "put" }"#,
        r#"{ op = "find-get-page", file = "f", index = 0 }, { op = "gup", mm = "qemu", vpn = 0, flags = "FOLL_GET" }, { op = "put" }, { op = "put" }"#,
    ] {
        parse(Path::new("ops.toml"), &scenario(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn frames_are_checked_and_kept() {
    let (_, msg) = error(r#"{ op = "lru-drain", frame = "a > b()" }"#);
    assert!(
        msg.contains("field `frame`") && msg.contains("b()"),
        "{msg}"
    );
    let (_, msg) = error(r#"{ op = "lru-drain", frame = 3 }"#);
    assert!(msg.contains("field `frame`"), "{msg}");
    let sc = parse(
        Path::new("ops.toml"),
        &scenario(r#"{ op = "lru-drain", frame = "io_uring_register>io_sqe_buffer_register" }"#),
    )
    .expect("parses");
    assert_eq!(
        sc.thread_ops()[0].1[0].frames,
        vec!["io_uring_register", "io_sqe_buffer_register"]
    );
}

/// Duplicate names in the set-up are errors (before, the first of two files of one name
/// was silently used).
#[test]
fn set_up_names_are_unique() {
    let text = scenario(r#"{ op = "lru-drain" }"#).replace(
        "[[pipe]]\nname = \"p\"\n",
        "[[pipe]]\nname = \"p\"\n\n[[pipe]]\nname = \"p\"\n",
    );
    let e = parse(Path::new("ops.toml"), &text).expect_err("duplicate pipe");
    assert!(e.message.contains("already defined"), "{e}");
    assert_eq!(
        (e.line, e.column),
        (26, 8),
        "at the second [[pipe]]'s name: {e}"
    );
}

/// Expected properties are declared violations.
#[test]
fn expected_properties_are_declared_violations() {
    for (prop, word) in [
        ("use-after-fre", "is not a property"),
        ("gup-enomem", "is an observation"),
    ] {
        let text = format!(
            "{}\n[expect.\"v5.7\"]\nverdict = \"violation\"\nproperties = [\"{prop}\"]\n",
            scenario(r#"{ op = "lru-drain" }"#)
        );
        let e = parse(Path::new("ops.toml"), &text).expect_err(prop);
        assert!(e.message.contains(word) && e.message.contains(prop), "{e}");
        assert_eq!(e.line, OPS_LINE + 4, "{e}");
    }
}
