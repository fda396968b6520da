//! Writeback of a file page (mm/page-writeback.c). See `docs/kernel-notes.md` §5.

use crate::prim::{acc, live};
use crate::vocab::properties::{self as prop, report_fatal};
use crate::world::{FileId, PageId, PagePart as PP};
use crate::Cx;
use explore::{Access, Op};

impl Cx {
    /// One page written back: `lock_page`, `set_page_writeback` →
    /// `__test_set_page_writeback` (PG_writeback set, then the hook; hook failure →
    /// `VM_BUG_ON_PAGE`, live only with DEBUG_VM), `unlock_page`, the device reads the page,
    /// `end_page_writeback` (v5.7: no reference of its own).
    pub async fn write_one_page(&self, file: FileId, index: usize) {
        self.ctx
            .call("write_one_page", async move {
                let _f = self.ctx.enter("write_one_page");
                let Some(p) = self.find_get_page(file, index).await else {
                    return;
                };
                self.lock_page(p).await;
                // The writer's `page->mapping != mapping` check under the page lock
                // (mm/page-writeback.c: write_cache_pages, continue_unlock; 6.1.192): a page
                // truncated meanwhile is skipped. Only a truncation (crate::truncate) removes
                // a page someone holds a reference to (reclaim's freeze fails on it), so a
                // model without one keeps its steps as they were.
                if self.objs.invalidate_base.is_some() && !self.folio_in_mapping(p, file).await {
                    self.unlock_page(p).await;
                    self.put_page(p).await;
                    return;
                }
                self.test_set_page_writeback(p).await;
                self.unlock_page(p).await;
                // The caller's lookup reference is dropped once the I/O is submitted; the
                // page stays because truncation and reclaim wait for PG_writeback.
                self.put_page(p).await;
                {
                    let _g = self.ctx.enter("submit_bio");
                    self.dma(p, true, "dma_read (disk write-out)").await;
                }
                self.end_page_writeback(p).await;
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
                        e.world.pages[p].writeback = true;
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
                        e.world.pages[p].writeback = false;
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
