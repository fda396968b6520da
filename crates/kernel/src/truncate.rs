//! Truncation and hole punching of a file's page cache (mm/truncate.c): `truncate_pagecache`
//! (a size reduction) and `truncate_pagecache_range` (`fallocate(FALLOC_FL_PUNCH_HOLE)`),
//! each `unmap_mapping_range` — every mm that maps the range zapped, the export at the PTE
//! clear in a protected mm as in [`Cx::zap_one_pte`] — and `truncate_inode_pages_range`:
//! the non-blocking pass (`find_lock_entries`: trylock, skip a folio under writeback;
//! `truncate_cleanup_folio`, `delete_from_page_cache_batch`), the first and last folio
//! (`__filemap_get_folio(FGP_LOCK)`, `truncate_inode_partial_folio`), and the blocking pass
//! (`find_get_entries`, `folio_lock`, `folio_wait_writeback`, `truncate_inode_folio`),
//! restarted until a lookup from the start finds nothing. There is no reference-count check
//! anywhere: a holder (a pin, an LRU batch, a GUP or pipe reference, the importer's) keeps the
//! page alive after its removal until it puts it. 6.1.192 and 6.12.118 have the same shape.
//! See `docs/kernel-notes.md` §16.
//!
//! Abstractions, and why none changes a verdict:
//! * Page-aligned ranges only (`index`, `pages`), and a range never ends inside a large folio
//!   (the builder refuses it): `truncate_inode_partial_folio` then always truncates the whole
//!   folio (its zeroing of a part and its `split_folio` are not reached).
//! * `mapping->invalidate_lock` is modelled as the truncation (exclusive, around the whole
//!   op) and a fault that must add a page (shared, around its lookup and insertion:
//!   `filemap_fault`'s `retry_find`, v5.15 730633f0b7f9) take it. The fault releases it
//!   before it locks the new folio (the kernel holds it until `filemap_fault` returns):
//!   a truncation may then start earlier, which the folio lock and the fault's mapping
//!   check handle, so the model's interleavings are a superset. Before v5.15 the
//!   exclusion is the file system's (ext4's `i_mmap_sem`, taken by every fault — a
//!   stronger one; a file system without it excludes nothing): the model keeps the v5.15
//!   lock for every release. `i_rwsem` excludes only other writers and truncations.
//! * Private COW copies (`even_cows`) do not exist in the model (a file VMA maps only
//!   page-cache pages), so `truncate_pagecache`'s second `unmap_mapping_range` and the
//!   `even_cows` flag change nothing but are modelled as called.
//! * Shadow and swap (value) entries, `PG_private` data (`folio_invalidate`,
//!   `->invalidate_folio`) and `folio_batch` sizes (15) are not modelled: no scenario has
//!   them, and a batch of the model's ranges (≤ a few pages) never fills.
//! * The file system's part (ext4's `ext4_punch_hole`: `filemap_write_and_wait_range` before,
//!   the block removal after) is reduced to the removal of the range's disk blocks after the
//!   page cache is truncated (a later read finds a hole: zeroes); shmem's
//!   `shmem_fallocate` / `shmem_undo_range` has the same passes (6.12.118 mm/shmem.c), its
//!   `shmem_falloc` wait queue for faults into the hole is not modelled (a superset, as above).

use crate::prim::{acc, live};
use crate::world::{FileId, MmId, PageId, PagePart as PP, World};
use crate::Cx;
use explore::{Access, ObjId, Op};

/// A folio found in the page cache: its head, its pages, its first index.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
struct Found {
    head: PageId,
    nr: usize,
    first: usize,
}

impl Cx {
    /// The `truncate` op: `truncate_pagecache_range` (hole punch of `index..index + pages`)
    /// or `truncate_pagecache` (the file cut to `index` pages: the range is the rest of it),
    /// as the file system calls them: under `filemap_invalidate_lock` (ext4_punch_hole,
    /// ext4_setattr, 6.1.192 / 6.12.118 fs/ext4; the kernel-doc of
    /// `truncate_inode_pages_range`: the caller holds `invalidate_lock`), with the blocks
    /// freed before it is released.
    pub async fn truncate(&self, file: FileId, index: usize, pages: usize, punch_hole: bool) {
        self.ctx
            .call("truncate", async move {
                self.filemap_invalidate_lock(file).await;
                let end = index + pages;
                if punch_hole {
                    let _f = self.ctx.enter("truncate_pagecache_range");
                    self.unmap_mapping_range(file, index, end).await;
                    self.truncate_inode_pages_range(file, index, end, false)
                        .await;
                } else {
                    let _f = self.ctx.enter("truncate_pagecache");
                    self.unmap_mapping_range(file, index, end).await;
                    // truncate_inode_pages(mapping, newsize): lend = -1, to the end.
                    self.truncate_inode_pages_range(file, index, end, true)
                        .await;
                    self.unmap_mapping_range(file, index, end).await;
                }
                if self.objs.disk {
                    self.free_blocks(file, index, end).await;
                }
                self.filemap_invalidate_unlock(file).await;
            })
            .await
    }

    /// The object of `file`'s `invalidate_lock` (only in a model with a truncation).
    fn invalidate_obj(&self, file: FileId) -> Option<ObjId> {
        self.objs.invalidate_base.map(|b| ObjId(b + file as u32))
    }

    /// `filemap_invalidate_lock` (`down_write(&mapping->invalidate_lock)`): sleeps until
    /// no reader and no writer holds it.
    async fn filemap_invalidate_lock(&self, file: FileId) {
        let Some(o) = self.invalidate_obj(file) else {
            return;
        };
        fn free(w: &World, f: u64) -> bool {
            let f = &w.files[f as usize];
            f.invalidate_readers == 0 && !f.invalidate_writer
        }
        self.ctx
            .step(
                Op::new("filemap_invalidate_lock", acc(&[Access::write(o)]))
                    .when(free, file as u64),
                move |e| e.world.files[file].invalidate_writer = true,
            )
            .await
    }

    async fn filemap_invalidate_unlock(&self, file: FileId) {
        let Some(o) = self.invalidate_obj(file) else {
            return;
        };
        self.ctx
            .step(
                Op::new("filemap_invalidate_unlock", acc(&[Access::write(o)])),
                move |e| e.world.files[file].invalidate_writer = false,
            )
            .await
    }

    /// `filemap_invalidate_lock_shared` (`down_read`), as `filemap_fault` takes it before it
    /// creates a page (v5.15 730633f0b7f9; before, ext4's own `i_mmap_sem`, taken by every
    /// fault); `false` in a model without a truncation (nothing to exclude: no step).
    pub(crate) async fn filemap_invalidate_lock_shared(&self, file: FileId) -> bool {
        let Some(o) = self.invalidate_obj(file) else {
            return false;
        };
        fn no_writer(w: &World, f: u64) -> bool {
            !w.files[f as usize].invalidate_writer
        }
        self.ctx
            .step(
                Op::new("filemap_invalidate_lock_shared", acc(&[Access::add(o)]))
                    .when(no_writer, file as u64),
                move |e| e.world.files[file].invalidate_readers += 1,
            )
            .await;
        true
    }

    pub(crate) async fn filemap_invalidate_unlock_shared(&self, file: FileId) {
        let Some(o) = self.invalidate_obj(file) else {
            return;
        };
        self.ctx
            .step(
                Op::new("filemap_invalidate_unlock_shared", acc(&[Access::add(o)])),
                move |e| e.world.files[file].invalidate_readers -= 1,
            )
            .await
    }

    /// The mappings of `file`'s indices `start..end` (`mapping->i_mmap`, a set-up constant).
    fn range_mappings(&self, file: FileId, start: usize, end: usize) -> Vec<(MmId, usize)> {
        self.ctx.with_const(|w| {
            w.mms
                .iter()
                .enumerate()
                .flat_map(|(mm, m)| {
                    m.vmas
                        .iter()
                        .filter(move |v| {
                            v.file
                                .is_some_and(|(f, i)| f == file && (start..end).contains(&i))
                        })
                        .map(move |v| (mm, v.vpn))
                })
                .collect()
        })
    }

    /// `unmap_mapping_range` → `unmap_mapping_pages` → `unmap_mapping_range_tree`: under
    /// `i_mmap_lock_read`, every VMA mapping the range → `zap_page_range_single` (mm/memory.c,
    /// 6.1.192 / 6.12.118): no folio lock, no mmap lock.
    async fn unmap_mapping_range(&self, file: FileId, start: usize, end: usize) {
        let _f = self.ctx.enter("unmap_mapping_range");
        for (mm, vpn) in self.range_mappings(file, start, end) {
            let _g = self.ctx.enter("zap_page_range_single");
            self.zap_one_pte(mm, vpn).await;
        }
    }

    /// The folio the lookup returned (with a reference): its head, size and first index —
    /// `folio->index`, `folio_nr_pages` (read with the reference held, so the folio lives).
    async fn found(&self, p: PageId, index: usize) -> Found {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_index", a), move |e| {
                live(e, p, "folio_index");
                let h = e.world.folio(p);
                let nr = e.world.folio_nr_pages(h);
                // A folio is aligned on its size in the file (and a page-cache folio's pages
                // are consecutive frames): its first index.
                let first = index - (p - h);
                Found { head: h, nr, first }
            })
            .await
    }

    /// `folio->mapping == mapping` (with the folio locked).
    pub(crate) async fn folio_in_mapping(&self, h: PageId, file: FileId) -> bool {
        let a = acc(&[
            Access::read(self.objs.page(h, PP::Meta)),
            Access::read(self.objs.page(h, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio->mapping", a), move |e| {
                live(e, h, "folio->mapping");
                let ok = e.world.pages[h].mapping.is_some_and(|(f, _)| f == file);
                e.note(|| {
                    format!(
                        "P{h} {}",
                        if ok {
                            "still in the file's page cache"
                        } else {
                            "no longer in the file's page cache"
                        }
                    )
                });
                ok
            })
            .await
    }

    /// `truncate_inode_pages_range(mapping, start, end)` (mm/truncate.c, 6.1.192 and
    /// 6.12.118), for a page-aligned range (see the module doc); `to_eof`: `lend` is -1
    /// (`truncate_inode_pages`), so the last-folio lookup is of an index past every page
    /// (it finds nothing) and `end` is the file's last page + 1.
    pub async fn truncate_inode_pages_range(
        &self,
        file: FileId,
        start: usize,
        end: usize,
        to_eof: bool,
    ) {
        self.ctx
            .call("truncate_inode_pages_range", async move {
                let _f = self.ctx.enter("truncate_inode_pages_range");
                // Pass 1: find_lock_entries, then the batch's cleanup and removal.
                let batch = self.find_lock_entries(file, start, end).await;
                if !batch.is_empty() {
                    for f in &batch {
                        self.truncate_cleanup_folio(file, *f).await;
                    }
                    {
                        let _g = self.ctx.enter("delete_from_page_cache_batch");
                        for f in &batch {
                            self.filemap_remove_folio(file, *f).await;
                        }
                    }
                    for f in &batch {
                        self.unlock_page(f.head).await;
                    }
                    let _g = self.ctx.enter("folio_batch_release");
                    for f in &batch {
                        self.put_page(f.head).await;
                    }
                }
                // The first folio, then the last (if another): __filemap_get_folio(FGP_LOCK),
                // truncate_inode_partial_folio — a whole folio: truncated.
                let mut done_first = None;
                if let Some(f) = self.filemap_get_folio_locked(file, start).await {
                    self.truncate_inode_partial_folio(file, f).await;
                    done_first = Some(f.first + f.nr);
                }
                if !to_eof && done_first.is_none_or(|after| after < end) && end - 1 != start {
                    if let Some(f) = self.filemap_get_folio_locked(file, end - 1).await {
                        self.truncate_inode_partial_folio(file, f).await;
                    }
                }
                // Pass 2: find_get_entries from `index`; restart from `start` until a
                // lookup from the start finds nothing.
                // The kernel's loop has no bound (`index = start; continue;` until a lookup
                // from the start finds nothing, mm/truncate.c, 6.1.192 / 6.12.118); it carries
                // the index it looks up from.
                let mut index = start;
                let lp = self.retry_loop("truncate_inode_pages_range");
                while index < end {
                    if !lp.head(index as u64).await {
                        return;
                    }
                    let found = self.find_get_entries(file, index, end).await;
                    if found.is_empty() {
                        if index == start {
                            return;
                        }
                        index = start;
                        continue;
                    }
                    for f in &found {
                        self.lock_page(f.head).await;
                        self.wait_on_page_writeback(f.head).await;
                        self.truncate_inode_folio(file, *f).await;
                        self.unlock_page(f.head).await;
                        index = f.first + f.nr - 1;
                    }
                    {
                        let _g = self.ctx.enter("folio_batch_release");
                        for f in &found {
                            self.put_page(f.head).await;
                        }
                    }
                    index += 1;
                }
            })
            .await
    }

    /// `find_lock_entries(mapping, start, end - 1)` (mm/filemap.c, 6.1.192): each folio of
    /// the range through `find_get_entry` (a reference, add-unless-zero: it retries on a
    /// frozen count, [`Cx::find_get_page`]); a folio that starts before or ends after the
    /// range → put; `folio_trylock` fails → put; moved out of the mapping or under writeback
    /// → unlock, put. The others are returned locked, with the reference.
    async fn find_lock_entries(&self, file: FileId, start: usize, end: usize) -> Vec<Found> {
        let _f = self.ctx.enter("find_lock_entries");
        let mut out = Vec::new();
        let mut idx = start;
        while idx < end {
            let Some(p) = self.find_get_page(file, idx).await else {
                idx += 1;
                continue;
            };
            let f = self.found(p, idx).await;
            idx = f.first + f.nr;
            if f.first < start || f.first + f.nr > end {
                self.put_page(p).await;
                continue;
            }
            if !self.trylock_page(f.head).await {
                self.put_page(p).await;
                continue;
            }
            if !self.folio_in_mapping(f.head, file).await || self.page_writeback(f.head).await {
                self.unlock_page(f.head).await;
                self.put_page(p).await;
                continue;
            }
            out.push(f);
        }
        out
    }

    /// `find_get_entries(mapping, start, end - 1)` (mm/filemap.c): every folio of the range
    /// with a reference, unlocked.
    async fn find_get_entries(&self, file: FileId, start: usize, end: usize) -> Vec<Found> {
        let _f = self.ctx.enter("find_get_entries");
        let mut out = Vec::new();
        let mut idx = start;
        while idx < end {
            let Some(p) = self.find_get_page(file, idx).await else {
                idx += 1;
                continue;
            };
            let f = self.found(p, idx).await;
            idx = f.first + f.nr;
            out.push(f);
        }
        out
    }

    /// `__filemap_get_folio(mapping, index, FGP_LOCK, 0)` (mm/filemap.c): lookup with a
    /// reference, `folio_lock` (sleeps), and a folio truncated meanwhile (`folio->mapping`
    /// changed) → unlock, put, look up again.
    async fn filemap_get_folio_locked(&self, file: FileId, index: usize) -> Option<Found> {
        let _f = self.ctx.enter("__filemap_get_folio");
        // `goto repeat` after a truncation: no bound; the loop carries nothing.
        let lp = self.retry_loop("__filemap_get_folio");
        while lp.head(0).await {
            let p = self.find_get_page(file, index).await?;
            let f = self.found(p, index).await;
            self.lock_page(f.head).await;
            if self.folio_in_mapping(f.head, file).await {
                return Some(f);
            }
            self.unlock_page(f.head).await;
            self.put_page(p).await;
        }
        None
    }

    /// `truncate_inode_partial_folio` (mm/truncate.c) for a folio the range covers whole (the
    /// only case the model has), then the caller's `folio_unlock`, `folio_put`:
    /// `folio_wait_writeback`, `truncate_inode_folio`.
    async fn truncate_inode_partial_folio(&self, file: FileId, f: Found) {
        {
            let _g = self.ctx.enter("truncate_inode_partial_folio");
            self.wait_on_page_writeback(f.head).await;
            self.truncate_inode_folio(file, f).await;
        }
        self.unlock_page(f.head).await;
        self.put_page(f.head).await;
    }

    /// `truncate_inode_folio` (mm/truncate.c): a folio no longer in this mapping → -EIO (left
    /// alone); else `truncate_cleanup_folio` and `filemap_remove_folio`.
    async fn truncate_inode_folio(&self, file: FileId, f: Found) {
        let _g = self.ctx.enter("truncate_inode_folio");
        if !self.folio_in_mapping(f.head, file).await {
            return;
        }
        self.truncate_cleanup_folio(file, f).await;
        self.filemap_remove_folio(file, f).await;
    }

    /// `truncate_cleanup_folio` (mm/truncate.c), the folio locked: still mapped →
    /// `unmap_mapping_folio` (every mapping of its pages zapped: the export at the PTE clear
    /// in a protected mm); `folio_cancel_dirty`.
    async fn truncate_cleanup_folio(&self, file: FileId, f: Found) {
        let _g = self.ctx.enter("truncate_cleanup_folio");
        let mut a = acc(&[Access::read(self.objs.page(f.head, PP::Life))]);
        for k in 0..f.nr {
            a.push(Access::read(self.objs.page(f.head + k, PP::Meta)));
        }
        let mapped = self
            .ctx
            .step(Op::new("folio_mapped", a), move |e| {
                live(e, f.head, "folio_mapped");
                let m = e.world.folio_mapcount(f.head);
                e.note(|| format!("P{} mapcount {m}", f.head));
                m > 0
            })
            .await;
        if mapped {
            // The folio is locked and in the cache: a PTE of its indices maps it or nothing
            // (a fault maps a cache page only after locking it and checking its mapping).
            let _h = self.ctx.enter("unmap_mapping_folio");
            for (mm, vpn) in self.range_mappings(file, f.first, f.first + f.nr) {
                let _i = self.ctx.enter("zap_page_range_single");
                self.zap_one_pte(mm, vpn).await;
            }
        }
        let a = acc(&[
            Access::write(self.objs.page(f.head, PP::Meta)),
            Access::read(self.objs.page(f.head, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_cancel_dirty", a), move |e| {
                live(e, f.head, "folio_cancel_dirty");
                e.world.pages[f.head].dirty = false;
            })
            .await;
    }

    /// `filemap_remove_folio` / `delete_from_page_cache_batch` (mm/filemap.c): under the
    /// i_pages lock the folio's slots are emptied and `folio->mapping` cleared; then
    /// `filemap_free_folio` drops the cache's `nr` references (`folio_put_refs`) — the folio
    /// is freed there only if nobody else holds it (the caller does: its lookup reference).
    async fn filemap_remove_folio(&self, file: FileId, f: Found) {
        let mut a = acc(&[
            Access::write(self.objs.page(f.head, PP::Ref)),
            Access::read(self.objs.page(f.head, PP::Life)),
        ]);
        for k in 0..f.nr {
            a.push(Access::write(self.objs.page(f.head + k, PP::Meta)));
            a.push(Access::write(self.objs.slot(file, f.first + k)));
        }
        self.ctx
            .step(Op::new("__filemap_remove_folio", a), move |e| {
                live(e, f.head, "__filemap_remove_folio");
                let w = &mut *e.world;
                for k in 0..f.nr {
                    let i = f.first + k;
                    if w.files[file].cache.get(i).copied().flatten() == Some(f.head + k) {
                        w.files[file].cache[i] = None;
                    }
                    w.pages[f.head + k].mapping = None;
                }
                // The cache's references are now this step's to drop (filemap_free_folio).
                w.pages[f.head].extra += f.nr as i32;
                e.note(|| format!("P{} removed from the page cache", f.head));
            })
            .await;
        self.put_refs_of(f.head, f.nr as i32, false, "filemap_free_folio", false)
            .await;
    }

    /// The file system frees the range's blocks after the page cache is truncated (ext4:
    /// `ext4_punch_hole` → `ext4_ext_remove_space`; a size reduction: `ext4_truncate`): a
    /// later read of the range finds a hole.
    async fn free_blocks(&self, file: FileId, start: usize, end: usize) {
        let a = (start..end)
            .map(|i| Access::write(self.objs.slot(file, i)))
            .collect();
        self.ctx
            .step(Op::new("free blocks (fs)", a), move |e| {
                for i in start..end {
                    e.world.files[file].disk[i] = None;
                }
                e.note(|| format!("blocks {start}..{end} freed"));
            })
            .await
    }
}
