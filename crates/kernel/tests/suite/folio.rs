//! Issue 26 item 1–3: folios of order > 0 (world.rs, folio.rs) and the import's large-folio
//! handling per release (import.rs), each against the source it cites: 6.1.192 / 6.12.118
//! arch/s390/kernel/uv.c: gmap_make_secure, 6.12.118 mm/huge_memory.c:
//! split_huge_page_to_list_to_order / can_split_folio / __split_huge_page, d8dfda5af0be
//! make_hva_secure + s390_wiggle_split_folio, 3ec8a8330a1a.

use explore::runtime::StepRecord;
use explore::{Execution, Finding, Model};
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::uv::UvState;
use kernel::vocab::ops::{OpCall, ThreadOp};
use kernel::vocab::presets::resolve;
use kernel::world::PAGE_BYTES;
use kernel::{Kernel, KernelModel, World};

fn kernel(name: &str, sets: &[(&str, &str)]) -> Kernel {
    let mut k = resolve(name).unwrap_or_else(|e| panic!("{e}"));
    for (s, v) in sets {
        k.set(s, v).expect("switch");
    }
    k
}

/// A 2-page file whose page cache holds ONE folio of order 1, mapped MAP_SHARED by QEMU's
/// protected mm at vpns 0 and 1 as guest frames 0 and 1 holding an unpack image.
fn folio_guest() -> Builder {
    let mut b = Builder::new();
    let f = b.file("guest.img", 2).expect("file");
    b.file_folio_order(f, 1).expect("order");
    let qemu = b.mm("qemu", true, None).expect("mm");
    for i in 0..2 {
        b.map(MapSpec {
            mm: qemu,
            vpn: i,
            backing: Backing::File { file: f, index: i },
            shared: true,
            writable: true,
            present: true,
            pte_write: true,
        })
        .expect("map");
        b.guest(GuestSpec {
            gfn: i,
            mm: qemu,
            vpn: i,
            secure: false,
            shared: false,
            data: Some(0x41 + i as u8),
            image: true,
        })
        .expect("guest");
    }
    b
}

fn model(threads: Vec<(&str, Vec<ThreadOp>)>, k: Kernel) -> KernelModel {
    let mut b = folio_guest();
    for (name, ops) in threads {
        b.thread(name, ops.into_iter().map(OpCall::from).collect())
            .expect("thread builds");
    }
    b.model(k)
}

fn unpack() -> ThreadOp {
    ThreadOp::Unpack { gfn: 0, pages: 2 }
}

fn run_alone(ex: &mut Execution<World>, tid: usize) -> Vec<StepRecord> {
    let mut steps = Vec::new();
    for _ in 0..5_000 {
        if ex.finished(tid) || !ex.enabled(tid) {
            break;
        }
        steps.push(ex.step(tid));
    }
    steps
}

fn count(steps: &[StepRecord], name: &str) -> usize {
    steps.iter().filter(|s| s.name == name).count()
}

fn at_end(m: &KernelModel, w: &World) -> Vec<&'static str> {
    let mut out: Vec<Finding> = Vec::new();
    m.at_end(w, &mut out);
    out.iter().map(|f| f.property).collect()
}

/// The set-up: the folio's count (2 cache + 2 mappings) is on the head, a tail's is 0
/// (`__filemap_add_folio`: `folio_ref_add(folio, nr)`); the reference balance holds.
#[test]
fn a_large_folio_counts_on_its_head() {
    let m = model(vec![], kernel("v6.16", &[]));
    let ex = Execution::start(m.instance(), true);
    let w = ex.with_world(|w| w.clone());
    assert_eq!((w.pages[0].order, w.pages[0].head), (1, None));
    assert_eq!((w.pages[1].order, w.pages[1].head), (0, Some(0)));
    assert_eq!(w.pages[0].refcount, 4);
    assert_eq!(w.pages[1].refcount, 0);
    assert_eq!(w.folio_mapcount(1), 2);
    assert!(at_end(&m, &w).is_empty());
}

/// A reference taken through a tail (`find_get_page` of index 1: `folio_try_get` on
/// `page_folio`) acts on the folio: the head's count rises, the tail's stays 0; and it makes
/// 6.12.118's split fail (`can_split_folio`: mapcount 2 != 5 − 2 − 1 → -EAGAIN), so the
/// import drains and returns -EAGAIN — no page is made secure while the reference is held.
#[test]
fn a_tail_reference_holds_the_folio_and_stops_the_split() {
    let m = model(
        vec![
            ("vcpu", vec![unpack()]),
            ("reader", vec![ThreadOp::FindGetPage { file: 0, index: 1 }]),
        ],
        kernel("debian-6.12.118", &[]),
    );
    let mut ex = Execution::start(m.instance(), true);
    run_alone(&mut ex, 1);
    let w = ex.with_world(|w| w.clone());
    assert_eq!(
        w.pages[0].refcount, 5,
        "the tail's reference is the folio's"
    );
    assert_eq!(w.pages[1].refcount, 0);
    let steps = run_alone(&mut ex, 0);
    assert!(count(&steps, "can_split_folio") >= 1);
    assert_eq!(count(&steps, "folio_ref_freeze+__split_huge_page"), 0);
    assert_eq!(count(&steps, "uv_call(unpack)"), 0);
    assert!(!ex.finished(0), "the unpack waits for the reference to go");
    let w = ex.with_world(|w| w.clone());
    assert_eq!(w.pages[0].order, 1, "still one folio");
}

/// 6.12.118 (eef88fe45ac9): -E2BIG → `folio_lock` → `split_folio` → `goto again`; the split
/// unmapped the file PTEs, so -ENXIO → `gmap_fault` → -EAGAIN; the retry imports each small
/// page. After the split every page is its own folio with the page cache's reference and
/// its mapping's.
#[test]
fn v6_12_splits_and_imports_every_page() {
    let m = model(
        vec![("vcpu", vec![unpack()])],
        kernel("debian-6.12.118", &[]),
    );
    let mut ex = Execution::start(m.instance(), true);
    let steps = run_alone(&mut ex, 0);
    assert!(ex.finished(0));
    assert_eq!(count(&steps, "folio_ref_freeze+__split_huge_page"), 1);
    assert_eq!(count(&steps, "uv_call(unpack)"), 2);
    let w = ex.with_world(|w| w.clone());
    for (p, byte) in [(0, 0x41u8), (1, 0x42)] {
        assert_eq!((w.pages[p].order, w.pages[p].head), (0, None));
        assert_eq!(w.pages[p].refcount, 2, "P{p}: cache + mapping");
        assert_eq!(w.uv[p].state, UvState::Secure { guest: 0, gfn: p });
        assert_eq!(w.pages[p].data, [byte; PAGE_BYTES]);
    }
    assert!(at_end(&m, &w).is_empty());
}

/// 6.1.192 (the v6.10 folio conversion, 6.1.103): a large folio → -EINVAL, no reference,
/// no split: the unpack stops at its first page, and QEMU (`s390_machine_protect`,
/// vmm.rs) unprotects the VM: `KVM_PV_DISABLE`, no verification, no guest access (the
/// guest's load is never run), nothing violated.
#[test]
fn v6_1_192_refuses_a_large_folio() {
    let m = model(
        vec![(
            "vcpu",
            vec![
                unpack(),
                ThreadOp::GuestAccess {
                    gfn: 0,
                    write: None,
                },
            ],
        )],
        kernel("v6.1.192", &[]),
    );
    let mut ex = Execution::start(m.instance(), true);
    let steps = run_alone(&mut ex, 0);
    assert!(ex.finished(0));
    assert_eq!(count(&steps, "uv_call(unpack)"), 0);
    assert_eq!(count(&steps, "can_split_folio"), 0);
    let teardown = |s: &&StepRecord| s.frames.contains(&"s390_machine_unprotect");
    let before: Vec<_> = steps.iter().take_while(|s| !teardown(s)).collect();
    assert_eq!(
        before.iter().filter(|s| s.name == "get_page").count(),
        0,
        "the refusal takes no reference"
    );
    assert!(steps.iter().any(|s| teardown(&s)), "KVM_PV_DISABLE");
    assert_eq!(count(&steps, "KVM_PV_VERIFY: uv_cmd_nodata(VERIFY_IMG)"), 0);
    assert_eq!(
        count(&steps, "guest load"),
        0,
        "the protected guest never runs"
    );
    assert!(steps.iter().all(|s| s.findings.is_empty()));
    let w = ex.with_world(|w| w.clone());
    assert!(at_end(&m, &w).is_empty());
}

/// v5.7 (`make_secure_pte`): no large-folio test; `page_ref_freeze` of the head's count
/// (the whole folio's, 4) at `expected_page_refs` (2) fails: -EBUSY, drains, -EAGAIN, and
/// the unpack can only wait.
#[test]
fn v5_7_freezes_the_page_count_and_never_gets_through() {
    let m = model(vec![("vcpu", vec![unpack()])], kernel("v5.7", &[]));
    let mut ex = Execution::start(m.instance(), true);
    let steps = run_alone(&mut ex, 0);
    assert!(!ex.finished(0));
    assert!(count(&steps, "page_ref_freeze") >= 1);
    assert_eq!(count(&steps, "uv_call(unpack)"), 0);
}

/// v6.14 (d8dfda5af0be): `s390_wiggle_split_folio` splits and returns 0, `make_hva_secure`
/// returns it, `unpack_one` reports gfn 0 done although it was never unpacked:
/// import-completeness. With 3ec8a8330a1a (`wiggle_split_eagain`, v6.16) the 0 becomes
/// -EAGAIN, the retry faults the page in and imports it: nothing is violated.
#[test]
fn v6_14_skips_the_split_page_v6_16_retries() {
    // The ioctl's lie is reported where it returns (KVM_PV_VERIFY then fails: the UV never
    // unpacked gfn 0) and QEMU unprotects the VM — the guest's load never runs, so the lie
    // costs the boot, not the guest's data (vmm.rs).
    for (k, want) in [
        (kernel("v6.14", &[]), vec!["import-completeness"]),
        (kernel("v6.14", &[("wiggle_split_eagain", "true")]), vec![]),
        (kernel("v6.16", &[]), vec![]),
        (kernel("v7.0", &[]), vec![]),
    ] {
        let m = model(
            vec![(
                "vcpu",
                vec![
                    unpack(),
                    ThreadOp::GuestAccess {
                        gfn: 0,
                        write: None,
                    },
                ],
            )],
            k,
        );
        let mut ex = Execution::start(m.instance(), true);
        let steps = run_alone(&mut ex, 0);
        assert!(ex.finished(0));
        assert_eq!(count(&steps, "folio_ref_freeze+__split_huge_page"), 1);
        let found: Vec<_> = steps
            .iter()
            .flat_map(|s| s.findings.iter().map(|f| f.property))
            .collect();
        assert_eq!(found, want);
        let w = ex.with_world(|w| w.clone());
        assert!(at_end(&m, &w).is_empty());
        assert_eq!(
            w.guest[0].unpacked,
            want.is_empty(),
            "the UV unpacked gfn 0"
        );
        assert_eq!(count(&steps, "guest load"), usize::from(want.is_empty()));
        let secure = matches!(w.uv[0].state, UvState::Secure { .. });
        assert_eq!(secure, want.is_empty(), "gfn 0 secure iff the guest runs");
    }
}

/// A 2-page file whose page cache holds ONE dirty folio of order 1 with iomap's private data
/// (`[[file]] private`), mapped MAP_SHARED writable by QEMU's protected mm (the write fault
/// dirtied it).
fn iomap_model(threads: Vec<(&str, Vec<ThreadOp>)>, k: Kernel) -> KernelModel {
    let mut b = folio_guest();
    b.file_private(0).expect("private");
    for (name, ops) in threads {
        b.thread(name, ops.into_iter().map(OpCall::from).collect())
            .expect("thread builds");
    }
    b.model(k)
}

/// The set-up of `[[file]] private`: PG_private and its reference on the head
/// (`folio_attach_private`), the folio dirty (a writable shared PTE); the reference balance
/// holds; the knob needs large folios and a file that writes back.
#[test]
fn iomap_private_data_is_a_reference_on_the_head() {
    let m = iomap_model(vec![], kernel("v6.16", &[]));
    let ex = Execution::start(m.instance(), true);
    let w = ex.with_world(|w| w.clone());
    assert!(w.pages[0].private && w.pages[0].dirty);
    assert_eq!(w.pages[0].refcount, 5, "2 cache + 2 mappings + private");
    assert!(at_end(&m, &w).is_empty());
    let mut b = Builder::new();
    let f = b.file("small.img", 2).expect("file");
    assert!(
        b.file_private(f).is_err(),
        "no large folios, no private data"
    );
    let mut b = Builder::new();
    let f = b.memfd("mem", 2).expect("memfd");
    b.file_folio_order(f, 1).expect("order");
    assert!(b.file_private(f).is_err(), "shmem keeps no private data");
}

/// 6.12.118 (eef88fe45ac9) and v6.14 (d8dfda5af0be): `split_folio` →
/// `filemap_release_folio` → `iomap_release_folio` refuses the dirty folio → -EBUSY →
/// -EAGAIN; the unpack retries the same folio and can only wait for someone to clean it
/// (RHEL-58218). v6.16 (ab73b29efd36, `split_dirty_writeback`): the wiggle writes the folio
/// back (`filemap_write_and_wait_range`: PG_dirty cleared, PG_writeback set and ended), the
/// second split releases the private data (its reference dropped) and works; the unpack
/// imports both pages. With the switch off on v6.16 the livelock is back.
#[test]
fn a_dirty_iomap_folio_splits_only_after_ab73b29efd36() {
    for (name, k, fixed) in [
        ("debian-6.12.118", kernel("debian-6.12.118", &[]), false),
        ("v6.14", kernel("v6.14", &[]), false),
        (
            "v6.16 without ab73b29efd36",
            kernel("v6.16", &[("split_dirty_writeback", "false")]),
            false,
        ),
        ("v6.16", kernel("v6.16", &[]), true),
        ("v7.1", kernel("v7.1", &[]), true),
    ] {
        let m = iomap_model(vec![("vcpu", vec![unpack()])], k);
        let mut ex = Execution::start(m.instance(), true);
        let steps = run_alone(&mut ex, 0);
        let refused = steps
            .iter()
            .filter(|s| s.name == "filemap_release_folio" && s.note.contains("refuses"))
            .count();
        assert!(refused >= 1, "{name}: the first split meets a dirty folio");
        assert_eq!(ex.finished(0), fixed, "{name}");
        assert_eq!(
            count(&steps, "folio_ref_freeze+__split_huge_page"),
            usize::from(fixed),
            "{name}"
        );
        assert_eq!(
            count(&steps, "TestSetPageWriteback"),
            usize::from(fixed),
            "{name}"
        );
        let w = ex.with_world(|w| w.clone());
        assert_eq!(w.pages[0].private, !fixed, "{name}: released by the split");
        if fixed {
            for p in 0..2 {
                assert_eq!(
                    w.uv[p].state,
                    UvState::Secure { guest: 0, gfn: p },
                    "{name}"
                );
            }
            assert!(at_end(&m, &w).is_empty(), "{name}");
        } else {
            assert_eq!(count(&steps, "uv_call(unpack)"), 0, "{name}");
            assert!(w.pages[0].dirty && w.pages[0].order == 1, "{name}");
        }
    }
}

/// QEMU unpacks in its machine reset and a failed unpack tears the VM down itself
/// (vmm.rs): the builder refuses a second thread that unpacks or tears down beside it.
#[test]
fn one_thread_unpacks_and_nobody_else_tears_down() {
    let unpack_thread = || vec![OpCall::from(unpack())];
    let mut b = folio_guest();
    b.thread("vcpu", unpack_thread()).expect("first");
    assert!(b.thread("vcpu2", unpack_thread()).is_err(), "two unpacks");
    let mut b = folio_guest();
    b.thread("vcpu", unpack_thread()).expect("first");
    let teardown = vec![OpCall::from(ThreadOp::PvTeardown {
        async_cleanup: false,
    })];
    assert!(
        b.thread("vmm", teardown.clone()).is_err(),
        "teardown beside"
    );
    let mut b = folio_guest();
    b.thread("vmm", teardown).expect("teardown first");
    assert!(b.thread("vcpu", unpack_thread()).is_err(), "unpack beside");
}
