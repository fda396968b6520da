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
    assert_eq!(inf.unknown_variants(), 1);
}
