//! Writeback of a file page (mm/page-writeback.c). See `docs/kernel-notes.md` §5.
//!
//! The writer is the kernel's data-integrity writer of one folio (`WB_SYNC_ALL`: `fsync` →
//! `file_write_and_wait_range` → `do_writepages`), as every release of the model writes it:
//! `write_cache_pages` (v5.7 … 6.1.192: `pagevec_lookup_range_tag`, `lock_page`, the
//! mapping check, `PageDirty`, `wait_on_page_writeback`, `clear_page_dirty_for_io`,
//! `->writepage`) and `writeback_iter` (6.12.118: `writeback_get_folio` →
//! `filemap_get_folios_tag`, `folio_lock`, `folio_prepare_writeback` with the same checks in
//! the same order, then the file system's write-out of the folio). The two differ in how
//! the loop is written, not in what one folio goes through.
//!
//! Abstractions, and why none changes a verdict:
//! * The page-cache tag the lookup follows (PAGECACHE_TAG_DIRTY / TOWRITE) is PG_dirty:
//!   the kernel clears the tag only in `__folio_start_writeback`, so a second writer can
//!   still find the folio between the first's `folio_clear_dirty_for_io` and its start of
//!   writeback; it then sleeps on the folio lock the first holds and, finding the folio
//!   clean, skips it. The model's second writer skips it at the lookup: what it leaves out
//!   is a transient reference and a wait, neither of which exports, maps, frees or starts
//!   I/O.
//! * `BUG_ON(folio_test_writeback)` after the wait is not a step: every thread that starts
//!   writeback (this writer, reclaim's `pageout`) holds the folio lock, which this writer
//!   holds from the wait on, so PG_writeback cannot be set there.
//! * `folio_wait_stable` in `filemap_page_mkwrite` (a device that needs stable pages) is not
//!   modelled: the model's disk does not, and the wait only delays the write fault.
//! * The caller's final wait for the I/O (`filemap_fdatawait_range`) is not a step of its
//!   own: the writer runs the bio's completion itself, after which it has nothing left.

use crate::prim::{acc, live};
use crate::vocab::properties::{self as prop, report_fatal};
use crate::world::{FileId, PageId, PagePart as PP};
use crate::Cx;
use explore::{Access, Op};

impl Cx {
    /// One folio written back as the data-integrity writer does (see the module doc): the
    /// tagged lookup (a dirty folio only; its reference), `folio_lock`, then
    /// `folio_prepare_writeback` — left the file (truncated) → skip; clean ("someone wrote
    /// it for us") → skip; under writeback → `folio_wait_writeback` (`WB_SYNC_ALL`);
    /// `folio_clear_dirty_for_io` (`folio_mkclean`: every shared mapping's writable PTE
    /// cleared with `ptep_clear_flush` — an export in a protected mm — and set again
    /// read-only and clean) false → skip —, `folio_start_writeback` (PG_writeback, the
    /// hook), `folio_unlock`, the batch's reference released, the device reads the page,
    /// `folio_end_writeback`.
    pub async fn write_one_page(&self, file: FileId, index: usize) {
        self.ctx
            .call("write_one_page", async move {
                let _f = self.ctx.enter("write_cache_pages");
                if !self.tagged_dirty(file, index).await {
                    return;
                }
                let Some(p) = self.find_get_page(file, index).await else {
                    return;
                };
                self.lock_page(p).await;
                if !self.folio_prepare_writeback(file, index, p).await {
                    self.unlock_page(p).await;
                    self.put_page(p).await;
                    return;
                }
                {
                    let _g = self.ctx.enter("writepage");
                    self.test_set_page_writeback(p).await;
                    self.unlock_page(p).await;
                }
                // The batch's lookup reference is dropped once the I/O is submitted
                // (`folio_batch_release`); the folio stays because truncation and reclaim
                // wait for PG_writeback.
                self.put_page(p).await;
                {
                    let _g = self.ctx.enter("submit_bio");
                    self.dma(p, true, "dma_read (disk write-out)").await;
                }
                self.end_page_writeback(p).await;
            })
            .await
    }

    /// The tagged lookup's test (`filemap_get_folios_tag` / `pagevec_lookup_range_tag`
    /// under RCU: `xas_find_marked`): the slot holds a folio whose tag is set, modelled as
    /// PG_dirty (module doc).
    async fn tagged_dirty(&self, file: FileId, index: usize) -> bool {
        let slot = self.objs.slot(file, index);
        let p = self
            .ctx
            .with_const(|w| w.files[file].cache.get(index).copied().flatten());
        let mut a = vec![Access::read(slot)];
        if let Some(p) = p {
            a.extend(self.dirty_meta(p, false));
        }
        self.ctx
            .step(Op::new("xas_find_marked(DIRTY)", acc(&a)), move |e| {
                let w = &*e.world;
                let found = match w.files[file].cache.get(index).copied().flatten() {
                    Some(p) if !w.pages[p].free => w.pages[w.folio(p)].dirty,
                    _ => false,
                };
                e.note(|| format!("slot {index} tagged dirty: {found}"));
                found
            })
            .await
    }

    /// `folio_prepare_writeback` (mm/page-writeback.c, 6.12.118; the same tests inline in
    /// `write_cache_pages`, 6.1.192), the folio locked: the folio must still be this file's
    /// and dirty; under writeback `WB_SYNC_ALL` waits for it to end (the lock held, so no
    /// new one starts); then `folio_clear_dirty_for_io`, whose result it returns.
    async fn folio_prepare_writeback(&self, file: FileId, index: usize, p: PageId) -> bool {
        let _f = self.ctx.enter("folio_prepare_writeback");
        if !self.folio_mapping_is(p, file, index).await {
            return false;
        }
        if !self.folio_test_dirty(p).await {
            return false;
        }
        self.wait_on_page_writeback(p).await;
        self.folio_clear_dirty_for_io(file, index, p).await
    }

    /// The accesses of a step that reads or writes PG_dirty of `p`'s folio: `p`'s `Meta`
    /// and, for a tail page of a set-up large folio, the head's (where PG_dirty lives).
    pub(crate) fn dirty_meta(&self, p: PageId, write: bool) -> Vec<Access> {
        let h = self.objs.folio_head.get(p).copied().unwrap_or(p);
        let mk = if write { Access::write } else { Access::read };
        let mut a = vec![mk(self.objs.page(p, PP::Meta))];
        if h != p {
            a.push(mk(self.objs.page(h, PP::Meta)));
        }
        a
    }

    /// `folio_test_dirty`.
    pub(crate) async fn folio_test_dirty(&self, p: PageId) -> bool {
        let mut a = self.dirty_meta(p, false);
        a.push(Access::read(self.objs.page(p, PP::Life)));
        let a = acc(&a);
        self.ctx
            .step(Op::new("folio_test_dirty", a), move |e| {
                live(e, p, "folio_test_dirty");
                let d = e.world.pages[e.world.folio(p)].dirty;
                e.note(|| format!("P{p} PG_dirty {d}"));
                d
            })
            .await
    }

    /// `folio_mark_dirty` (mm/page-writeback.c): PG_dirty set (and the page-cache tag).
    pub(crate) async fn folio_mark_dirty(&self, p: PageId) {
        let mut a = self.dirty_meta(p, true);
        a.push(Access::read(self.objs.page(p, PP::Life)));
        let a = acc(&a);
        self.ctx
            .step(Op::new("folio_mark_dirty", a), move |e| {
                live(e, p, "folio_mark_dirty");
                let h = e.world.folio(p);
                e.world.pages[h].dirty = true;
                e.note(|| format!("P{p} PG_dirty set"));
            })
            .await
    }

    /// `__test_set_page_writeback` (v5.7, f28d43636d6f; `__folio_start_writeback` with
    /// `arch_make_folio_accessible` in 6.1.192 and 6.12.118): set PG_writeback, then the
    /// hook; its failure → `VM_BUG_ON_PAGE` / `VM_BUG_ON_FOLIO(access_ret != 0)` ("If
    /// writeback has been triggered on a page that cannot be made accessible, it is too late
    /// to recover here"): a `BUG()` with CONFIG_DEBUG_VM (the oops ends the execution),
    /// compiled out without it — then the write-out goes on and the disk reads a page that
    /// is still secure (`io-on-secure-page` at the device).
    pub async fn test_set_page_writeback(&self, p: PageId) {
        self.ctx
            .call("test_set_page_writeback", async move {
                let _f = self.ctx.enter("__test_set_page_writeback");
                let a = acc(&[
                    Access::write(self.objs.page(p, PP::Writeback)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                self.ctx
                    .step(Op::new("TestSetPageWriteback", a), move |e| {
                        live(e, p, "TestSetPageWriteback");
                        let h = e.world.folio(p);
                        e.world.pages[h].writeback = true;
                        e.note(|| format!("P{p} PG_writeback set"));
                    })
                    .await;
                let rc = self.arch_make_page_accessible(p).await;
                if rc != 0 && self.cfg.debug_vm {
                    self.ctx
                        .step(
                            Op::new("VM_BUG_ON_PAGE", explore::Accesses::new()),
                            move |e| {
                                report_fatal(
                                    e,
                                    prop::BUG,
                                    format!(
                                        "VM_BUG_ON_PAGE in __test_set_page_writeback: \
                                         the hook failed on P{p} (rc {rc})"
                                    ),
                                );
                            },
                        )
                        .await;
                }
            })
            .await
    }

    /// `end_page_writeback`: clear PG_writeback and wake waiters. From the "Cc: stable #
    /// v5.8+" fix it holds a temporary reference around this; v5.7 does not.
    pub async fn end_page_writeback(&self, p: PageId) {
        self.ctx
            .call("end_page_writeback", async move {
                let _f = self.ctx.enter("end_page_writeback");
                if self.cfg.end_writeback_takes_ref {
                    self.get_page(p).await;
                }
                let a = acc(&[
                    Access::write(self.objs.page(p, PP::Writeback)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                self.ctx
                    .step(Op::new("test_clear_page_writeback", a), move |e| {
                        live(e, p, "test_clear_page_writeback");
                        let h = e.world.folio(p);
                        e.world.pages[h].writeback = false;
                        e.note(|| format!("P{p} PG_writeback cleared"));
                    })
                    .await;
                if self.cfg.end_writeback_takes_ref {
                    self.put_page(p).await;
                }
            })
            .await
    }
}
