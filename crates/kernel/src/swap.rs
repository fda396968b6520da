//! Swap of anonymous memory (QEMU's guest RAM): reclaim's pass over an anonymous folio
//! (mm/vmscan.c `shrink_folio_list`: `add_to_swap` puts it in the swap cache, `try_to_unmap`
//! leaves a swap entry — `ptep_clear_flush` exporting a protected mm's secure page first —,
//! `pageout` → `swap_writepage` starts the write-out with the writeback hook,
//! `__remove_mapping` frees it once written), and the fault that meets the swap entry
//! (mm/memory.c `do_swap_page`: the swap-cache lookup or the read into a new page, the folio
//! lock, `pte_same`, `swap_free`, the swap cache freed or kept, the page mapped) with the
//! write fault on a read-only anonymous page (`do_wp_page`: reuse or `wp_page_copy`), per
//! release (`anon_reuse`). See `docs/kernel-notes.md` §18.
//!
//! What the import then meets: `expected_folio_refs` (arch/s390/kernel/uv.c, v5.7 …
//! 6.12.118: one reference for the swap cache, `folio_test_swapcache`, as for a page-cache
//! slot) counts the swap cache's reference, so a page mapped from the swap cache freezes at
//! mapcount + 1; an extra holder (the swap-in's LRU batch, a second fault's lookup) makes it
//! `-EBUSY`, the drain ladder or a retry.
//!
//! Abstractions, and why none changes a verdict:
//! * One swap device, a block device without `SWP_SYNCHRONOUS_IO` (zram's "skip the swap
//!   cache" swap-in is another configuration, not another release), with one slot per
//!   anonymous mapping (`folio_alloc_swap` takes the lowest free one); no `SWP_FS_OPS`, no
//!   `SWP_STABLE_WRITES` (`do_swap_page` would then map a page under writeback
//!   non-exclusive), no frontswap/zswap, no swap readahead beyond the faulting entry.
//! * The write-out's bio runs after the pass, in the reclaiming thread, as `reclaim`'s does;
//!   the swap-in's read I/O runs in the faulting thread with the new folio locked, its
//!   completion (`end_swap_bio_read`: uptodate, `folio_unlock`) right after: the folio lock
//!   and PG_writeback are what other threads see of either, and both are modelled.
//! * Every anonymous page of the model is exclusive (`PageAnonExclusive`): no fork, KSM off
//!   for a PV guest (`gmap_mark_unmergeable` / `ksm_disable`). So the swap PTE is
//!   `pte_swp_exclusive` from v5.19 and the swap count of a slot is at most 1.
//!   `try_to_unmap_one`'s pinned check (`page_try_share_anon_rmap`, v5.19) and reclaim's
//!   `folio_maybe_dma_pinned` before `add_to_swap` (feb889fb40fa) are modelled for every
//!   release, as migrate.rs does: no scenario pins an anonymous page while reclaim runs
//!   (before them a pinned page was swapped out and stayed in the swap cache, pinned).
//! * `mem_cgroup_swap_full`, `VM_LOCKED` / mlock (which make the fault free the swap cache
//!   at once) and the multi-generational LRU are not modelled: no memory cgroup limit, no
//!   mlock in a scenario.
//! * `folio_lock_or_retry` sleeps on the folio lock with the mmap lock held; with
//!   `FAULT_FLAG_ALLOW_RETRY` the kernel may drop the mmap lock and redo the fault, which
//!   reaches the same lookup again: the same outcome after more steps.
//! * A read fault maps the page read-only in every release (6.12.118 `do_swap_page` maps an
//!   exclusive page writable but clean, `pte_mkwrite` without `pte_mkdirty`): the model's
//!   writable PTE stands for a dirty one (reclaim.rs), so it takes the write fault
//!   `do_wp_page` reuses instead — one round more (the import's `-ENXIO` on a read-only
//!   PTE and its write fault), the same page mapped writable afterwards.
//! * `do_swap_page`'s `swap_free`, the swap-cache decision and `set_pte_at` are one step:
//!   all run under the PTE lock and the folio lock, which every other writer of that
//!   state takes (reclaim, the import's trylock, another fault's `pte_same`); the
//!   lockless swap-cache lookup only adds a reference, which the step reads.

use crate::config::AnonReuse;
use crate::hook::EFAULT;
use crate::prim::{acc, check_host_read, live};
use crate::reclaim::References;
use crate::uv::UvState;
use crate::vocab::properties::{self as prop, report};
use crate::world::{Block, MmId, PageId, PagePart as PP, Pte, Swp};
use crate::Cx;
use explore::{Access, Op};

/// What `pageout` of a swap-backed folio ended in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Pageout {
    /// PAGE_KEEP: still locked, back to the LRU.
    KeepLocked,
    /// PAGE_SUCCESS without I/O (`swap_writepage` freed the swap cache): unlocked, kept.
    Kept,
    /// The write-out into this slot started (PG_writeback, unlocked).
    Wrote(usize),
    /// PAGE_CLEAN: go on to free it.
    Clean,
}

impl Cx {
    /// One pass of reclaim over the anonymous folio at `vpn` of `mm` (see the module doc).
    pub async fn shrink_anon(&self, mm: MmId, vpn: usize) {
        self.ctx
            .call("shrink_anon", async move {
                let _f = self.ctx.enter("shrink_inactive_list");
                let Some(p) = self.isolate_anon_folio(mm, vpn).await else {
                    return;
                };
                let _g = self.ctx.enter("shrink_folio_list");
                if let Some(slot) = self.shrink_anon_isolated(p).await {
                    self.swap_writeout_bio(slot, p).await;
                }
            })
            .await
    }

    /// The objects of every swap slot (a step that learns its slot only when it runs
    /// declares them all).
    fn swap_objs(&self) -> Vec<Access> {
        let n = self.ctx.with_const(|w| w.swap.len());
        (0..n).map(|s| Access::read(self.objs.swap(s))).collect()
    }

    /// The LRU scan reaches the folio the PTE maps — or, behind a swap entry, the swap
    /// cache's folio of that slot — and isolates it ([`Cx::folio_isolate_lru`]).
    async fn isolate_anon_folio(&self, mm: MmId, vpn: usize) -> Option<PageId> {
        self.ctx
            .call("isolate_lru_folios", async move {
                let _f = self.ctx.enter("isolate_lru_folios");
                let mut a = vec![Access::read(self.objs.pte(mm, vpn))];
                a.extend(self.swap_objs());
                let p = self
                    .ctx
                    .step(Op::new("lru_to_folio", acc(&a)), move |e| {
                        let pte = e.world.mms[mm].pte(vpn);
                        let p = match pte.swp {
                            Some(Swp::Swap { slot }) => e.world.swap[slot].cache,
                            _ => pte.page.filter(|_| pte.present),
                        };
                        e.note(|| match p {
                            Some(p) => format!("the LRU scan reaches P{p}"),
                            None => "no page at this address".into(),
                        });
                        p
                    })
                    .await?;
                self.folio_isolate_lru(p).await.then_some(p)
            })
            .await
    }

    /// `shrink_folio_list` for the isolated anonymous folio (6.1.192; the same order in
    /// 6.12.118). Returns the slot whose write-out `pageout` started (the bio is then still
    /// to run).
    async fn shrink_anon_isolated(&self, p: PageId) -> Option<usize> {
        self.ctx
            .call("shrink_anon_isolated", async move {
                if !self.trylock_page(p).await {
                    self.folio_putback_lru(p, false).await;
                    return None;
                }
                if self.page_writeback(p).await {
                    // Case 2: flag it for immediate reclaim when written, activate.
                    self.set_reclaim_flag(p).await;
                    self.folio_putback_lru(p, true).await;
                    return None;
                }
                let maps = self.anon_mappings();
                let references = self.folio_check_references_of(maps.clone(), p, false).await;
                if matches!(references, References::Activate | References::Keep) {
                    self.folio_putback_lru(p, true).await;
                    return None;
                }
                // Not yet in the swap cache: a maybe-pinned folio is kept, else added.
                if !self.folio_test_swapcache(p).await
                    && (self.folio_maybe_dma_pinned(p).await || !self.add_to_swap(p).await)
                {
                    self.folio_putback_lru(p, true).await;
                    return None;
                }
                if self.folio_mapped(p).await {
                    let _t = self.ctx.enter("try_to_unmap");
                    for (mm, vpn, protected) in maps {
                        if !self.try_to_unmap_one_anon(mm, vpn, p, protected).await {
                            break;
                        }
                    }
                    if self.folio_mapped(p).await {
                        self.folio_putback_lru(p, true).await;
                        return None;
                    }
                }
                if self.cfg.reclaim_skips_pinned && self.folio_maybe_dma_pinned(p).await {
                    self.folio_putback_lru(p, true).await;
                    return None;
                }
                if self.folio_test_dirty(p).await {
                    // An anonymous folio is not on the file LRU: no kswapd condition.
                    match self.pageout_swap(p).await {
                        Pageout::KeepLocked => {
                            self.folio_putback_lru(p, true).await;
                            return None;
                        }
                        Pageout::Kept => {
                            self.folio_putback_lru(p, false).await;
                            return None;
                        }
                        Pageout::Wrote(slot) => {
                            self.folio_putback_lru(p, false).await;
                            return Some(slot);
                        }
                        Pageout::Clean => {}
                    }
                }
                if !self.remove_mapping_swap(p).await {
                    self.folio_putback_lru(p, true).await;
                    return None;
                }
                self.unlock_page(p).await;
                self.free_unref_folio(p).await;
                None
            })
            .await
    }

    /// `folio_test_swapcache`.
    async fn folio_test_swapcache(&self, p: PageId) -> bool {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_test_swapcache", a), move |e| {
                live(e, p, "folio_test_swapcache");
                e.world.pages[p].swapcache
            })
            .await
    }

    /// `add_to_swap` (mm/swap_state.c, 6.1.192): `folio_alloc_swap` (the lowest free slot;
    /// none → false), `add_to_swap_cache` (`folio_ref_add` of the cache's reference,
    /// PG_swapcache, the slot's entry, `SWAP_HAS_CACHE`), then `folio_mark_dirty` ("the
    /// page is no longer backed by its old location").
    async fn add_to_swap(&self, p: PageId) -> bool {
        let _f = self.ctx.enter("add_to_swap");
        let n = self.ctx.with_const(|w| w.swap.len());
        let mut a: Vec<Access> = (0..n).map(|s| Access::write(self.objs.swap(s))).collect();
        a.push(Access::write(self.objs.page(p, PP::Meta)));
        a.push(Access::write(self.objs.page(p, PP::Ref)));
        a.push(Access::read(self.objs.page(p, PP::Life)));
        let added = self
            .ctx
            .step(Op::new("add_to_swap_cache", acc(&a)), move |e| {
                live(e, p, "add_to_swap_cache");
                let Some(slot) = e.world.swap.iter().position(|s| s.is_free()) else {
                    e.note(|| "no free swap slot".into());
                    return false;
                };
                let w = &mut *e.world;
                w.swap[slot].cache = Some(p);
                w.pages[p].swapcache = true;
                w.pages[p].refcount += 1;
                e.note(|| format!("P{p} in the swap cache at slot {slot}: +1 ref"));
                true
            })
            .await;
        if added {
            self.folio_mark_dirty(p).await;
        }
        added
    }

    /// `try_to_unmap_one` for one anonymous mapping (mm/rmap.c, 6.1.192 / 6.12.118), under
    /// its PTE lock (from the new gmap, v7.0, inside the KVM's MMU-notifier range): (v5.7 …
    /// v5.10, `unmap_checks_young`: a young PTE is made old and the walk gives up)
    /// `ptep_clear_flush` — the export of a protected mm's secure page, with the mapping's
    /// reference still held —, `swap_duplicate`, a maybe-pinned page
    /// (`page_try_share_anon_rmap` fails) gets its PTE back (`swap_free`) and the walk stops;
    /// else the swap entry (`pte_swp_mkexclusive`) takes the PTE's place, `page_remove_rmap`,
    /// `folio_put` of the mapping's reference. Returns false when the walk stops.
    async fn try_to_unmap_one_anon(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        protected: bool,
    ) -> bool {
        self.ctx
            .call("try_to_unmap_one", async move {
                let _f = self.ctx.enter("try_to_unmap_one");
                let notifier = self.kvm_notifier_on(mm);
                if notifier {
                    self.kvm_mmu_notifier_invalidate_range_start().await;
                }
                self.pte_lock(mm, vpn).await;
                let pte = self.read_pte(mm, vpn, "page_vma_mapped_walk").await;
                let mut go_on = true;
                if pte.present && pte.page == Some(p) {
                    if self.cfg.unmap_checks_young
                        && self
                            .pte_mkold(mm, vpn, p, "ptep_clear_flush_young_notify")
                            .await
                    {
                        go_on = false;
                    } else {
                        self.ptep_clear_flush(mm, vpn, p, protected).await;
                        if self.folio_maybe_dma_pinned(p).await {
                            self.set_pte(mm, vpn, pte, "set_pte_at(pteval)").await;
                            go_on = false;
                        } else {
                            self.set_swap_pte(mm, vpn, p).await;
                            self.remove_rmap_and_put(p).await;
                        }
                    }
                }
                self.pte_unlock(mm, vpn).await;
                if notifier {
                    self.kvm_mmu_notifier_invalidate_range_end().await;
                }
                go_on
            })
            .await
    }

    /// `swap_duplicate(entry)` and `set_pte_at(swp_pte)`: the folio's slot (`folio->swap`)
    /// gains a swap count, the PTE holds its entry.
    async fn set_swap_pte(&self, mm: MmId, vpn: usize, p: PageId) {
        let mut a = vec![
            Access::write(self.objs.pte(mm, vpn)),
            Access::read(self.objs.page(p, PP::Meta)),
        ];
        let n = self.ctx.with_const(|w| w.swap.len());
        a.extend((0..n).map(|s| Access::write(self.objs.swap(s))));
        self.ctx
            .step(Op::new("set_pte_at(swap entry)", acc(&a)), move |e| {
                let slot = e
                    .world
                    .swap
                    .iter()
                    .position(|s| s.cache == Some(p))
                    .expect("try_to_unmap runs on a folio in the swap cache");
                e.world.swap[slot].count += 1;
                e.world.mms[mm].set_pte(
                    vpn,
                    Pte {
                        swp: Some(Swp::Swap { slot }),
                        ..Pte::NONE
                    },
                );
                e.note(|| format!("pte: swap entry for slot {slot} (swap count +1)"));
            })
            .await
    }

    /// `pageout` of a swap-cache folio (mm/vmscan.c, 6.1.192): `is_page_cache_freeable`
    /// (refcount − private = isolation + swap cache, else PAGE_KEEP);
    /// `folio_clear_dirty_for_io` (the folio is unmapped: nothing to clean in a PTE);
    /// `folio_set_reclaim`; `swap_writepage` (mm/page_io.c): `folio_free_swap` (no swap PTE
    /// holds the slot any more → deleted from the swap cache, unlocked, no I/O), else
    /// `__swap_writepage` → `folio_start_writeback` (PG_writeback, then the hook),
    /// `folio_unlock`, the bio submitted.
    async fn pageout_swap(&self, p: PageId) -> Pageout {
        self.ctx
            .call("pageout", async move {
                let _f = self.ctx.enter("pageout");
                let a = acc(&[
                    Access::read(self.objs.page(p, PP::Ref)),
                    Access::read(self.objs.page(p, PP::Meta)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                let freeable = self
                    .ctx
                    .step(Op::new("is_page_cache_freeable", a), move |e| {
                        live(e, p, "is_page_cache_freeable");
                        let pg = &e.world.pages[p];
                        let c = pg.refcount;
                        let ok = c - i32::from(pg.private) == 2;
                        e.note(|| format!("P{p} refcount {c}: freeable {ok}"));
                        ok
                    })
                    .await;
                if !freeable {
                    return Pageout::KeepLocked;
                }
                let mut a = self.dirty_meta(p, true);
                a.push(Access::read(self.objs.page(p, PP::Life)));
                let was_dirty = self
                    .ctx
                    .step(Op::new("folio_clear_dirty_for_io", acc(&a)), move |e| {
                        live(e, p, "folio_clear_dirty_for_io");
                        let was = std::mem::replace(&mut e.world.pages[p].dirty, false);
                        e.note(|| format!("P{p} PG_dirty was {was}"));
                        was
                    })
                    .await;
                if !was_dirty {
                    return Pageout::Clean;
                }
                self.set_reclaim_flag(p).await;
                let _g = self.ctx.enter("swap_writepage");
                if self.folio_free_swap(p).await {
                    self.unlock_page(p).await;
                    return Pageout::Kept;
                }
                let slot = self.swap_slot_of(p).await;
                let _h = self.ctx.enter("__swap_writepage");
                self.test_set_page_writeback(p).await;
                self.unlock_page(p).await;
                Pageout::Wrote(slot)
            })
            .await
    }

    /// The slot of a folio in the swap cache (`folio->swap`; its lock held).
    async fn swap_slot_of(&self, p: PageId) -> usize {
        let mut a = self.swap_objs();
        a.push(Access::read(self.objs.page(p, PP::Meta)));
        self.ctx
            .step(Op::new("folio->swap", acc(&a)), move |e| {
                e.world
                    .swap
                    .iter()
                    .position(|s| s.cache == Some(p))
                    .expect("the folio is in the swap cache")
            })
            .await
    }

    /// `folio_free_swap` (mm/swapfile.c, 6.1.192; `try_to_free_swap` before), the folio
    /// locked: in the swap cache, not under writeback, and no swap PTE holding its slot
    /// (`folio_swapped`) → `delete_from_swap_cache` (the cache's reference dropped, the slot
    /// freed) and `folio_set_dirty`. Returns whether it did.
    pub(crate) async fn folio_free_swap(&self, p: PageId) -> bool {
        let mut a = vec![
            Access::write(self.objs.page(p, PP::Meta)),
            Access::write(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Writeback)),
            Access::read(self.objs.page(p, PP::Life)),
        ];
        let n = self.ctx.with_const(|w| w.swap.len());
        a.extend((0..n).map(|s| Access::write(self.objs.swap(s))));
        self.ctx
            .step(Op::new("folio_free_swap", acc(&a)), move |e| {
                live(e, p, "folio_free_swap");
                delete_if_unswapped(e, p)
            })
            .await
    }

    /// `__remove_mapping` of a swap-cache folio (mm/vmscan.c, 6.1.192), the folio locked:
    /// `folio_ref_freeze(folio, 1 + nr)` (the isolation and the swap cache's references;
    /// any other holder makes it fail), dirty → unfreeze and fail; else
    /// `__delete_from_swap_cache` and `put_swap_folio` (`SWAP_HAS_CACHE` cleared), the
    /// count left at 0.
    async fn remove_mapping_swap(&self, p: PageId) -> bool {
        self.ctx
            .call("__remove_mapping", async move {
                let _f = self.ctx.enter("__remove_mapping");
                if !self.page_ref_freeze(p, 2).await {
                    return false;
                }
                let mut a = vec![
                    Access::write(self.objs.page(p, PP::Meta)),
                    Access::write(self.objs.page(p, PP::Ref)),
                    Access::read(self.objs.page(p, PP::Life)),
                ];
                let n = self.ctx.with_const(|w| w.swap.len());
                a.extend((0..n).map(|s| Access::write(self.objs.swap(s))));
                let removed = self
                    .ctx
                    .step(Op::new("__delete_from_swap_cache", acc(&a)), move |e| {
                        live(e, p, "__delete_from_swap_cache");
                        if e.world.pages[p].dirty {
                            e.note(|| format!("P{p} dirty after the freeze"));
                            return false;
                        }
                        let w = &mut *e.world;
                        if let Some(s) = w.swap.iter_mut().find(|s| s.cache == Some(p)) {
                            s.cache = None;
                        }
                        let pg = &mut w.pages[p];
                        pg.swapcache = false;
                        // The frozen count held the swap cache's reference and this
                        // thread's isolation reference: both are gone.
                        pg.extra -= 1;
                        let tid = e.tid;
                        if let Some(i) = e.world.held[tid].iter().rposition(|h| h.page == p) {
                            e.world.held[tid].remove(i);
                        }
                        e.note(|| format!("P{p} deleted from the swap cache"));
                        true
                    })
                    .await;
                if !removed {
                    self.page_ref_unfreeze(p, 2).await;
                }
                removed
            })
            .await
    }

    /// The write-out's bio (`submit_bio` after `__swap_writepage`): the swap device reads
    /// the page into the slot (a secure page is I/O on a secure page; an exported page's
    /// ciphertext and seal are what a swap-in reads back), then `folio_end_writeback`
    /// (`end_swap_bio_write`).
    async fn swap_writeout_bio(&self, slot: usize, p: PageId) {
        let _f = self.ctx.enter("submit_bio");
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Uv)),
            Access::read(self.objs.page(p, PP::Life)),
            Access::write(self.objs.swap(slot)),
        ]);
        let what = "dma_read (swap write-out)";
        self.ctx
            .step(Op::new(what, a), move |e| {
                if !live(e, p, what) {
                    return;
                }
                if let UvState::Secure { guest, gfn } = e.world.uv[p].state {
                    report(
                        e,
                        prop::IO_SECURE,
                        format!(
                            "{what}: device I/O on P{p}, which is secure \
                             (guest {guest}, gfn {gfn}): the I/O fails"
                        ),
                    );
                    return;
                }
                check_host_read(e, p, what);
                e.world.swap[slot].block = Some(Block {
                    data: e.world.pages[p].data,
                    sealed: e.world.uv[p].sealed,
                });
                e.note(|| format!("the swap device reads P{p} into slot {slot}"));
            })
            .await;
        self.end_page_writeback(p).await;
    }

    /// `do_swap_page` (mm/memory.c, 6.1.192 / 6.12.118) for the swap entry of `slot` at
    /// `vpn` of `mm`: the swap-cache lookup (`swap_cache_get_folio`), else the swap-in
    /// (`swapin_readahead` → `__read_swap_cache_async`: a new folio in the swap cache,
    /// locked, on the LRU batch, read from the device); no folio → `pte_same` under the PTE
    /// lock: the entry still there → VM_FAULT_OOM, else 0 (someone faulted it in);
    /// `folio_lock_or_retry`; the folio left the swap cache or the slot → 0 (`out_page`);
    /// the PTE lock and `pte_same` (else 0, `out_nomap`); then per `anon_reuse` the swap
    /// cache kept or freed, `swap_free`, the PTE (writable or not) and the rmap
    /// ([`Self::swap_map_page`]); unlock; a write fault still to be done → `do_wp_page`.
    /// The lookup's (or the swap-in's) reference becomes the mapping's.
    pub(crate) async fn do_swap_page(&self, mm: MmId, vpn: usize, slot: usize, write: bool) -> i32 {
        self.ctx
            .call("do_swap_page", async move {
                let _f = self.ctx.enter("do_swap_page");
                let found = match self.swap_cache_get_folio(slot).await {
                    Some(p) => Some(p),
                    None => self.read_swap_cache_async(slot).await,
                };
                let Some(p) = found else {
                    self.pte_lock(mm, vpn).await;
                    let pte = self.read_pte(mm, vpn, "pte_same").await;
                    self.pte_unlock(mm, vpn).await;
                    return if pte.swp == Some(Swp::Swap { slot }) {
                        EFAULT
                    } else {
                        0
                    };
                };
                self.lock_page(p).await;
                if !self.folio_in_swap_slot(p, slot).await {
                    self.unlock_page(p).await;
                    self.put_page(p).await;
                    return 0;
                }
                self.pte_lock(mm, vpn).await;
                let pte = self.read_pte(mm, vpn, "pte_same").await;
                if pte.swp != Some(Swp::Swap { slot }) {
                    self.pte_unlock(mm, vpn).await;
                    self.unlock_page(p).await;
                    self.put_page(p).await;
                    return 0;
                }
                let writable = self.swap_map_page(mm, vpn, slot, p, write).await;
                self.pte_unlock(mm, vpn).await;
                self.unlock_page(p).await;
                if write && !writable {
                    self.do_wp_page_anon(mm, vpn, p).await;
                }
                0
            })
            .await
    }

    /// `swap_cache_get_folio` (6.1.192; `lookup_swap_cache` before) → `filemap_get_folio`
    /// of the swap address space: the slot's folio with a reference
    /// (`folio_try_get_rcu`: a frozen count — `__remove_mapping` at work — makes the lookup
    /// spin until it is unfrozen or gone; `xas_reload` re-checks the slot).
    async fn swap_cache_get_folio(&self, slot: usize) -> Option<PageId> {
        self.ctx
            .call("swap_cache_get_folio", async move {
                let _f = self.ctx.enter("swap_cache_get_folio");
                let obj = self.objs.swap(slot);
                // `repeat:` has no bound; the loop carries whether a round went before.
                let lp = self.retry_loop("filemap_get_entry (swap cache)");
                let mut first = true;
                loop {
                    if !lp.head(u64::from(!first)).await {
                        return None;
                    }
                    let round_first = std::mem::replace(&mut first, false);
                    self.ctx.attempt_begin();
                    let p = self
                        .ctx
                        .step(Op::new("xas_load", acc(&[Access::read(obj)])), move |e| {
                            let p = e.world.swap[slot].cache;
                            e.note(|| match p {
                                Some(p) => format!("swap cache slot {slot} -> P{p}"),
                                None => format!("swap cache slot {slot} empty"),
                            });
                            p
                        })
                        .await?;
                    if !self.page_ref_add_unless_zero(p, 1, false).await {
                        if !round_first {
                            self.park(&[self.objs.page(p, PP::Ref), obj]).await;
                        }
                        continue;
                    }
                    let again = self
                        .ctx
                        .step(Op::new("xas_reload", acc(&[Access::read(obj)])), move |e| {
                            e.world.swap[slot].cache
                        })
                        .await;
                    if again == Some(p) {
                        return Some(p);
                    }
                    self.put_page(p).await;
                }
            })
            .await
    }

    /// `__read_swap_cache_async` (mm/swap_state.c, 6.1.192) and `swap_readpage`: the slot's
    /// folio if the cache has it; the entry freed meanwhile (swap count 0: the PTE no longer
    /// holds it) → none; else a new folio (`vma_alloc_folio`), `swapcache_prepare` and
    /// `add_to_swap_cache` (locked, PG_swapcache, the cache's reference; lost to a racing
    /// swap-in → put it and look again), `folio_add_lru` (the batch's reference), the
    /// device writes the slot's block into it, `end_swap_bio_read` (uptodate, unlock). The
    /// caller holds the allocation's reference.
    async fn read_swap_cache_async(&self, slot: usize) -> Option<PageId> {
        self.ctx
            .call("__read_swap_cache_async", async move {
                let _f = self.ctx.enter("swapin_readahead");
                let obj = self.objs.swap(slot);
                let lp = self.retry_loop("__read_swap_cache_async");
                while lp.head(0).await {
                    self.ctx.attempt_begin();
                    if let Some(p) = self.swap_cache_get_folio(slot).await {
                        return Some(p);
                    }
                    let used = self
                        .ctx
                        .step(
                            Op::new("__swp_swapcount", acc(&[Access::read(obj)])),
                            move |e| e.world.swap[slot].count > 0,
                        )
                        .await;
                    if !used {
                        return None;
                    }
                    let p = self.alloc_page().await?;
                    let a = acc(&[
                        Access::write(obj),
                        Access::write(self.objs.page(p, PP::Meta)),
                        Access::write(self.objs.page(p, PP::Ref)),
                        Access::write(self.objs.page(p, PP::Lock)),
                        Access::read(self.objs.page(p, PP::Life)),
                    ]);
                    let added = self
                        .ctx
                        .step(Op::new("add_to_swap_cache", a), move |e| {
                            live(e, p, "add_to_swap_cache");
                            if e.world.swap[slot].cache.is_some() {
                                e.note(|| "swapcache_prepare: -EEXIST".into());
                                return false;
                            }
                            let tid = e.tid;
                            let w = &mut *e.world;
                            w.swap[slot].cache = Some(p);
                            let pg = &mut w.pages[p];
                            pg.swapcache = true;
                            pg.uptodate = false;
                            pg.locked_by = Some(tid);
                            pg.refcount += 1;
                            e.note(|| format!("P{p} locked, in the swap cache at slot {slot}"));
                            true
                        })
                        .await;
                    if !added {
                        self.put_page(p).await;
                        self.park(&[obj]).await;
                        continue;
                    }
                    self.lru_cache_add(p).await;
                    self.swap_readpage(slot, p).await;
                    let _g = self.ctx.enter("end_swap_bio_read");
                    self.unlock_page(p).await;
                    return Some(p);
                }
                None
            })
            .await
    }

    /// `swap_readpage`'s I/O: the device writes the slot's block into the new page (a
    /// frame still secure — freed after a failed export — is I/O on a secure page) with the
    /// UV's integrity data of the exported guest page it holds (carried with the block:
    /// `world::Block`); then the page is uptodate.
    async fn swap_readpage(&self, slot: usize, p: PageId) {
        let _f = self.ctx.enter("swap_readpage");
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Uv)),
            Access::write(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
            Access::read(self.objs.swap(slot)),
        ]);
        let what = "dma_write (swap read)";
        self.ctx
            .step(Op::new(what, a), move |e| {
                if !live(e, p, what) {
                    return;
                }
                if let UvState::Secure { guest, gfn } = e.world.uv[p].state {
                    report(
                        e,
                        prop::IO_SECURE,
                        format!(
                            "{what}: device I/O on P{p}, which is secure \
                             (guest {guest}, gfn {gfn}): the I/O fails"
                        ),
                    );
                    return;
                }
                let block = e.world.swap[slot].block;
                let w = &mut *e.world;
                w.pages[p].data = block.map_or([0; crate::world::PAGE_BYTES], |b| b.data);
                w.uv[p].sealed = block.and_then(|b| b.sealed);
                w.pages[p].uptodate = true;
                e.note(|| format!("the swap device writes slot {slot} into P{p}"));
            })
            .await
    }

    /// Under the folio lock: the folio is still in the swap cache at `slot`
    /// (`folio_test_swapcache` and `page_private(page) == entry.val`).
    async fn folio_in_swap_slot(&self, p: PageId, slot: usize) -> bool {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
            Access::read(self.objs.swap(slot)),
        ]);
        self.ctx
            .step(Op::new("folio_test_swapcache", a), move |e| {
                live(e, p, "folio_test_swapcache");
                let ok = e.world.pages[p].swapcache && e.world.swap[slot].cache == Some(p);
                e.note(|| format!("P{p} still in the swap cache at slot {slot}: {ok}"));
                ok
            })
            .await
    }

    /// The end of `do_swap_page` under the PTE lock and the folio lock, as one step (module
    /// doc): per `anon_reuse`
    /// * `reuse-swap-page` / `page-count` (v5.7 … v5.17): a write fault maps writable when
    ///   `reuse_swap_page` (mapcount + swap count ≤ 1) holds, deleting a page not under
    ///   writeback from the swap cache (dirtied); `swap_free`;
    /// * `free-swap` (v5.18): `swap_free`; `should_try_to_free_swap` (a write fault, count
    ///   2) → `try_to_free_swap`; writable on a write fault at count 1;
    /// * `anon-exclusive` (v5.19 on): `swap_free`; `should_try_to_free_swap` →
    ///   `folio_free_swap`; the exclusive entry → writable on a write fault.
    ///
    /// Then `set_pte_at` (present, young) and `page_add_anon_rmap`: the fault's reference
    /// becomes the mapping's. Returns whether the PTE is writable.
    async fn swap_map_page(
        &self,
        mm: MmId,
        vpn: usize,
        slot: usize,
        p: PageId,
        write: bool,
    ) -> bool {
        let a = acc(&[
            Access::write(self.objs.pte(mm, vpn)),
            Access::write(self.objs.swap(slot)),
            Access::write(self.objs.page(p, PP::Meta)),
            Access::write(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Writeback)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        let mode = self.cfg.anon_reuse;
        self.ctx
            .step(Op::new("do_swap_page: set_pte_at", a), move |e| {
                live(e, p, "do_swap_page");
                let writable = match mode {
                    AnonReuse::ReuseSwapPage | AnonReuse::PageCount => {
                        let w = &mut *e.world;
                        let count = w.pages[p].mapcount + i32::from(w.swap[slot].count);
                        let reuse = write && count <= 1;
                        if reuse && !w.pages[p].writeback {
                            w.swap[slot].cache = None;
                            let pg = &mut w.pages[p];
                            pg.swapcache = false;
                            pg.refcount -= 1;
                            pg.dirty = true;
                            e.note(|| format!("reuse_swap_page: P{p} deleted from the swap cache"));
                        }
                        e.world.swap[slot].count -= 1;
                        reuse
                    }
                    AnonReuse::FreeSwap | AnonReuse::AnonExclusive => {
                        e.world.swap[slot].count -= 1;
                        if write && e.world.pages[p].refcount == 2 {
                            delete_if_unswapped(e, p);
                        }
                        match mode {
                            AnonReuse::FreeSwap => write && e.world.pages[p].refcount == 1,
                            _ => write,
                        }
                    }
                };
                let w = &mut *e.world;
                w.mms[mm].set_pte(
                    vpn,
                    Pte {
                        present: true,
                        invalid: false,
                        write: writable,
                        page: Some(p),
                        swp: None,
                    },
                );
                let pg = &mut w.pages[p];
                pg.mapcount += 1;
                pg.extra -= 1;
                let tid = e.tid;
                if let Some(i) = e.world.held[tid].iter().rposition(|h| h.page == p) {
                    e.world.held[tid].remove(i);
                }
                e.note(|| {
                    format!(
                        "swap_free(slot {slot}); map P{p}{}: mapcount +1",
                        if writable { " writable" } else { " read-only" }
                    )
                });
                writable
            })
            .await
    }

    /// `do_wp_page` (mm/memory.c) for a write fault on the read-only PTE of an anonymous
    /// page `p` at `vpn` of `mm`, in a model that swaps, per `anon_reuse`:
    /// * `reuse-swap-page` (v5.7): `trylock_page` (else a reference, the PTE lock dropped,
    ///   `lock_page`, the PTE lock again and `pte_same`), `reuse_swap_page` → reuse, else
    ///   copy;
    /// * `page-count` (09854ba94c6a): count ≠ 1 → copy; trylock; mapcount and count 1 →
    ///   reuse, else copy;
    /// * `free-swap` (53a05ad9f21d): count > 1 + swap cache → copy; trylock (else copy);
    ///   `try_to_free_swap`; count 1 → reuse, else copy;
    /// * `anon-exclusive` (6.1.192, 6.12.118): `PageAnonExclusive` → reuse.
    ///
    /// Reuse is `wp_page_reuse` (young, dirty, writable); copy is `wp_page_copy` with a
    /// reference taken under the PTE lock.
    pub(crate) async fn do_wp_page_anon(&self, mm: MmId, vpn: usize, p: PageId) {
        self.ctx
            .call("do_wp_page", async move {
                let _f = self.ctx.enter("do_wp_page");
                self.pte_lock(mm, vpn).await;
                let pte = self.read_pte(mm, vpn, "pte_same").await;
                if !(pte.present && pte.page == Some(p) && !pte.write) {
                    self.pte_unlock(mm, vpn).await;
                    return;
                }
                let reuse = match self.cfg.anon_reuse {
                    AnonReuse::AnonExclusive => true,
                    AnonReuse::ReuseSwapPage => {
                        if !self.trylock_page(p).await {
                            self.get_page(p).await;
                            self.pte_unlock(mm, vpn).await;
                            self.lock_page(p).await;
                            self.pte_lock(mm, vpn).await;
                            let now = self.read_pte(mm, vpn, "pte_same").await;
                            if now != pte {
                                self.unlock_page(p).await;
                                self.pte_unlock(mm, vpn).await;
                                self.put_page(p).await;
                                return;
                            }
                            self.put_page(p).await;
                        }
                        let ok = self.reuse_swap_page(p).await;
                        self.unlock_page(p).await;
                        ok
                    }
                    AnonReuse::PageCount => {
                        if self.page_count(p).await != 1 || !self.trylock_page(p).await {
                            false
                        } else {
                            let ok = self.page_count(p).await == 1;
                            self.unlock_page(p).await;
                            ok
                        }
                    }
                    AnonReuse::FreeSwap => {
                        let (count, swapcache) = self.page_count_swapcache(p).await;
                        if count > 1 + i32::from(swapcache) || !self.trylock_page(p).await {
                            false
                        } else {
                            if swapcache {
                                self.folio_free_swap(p).await;
                            }
                            let ok = self.page_count(p).await == 1;
                            self.unlock_page(p).await;
                            ok
                        }
                    }
                };
                if reuse {
                    self.wp_page_reuse(mm, vpn, p).await;
                    self.pte_unlock(mm, vpn).await;
                    return;
                }
                self.get_page(p).await;
                self.pte_unlock(mm, vpn).await;
                self.wp_page_copy(mm, vpn, p).await;
            })
            .await
    }

    /// `page_count` (its lifetime read with it).
    async fn page_count(&self, p: PageId) -> i32 {
        self.page_count_swapcache(p).await.0
    }

    /// `page_count` and `PageSwapCache` in one step.
    async fn page_count_swapcache(&self, p: PageId) -> (i32, bool) {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("page_count", a), move |e| {
                live(e, p, "page_count");
                let (c, sc) = (e.world.pages[p].refcount, e.world.pages[p].swapcache);
                e.note(|| format!("P{p} refcount {c}"));
                (c, sc)
            })
            .await
    }

    /// `reuse_swap_page` (mm/swapfile.c, v5.x), the page locked: mapcount + the slot's swap
    /// count ≤ 1 → true, and a page in the swap cache not under writeback is deleted from
    /// it and dirtied.
    async fn reuse_swap_page(&self, p: PageId) -> bool {
        let mut a = vec![
            Access::write(self.objs.page(p, PP::Meta)),
            Access::write(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Writeback)),
            Access::read(self.objs.page(p, PP::Life)),
        ];
        let n = self.ctx.with_const(|w| w.swap.len());
        a.extend((0..n).map(|s| Access::write(self.objs.swap(s))));
        self.ctx
            .step(Op::new("reuse_swap_page", acc(&a)), move |e| {
                live(e, p, "reuse_swap_page");
                let w = &mut *e.world;
                let slot = w.swap.iter().position(|s| s.cache == Some(p));
                let swapped = slot.map_or(0, |s| i32::from(w.swap[s].count));
                let count = w.pages[p].mapcount + swapped;
                if count <= 1 && !w.pages[p].writeback {
                    if let Some(s) = slot {
                        w.swap[s].cache = None;
                        let pg = &mut w.pages[p];
                        pg.swapcache = false;
                        pg.refcount -= 1;
                        pg.dirty = true;
                    }
                }
                e.note(|| format!("P{p} mapcount + swap count {count}"));
                count <= 1
            })
            .await
    }

    /// `wp_page_reuse`: the PTE made young, dirty and writable (under the PTE lock).
    async fn wp_page_reuse(&self, mm: MmId, vpn: usize, p: PageId) {
        let a = acc(&[Access::write(self.objs.pte(mm, vpn))]);
        self.ctx
            .step(Op::new("wp_page_reuse", a), move |e| {
                let mut pte = e.world.mms[mm].pte(vpn);
                if pte.present && pte.page == Some(p) {
                    pte.write = true;
                    pte.invalid = false;
                    e.world.mms[mm].set_pte(vpn, pte);
                    e.note(|| format!("pte -> P{p} reused writable"));
                }
            })
            .await
    }

    /// `wp_page_copy` (mm/memory.c, 6.1.192), holding a reference to `old`: a new page,
    /// `cow_user_page` (the CPU copy), then under the PTE lock, if it still maps `old`:
    /// `ptep_clear_flush_notify` (the export of a secure page in a protected mm), the new
    /// page mapped writable (`page_add_new_anon_rmap`, `lru_cache_add_inactive_or_unevictable`),
    /// `page_remove_rmap(old)` and the put of its mapping's reference; else the new page is
    /// put. Then the put of `old`'s reference.
    async fn wp_page_copy(&self, mm: MmId, vpn: usize, old: PageId) {
        self.ctx
            .call("wp_page_copy", async move {
                let _f = self.ctx.enter("wp_page_copy");
                let Some(new) = self.alloc_page().await else {
                    self.put_page(old).await;
                    return;
                };
                self.cpu_copy_page(old, new, "cow_user_page", "copy_user_highpage")
                    .await;
                self.pte_lock(mm, vpn).await;
                let pte = self.read_pte(mm, vpn, "pte_same").await;
                if pte.present && pte.page == Some(old) {
                    let protected = self.ctx.with_const(|w| w.mms[mm].protected);
                    self.ptep_clear_flush(mm, vpn, old, protected).await;
                    self.map_new_anon(mm, vpn, new).await;
                    self.lru_cache_add(new).await;
                    self.remove_rmap_and_put(old).await;
                } else {
                    self.put_page(new).await;
                }
                self.pte_unlock(mm, vpn).await;
                self.put_page(old).await;
            })
            .await
    }

    /// `set_pte_at_notify` of a new anonymous page, writable and young, under the PTE lock:
    /// this thread's allocation reference becomes the mapping's.
    async fn map_new_anon(&self, mm: MmId, vpn: usize, p: PageId) {
        let a = acc(&[
            Access::write(self.objs.pte(mm, vpn)),
            Access::write(self.objs.page(p, PP::Meta)),
            Access::write(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("set_pte_at_notify", a), move |e| {
                live(e, p, "set_pte_at_notify");
                let w = &mut *e.world;
                w.mms[mm].set_pte(
                    vpn,
                    Pte {
                        present: true,
                        invalid: false,
                        write: true,
                        page: Some(p),
                        swp: None,
                    },
                );
                w.pages[p].mapcount += 1;
                w.pages[p].extra -= 1;
                let tid = e.tid;
                if let Some(i) = e.world.held[tid].iter().rposition(|h| h.page == p) {
                    e.world.held[tid].remove(i);
                }
                e.note(|| format!("pte -> P{p} (the copy) writable: mapcount +1"));
            })
            .await
    }

    /// Whether the model swaps (a `reclaim-anon` thread: swap slots exist).
    pub(crate) fn swaps(&self) -> bool {
        self.objs.swap_base.is_some()
    }
}

/// `folio_free_swap`'s test and deletion inside a step that declared the page's `Meta`,
/// `Ref`, `Writeback` and the slots: in the swap cache, not under writeback, no swap PTE on
/// its slot → deleted (the cache's reference dropped, the slot free), dirtied.
fn delete_if_unswapped(e: &mut crate::prim::Env, p: PageId) -> bool {
    let w = &mut *e.world;
    let Some(slot) = w.swap.iter().position(|s| s.cache == Some(p)) else {
        return false;
    };
    if !w.pages[p].swapcache || w.pages[p].writeback || w.swap[slot].count > 0 {
        e.note(|| format!("P{p} stays in the swap cache"));
        return false;
    }
    w.swap[slot].cache = None;
    let pg = &mut w.pages[p];
    pg.swapcache = false;
    pg.refcount -= 1;
    pg.dirty = true;
    e.note(|| format!("P{p} deleted from the swap cache (-1 ref), dirty"));
    true
}
