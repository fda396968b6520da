//! Large folios: the test the import makes (`folio_test_large`) and the split
//! (`split_folio` → `split_huge_page_to_list_to_order`, mm/huge_memory.c) of a page-cache
//! folio, as 6.12.118 does it (6.1.192 `split_huge_page_to_list` has the same steps for an
//! order-0 target).
//!
//! The folio model lives in world.rs ([`crate::world::Page::head`], `order`): the refcount,
//! the holders' accounting, `PG_locked`, `PG_writeback` and the lifetime of a folio are its
//! head's; every reference operation on a tail acts on the head (prim.rs); mapcount, the
//! cache slot, `PG_arch_1`, the UV state and the content are per page.
//!
//! Abstractions, stated here:
//! * Only page-cache folios (a `[[file]]` with `folio_order`) are large. Anonymous THP in a
//!   KVM mm is not modelled: up to v6.19 `s390_enable_sie` → `thp_split_mm` marks every VMA
//!   VM_NOHUGEPAGE and splits existing THPs (6.1.192 / 6.12.118 arch/s390/mm/gmap.c), so no
//!   release before the v7.0 gmap rewrite maps one into a protected mm; v7.0 allows THP
//!   (the rewrite's cover letter) — not modelled.
//! * No page of a large folio is ever secure in the model: every import flow refuses a large
//!   folio before the freeze (-EINVAL, -E2BIG) or fails its freeze (the page-count era). So
//!   the per-release treatment of a *secure* large folio by the PTE-clear export (6.12.118
//!   `uv_convert_from_secure_folio`: large → 0; v7.0 21401ce49706: every page) and by the
//!   hook (6.12.118 `arch_make_folio_accessible`: large → 0) cannot make a difference and is
//!   not modelled; the unmap below calls the export each page would get, which for a
//!   non-secure page is a no-op.
//! * The split's file-specific failures: a folio truncated from its mapping → -EBUSY and
//!   `filemap_release_folio` refusing → -EBUSY (a `[[file]] private` file system — iomap —
//!   on a dirty folio) are modelled; `xas_split_alloc` → -ENOMEM and unsupported orders →
//!   -EINVAL do not occur (no allocation failure; orders 1..=3 of a file with large
//!   folios). Private data other than iomap's (buffer heads) is not modelled on large
//!   folios. The anon path (`try_to_migrate`, `remap_page`) is not needed (no anon THP).

use crate::hook::{EAGAIN, EBUSY};
use crate::prim::{acc, live};
use crate::uv;
use crate::world::{MmId, PageId, PagePart as PP, Pte};
use crate::Cx;
use explore::{Access, Op};

impl Cx {
    /// `folio_test_large(page_folio(page))`: whether `p` is a page of a large folio now,
    /// and the folio's head.
    pub async fn folio_test_large(&self, p: PageId) -> (bool, PageId) {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_test_large", a), move |e| {
                live(e, p, "folio_test_large");
                let h = e.world.folio(p);
                let order = e.world.pages[h].order;
                e.note(|| format!("P{p}: folio P{h}, order {order}"));
                (order > 0, h)
            })
            .await
    }

    /// The mappings a split of the folio headed by `h` must unmap: every (mm, vpn) whose VMA
    /// maps one of its file indices. A page-cache folio's file and index do not change
    /// while it lives in the cache (no op migrates one; truncation removes it from the
    /// cache under the folio lock, which the split's caller holds, after `split_folio`'s
    /// own check that it is still there), so this reads what is constant meanwhile.
    fn folio_mappings(&self, h: PageId) -> Vec<(MmId, usize)> {
        self.ctx.with_const(|w| {
            let nr = w.folio_nr_pages(h);
            let Some((f, first)) = w.pages[h].mapping else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for (mm, m) in w.mms.iter().enumerate() {
                for v in &m.vmas {
                    if let Some((vf, vi)) = v.file {
                        if vf == f && (first..first + nr).contains(&vi) {
                            out.push((mm, v.vpn));
                        }
                    }
                }
            }
            out
        })
    }

    /// `split_folio(folio)` (`split_huge_page_to_list_to_order(&folio->page, NULL, 0)`,
    /// 6.12.118 mm/huge_memory.c; 6.1.192 `split_huge_page_to_list`): the caller holds the
    /// folio lock and one reference (`caller_pins` = 1), on the head.
    /// 1. `folio_test_writeback` → `-EBUSY`;
    /// 2. `can_split_folio`: `folio_mapcount == folio_ref_count − extra_pins − 1`, with
    ///    `extra_pins` = nr (the page cache's references) — else `-EAGAIN` (an LRU batch, a
    ///    GUP reference, a pipe buffer …);
    /// 3. `unmap_folio` → `try_to_unmap(folio, TTU_SPLIT_HUGE_PMD | TTU_SYNC |
    ///    TTU_IGNORE_MLOCK)`: per mapping, under its PTE lock, `ptep_clear_flush` (the s390
    ///    helper exports in a protected mm), `folio_remove_rmap_pte`, `folio_put` — file PTEs
    ///    are not restored (`remap_page` returns at once for a file folio): they refault;
    /// 4. `folio_ref_freeze(folio, 1 + extra_pins)` — fails on a reference taken since step 2:
    ///    `-EAGAIN` (nothing to remap for a file folio);
    /// 5. `__split_huge_page`: every page becomes an order-0 folio; a tail's count is
    ///    unfrozen to 1 + 1 (cache + one dropped at the end), the head's to 1 + 1 (the
    ///    caller's, the cache's); the tails are unlocked and their extra reference dropped
    ///    (`free_page_and_swap_cache`); the head stays locked with the caller's reference.
    ///
    /// Returns 0, `-EAGAIN` or `-EBUSY`.
    pub async fn split_folio(&self, h: PageId) -> i32 {
        self.ctx
            .call("split_folio", async move {
                let _f = self.ctx.enter("split_huge_page_to_list_to_order");
                // A file folio truncated from its mapping (crate::truncate) → -EBUSY
                // (6.12.118: `!is_anon && !folio->mapping`, first; 6.1.192: "Truncated ?",
                // after the writeback test — the same answer either way). Only a truncation
                // removes a folio from the cache while its holder keeps it, so a model
                // without one keeps its steps as they were.
                let a = acc(&[
                    Access::read(self.objs.page(h, PP::Meta)),
                    Access::read(self.objs.page(h, PP::Life)),
                ]);
                let truncated = self.objs.invalidate_base.is_some()
                    && self
                        .ctx
                        .step(Op::new("folio->mapping", a), move |e| {
                            live(e, h, "folio->mapping");
                            e.world.pages[h].mapping.is_none()
                        })
                        .await;
                if truncated {
                    return EBUSY;
                }
                if self.page_writeback(h).await {
                    return EBUSY;
                }
                if !self.filemap_release_folio(h).await {
                    return EBUSY;
                }
                if !self.can_split_folio(h).await {
                    return EAGAIN;
                }
                {
                    let _g = self.ctx.enter("unmap_folio");
                    for (mm, vpn) in self.folio_mappings(h) {
                        self.split_unmap_one(mm, vpn, h).await;
                    }
                }
                if !self.split_freeze_and_split(h).await {
                    return EAGAIN;
                }
                0
            })
            .await
    }

    /// `filemap_release_folio(folio, gfp)` in the file branch of the split (6.12.118
    /// mm/huge_memory.c `split_huge_page_to_list_to_order`, after the writeback test, before
    /// `can_split_folio`; 6.1.192 `split_huge_page_to_list` the same): a folio without
    /// private data needs no release (`folio_needs_release`); one under writeback is
    /// refused; else the file system's `release_folio` — iomap's (`[[file]] private`)
    /// refuses a dirty folio ("we refuse to release our metadata because it may be
    /// partially dirty", 6.12.118 fs/iomap/buffered-io.c `iomap_release_folio`; 6.1.192
    /// also one under writeback) and otherwise frees its per-block state (`ifs_free` →
    /// `folio_detach_private`: PG_private cleared, its reference dropped). False → the split
    /// answers `-EBUSY`. Only a model with such a file has the step (the folio's file is a
    /// set-up constant while it lives in the cache: see [`Self::folio_mappings`]).
    async fn filemap_release_folio(&self, h: PageId) -> bool {
        let private_fs = self
            .ctx
            .with_const(|w| w.pages[h].mapping.is_some_and(|(f, _)| w.files[f].private));
        if !private_fs {
            return true;
        }
        let a = acc(&[
            Access::write(self.objs.page(h, PP::Meta)),
            Access::write(self.objs.page(h, PP::Ref)),
            Access::read(self.objs.page(h, PP::Writeback)),
            Access::read(self.objs.page(h, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("filemap_release_folio", a), move |e| {
                live(e, h, "filemap_release_folio");
                let pg = &mut e.world.pages[h];
                if !pg.private {
                    e.note(|| format!("P{h}: no private data to release"));
                    return true;
                }
                if pg.writeback || pg.dirty {
                    let why = if pg.writeback {
                        "under writeback"
                    } else {
                        "dirty"
                    };
                    e.note(|| format!("iomap_release_folio(P{h}) refuses: the folio is {why}"));
                    return false;
                }
                pg.private = false;
                pg.refcount -= 1;
                e.note(|| format!("iomap_release_folio(P{h}): private data freed, refcount -1"));
                true
            })
            .await
    }

    /// `can_split_folio(folio, 1, &extra_pins)` (6.12.118 mm/huge_memory.c).
    async fn can_split_folio(&self, h: PageId) -> bool {
        let mut a = acc(&[
            Access::read(self.objs.page(h, PP::Ref)),
            Access::read(self.objs.page(h, PP::Life)),
        ]);
        let nr = self.ctx.with_const(|w| w.folio_nr_pages(h));
        for q in h..h + nr {
            a.push(Access::read(self.objs.page(q, PP::Meta)));
        }
        self.ctx
            .step(Op::new("can_split_folio", a), move |e| {
                live(e, h, "can_split_folio");
                let w = &*e.world;
                let nr = w.folio_nr_pages(h) as i32;
                let maps = w.folio_mapcount(h);
                let refs = w.pages[h].refcount;
                let ok = maps == refs - nr - 1;
                e.note(|| {
                    format!(
                        "can_split_folio(P{h}): mapcount {maps} {} refcount {refs} - {nr} - 1",
                        if ok { "==" } else { "!=" }
                    )
                });
                ok
            })
            .await
    }

    /// `try_to_unmap_one` for one mapping of the folio (mm/rmap.c, 6.12.118): PTE lock (the
    /// `page_vma_mapped_walk`), `ptep_clear_flush` (export in a protected mm:
    /// arch/s390/include/asm/pgtable.h), `folio_remove_rmap_pte`, `folio_put` of the
    /// mapping's reference (the caller's keeps the folio), PTE unlock. A PTE that maps no
    /// page of the folio any more is left alone.
    async fn split_unmap_one(&self, mm: MmId, vpn: usize, h: PageId) {
        let _f = self.ctx.enter("try_to_unmap_one");
        self.pte_lock(mm, vpn).await;
        let protected = self.ctx.with_const(|w| w.mms[mm].protected);
        let nr = self.ctx.with_const(|w| w.folio_nr_pages(h));
        let mut a = acc(&[
            Access::write(self.objs.pte(mm, vpn)),
            Access::write(self.objs.page(h, PP::Ref)),
            Access::read(self.objs.page(h, PP::Life)),
        ]);
        for q in h..h + nr {
            a.push(Access::write(self.objs.page(q, PP::Meta)));
            a.push(Access::write(self.objs.page(q, PP::Uv)));
        }
        self.ctx
            .step(Op::new("ptep_clear_flush", a), move |e| {
                let pte = e.world.mms[mm].pte(vpn);
                let Some(p) = pte
                    .page
                    .filter(|&p| pte.present && (h..h + nr).contains(&p))
                else {
                    e.note(|| "the PTE maps no page of the folio".into());
                    return;
                };
                e.world.mms[mm].set_pte(vpn, Pte::NONE);
                if protected {
                    let w = &mut *e.world;
                    let rc = uv::export(&w.keys, &mut w.uv[p], &mut w.pages[p].data);
                    e.note(|| format!("export P{p}: {rc:?}"));
                }
                let w = &mut *e.world;
                w.pages[p].mapcount -= 1;
                w.pages[h].refcount -= 1;
                let after = w.pages[h].refcount;
                e.note(|| format!("pte -> P{p} cleared; mapcount -1, folio P{h} refcount {after}"));
            })
            .await;
        self.pte_unlock(mm, vpn).await;
    }

    /// `folio_ref_freeze(folio, 1 + extra_pins)` and, when it holds, `__split_huge_page`
    /// (6.12.118 mm/huge_memory.c), one step (the kernel runs it with IRQs off under the
    /// xarray and split-queue locks). Returns whether the freeze held.
    async fn split_freeze_and_split(&self, h: PageId) -> bool {
        let nr = self.ctx.with_const(|w| w.folio_nr_pages(h));
        let mut a = acc(&[
            Access::write(self.objs.page(h, PP::Ref)),
            Access::write(self.objs.page(h, PP::Lock)),
            Access::read(self.objs.page(h, PP::Life)),
        ]);
        for q in h..h + nr {
            a.push(Access::write(self.objs.page(q, PP::Meta)));
        }
        self.ctx
            .step(Op::new("folio_ref_freeze+__split_huge_page", a), move |e| {
                live(e, h, "split_folio");
                let w = &mut *e.world;
                let nr = w.folio_nr_pages(h);
                let want = 1 + nr as i32;
                let c = w.pages[h].refcount;
                if c != want {
                    e.note(|| format!("folio_ref_freeze(P{h}, {want}) fails: refcount {c}"));
                    return false;
                }
                w.pages[h].order = 0;
                w.pages[h].refcount = 2;
                for q in h + 1..h + nr {
                    let t = &mut w.pages[q];
                    t.head = None;
                    t.order = 0;
                    t.refcount = 1;
                    t.extra = 0;
                    t.locked_by = None;
                    t.writeback = false;
                }
                e.note(|| {
                    format!(
                        "folio_ref_freeze(P{h}, {want}) ok; split into {nr} order-0 folios \
                         (P{h} refcount 2, locked; the tails refcount 1, unlocked)"
                    )
                });
                true
            })
            .await
    }
}
