//! The release and switches inferred from a tree's code (fixtures written for this test: the
//! shapes of the functions the switches' docs cite, not kernel code).

use audit::infer::infer;

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

const MAKEFILE: &str =
    "# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\nEXTRAVERSION =\nNAME = x\n";

#[test]
fn release_and_switches_with_evidence_and_the_model_compared() {
    let gup = "int try_grab_folio(struct folio *folio, int refs, unsigned int flags);\n\
int try_grab_folio(struct folio *folio, int refs, unsigned int flags)\n{\n\
\tif (WARN_ON_ONCE(folio_ref_count(folio) <= 0))\n\t\treturn -ENOMEM;\n\
\tfolio_ref_add(folio, refs);\n\treturn 0;\n}\n";
    let bio = "static int __bio_iov_iter_get_pages(struct bio *bio, struct iov_iter *iter)\n{\n\
\tsize = iov_iter_get_pages2(iter, pages, 1, 2, &off);\n\treturn 0;\n}\n";
    let d = tree(&[
        ("Makefile", MAKEFILE),
        ("mm/gup.c", gup),
        ("block/bio.c", bio),
    ]);
    let inf = infer(d.path());
    assert_eq!(inf.release.as_deref(), Some("6.12.118"));
    assert_eq!(inf.release_evidence, "Makefile:2-5");
    let sg = inf
        .switches
        .iter()
        .find(|s| s.switch == "slow_grab")
        .expect("slow_grab");
    assert_eq!(sg.value.as_deref(), Some("check-then-add"));
    assert!(
        sg.evidence.starts_with("mm/gup.c:4: try_grab_folio()"),
        "{}",
        sg.evidence
    );
    assert_eq!(sg.preset.as_deref(), Some("check-then-add"));
    assert!(!sg.disagrees);
    // 6.12 block direct I/O pins; this code gets: inferred false, the model says true.
    let dio = inf
        .switches
        .iter()
        .find(|s| s.switch == "dio_pins")
        .expect("dio_pins");
    assert_eq!(dio.value.as_deref(), Some("false"));
    assert_eq!(dio.preset.as_deref(), Some("true"));
    assert!(dio.disagrees);
    assert_eq!(inf.disagreements(), 1);
    // Functions not in the tree decide nothing.
    let kf = inf
        .switches
        .iter()
        .find(|s| s.switch == "kernel_fault")
        .expect("kernel_fault");
    assert_eq!(kf.status, "not in this tree");
    assert_eq!(kf.value, None);
}

#[test]
fn code_that_matches_no_known_variant_is_flagged() {
    let gup = "int try_grab_folio(struct folio *folio, int refs, unsigned int flags)\n{\n\
\treturn my_new_grab(folio, refs);\n}\n";
    let d = tree(&[("Makefile", MAKEFILE), ("mm/gup.c", gup)]);
    let inf = infer(d.path());
    let sg = inf
        .switches
        .iter()
        .find(|s| s.switch == "slow_grab")
        .expect("slow_grab");
    assert_eq!(sg.status, "no known variant");
    assert_eq!(sg.value, None);
    assert!(sg
        .evidence
        .starts_with("mm/gup.c:2: try_grab_folio() matches none of"));
    // try_grab_folio is also where 6.1.192's fast-path pin grab is read (fast_pin_grab).
    let unknown: Vec<&str> = inf
        .switches
        .iter()
        .filter(|s| s.status == "no known variant")
        .map(|s| s.switch.as_str())
        .collect();
    assert_eq!(unknown, vec!["slow_grab", "fast_pin_grab"]);
    assert_eq!(inf.unknown_variants(), 2);
}

/// The import's shape in make_folio_secure: freeze, one UV call, the expected count and the
/// writeback answer (the 6.12.114 series: +1 and -EBUSY; Debian's revert: neither).
#[test]
fn the_import_switches_are_read_from_make_folio_secure() {
    let reverted = "static int make_folio_secure(struct folio *folio, struct uv_cb_header *uvcb)\n{\n\
\tint expected, cc = 0;\n\n\tif (folio_test_writeback(folio))\n\t\treturn -EAGAIN;\n\
\texpected = expected_folio_refs(folio);\n\tif (!folio_ref_freeze(folio, expected))\n\t\treturn -EBUSY;\n\
\tcc = __uv_call(0, (u64)uvcb);\n\tfolio_ref_unfreeze(folio, expected);\n\treturn cc;\n}\n";
    let series = "static int __make_folio_secure(struct folio *folio, struct uv_cb_header *uvcb)\n{\n\
\tint expected, cc = 0;\n\n\tif (folio_test_writeback(folio))\n\t\treturn -EBUSY;\n\
\texpected = expected_folio_refs(folio) + 1;\n\tif (!folio_ref_freeze(folio, expected))\n\t\treturn -EBUSY;\n\
\tcc = __uv_call(0, (u64)uvcb);\n\tfolio_ref_unfreeze(folio, expected);\n\treturn cc;\n}\n";
    let value = |text: &str, sw: &str| {
        let d = tree(&[("Makefile", MAKEFILE), ("arch/s390/kernel/uv.c", text)]);
        let inf = infer(d.path());
        let s = inf
            .switches
            .iter()
            .find(|s| s.switch == sw)
            .unwrap_or_else(|| panic!("{sw}"))
            .clone();
        (s.value, s.evidence, s.disagrees)
    };
    for (sw, rev, ser) in [
        ("freeze_plus_one", "false", "true"),
        ("writeback_ebusy", "false", "true"),
        ("import_freezes", "true", "true"),
        ("import_single_uv_call", "true", "true"),
    ] {
        let (v, ev, _) = value(reverted, sw);
        assert_eq!(v.as_deref(), Some(rev), "{sw}: {ev}");
        assert!(ev.starts_with("arch/s390/kernel/uv.c:"), "{ev}");
        let (v, ev, dis) = value(series, sw);
        assert_eq!(v.as_deref(), Some(ser), "{sw}: {ev}");
        // 6.12.118's model has the series: the series' code agrees with it.
        assert!(!dis, "{sw}");
    }
    let (_, ev, dis) = value(reverted, "writeback_ebusy");
    assert!(dis, "the reverted code disagrees with 6.12.118's model");
    assert!(
        ev.contains(":5: make_folio_secure(): writeback(folio))"),
        "{ev}"
    );
}

/// A name in a comment before the definition (`/* outcome of pageout() */`) is not the
/// definition; the reasons list every switch no recogniser decides.
#[test]
fn comments_are_not_definitions_and_unrecognised_switches_say_why() {
    let vmscan =
        "/* possible outcome of pageout() */\ntypedef enum {\n\tPAGE_KEEP,\n} pageout_t;\n\
static pageout_t pageout(struct folio *folio, struct address_space *mapping)\n{\n\
\tres = mapping->a_ops->writepage(&folio->page, &wbc);\n\treturn res;\n}\n";
    let d = tree(&[("Makefile", MAKEFILE), ("mm/vmscan.c", vmscan)]);
    let inf = infer(d.path());
    let s = inf
        .switches
        .iter()
        .find(|s| s.switch == "reclaim_fs_writeout")
        .expect("reclaim_fs_writeout");
    assert_eq!(s.value.as_deref(), Some("true"));
    assert!(
        s.evidence.starts_with("mm/vmscan.c:7: pageout()"),
        "{}",
        s.evidence
    );
    assert_eq!(inf.not_recognised.len(), inf.not_recognised_why.len());
    let why = inf
        .not_recognised_why
        .iter()
        .find(|(n, _)| n == "debug_vm")
        .expect("debug_vm is not decided from code");
    assert!(why.1.contains("build configuration"));
    assert_eq!(
        inf.switches.len() + inf.not_recognised.len(),
        kernel::vocab::SWITCHES.len()
    );
}

/// The kernel-mode 0x3d handler's shapes (arch/s390/mm/fault.c: do_secure_storage_access):
/// the 6.1.y backport of the 2026-03 fix keeps `try_get_page` before the unconditional
/// export (6.1.192), mainline's fix takes `folio_try_get`; before the fix, the hook.
#[test]
fn the_kernel_fault_shapes_are_told_apart() {
    let handler = |get: &str, body: &str| {
        format!(
            "void do_secure_storage_access(struct pt_regs *regs)\n{{\n\
\tswitch (get_fault_type(regs)) {{\n\tcase KERNEL_FAULT:\n\
\t\tpage = phys_to_page(addr);\n\t\tif (unlikely(!{get}))\n\t\t\tbreak;\n{body}\
\t\tbreak;\n\t}}\n}}\n"
        )
    };
    let fixup = "\t\trc = uv_convert_from_secure(page_to_phys(page));\n\t\tput_page(page);\n\
\t\tif (rc)\n\t\t\treturn do_no_context(regs, 0);\n";
    let hook = "\t\tif (arch_make_page_accessible(page))\n\t\t\tBUG();\n\t\tput_page(page);\n";
    let value = |text: String| {
        let d = tree(&[("Makefile", MAKEFILE), ("arch/s390/mm/fault.c", &text)]);
        infer(d.path())
            .switches
            .into_iter()
            .find(|s| s.switch == "kernel_fault")
            .expect("kernel_fault")
            .value
    };
    for (get, body, want) in [
        ("try_get_page(page)", fixup, "try-get-page-export-always"),
        ("folio_try_get(folio)", fixup, "export-always"),
        ("try_get_page(page)", hook, "try-get-page"),
        ("folio_try_get(folio)", hook, "folio-try-get"),
    ] {
        assert_eq!(
            value(handler(get, body)).as_deref(),
            Some(want),
            "{get} with {body}"
        );
    }
}
