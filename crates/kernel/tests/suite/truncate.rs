//! Truncation and hole punching (`kernel::truncate`) against the kernel code it cites:
//! mm/truncate.c (`truncate_pagecache_range`, `truncate_pagecache`,
//! `truncate_inode_pages_range`, `truncate_cleanup_folio`, `truncate_inode_folio`), mm/filemap.c
//! (`find_lock_entries`, `filemap_remove_folio`) and mm/memory.c (`unmap_mapping_range`,
//! `zap_page_range_single`) of 6.1.192 and 6.12.118. Built with the kernel crate's own
//! [`Builder`]; a thread stepped alone where its own effect is the point, every interleaving
//! (bounded by executions or states, never time) where an interleaving is.

use super::common::*;
use explore::runtime::StepRecord;
use explore::{Execution, Model};
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::uv::UvState;
use kernel::vocab::ops::ThreadOp;

const QEMU: usize = 0;
const FILE: usize = 0;
const P0: usize = 0;

/// A file of `pages` pages in the page cache, mapped MAP_SHARED (writable PTEs) at vpns
/// 0.. of QEMU's protected mm as guest frames 0.. (secure, holding 0x11, when `secure`).
fn file_pages(pages: usize, secure: bool) -> Builder {
    let mut b = Builder::new();
    let f = b.file("guest.img", pages).expect("file");
    let qemu = b.mm("qemu", true, None).expect("mm");
    for i in 0..pages {
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
            secure,
            shared: false,
            data: secure.then_some(0x11),
            image: false,
        })
        .expect("guest");
    }
    b
}

fn punch(index: usize, pages: usize) -> ThreadOp {
    ThreadOp::Truncate {
        file: FILE,
        index,
        pages,
        punch_hole: true,
    }
}

/// `truncate_pagecache_range` alone over a secure, mapped page (6.12.118): the unmap clears
/// the protected mm's PTE and exports the page there (`ptep_get_and_clear_full`), before the
/// folio is locked; `find_lock_entries` locks it; the removal empties the slot and clears
/// `folio->mapping`; `filemap_free_folio` drops the cache's reference and the batch release
/// the last one: the frame is free, non-secure, and nothing is reported.
#[test]
fn punch_unmaps_with_the_export_then_removes_and_frees() {
    let m = model(
        file_pages(1, true),
        vec![("punch", ops(vec![punch(0, 1)]))],
        kernel("v6.12"),
    );
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    let clear = position(&steps, "ptep_get_and_clear_full").expect("unmapped");
    let lock = position(&steps, "trylock_page").expect("find_lock_entries");
    let remove = position(&steps, "__filemap_remove_folio").expect("removed");
    let release = steps
        .iter()
        .rposition(|s| s.name == "put_page")
        .expect("batch release");
    assert!(clear < lock && lock < remove && remove < release);
    assert!(!w.mms[QEMU].pte(0).present);
    assert_eq!(w.files[FILE].cache[0], None);
    assert!(w.pages[P0].free, "the last reference was the batch's");
    assert_eq!(
        w.uv[P0].state,
        UvState::NonSecure,
        "exported at the PTE clear"
    );
}

/// No reference-count check in truncation (6.1.192 / 6.12.118 mm/truncate.c): a reader that
/// holds the page (`find_get_page`'s reference) does not stop the removal; the page stays
/// allocated, out of the cache, until the reader puts it — in every interleaving, with no
/// use-after-free and the references balanced. The reader's later lookups find the slot
/// empty or the page still there, never a freed one.
#[test]
fn a_holder_keeps_the_truncated_page_until_it_puts_it() {
    let reader = ops(vec![
        ThreadOp::FindGetPage {
            file: FILE,
            index: 0,
        },
        ThreadOp::Put {},
    ]);
    let m = model(
        file_pages(1, false),
        vec![("reader", reader), ("punch", ops(vec![punch(0, 1)]))],
        kernel("v6.12"),
    );
    let o = explore_states(&m);
    assert_eq!(violated(&o), Vec::<&str>::new());
    // The reader takes its reference, the truncation runs to its end, then the reader
    // puts: the page survives the truncation out of the cache and the reader's put frees it.
    let mut ex = Execution::start(m.instance(), true);
    let mut steps = Vec::new();
    while steps
        .last()
        .is_none_or(|s: &StepRecord| s.name != "xas_reload")
    {
        steps.push(ex.step(0));
    }
    while !ex.finished(1) {
        steps.push(ex.step(1));
    }
    let w = ex.with_world(|w| w.clone());
    assert!(!w.pages[P0].free && w.pages[P0].mapping.is_none());
    assert_eq!((w.pages[P0].refcount, w.files[FILE].cache[0]), (1, None));
    while !ex.finished(0) {
        steps.push(ex.step(0));
    }
    assert_eq!(findings(&steps), Vec::<&str>::new());
    let freed_by = steps
        .iter()
        .rfind(|s| s.note.contains("freed"))
        .expect("freed");
    assert_eq!(freed_by.tid, 0, "the reader's put frees it");
    assert!(ex.with_world(|w| w.pages[P0].free));
}

/// The v5.7 importer (`gmap_make_secure`: `follow_page` without a reference, then
/// `lock_page`) sleeps on the folio lock the truncation holds; the truncation removes and
/// frees the page; the importer then locks a freed page: use-after-free (kernel-notes W3).
/// 6.12.118's importer trylocks under the PTE lock with the page's references counted, and
/// the truncation's unmap takes that PTE lock: no finding.
#[test]
fn the_v57_importer_locks_a_page_the_truncation_freed() {
    let vcpu = ops(vec![ThreadOp::GuestAccess {
        gfn: 0,
        write: Some(0x5a),
    }]);
    let threads = || vec![("vcpu", vcpu.clone()), ("punch", ops(vec![punch(0, 1)]))];
    let o = explore_states(&model(file_pages(1, false), threads(), kernel("v5.7")));
    assert!(
        violated(&o).contains(&"use-after-free"),
        "{:?}",
        violated(&o)
    );
    let o = explore_states(&model(file_pages(1, false), threads(), kernel("v6.12")));
    assert_eq!(violated(&o), Vec::<&str>::new());
}

/// Truncation waits for PG_writeback (`find_lock_entries` skips such a folio, the first
/// folio's `truncate_inode_partial_folio` and the blocking pass `folio_wait_writeback`): a
/// write-out in flight keeps its page in the cache until the bio ends, so the disk never
/// reads a freed page — in every interleaving.
#[test]
fn truncation_waits_for_the_write_out() {
    let wb = ops(vec![ThreadOp::Writeback {
        file: FILE,
        index: 0,
    }]);
    let m = model(
        file_pages(1, false),
        vec![("writeback", wb), ("punch", ops(vec![punch(0, 1)]))],
        kernel("v6.12"),
    );
    let o = explore_states(&m);
    assert_eq!(violated(&o), Vec::<&str>::new());
}

/// A large folio (order 1) the range covers whole: one lookup, one lock, both slots emptied,
/// the cache's two references dropped, the folio freed as a whole.
#[test]
fn a_large_folio_is_truncated_whole() {
    let mut b = file_pages(2, false);
    b.file_folio_order(FILE, 1).expect("order 1");
    let m = model(b, vec![("punch", ops(vec![punch(0, 2)]))], kernel("v6.12"));
    let (steps, w) = run_in_order(&m);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.name == "__filemap_remove_folio")
            .count(),
        1
    );
    assert_eq!(w.files[FILE].cache, vec![None, None]);
    assert!(w.pages[0].free && w.pages[1].free);
}

/// What the builder refuses: a range past the file, a size reduction that does not reach
/// the end, a range that cuts a large folio (its partial zeroing and split are not modelled).
#[test]
fn the_builder_refuses_ranges_the_model_cannot_act_on() {
    let b = file_pages(2, false);
    let err = |b: &Builder, op: ThreadOp| b.check_op(&op).expect_err("refused").to_string();
    assert!(err(&b, punch(1, 2)).contains("beyond"));
    let shrink = ThreadOp::Truncate {
        file: FILE,
        index: 0,
        pages: 1,
        punch_hole: false,
    };
    assert!(err(&b, shrink).contains("to its end"));
    let mut b = file_pages(2, false);
    b.file_folio_order(FILE, 1).expect("order 1");
    assert!(err(&b, punch(1, 1)).contains("large folio"));
    assert!(b.check_op(&punch(0, 2)).is_ok());
}
