//! Swap of anonymous guest RAM (`kernel::swap`) against the kernel code it cites:
//! mm/vmscan.c (`shrink_folio_list`, `pageout`, `__remove_mapping`), mm/swap_state.c
//! (`add_to_swap`, `__read_swap_cache_async`), mm/rmap.c (`try_to_unmap_one`), mm/memory.c
//! (`do_swap_page`, `do_wp_page`, `wp_page_copy`) of 6.1.192 and 6.12.118 and the earlier
//! `anon_reuse` eras, with the s390 `ptep_clear_flush` export and `expected_folio_refs`
//! counting the swap cache. Threads run alone or one after the other where one path's effect
//! is the point; every interleaving where the race is. Each assertion is something the model
//! could get wrong.

use super::common::*;
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::uv::UvState;
use kernel::vocab::ops::ThreadOp;
use kernel::world::{Swp, PAGE_BYTES};

const QEMU: usize = 0;
const P0: usize = 0;
const P1: usize = 1;

/// Anonymous guest RAM at vpn 0 of QEMU's protected mm, guest frame 0, secure and holding
/// 0x11 when `secure`; two spare frames (the swap-in's page, a copy).
fn anon_page(secure: bool) -> Builder {
    let mut b = Builder::new();
    let qemu = b.mm("qemu", true, None).expect("mm");
    b.map(MapSpec {
        mm: qemu,
        vpn: 0,
        backing: Backing::Anon,
        shared: false,
        writable: true,
        present: true,
        pte_write: true,
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
    b.spare_frames(2).expect("spares");
    b
}

fn reclaim() -> ThreadOp {
    ThreadOp::ReclaimAnon { mm: QEMU, vpn: 0 }
}

fn guest(write: Option<u8>) -> ThreadOp {
    ThreadOp::GuestAccess { gfn: 0, write }
}

fn count(steps: &[explore::runtime::StepRecord], name: &str) -> usize {
    steps.iter().filter(|s| s.name == name).count()
}

/// Three passes over a secure page (every release alike): the first finds the PTE young
/// (`folio_referenced`: kept), the second adds it to the swap cache, unmaps it — the export
/// at `ptep_clear_flush` before the swap entry is set — and writes it out (PG_writeback set
/// before the hook; the device reads ciphertext), the third frees it with the freeze at
/// 1 + 1 (isolation and swap cache). The swap entry holds the slot's count; the slot holds
/// the exported image with the UV's integrity data, never the plaintext.
#[test]
fn three_passes_age_write_out_and_free() {
    for k in ["v5.7", "v6.1.192", "v6.12"] {
        let m = model(
            anon_page(true),
            vec![("kswapd", ops(vec![reclaim(), reclaim(), reclaim()]))],
            kernel(k),
        );
        let (steps, w, finished) = run_alone(&m, 0);
        assert!(finished, "{k}");
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{k}");
        assert_eq!(count(&steps, "add_to_swap_cache"), 1, "{k}: added once");
        let export = position(&steps, "uv_convert_from_secure").expect("exported");
        let entry = position(&steps, "set_pte_at(swap entry)").expect("entry");
        let wb = position(&steps, "TestSetPageWriteback").expect("written out");
        let io = position(&steps, "dma_read (swap write-out)").expect("the bio");
        let freeze = position(&steps, "page_ref_freeze").expect("freeze");
        assert!(
            export < entry && entry < wb && wb < io && io < freeze,
            "{k}"
        );
        assert!(
            steps[freeze].note.contains("page_ref_freeze(P0, 2) ok"),
            "{k}: {}",
            steps[freeze].note
        );
        assert_eq!(w.mms[QEMU].pte(0).swp, Some(Swp::Swap { slot: 0 }), "{k}");
        assert!(w.pages[P0].free, "{k}: freed");
        assert_eq!(w.uv[P0].state, UvState::NonSecure, "{k}: freed non-secure");
        let s = w.swap[0];
        assert_eq!((s.count, s.cache), (1, None), "{k}");
        let block = s.block.expect("written");
        assert!(block.sealed.is_some(), "{k}: the integrity data goes along");
        assert_ne!(
            block.data, [0x11; PAGE_BYTES],
            "{k}: no plaintext on the device"
        );
    }
}

/// A fresh fault's page (`do_anonymous_page` → `lru_cache_add`) sits on the per-CPU LRU
/// batch: `folio_test_clear_lru` finds it off the LRU and the pass puts it back untouched
/// (no swap slot, the PTE kept); after `lru_add_drain` three passes swap it out.
#[test]
fn a_page_on_the_lru_batch_is_not_isolated() {
    let mut b = Builder::new();
    let qemu = b.mm("qemu", true, None).expect("mm");
    b.map(MapSpec {
        mm: qemu,
        vpn: 0,
        backing: Backing::Anon,
        shared: false,
        writable: true,
        present: false,
        pte_write: true,
    })
    .expect("map");
    b.spare_frames(2).expect("spares");
    let fault_in = || {
        vec![
            ThreadOp::Gup {
                mm: QEMU,
                vpn: 0,
                flags: kernel::vocab::ops::GupFlags(kernel::vocab::ops::GupFlags::FOLL_GET),
                fast: false,
                write: true,
                nr_pages: 1,
            },
            ThreadOp::Put {},
        ]
    };
    for drain in [false, true] {
        let mut qemu_ops = fault_in();
        if drain {
            qemu_ops.push(ThreadOp::LruDrain {});
        }
        let m = model(
            b.clone(),
            vec![
                ("qemu", ops(qemu_ops)),
                ("kswapd", ops(vec![reclaim(), reclaim(), reclaim()])),
            ],
            kernel("v6.12"),
        );
        let (steps, w) = run_in_order(&m);
        assert_eq!(findings(&steps), Vec::<&str>::new());
        if drain {
            assert_eq!(w.mms[QEMU].pte(0).swp, Some(Swp::Swap { slot: 0 }));
            assert_eq!(count(&steps, "add_to_swap_cache"), 1);
        } else {
            assert_eq!(count(&steps, "add_to_swap_cache"), 0);
            assert!(steps
                .iter()
                .any(|s| s.name == "folio_test_clear_lru" && s.note.contains("LRU batch")));
            let pte = w.mms[QEMU].pte(0);
            assert!(pte.present && pte.page == Some(P0), "{pte:?}");
        }
    }
}

/// The fault back after the page was swapped out and freed, per `anon_reuse` era: the guest
/// read faults it in read-only from the device into a new page in the swap cache (on the
/// LRU batch); the guest's touch finds it non-secure, the import answers `-ENXIO` (the PTE
/// is not writable) and its write fault runs `do_wp_page`:
/// * v6.12 (`anon-exclusive`): reused in place, still in the swap cache; the import's
///   `expected_folio_refs` counts the swap cache (mapcount 1 + 1), the batch's reference
///   makes the first freeze fail (-EBUSY, drain), the second succeeds at 2;
/// * v5.7 (`reuse-swap-page`): `reuse_swap_page` deletes it from the swap cache (no swap
///   PTE holds the slot any more), then reuse: the freeze succeeds at 1;
/// * v5.15 (`page-count`): the swap cache's and the batch's references make the count 3:
///   `wp_page_copy` maps a copy (P1); the swapped-in page stays in the swap cache, unmapped.
///
/// In each the guest reads back what it had (the exported image decrypts and verifies).
#[test]
fn the_fault_back_per_release() {
    for (k, mapped, in_cache) in [
        ("v6.12", P0, true),
        ("v6.1.192", P0, true),
        ("v5.7", P0, false),
        ("v5.15", P1, false),
    ] {
        let m = model(
            anon_page(true),
            vec![
                ("kswapd", ops(vec![reclaim(), reclaim(), reclaim()])),
                ("vcpu", ops(vec![guest(None)])),
            ],
            kernel(k),
        );
        let (steps, w) = run_in_order(&m);
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{k}");
        assert!(
            position(&steps, "dma_write (swap read)").is_some(),
            "{k}: read in"
        );
        let pte = w.mms[QEMU].pte(0);
        assert_eq!(
            (pte.present, pte.write, pte.page, pte.swp),
            (true, true, Some(mapped), None),
            "{k}"
        );
        assert!(
            matches!(w.uv[mapped].state, UvState::Secure { gfn: 0, .. }),
            "{k}"
        );
        assert_eq!(w.pages[mapped].data, [0x11; PAGE_BYTES], "{k}");
        assert_eq!(w.pages[mapped].swapcache, in_cache, "{k}");
        assert_eq!(w.pages[mapped].refcount, w.accounted_refs(mapped), "{k}");
        if in_cache {
            assert_eq!(
                w.expected_page_refs(mapped),
                2,
                "{k}: the swap cache counted"
            );
            assert!(steps
                .iter()
                .any(|s| s.name == "page_ref_freeze" && s.note.contains("(P0, 2) ok")));
            assert_eq!(w.swap[0].cache, Some(P0), "{k}");
        }
        if k == "v5.15" {
            assert!(position(&steps, "copy_user_highpage").is_some());
            assert!(
                w.pages[P0].swapcache && !w.pages[P0].free,
                "the original stays cached"
            );
            assert_eq!(w.pages[P0].mapcount, 0);
            assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0));
        } else {
            assert_eq!(position(&steps, "copy_user_highpage"), None, "{k}");
        }
    }
}

/// A write fault on the swap entry: v6.12 maps the exclusive page writable at once (no
/// `do_wp_page`) and keeps it in the swap cache while the batch holds a reference
/// (`should_try_to_free_swap` wants the count at 2); v5.7's `reuse_swap_page` deletes it
/// from the swap cache before mapping it writable. The slot's swap count is gone in both.
#[test]
fn a_write_fault_on_the_swap_entry() {
    for (k, in_cache) in [("v6.12", true), ("v5.7", false)] {
        let m = model(
            anon_page(true),
            vec![
                ("kswapd", ops(vec![reclaim(), reclaim(), reclaim()])),
                ("vcpu", ops(vec![guest(Some(0x22)), guest(None)])),
            ],
            kernel(k),
        );
        let (steps, w) = run_in_order(&m);
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{k}");
        assert_eq!(
            position(&steps, "wp_page_reuse"),
            None,
            "{k}: writable at once"
        );
        let map = steps
            .iter()
            .find(|s| s.name == "do_swap_page: set_pte_at")
            .expect("swapped in");
        assert!(map.note.contains("writable"), "{k}: {}", map.note);
        assert_eq!(w.pages[P0].swapcache, in_cache, "{k}");
        assert_eq!(w.swap[0].count, 0, "{k}");
        assert_eq!(w.pages[P0].data, [0x22; PAGE_BYTES], "{k}");
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0), "{k}");
    }
}

/// Every interleaving of the vCPU's write and read against three passes of reclaim: v5.7's
/// import (follow_page without a reference, then `lock_page`) can sleep on the folio lock
/// reclaim holds and take it on the page `__remove_mapping` freed (use-after-free:
/// kernel-notes W3); 6.12's (PTE lock, trylock) meets the isolation or swap cache
/// reference, the lock, PG_writeback or the swap entry, never a freed page, and the guest
/// always reads back what it wrote.
#[test]
fn against_the_import_v5_7_uses_a_freed_page_and_6_12_does_not() {
    let vcpu = ops(vec![guest(Some(0x5a)), guest(None)]);
    let threads = || {
        vec![
            ("vcpu", vcpu.clone()),
            ("kswapd", ops(vec![reclaim(), reclaim(), reclaim()])),
        ]
    };
    let o = explore_states(&model(anon_page(false), threads(), kernel("v5.7")));
    assert!(
        violated(&o).contains(&"use-after-free"),
        "{:?}",
        violated(&o)
    );
    let o = explore_states(&model(anon_page(false), threads(), kernel("v6.12")));
    assert_eq!(violated(&o), Vec::<&str>::new());
}

/// `reclaim-anon` beside `zap` or `migrate` is refused (the zap of a swap entry and the
/// migration of a swap-cache folio are not modelled), in either thread order.
#[test]
fn swap_with_zap_or_migrate_is_refused() {
    for other in [
        ThreadOp::Zap { mm: QEMU, vpn: 0 },
        ThreadOp::Migrate {
            mm: QEMU,
            vpn: 0,
            sync: false,
        },
    ] {
        let mut b = anon_page(false);
        b.thread("a", ops(vec![other.clone()]))
            .expect("alone it builds");
        let e = b.thread("b", ops(vec![reclaim()])).expect_err("refused");
        assert!(e.to_string().contains("not modelled"), "{e}");
        let mut b = anon_page(false);
        b.thread("b", ops(vec![reclaim()]))
            .expect("alone it builds");
        assert!(b.thread("a", ops(vec![other])).is_err());
    }
}

/// Two faults on one swap entry (a GUP of QEMU's and the vCPU's): the GUP's fault reads the
/// page into the swap cache and holds it locked for the read; the vCPU's fault finds it there
/// (`swap_cache_get_folio`: a reference, no second read), sleeps on the folio lock, and once
/// the GUP's fault has mapped it finds the PTE changed (`pte_same` fails: `out_nomap`, its
/// reference put, the fault returns 0). While the GUP holds its reference the import cannot
/// freeze the page (expected: mapcount + the swap cache); after the put it imports and the
/// guest reads its data back.
#[test]
fn a_second_fault_finds_the_page_in_the_swap_cache() {
    use explore::{Execution, Model};
    use kernel::vocab::ops::GupFlags;
    let gup = ops(vec![
        ThreadOp::Gup {
            mm: QEMU,
            vpn: 0,
            flags: GupFlags(GupFlags::FOLL_GET),
            fast: false,
            write: false,
            nr_pages: 1,
        },
        ThreadOp::Put {},
    ]);
    let m = model(
        anon_page(true),
        vec![
            ("kswapd", ops(vec![reclaim(), reclaim(), reclaim()])),
            ("qemu", gup),
            ("vcpu", ops(vec![guest(None)])),
        ],
        kernel("v6.12"),
    );
    let mut ex = Execution::start(m.instance(), true);
    let step = |ex: &mut Execution<_>, t: usize| {
        let r = ex.step(t);
        assert!(r.findings.is_empty(), "{}: {:?}", r.name, r.findings);
        r
    };
    while !ex.finished(0) {
        step(&mut ex, 0);
    }
    // The GUP's fault: up to the new page in the swap cache, locked for the read.
    while !ex.with_world(|w| w.swap[0].cache.is_some()) {
        step(&mut ex, 1);
    }
    let p = ex.with_world(|w| w.swap[0].cache.expect("cached"));
    let mut hit = false;
    while ex.enabled(2) {
        let r = step(&mut ex, 2);
        hit |= r.name == "xas_load" && r.note.contains(&format!("-> P{p}"));
    }
    assert!(hit, "the vCPU's fault found the page in the swap cache");
    assert!(!ex.finished(2), "it sleeps on the folio lock");
    ex.with_world(|w| {
        assert_eq!(w.pages[p].locked_by, Some(1));
        assert_eq!(
            w.pages[p].refcount,
            w.accounted_refs(p),
            "the lookup's reference held"
        );
    });
    // The GUP's fault maps the page and its grab holds a reference (the PTE lock released);
    // not the put yet.
    let held = |w: &kernel::World| {
        w.mms[QEMU].pte(0).present
            && w.held[1].iter().any(|h| h.page == p)
            && w.mms[QEMU].ptl_held.is_empty()
    };
    while !ex.with_world(held) {
        step(&mut ex, 1);
    }
    let mut nomap = false;
    while ex.enabled(2) && !ex.finished(2) {
        let r = step(&mut ex, 2);
        nomap |= r.name == "pte_same" && r.note.contains(&format!("pte -> P{p}"));
    }
    assert!(
        nomap,
        "the vCPU's fault saw the PTE changed under the PTE lock"
    );
    ex.with_world(|w| {
        assert_ne!(
            w.uv[p].state,
            UvState::Secure { guest: 0, gfn: 0 },
            "not imported while the GUP holds its reference"
        );
        assert!(w.pages[p].swapcache);
    });
    while !ex.finished(1) {
        step(&mut ex, 1);
    }
    while !ex.finished(2) {
        step(&mut ex, 2);
    }
    ex.with_world(|w| {
        assert!(matches!(w.uv[p].state, UvState::Secure { gfn: 0, .. }));
        assert_eq!(w.pages[p].data, [0x11; PAGE_BYTES]);
        assert_eq!(w.pages[p].refcount, w.accounted_refs(p));
    });
}

/// A write fault on a page still in the swap cache (written out, not yet freed: two passes):
/// the lookup finds it (no read), and with only the cache's and the lookup's references
/// (`folio_ref_count == 2`) `should_try_to_free_swap` holds: `folio_free_swap` deletes it
/// from the swap cache (the slot's swap count is gone after `swap_free`) and it is mapped
/// writable — v6.12 (`anon-exclusive`) and v5.18 (`free-swap`, writable at count 1 after the
/// free) alike; v5.7's `reuse_swap_page` deletes it too.
#[test]
fn a_write_fault_frees_the_swap_cache_of_a_page_found_there() {
    for k in ["v6.12", "v5.18", "v5.7"] {
        let m = model(
            anon_page(true),
            vec![
                ("kswapd", ops(vec![reclaim(), reclaim()])),
                ("vcpu", ops(vec![guest(Some(0x22))])),
            ],
            kernel(k),
        );
        let (steps, w) = run_in_order(&m);
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{k}");
        assert_eq!(
            position(&steps, "dma_write (swap read)"),
            None,
            "{k}: no read"
        );
        let map = steps
            .iter()
            .find(|s| s.name == "do_swap_page: set_pte_at")
            .expect("swapped in");
        assert!(map.note.contains("writable"), "{k}: {}", map.note);
        assert_eq!(w.mms[QEMU].pte(0).page, Some(P0), "{k}: the same page");
        assert!(!w.pages[P0].swapcache, "{k}: deleted from the swap cache");
        assert!(w.swap[0].is_free(), "{k}: the slot is free");
        assert_eq!(w.pages[P0].data, [0x22; PAGE_BYTES], "{k}");
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0), "{k}");
    }
}
