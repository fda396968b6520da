//! The page cache (mm/filemap.c) and the per-CPU LRU batches (mm/swap.c).

use crate::prim::{acc, live};
use crate::world::{FileId, PageId, PagePart as PP};
use crate::Cx;
use explore::{Access, Accesses, Op};

impl Cx {
    /// `find_get_page` → `pagecache_get_page` → `find_get_entry` (v5.7):
    /// RCU; `repeat:` load the slot; `page_cache_get_speculative` (add-unless-zero) fails →
    /// `goto repeat` (spins while the count is frozen); the slot changed → `put_page`,
    /// `goto repeat`. Returns the page with a reference held by this thread.
    pub async fn find_get_page(&self, file: FileId, index: usize) -> Option<PageId> {
        self.ctx
            .call("find_get_page", async move {
                let _f = self.ctx.enter("find_get_page");
                let slot = self.objs.slot(file, index);
                // `goto repeat` has no bound; the loop carries whether a round went before
                // (the first failed get does not wait: it loads the slot again at once).
                let lp = self.retry_loop("find_get_entry");
                let mut first = true;
                loop {
                    if !lp.head(u64::from(!first)).await {
                        return None;
                    }
                    let round_first = std::mem::replace(&mut first, false);
                    self.ctx.attempt_begin();
                    let p = self
                        .ctx
                        .step(Op::new("xas_load", acc(&[Access::read(slot)])), move |e| {
                            let p = e.world.files[file].cache.get(index).copied().flatten();
                            e.note(|| match p {
                                Some(p) => format!("slot -> P{p}"),
                                None => "slot empty".into(),
                            });
                            p
                        })
                        .await?;
                    let got = {
                        let _g = self.ctx.enter("page_cache_get_speculative");
                        self.page_ref_add_unless_zero(p, 1, false).await
                    };
                    if !got {
                        // Spins on the same slot until the count is no longer zero.
                        if !round_first {
                            self.park(&[self.objs.page(p, PP::Ref), slot]).await;
                        }
                        continue;
                    }
                    let again = self
                        .ctx
                        .step(
                            Op::new("xas_reload", acc(&[Access::read(slot)])),
                            move |e| e.world.files[file].cache.get(index).copied().flatten(),
                        )
                        .await;
                    if again == Some(p) {
                        return Some(p);
                    }
                    self.put_page(p).await;
                }
            })
            .await
    }

    /// `filemap_fault` for the page of `file` at `index` (the page is expected in the cache;
    /// a miss allocates a new page and adds it, `add_to_page_cache_lru`).
    pub async fn filemap_fault(&self, file: FileId, index: usize) -> Option<PageId> {
        self.ctx
            .call("filemap_fault", async move {
                let _f = self.ctx.enter("filemap_fault");
                if let Some(p) = self.find_get_page(file, index).await {
                    return Some(p);
                }
                // No page: `retry_find` under `filemap_invalidate_lock_shared` (v5.15;
                // a model with a truncation only — crate::truncate), `__filemap_get_folio
                // (FGP_CREAT)`: look up again, else add a new page.
                if self.filemap_invalidate_lock_shared(file).await {
                    let p = match self.find_get_page(file, index).await {
                        Some(p) => Some(p),
                        None => self.add_to_page_cache(file, index).await,
                    };
                    self.filemap_invalidate_unlock_shared(file).await;
                    return p;
                }
                self.add_to_page_cache(file, index).await
            })
            .await
    }

    /// `__page_cache_alloc` + `add_to_page_cache_lru`: a new, up-to-date page in the slot
    /// (zeroed, or what the disk holds for the index once a write-out wrote it: the read is
    /// folded into the insertion); the caller keeps one reference, the cache slot holds
    /// another.
    async fn add_to_page_cache(&self, file: FileId, index: usize) -> Option<PageId> {
        self.ctx
            .call("add_to_page_cache", async move {
                let p = self.alloc_page().await?;
                let slot = self.objs.slot(file, index);
                let mut a = Accesses::new()
                    .with(Access::write(slot))
                    .with(Access::write(self.objs.page(p, PP::Ref)))
                    .with(Access::write(self.objs.page(p, PP::Meta)));
                if self.objs.disk {
                    // The read fills the new page from the file's block (crate::reclaim
                    // writes blocks out): its content and UV seal.
                    a.push(Access::write(self.objs.page(p, PP::Uv)));
                }
                let added = self
                    .ctx
                    .step(Op::new("add_to_page_cache_lru", a), move |e| {
                        let w = &mut *e.world;
                        if w.files[file].cache.get(index).copied().flatten().is_some() {
                            return false;
                        }
                        if let Some(b) = w.files[file].disk.get(index).copied().flatten() {
                            w.pages[p].data = b.data;
                            w.uv[p].sealed = b.sealed;
                            e.note(|| format!("P{p} read from block {index}"));
                        }
                        let w = &mut *e.world;
                        w.pages[p].refcount += 1;
                        w.pages[p].mapping = Some((file, index));
                        if w.files[file].cache.len() <= index {
                            w.files[file].cache.resize(index + 1, None);
                        }
                        w.files[file].cache[index] = Some(p);
                        e.note(|| format!("P{p} added to the page cache"));
                        true
                    })
                    .await;
                if added {
                    Some(p)
                } else {
                    self.put_page(p).await;
                    self.find_get_page(file, index).await
                }
            })
            .await
    }

    /// `lru_cache_add` / `mark_page_accessed` queuing the page on this CPU's LRU batch:
    /// `get_page` held by the batch until a drain.
    pub async fn lru_cache_add(&self, p: PageId) {
        let a = acc(&[
            Access::add(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Life)),
            Access::write(explore::ObjId(self.objs.lru)),
        ]);
        self.ctx
            .step(Op::new("lru_cache_add", a), move |e| {
                live(e, p, "lru_cache_add");
                let h = e.world.folio(p);
                if e.world.pages[h].order > 0 {
                    // `folio_add_lru` moves a large folio to the LRU at once (6.1.192
                    // mm/swap.c: `folio_test_large` → `folio_batch_move_lru`; 6.12.118:
                    // `folio_may_be_lru_cached`): the batch's reference is dropped in the
                    // same call.
                    e.note(|| format!("P{p}'s large folio goes to the LRU at once (no batch ref)"));
                    return;
                }
                let pg = &mut e.world.pages[p];
                pg.refcount += 1;
                pg.extra += 1;
                e.world.lru_batch.push(p);
                e.note(|| format!("P{p} queued on the per-CPU LRU batch (+1 ref)"));
            })
            .await
    }

    /// `lru_add_drain` (this CPU) — the model has one CPU batch, so the local drain and
    /// `lru_add_drain_all` both empty it; each drained page's reference is dropped.
    pub async fn lru_add_drain(&self) {
        let _f = self.ctx.enter("lru_add_drain");
        self.drain_batch().await
    }

    /// `lru_add_drain_all`.
    pub async fn lru_add_drain_all(&self) {
        let _f = self.ctx.enter("lru_add_drain_all");
        self.drain_batch().await
    }

    async fn drain_batch(&self) {
        loop {
            let lru = explore::ObjId(self.objs.lru);
            let p = self
                .ctx
                .step(
                    Op::new("pagevec_lru_move", acc(&[Access::write(lru)])),
                    move |e| e.world.lru_batch.pop(),
                )
                .await;
            let Some(p) = p else { break };
            self.put_refs_of(p, 1, false, "release_pages", false).await;
        }
    }
}
