//! Page migration of anonymous guest RAM (`kernel::migrate`) against the kernel code it cites:
//! mm/migrate.c (`migrate_pages`, `migrate_pages_batch`, `migrate_folio_unmap`,
//! `migrate_folio_move`, `folio_migrate_mapping`, `remove_migration_pte`,
//! `migration_entry_wait`) and mm/rmap.c (`try_to_migrate_one`) of 6.1.192 and 6.12.118, with
//! the s390 `ptep_clear_flush` export. Threads stepped alone where one path's effect is the
//! point, in a chosen order where an interleaving is. Each assertion is something the model
//! could get wrong.

use super::common::*;
use explore::{Execution, Model};
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::uv::UvState;
use kernel::vocab::ops::{GupFlags, ThreadOp};
use kernel::world::{Pte, Swp, PAGE_BYTES};

const QEMU: usize = 0;
const P0: usize = 0;
const P1: usize = 1;

/// Anonymous guest RAM at vpn 0 of QEMU's protected mm, guest frame 0, secure and holding
/// 0x11 when `secure`; two spare frames (the migration target, and a fault's page).
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

fn migrate() -> ThreadOp {
    ThreadOp::Migrate {
        mm: QEMU,
        vpn: 0,
        sync: false,
    }
}

fn read_gfn0() -> ThreadOp {
    ThreadOp::GuestAccess {
        gfn: 0,
        write: None,
    }
}

fn count(steps: &[explore::runtime::StepRecord], name: &str) -> usize {
    steps.iter().filter(|s| s.name == name).count()
}

/// One migration of a secure page (6.1.192 and 6.12.118 alike): `ptep_clear_flush` exports
/// it under the PTE lock before the migration entry is set, the reference check finds the
/// isolation reference alone, the CPU copies the exported image (ciphertext with the UV's
/// integrity data) to the new page, `remove_migration_pte` maps it writable and the old page
/// is freed — non-secure. The guest's next read imports the new page and gets its data back.
#[test]
fn migration_exports_copies_and_the_guest_reads_its_data_back() {
    for k in ["v6.1.192", "v6.12"] {
        let m = model(
            anon_page(true),
            vec![
                ("kcompactd", ops(vec![migrate()])),
                ("vcpu", ops(vec![read_gfn0()])),
            ],
            kernel(k),
        );
        let (steps, w) = run_in_order(&m);
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{k}");
        let export = position(&steps, "uv_convert_from_secure").expect("exported");
        let entry = position(&steps, "set_pte_at(migration entry)").expect("entry");
        let check = position(&steps, "folio_ref_count == expected").expect("check");
        let copy = position(&steps, "copy_highpage").expect("copied");
        let map = position(&steps, "remove_migration_pte").expect("mapped");
        assert!(
            export < entry && entry < check && check < copy && copy < map,
            "{k}"
        );
        assert_eq!(count(&steps, "alloc_page"), 1, "{k}: one pass");
        // The new page is mapped and was imported by the read; the old one is free.
        let pte = w.mms[QEMU].pte(0);
        assert_eq!(
            (pte.present, pte.invalid, pte.write, pte.page, pte.swp),
            (true, false, true, Some(P1), None),
            "{k}"
        );
        assert!(w.pages[P0].free, "{k}: the old page freed");
        assert_eq!(w.uv[P0].state, UvState::NonSecure, "{k}: freed non-secure");
        assert!(matches!(w.uv[P1].state, UvState::Secure { gfn: 0, .. }));
        assert_eq!(w.pages[P1].data, [0x11; PAGE_BYTES], "{k}");
        assert_eq!(w.pages[P1].mapcount, 1);
        assert_eq!(w.pages[P1].refcount, w.accounted_refs(P1), "{k}");
    }
}

/// The copy reads ciphertext: run the migration alone and look at the new page before any
/// import — it holds the exported image and the seal, never the guest's plaintext.
#[test]
fn the_copy_holds_the_exported_image() {
    let m = model(
        anon_page(true),
        vec![("kcompactd", ops(vec![migrate()]))],
        kernel("v6.12"),
    );
    let (steps, w, finished) = run_alone(&m, 0);
    assert!(finished);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert_eq!(w.uv[P1].state, UvState::NonSecure);
    assert!(
        w.uv[P1].sealed.is_some(),
        "the UV's integrity data goes along"
    );
    assert_ne!(w.pages[P1].data, [0x11; PAGE_BYTES], "no plaintext");
    assert_eq!(w.pages[P1].data, w.pages[P0].data, "a copy");
}

/// A fault on the migration entry (`do_swap_page` → `migration_entry_wait`) sleeps while the
/// old page is locked — without a reference — and returns once the migration unlocks it; the
/// access then finds the new page.
#[test]
fn a_fault_on_the_migration_entry_waits_for_the_unlock() {
    let m = model(
        anon_page(false),
        vec![
            ("kcompactd", ops(vec![migrate()])),
            ("vcpu", ops(vec![read_gfn0()])),
        ],
        kernel("v6.12"),
    );
    let mut ex = Execution::start(m.instance(), true);
    let is_entry = |p: Pte| matches!(p.swp, Some(Swp::Migration { page: P0, .. }));
    // Up to the migration entry, the PTE lock released.
    while !ex.with_world(|w| is_entry(w.mms[QEMU].pte(0)) && w.mms[QEMU].ptl_held.is_empty()) {
        ex.step(0);
    }
    let mut waited = false;
    while ex.enabled(1) && !ex.finished(1) {
        let r = ex.step(1);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        if r.name == "retry" || r.name == "vmf->orig_pte" {
            continue;
        }
        waited |= r.name == "ptep_get" && r.note.contains("migration entry");
    }
    assert!(waited, "the fault re-read the entry under the PTE lock");
    assert!(!ex.finished(1), "the vCPU sleeps on the locked page");
    ex.with_world(|w| {
        assert_eq!(
            w.pages[P0].refcount,
            w.accounted_refs(P0),
            "no reference taken"
        )
    });
    while !ex.finished(0) {
        ex.step(0);
    }
    while !ex.finished(1) {
        let r = ex.step(1);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }
    ex.with_world(|w| {
        assert_eq!(w.mms[QEMU].pte(0).page, Some(P1));
        assert!(w.pages[P0].free);
    });
}

/// A reference held across the whole migration (a GUP FOLL_GET) fails every reference check:
/// 6.1.192 restores the PTE after each move and starts again from the unmap — 10 passes, 10
/// migration entries, 10 targets allocated and freed —; 6.12.118 (`migrate_batch`) unmaps
/// once and retries only the move, with the page left unmapped, then undoes it. Both end with
/// the old page mapped again (already exported) and every reference accounted.
#[test]
fn an_extra_reference_fails_every_pass_within_the_kernels_bound() {
    let holder = ops(vec![ThreadOp::Gup {
        mm: QEMU,
        vpn: 0,
        flags: GupFlags(GupFlags::FOLL_GET),
        fast: false,
        write: false,
        nr_pages: 1,
    }]);
    for (k, entries, checks) in [("v6.1.192", 10, 10), ("v6.12", 1, 10)] {
        let m = model(
            anon_page(true),
            vec![
                ("holder", holder.clone()),
                ("kcompactd", ops(vec![migrate()])),
            ],
            kernel(k),
        );
        let (steps, w) = run_in_order(&m);
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{k}");
        assert_eq!(count(&steps, "set_pte_at(migration entry)"), entries, "{k}");
        assert_eq!(count(&steps, "folio_ref_count == expected"), checks, "{k}");
        assert_eq!(position(&steps, "copy_highpage"), None, "{k}: never copied");
        let pte = w.mms[QEMU].pte(0);
        assert!(
            pte.present && pte.page == Some(P0) && pte.write,
            "{k}: {pte:?}"
        );
        assert!(
            !w.pages[P0].free && w.pages[P1].free,
            "{k}: the targets freed"
        );
        assert_eq!(w.uv[P0].state, UvState::NonSecure, "{k}: exported");
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0), "{k}");
        assert_eq!(w.pages[P0].locked_by, None, "{k}");
    }
}

/// A maybe-pinned page (FOLL_PIN): `try_to_migrate_one` clears the PTE — the export has
/// happened — then `page_try_share_anon_rmap` fails and the old PTE is set back; the folio
/// is still mapped: -EAGAIN for every pass, no migration entry ever stays.
#[test]
fn a_pinned_page_gets_its_pte_back_after_the_export() {
    let pinner = ops(vec![ThreadOp::Gup {
        mm: QEMU,
        vpn: 0,
        flags: GupFlags(GupFlags::FOLL_PIN | GupFlags::FOLL_WRITE),
        fast: false,
        write: true,
        nr_pages: 1,
    }]);
    let m = model(
        anon_page(false),
        vec![("pinner", pinner), ("kcompactd", ops(vec![migrate()]))],
        kernel("v6.12"),
    );
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert_eq!(count(&steps, "set_pte_at(migration entry)"), 0);
    assert_eq!(count(&steps, "set_pte_at(pteval)"), 10, "every unmap pass");
    assert_eq!(position(&steps, "folio_ref_count == expected"), None);
    let pte = w.mms[QEMU].pte(0);
    assert!(pte.present && pte.page == Some(P0));
    assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0));
}

/// Every interleaving against the vCPU's write and read: v5.7's import (follow_page without
/// a reference, then `lock_page`) can sleep on the lock migration holds and take it on the
/// freed page (use-after-free); 6.12's (PTE lock, trylock) meets the isolation reference,
/// the lock or the migration entry, never a freed page.
#[test]
fn against_the_import_v5_7_uses_a_freed_page_and_6_12_does_not() {
    let vcpu = ops(vec![
        ThreadOp::GuestAccess {
            gfn: 0,
            write: Some(0x5a),
        },
        read_gfn0(),
    ]);
    let threads = || vec![("vcpu", vcpu.clone()), ("kcompactd", ops(vec![migrate()]))];
    let o = explore_states(&model(anon_page(false), threads(), kernel("v5.7")));
    assert!(
        violated(&o).contains(&"use-after-free"),
        "{:?}",
        violated(&o)
    );
    let o = explore_states(&model(anon_page(false), threads(), kernel("v6.12")));
    assert_eq!(violated(&o), Vec::<&str>::new());
}
