//! Page reclaim of a page-cache folio (`kernel::reclaim`) against the kernel code it cites:
//! mm/vmscan.c (`isolate_lru_folios`, `shrink_folio_list`, `folio_check_references`,
//! `pageout`, `__remove_mapping`) and mm/rmap.c (`folio_referenced_one`, `try_to_unmap_one`)
//! of 6.1.192 and 6.12.118, the s390 PTE helpers (arch/s390/include/asm/pgtable.h:
//! `ptep_test_and_clear_young`, `ptep_clear_flush`). Built with the kernel crate's own
//! [`Builder`]; threads stepped alone where one path's effect is the point, DPOR where an
//! interleaving is. Each assertion is something the model could get wrong.

use super::common::*;
use explore::{Execution, Model, Outcome};
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::config::preset;
use kernel::uv::UvState;
use kernel::vocab::ops::ThreadOp;
use kernel::world::PAGE_BYTES;
use kernel::Kernel;

const QEMU: usize = 0;
const FILE: usize = 0;
const P0: usize = 0;

/// A file page in the page cache, mapped MAP_SHARED (writable PTE) at vpn 0 of QEMU's
/// protected mm when `mapped`, as guest frame 0 (secure, holding 0x11, when `secure`).
fn file_page(mapped: bool, secure: bool) -> Builder {
    let mut b = Builder::new();
    let f = b.file("guest.img", 1).expect("file");
    let qemu = b.mm("qemu", true, None).expect("mm");
    b.map(MapSpec {
        mm: qemu,
        vpn: 0,
        backing: Backing::File { file: f, index: 0 },
        shared: true,
        writable: true,
        present: mapped,
        pte_write: mapped,
    })
    .expect("map");
    b.guest(GuestSpec {
        gfn: 0,
        mm: qemu,
        vpn: 0,
        secure,
        shared: false,
        data: secure.then_some(0x11),
        image: false,
    })
    .expect("guest");
    b
}

fn reclaim(kswapd: bool) -> ThreadOp {
    ThreadOp::Reclaim {
        file: FILE,
        index: 0,
        kswapd,
    }
}

fn kernel(name: &str) -> Kernel {
    preset(name).unwrap_or_else(|| panic!("preset {name}"))
}

fn violated(o: &Outcome) -> Vec<&'static str> {
    let mut v: Vec<_> = o.violations().map(|r| r.property).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// `folio_check_references` (6.1.192): the first pass finds the PTE young, makes it old
/// (s390 `ptep_test_and_clear_young`: present, `_PAGE_INVALID`, no UV call: the page stays
/// secure), sets PG_referenced and keeps the folio; the second finds no young PTE and
/// PG_referenced set (reclaim "clean only"), unmaps it (`ptep_clear_flush`: exported in the
/// protected mm, the dirty PTE dirties the folio) and, direct reclaim, flags the dirty folio
/// PG_reclaim and activates it: still in the cache, unmapped, nothing leaked.
#[test]
fn two_passes_age_then_unmap_with_an_export() {
    let m = model(
        file_page(true, true),
        vec![("reclaim", ops(vec![reclaim(false)]))],
        kernel("v6.1"),
    );
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    let pte = w.mms[QEMU].pte(0);
    assert!(pte.present && pte.invalid, "aged, still present: {pte:?}");
    assert!(
        matches!(w.uv[P0].state, UvState::Secure { .. }),
        "no export"
    );
    assert!(w.pages[P0].referenced && w.pages[P0].mapcount == 1);
    assert_eq!(position(&steps, "ptep_clear_flush"), None);

    let m = model(
        file_page(true, true),
        vec![("reclaim", ops(vec![reclaim(false), reclaim(false)]))],
        kernel("v6.1"),
    );
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert!(!w.mms[QEMU].pte(0).present);
    assert_eq!(w.uv[P0].state, UvState::NonSecure);
    assert!(w.uv[P0].sealed.is_some(), "exported: the UV keeps the seal");
    assert!(!w.pages[P0].arch1, "6.1: the owned export clears PG_arch_1");
    let pg = &w.pages[P0];
    assert!(pg.dirty && pg.reclaim && !pg.writeback && !pg.free);
    assert_eq!(pg.mapping, Some((FILE, 0)));
    assert_eq!(
        (pg.mapcount, pg.refcount),
        (0, 1),
        "only the cache's reference"
    );
    assert_eq!(position(&steps, "pageout"), None);
}

/// kswapd with the node dirty (6.1.192 `shrink_folio_list`): a dirty folio already flagged
/// PG_reclaim is written out — `pageout` → `folio_start_writeback` sets PG_writeback and
/// calls the hook before the disk reads the page (here already exported at the unmap, so the
/// disk reads ciphertext) —, the next pass frees the clean folio through `__remove_mapping`
/// (freeze at 1 + 1, slot emptied) and a guest read faults it back from the disk and
/// imports it with the guest's data intact. With `reclaim_fs_writeout = false` (the 2025
/// reclaim) the dirty folio is activated instead.
#[test]
fn kswapd_writes_out_frees_and_the_guest_reads_it_back() {
    let passes = vec![reclaim(false), reclaim(true), reclaim(true), reclaim(true)];
    let vcpu = ops(vec![ThreadOp::GuestAccess {
        gfn: 0,
        write: None,
    }]);
    let m = model(
        file_page(true, true),
        vec![("kswapd", ops(passes.clone())), ("vcpu", vcpu.clone())],
        kernel("v6.1"),
    );
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new(), "the guest reads 0x11");
    let export = position(&steps, "ptep_clear_flush").expect("unmapped");
    let wb = position(&steps, "TestSetPageWriteback").expect("written out");
    let disk = position(&steps, "dma_read (disk write-out)").expect("bio");
    let freeze = position(&steps, "page_ref_freeze").expect("__remove_mapping");
    let free = position(&steps, "free_unref_page_list").expect("freed");
    assert!(export < wb && wb < disk && disk < freeze && freeze < free);
    let block = w.files[FILE].disk[0].expect("the disk holds the block");
    assert!(block.sealed.is_some(), "ciphertext with its seal");
    assert_ne!(
        block.data, [0x11; PAGE_BYTES],
        "the disk never saw plaintext"
    );
    // The frame was freed and reused for the refault, which imported it.
    assert_eq!(w.files[FILE].cache[0], Some(P0));
    assert_eq!(w.pages[P0].generation, 1);
    assert!(matches!(w.uv[P0].state, UvState::Secure { .. }));
    assert_eq!(w.pages[P0].data, [0x11; PAGE_BYTES]);

    let m = model(
        file_page(true, true),
        vec![("kswapd", ops(passes))],
        with("v6.1", &[("reclaim_fs_writeout", "false")]),
    );
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert_eq!(position(&steps, "TestSetPageWriteback"), None);
    assert!(w.pages[P0].dirty && !w.pages[P0].free);
}

/// `__remove_mapping`'s freeze at 1 + nr fails while anyone else holds a reference (a
/// page-cache lookup here): the clean, unmapped folio stays in the cache, nothing is lost.
/// Without the other reference the same pass frees it.
#[test]
fn remove_mapping_freeze_fails_on_another_reference() {
    let reader = ops(vec![
        ThreadOp::FindGetPage {
            file: FILE,
            index: 0,
        },
        ThreadOp::Put {},
    ]);
    let m = model(
        file_page(false, false),
        vec![("reader", reader), ("reclaim", ops(vec![reclaim(false)]))],
        kernel("v6.12"),
    );
    let mut ex = Execution::start(m.instance(), true);
    // The reader takes its reference (lookup, speculative get, re-check).
    while ex.with_world(|w| w.held[0].is_empty()) {
        ex.step(0);
    }
    let mut failed = false;
    while !ex.finished(1) {
        let r = ex.step(1);
        failed |= r.name == "page_ref_freeze" && r.note.contains("fails");
    }
    assert!(failed, "the freeze meets the reader's reference");
    while !ex.finished(0) {
        ex.step(0);
    }
    ex.with_world(|w| {
        assert_eq!(w.files[FILE].cache[0], Some(P0));
        assert!(!w.pages[P0].free);
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0));
    });
    let m = model(
        file_page(false, false),
        vec![("reclaim", ops(vec![reclaim(false)]))],
        kernel("v6.12"),
    );
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert!(w.pages[P0].free && w.files[FILE].cache[0].is_none());
}

/// A folio still on a per-CPU LRU batch is not on the LRU (`folio_test_clear_lru` fails in
/// `isolate_lru_folios`): the pass puts its reference back and touches nothing else.
#[test]
fn a_folio_on_an_lru_batch_is_not_isolated() {
    let m = model(
        file_page(false, false),
        vec![
            (
                "lru",
                ops(vec![ThreadOp::LruAdd {
                    file: FILE,
                    index: 0,
                }]),
            ),
            ("reclaim", ops(vec![reclaim(false)])),
        ],
        kernel("v6.12"),
    );
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert_eq!(position(&steps, "trylock_page"), None);
    assert!(!w.pages[P0].free && w.files[FILE].cache[0] == Some(P0));
}

/// v5.7 … v5.10 (`unmap_checks_young`): a PTE made young again after `folio_referenced`
/// (here by the guest's load, whose host fault makes it young: `ptep_set_access_flags`)
/// makes `try_to_unmap_one` give up — no PTE cleared, no export; from v5.11 the unmap goes
/// ahead.
#[test]
fn unmap_gives_up_on_a_young_pte_before_v5_11() {
    for (name, unmapped) in [("v5.7", false), ("v6.1", true)] {
        let vcpu = ops(vec![ThreadOp::GuestAccess {
            gfn: 0,
            write: None,
        }]);
        let m = model(
            file_page(true, true),
            vec![
                ("reclaim", ops(vec![reclaim(false), reclaim(false)])),
                ("vcpu", vcpu),
            ],
            kernel(name),
        );
        let mut ex = Execution::start(m.instance(), true);
        // The second pass up to its unmap: folio_referenced left the PTE old.
        let mut passes = 0;
        while passes < 2 {
            if ex.step(0).name == "folio_test_clear_referenced" {
                passes += 1;
            }
        }
        let mut young = false;
        while !ex.finished(1) {
            young |= ex.step(1).name == "ptep_set_access_flags";
        }
        assert!(young, "{name}: the guest's fault made the PTE young");
        while !ex.finished(0) {
            ex.step(0);
        }
        ex.with_world(|w| {
            assert_eq!(!w.mms[QEMU].pte(0).present, unmapped, "{name}");
            assert_eq!(
                w.uv[P0].state == UvState::NonSecure,
                unmapped,
                "{name}: export only with the unmap"
            );
        });
    }
}

/// Reclaim against the vCPU importing the page, every interleaving, on every release's
/// import: two passes of direct reclaim (aging, then the unmap with its export, the dirty
/// folio flagged and kept) never meet an import they could break — 6.12.118's importer
/// trylocks under the PTE lock, v5.7's sleeps in `lock_page` on a folio that stays in the
/// cache —, and the guest reads back what it wrote (the exported image stays in the folio
/// with its seal and is imported again): verified on every preset. The v6.14-rc1 flow
/// (`gfn_to_page`: no PTE lock), v7.0's (the new gmap's fault-in walk: none either) and
/// v7.1's (the PTE lock trylocked but the PTE not re-checked) can reach the UV call after the
/// aging made the PTE old (`_PAGE_INVALID`): the UV answers rc 0x10a, `-ENXIO`, the page is
/// faulted in and the retry imports it — benign, not `import-precondition` (issue 26 item 8).
#[test]
fn direct_reclaim_against_the_import_is_verified() {
    let vcpu = ops(vec![
        ThreadOp::GuestAccess {
            gfn: 0,
            write: Some(0x5a),
        },
        ThreadOp::GuestAccess {
            gfn: 0,
            write: None,
        },
    ]);
    for name in kernel::vocab::presets::PRESETS.iter().map(|p| p.name) {
        let m = model(
            file_page(true, false),
            vec![
                ("vcpu", vcpu.clone()),
                ("reclaim", ops(vec![reclaim(false), reclaim(false)])),
            ],
            kernel(name),
        );
        assert_eq!(violated(&explore_states(&m)), Vec::<&str>::new(), "{name}");
    }
}

/// v5.7 … v6.3's importer (`gmap_make_secure`: `follow_page` without a reference, then
/// `lock_page`) sleeps on the folio reclaim holds; kswapd unmaps it, writes it out and a
/// later pass frees it (`__remove_mapping` freezes 1 + 1: the importer holds nothing), and
/// the importer wakes on a freed page — the use-after-free of kernel-notes W3, here through
/// reclaim. The schedule: reclaim's second pass past its aging, the vCPU's fault making the
/// PTE young and its import blocking in `lock_page`, then reclaim to the end.
#[test]
fn kswapd_frees_the_folio_the_v5_7_importer_sleeps_on() {
    for name in ["v5.7", "v6.1"] {
        let vcpu = ops(vec![ThreadOp::GuestAccess {
            gfn: 0,
            write: Some(0x5a),
        }]);
        let mut passes = vec![reclaim(false)];
        passes.extend((0..4).map(|_| reclaim(true)));
        let m = model(
            file_page(true, false),
            vec![("kswapd", ops(passes)), ("vcpu", vcpu)],
            kernel(name),
        );
        let mut ex = Execution::start(m.instance(), true);
        let mut checked = 0;
        while checked < 2 {
            if ex.step(0).name == "folio_test_clear_referenced" {
                checked += 1;
            }
        }
        let mut blocked_in_lock_page = false;
        while ex.enabled(1) {
            ex.step(1);
        }
        ex.with_world(|w| {
            blocked_in_lock_page = w.pages[P0].locked_by == Some(0) && !w.pages[P0].free;
        });
        assert!(
            blocked_in_lock_page,
            "{name}: the import waits for the folio lock"
        );
        let mut freed = false;
        while !ex.finished(0) {
            freed |= ex.step(0).name == "free_unref_page_list";
        }
        assert!(freed, "{name}: reclaim freed the folio");
        let mut uaf = false;
        while !ex.finished(1) {
            let r = ex.step(1);
            uaf |= r.findings.iter().any(|f| f.property == "use-after-free");
            if uaf {
                break;
            }
        }
        assert!(uaf, "{name}: the importer's lock_page on the freed page");
    }
    // 6.12.118's importer never sleeps on the lock: the same start, and its trylock fails.
    let vcpu = ops(vec![ThreadOp::GuestAccess {
        gfn: 0,
        write: Some(0x5a),
    }]);
    let m = model(
        file_page(true, false),
        vec![
            ("kswapd", ops(vec![reclaim(false), reclaim(true)])),
            ("vcpu", vcpu),
        ],
        kernel("v6.12"),
    );
    let mut ex = Execution::start(m.instance(), true);
    let mut checked = 0;
    while checked < 2 {
        if ex.step(0).name == "folio_test_clear_referenced" {
            checked += 1;
        }
    }
    let mut trylock_failed = false;
    for _ in 0..200 {
        if !ex.enabled(1) || ex.finished(1) {
            break;
        }
        let r = ex.step(1);
        trylock_failed |= r.name == "trylock_page" && r.note.contains("already locked");
    }
    assert!(trylock_failed, "v6.12: folio_trylock fails, -EAGAIN");
}
