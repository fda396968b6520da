//! Page reclaim of a page-cache folio: one pass of `shrink_folio_list` (mm/vmscan.c) over the
//! folio, with the rmap walks it makes (mm/rmap.c: `folio_referenced`, `try_to_unmap`), the
//! s390 PTE helpers they end in (arch/s390/include/asm/pgtable.h: `ptep_test_and_clear_young`
//! makes a young PTE present but `_PAGE_INVALID` and exports nothing; `ptep_clear_flush`
//! exports a secure page of a protected mm), `pageout` with its write-out (the hook in
//! `folio_start_writeback`), and `__remove_mapping` with its freeze at `1 + nr`.
//! See `docs/kernel-notes.md` §13.
//!
//! Abstractions, and why none changes a verdict:
//! * The LRU lists are not modelled: the scan reaches the folio a scenario names (any folio on
//!   the LRU can be reached), and "activate" and "keep" both put it back with the isolation
//!   reference dropped (they differ only in which list it joins, which no modelled path
//!   reads). A folio still on a per-CPU LRU batch is not on the LRU (`PG_lru` clear), so
//!   the isolation skips it (`folio_test_clear_lru`).
//! * Multi-generational LRU (`lru_gen_enabled`) and memcg reclaim's writeback wait (case 3
//!   of the writeback check, legacy cgroup v1 only) are not modelled: the classic path with
//!   case 2 (flag PG_reclaim, activate). Both keep the folio where the model keeps it or
//!   wait where the model activates; neither exports, unmaps or frees anything the model
//!   does not.
//! * `VM_LOCKED`, `VM_EXEC`, hwpoison and private (buffer-head) data are not modelled (no
//!   scenario declares them); PGDAT_DIRTY is the op's `kswapd` field.
//! * A PTE's dirty bit: on s390 a PTE is hardware-writable only once dirty (`pte_mkwrite`
//!   clears `_PAGE_PROTECT` only with `_PAGE_DIRTY`), so the model's writable PTE stands for
//!   a dirty one and `try_to_unmap_one` marks the folio dirty when it clears one.
//! * The rmap locks (`i_mmap_lock_read`, the anon_vma lock) are not modelled: the walk visits
//!   each mapping under that mapping's PTE lock, which is what orders it against faults,
//!   GUP and the import.

use crate::prim::{acc, check_host_read, free_page, live};
use crate::uv::UvState;
use crate::vocab::properties::{self as prop, report};
use crate::world::{Block, FileId, Held, MmId, PageId, PagePart as PP, Pte, GUP_PIN_COUNTING_BIAS};
use crate::Cx;
use explore::{Access, ObjId, Op};

/// `enum folio_references` (mm/vmscan.c).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum References {
    Activate,
    Keep,
    Reclaim,
    ReclaimClean,
}

/// What the dirty check decided (mm/vmscan.c: `shrink_folio_list`, `folio_test_dirty`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Dirty {
    Clean,
    /// Dirty and not for write-out here: PG_reclaim set, activate.
    Deferred,
    /// Dirty, PG_reclaim already set, in kswapd: write it out.
    WriteOut,
}

impl Cx {
    /// One pass of reclaim over the folio in `file`'s cache at `index` (see the module doc).
    pub async fn shrink_folio(&self, file: FileId, index: usize, kswapd: bool) {
        self.ctx
            .call("shrink_folio", async move {
                let _f = self.ctx.enter("shrink_inactive_list");
                let Some(p) = self.isolate_lru_folio(file, index).await else {
                    return;
                };
                let _g = self.ctx.enter("shrink_folio_list");
                let wrote = self.shrink_isolated(file, index, p, kswapd).await;
                if wrote {
                    self.writeout_bio(file, index, p).await;
                }
            })
            .await
    }

    /// `isolate_lru_folios` for the one folio: `folio_try_get` (add-unless-zero: a frozen or
    /// free count is skipped), then `folio_test_clear_lru` (a folio on a per-CPU batch is not
    /// on the LRU: put back). The isolation reference is held by this thread.
    async fn isolate_lru_folio(&self, file: FileId, index: usize) -> Option<PageId> {
        self.ctx
            .call("isolate_lru_folios", async move {
                let _f = self.ctx.enter("isolate_lru_folios");
                let slot = self.objs.slot(file, index);
                let p = self
                    .ctx
                    .step(
                        Op::new("lru_to_folio", acc(&[Access::read(slot)])),
                        move |e| {
                            let p = e.world.files[file].cache.get(index).copied().flatten();
                            e.note(|| match p {
                                Some(p) => format!("the LRU scan reaches P{p}"),
                                None => "no folio in the cache at this index".into(),
                            });
                            p
                        },
                    )
                    .await?;
                self.folio_isolate_lru(p).await.then_some(p)
            })
            .await
    }

    /// The isolation of one folio from the LRU, as the LRU scans (`isolate_lru_folios`) and
    /// compaction's pfn scan (`isolate_migratepages_block`, mm/compaction.c, 6.1.192) make
    /// it: `folio_try_get` (add-unless-zero: a frozen or free count is skipped), then
    /// `folio_test_clear_lru` (a folio on a per-CPU batch is not on the LRU: put back).
    /// On success the isolation reference is held by this thread.
    pub(crate) async fn folio_isolate_lru(&self, p: PageId) -> bool {
        if !self.page_ref_add_unless_zero(p, 1, false).await {
            return false;
        }
        let a = acc(&[
            Access::read(ObjId(self.objs.lru)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        let on_lru = self
            .ctx
            .step(Op::new("folio_test_clear_lru", a), move |e| {
                let batched = e.world.lru_batch.contains(&p);
                e.note(|| {
                    if batched {
                        format!("P{p} is on a per-CPU LRU batch, not on the LRU")
                    } else {
                        format!("P{p} isolated from the LRU")
                    }
                });
                !batched
            })
            .await;
        if !on_lru {
            self.put_page(p).await;
        }
        on_lru
    }

    /// `shrink_folio_list` for the isolated folio (6.1.192; the same order in 6.12.118).
    /// Returns whether `pageout` started a write-out (the bio is then still to run).
    async fn shrink_isolated(&self, file: FileId, index: usize, p: PageId, kswapd: bool) -> bool {
        self.ctx
            .call("shrink_isolated", async move {
                if !self.trylock_page(p).await {
                    // keep: back to the LRU.
                    self.folio_putback_lru(p, false).await;
                    return false;
                }
                if self.page_writeback(p).await {
                    // Case 2: flag it for immediate reclaim when written, activate.
                    self.set_reclaim_flag(p).await;
                    self.folio_putback_lru(p, true).await;
                    return false;
                }
                let references = self.folio_check_references(file, index, p).await;
                if matches!(references, References::Activate | References::Keep) {
                    self.folio_putback_lru(p, true).await;
                    return false;
                }
                if self.folio_mapped(p).await {
                    let _t = self.ctx.enter("try_to_unmap");
                    for (mm, vpn, protected) in self.file_mappings(file, index) {
                        if !self.try_to_unmap_one(mm, vpn, p, protected).await {
                            break;
                        }
                    }
                    if self.folio_mapped(p).await {
                        self.folio_putback_lru(p, true).await;
                        return false;
                    }
                }
                if self.cfg.reclaim_skips_pinned && self.folio_maybe_dma_pinned(p).await {
                    self.folio_putback_lru(p, true).await;
                    return false;
                }
                match self.folio_test_dirty_for_reclaim(p, kswapd).await {
                    Dirty::Deferred => {
                        self.folio_putback_lru(p, true).await;
                        return false;
                    }
                    Dirty::WriteOut => {
                        if references == References::ReclaimClean {
                            self.folio_putback_lru(p, true).await;
                            return false;
                        }
                        let wrote = self.pageout(file, index, p).await;
                        // keep_locked / activate_locked (still locked), or keep after a
                        // write-out (the writepage unlocked it; PG_writeback is set).
                        self.folio_putback_lru(p, !wrote).await;
                        return wrote;
                    }
                    Dirty::Clean => {}
                }
                if !self.remove_mapping(file, index, p).await {
                    self.folio_putback_lru(p, true).await;
                    return false;
                }
                self.unlock_page(p).await;
                self.free_unref_folio(p).await;
                false
            })
            .await
    }

    /// The mappings of the file page (`mapping->i_mmap`, a set-up constant): (mm, vpn, mm
    /// protected).
    fn file_mappings(&self, file: FileId, index: usize) -> Vec<(MmId, usize, bool)> {
        self.ctx.with_const(|w| {
            w.mms
                .iter()
                .enumerate()
                .flat_map(|(mm, m)| {
                    m.vmas
                        .iter()
                        .filter(|v| v.file == Some((file, index)))
                        .map(move |v| (mm, v.vpn, m.protected))
                })
                .collect()
        })
    }

    /// Back on the LRU (`folio_putback_lru` / `move_folios_to_lru` at the end of the
    /// pass): unlock if still locked, drop the isolation reference.
    pub(crate) async fn folio_putback_lru(&self, p: PageId, locked: bool) {
        let _f = self.ctx.enter("folio_putback_lru");
        if locked {
            self.unlock_page(p).await;
        }
        self.put_page(p).await;
    }

    /// `folio_set_reclaim`.
    pub(crate) async fn set_reclaim_flag(&self, p: PageId) {
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_set_reclaim", a), move |e| {
                live(e, p, "folio_set_reclaim");
                e.world.pages[p].reclaim = true;
                e.note(|| format!("P{p} PG_reclaim set"));
            })
            .await
    }

    /// `folio_check_references` (mm/vmscan.c, 6.1.192): `folio_referenced` counts the young
    /// PTEs (clearing each), then `folio_test_clear_referenced`; referenced PTEs → set
    /// PG_referenced and activate if it was set or more than one PTE was young, else keep;
    /// no young PTE → reclaim, "clean only" when PG_referenced was set (a file folio).
    async fn folio_check_references(&self, file: FileId, index: usize, p: PageId) -> References {
        self.folio_check_references_of(self.file_mappings(file, index), p, true)
            .await
    }

    /// [`Self::folio_check_references`] over the mappings `maps` of `p`; `file_lru`: a
    /// file folio (`folio_is_file_lru`), for which a referenced folio without young PTEs is
    /// reclaimed "clean only" (an anonymous one is reclaimed).
    pub(crate) async fn folio_check_references_of(
        &self,
        maps: Vec<(MmId, usize, bool)>,
        p: PageId,
        file_lru: bool,
    ) -> References {
        self.ctx
            .call("folio_check_references", async move {
                let _f = self.ctx.enter("folio_check_references");
                let mut young = 0u32;
                {
                    let _g = self.ctx.enter("folio_referenced");
                    for (mm, vpn, _) in maps {
                        young += u32::from(self.folio_referenced_one(mm, vpn, p).await);
                    }
                }
                let a = acc(&[
                    Access::write(self.objs.page(p, PP::Meta)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                self.ctx
                    .step(Op::new("folio_test_clear_referenced", a), move |e| {
                        live(e, p, "folio_test_clear_referenced");
                        let pg = &mut e.world.pages[p];
                        let was = pg.referenced;
                        pg.referenced = young > 0;
                        let r = if young > 0 {
                            if was || young > 1 {
                                References::Activate
                            } else {
                                References::Keep
                            }
                        } else if was && file_lru {
                            References::ReclaimClean
                        } else {
                            References::Reclaim
                        };
                        e.note(|| format!("{young} young PTE(s), PG_referenced was {was}: {r:?}"));
                        r
                    })
                    .await
            })
            .await
    }

    /// `folio_referenced_one` for one mapping: under its PTE lock,
    /// `ptep_clear_flush_young_notify` → s390 `ptep_test_and_clear_young`: the PTE becomes
    /// `pte_mkold` (young cleared, `_PAGE_INVALID` set — still present), no UV call. On s390
    /// a valid present PTE is a young one (`pte_mkyoung` clears `_PAGE_INVALID`).
    async fn folio_referenced_one(&self, mm: MmId, vpn: usize, p: PageId) -> bool {
        let _f = self.ctx.enter("folio_referenced_one");
        self.pte_lock(mm, vpn).await;
        let young = self
            .pte_mkold(mm, vpn, p, "ptep_test_and_clear_young")
            .await;
        self.pte_unlock(mm, vpn).await;
        young
    }

    /// Makes the PTE at `vpn` old if it maps `p` (`pte_mkold`: `_PAGE_INVALID`, present
    /// kept); returns whether it was young.
    pub(crate) async fn pte_mkold(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        name: &'static str,
    ) -> bool {
        let a = acc(&[Access::write(self.objs.pte(mm, vpn))]);
        self.ctx
            .step(Op::new(name, a), move |e| {
                let mut pte = e.world.mms[mm].pte(vpn);
                if !(pte.present && pte.page == Some(p)) {
                    e.note(|| "the PTE does not map the folio".into());
                    return false;
                }
                let young = !pte.invalid;
                pte.invalid = true;
                e.world.mms[mm].set_pte(vpn, pte);
                e.note(|| {
                    format!(
                        "pte -> P{p} made old (_PAGE_INVALID, still present){}",
                        if young { ": it was young" } else { "" }
                    )
                });
                young
            })
            .await
    }

    /// `folio_mapped`.
    pub(crate) async fn folio_mapped(&self, p: PageId) -> bool {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_mapped", a), move |e| {
                live(e, p, "folio_mapped");
                e.world.pages[p].mapcount > 0
            })
            .await
    }

    /// `try_to_unmap_one` for one mapping of a file folio (mm/rmap.c, 6.1.192), under the
    /// PTE lock: (v5.7 … v5.10, `unmap_checks_young`: a young PTE is made old and the walk
    /// gives up) `ptep_clear_flush` — in a protected mm the s390 helper exports the page
    /// with the mapping's reference still held (`pte_clear_export_clears_arch1` per release)
    /// —, a dirty PTE dirties the folio, `page_remove_rmap`, `folio_put` of the mapping's
    /// reference. Returns false when the walk stops.
    async fn try_to_unmap_one(&self, mm: MmId, vpn: usize, p: PageId, protected: bool) -> bool {
        self.ctx
            .call("try_to_unmap_one", async move {
                let _f = self.ctx.enter("try_to_unmap_one");
                self.pte_lock(mm, vpn).await;
                let pte = self.read_pte(mm, vpn, "page_vma_mapped_walk").await;
                if !(pte.present && pte.page == Some(p)) {
                    self.pte_unlock(mm, vpn).await;
                    return true;
                }
                if self.cfg.unmap_checks_young
                    && self
                        .pte_mkold(mm, vpn, p, "ptep_clear_flush_young_notify")
                        .await
                {
                    self.pte_unlock(mm, vpn).await;
                    return false;
                }
                self.ptep_clear_flush(mm, vpn, p, protected).await;
                self.remove_rmap_and_put(p).await;
                self.pte_unlock(mm, vpn).await;
                true
            })
            .await
    }

    /// `ptep_clear_flush` (arch/s390/include/asm/pgtable.h; arch/s390/mm/pgtable.c
    /// `ptep_xchg_direct`): the PTE is cleared; in a protected mm (the VM not torn down:
    /// `mm_is_protected`) the page is exported through the UV (v5.7 `uv_convert_from_secure`,
    /// 6.1.192 `uv_convert_owned_from_secure`, 6.12.118 `uv_convert_from_secure_pte`; its
    /// failure handled as at every PTE clear: [`Cx::pte_clear_export`]); a dirty (writable)
    /// PTE dirties the folio (the caller's `folio_mark_dirty`). `protected`: the mm was set
    /// up protected.
    pub(crate) async fn ptep_clear_flush(&self, mm: MmId, vpn: usize, p: PageId, protected: bool) {
        let mut a = vec![Access::write(self.objs.pte(mm, vpn))];
        a.extend(self.dirty_meta(p, true));
        a.push(Access::read(self.objs.page(p, PP::Life)));
        a.push(Access::read(explore::ObjId(self.objs.vm)));
        let a = acc(&a);
        let export = self
            .ctx
            .step(Op::new("ptep_clear_flush", a), move |e| {
                let old = e.world.mms[mm].pte(vpn);
                e.world.mms[mm].set_pte(vpn, Pte::NONE);
                e.note(|| format!("pte -> P{p} cleared"));
                if old.write {
                    let h = e.world.folio(p);
                    e.world.pages[h].dirty = true;
                }
                protected && live(e, p, "ptep_clear_flush") && e.world.mm_is_protected(mm)
            })
            .await;
        if export {
            self.pte_clear_export("ptep_clear_flush", p).await;
        }
    }

    /// `page_remove_rmap` then `folio_put` of the mapping's reference (still under the PTE
    /// lock: the isolation reference keeps the folio).
    pub(crate) async fn remove_rmap_and_put(&self, p: PageId) {
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Meta)),
            Access::write(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("page_remove_rmap", a), move |e| {
                live(e, p, "page_remove_rmap");
                let w = &mut *e.world;
                w.pages[p].mapcount -= 1;
                // The mapping's reference is now this thread's to drop.
                w.pages[p].extra += 1;
                let generation = w.pages[p].generation;
                let tid = e.tid;
                e.world.held[tid].push(Held {
                    page: p,
                    pin: false,
                    generation,
                });
                e.note(|| format!("P{p} mapcount -1"));
            })
            .await;
        self.put_page(p).await;
    }

    /// `folio_maybe_dma_pinned` of a small folio: refcount ≥ `GUP_PIN_COUNTING_BIAS`.
    pub(crate) async fn folio_maybe_dma_pinned(&self, p: PageId) -> bool {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_maybe_dma_pinned", a), move |e| {
                live(e, p, "folio_maybe_dma_pinned");
                let pinned = e.world.pages[p].refcount >= GUP_PIN_COUNTING_BIAS;
                e.note(|| format!("P{p} maybe pinned: {pinned}"));
                pinned
            })
            .await
    }

    /// The dirty branch of `shrink_folio_list` (6.1.192): a dirty file folio is written
    /// out only by kswapd, with PG_reclaim already set and the node PGDAT_DIRTY; otherwise
    /// PG_reclaim is set and the folio activated.
    async fn folio_test_dirty_for_reclaim(&self, p: PageId, kswapd: bool) -> Dirty {
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_test_dirty", a), move |e| {
                live(e, p, "folio_test_dirty");
                let pg = &mut e.world.pages[p];
                let d = if !pg.dirty {
                    Dirty::Clean
                } else if kswapd && pg.reclaim {
                    Dirty::WriteOut
                } else {
                    pg.reclaim = true;
                    Dirty::Deferred
                };
                e.note(|| format!("P{p}: {d:?}"));
                d
            })
            .await
    }

    /// `pageout` (mm/vmscan.c, 6.1.192): `is_page_cache_freeable` (refcount − private =
    /// isolation + cache, else PAGE_KEEP); newer kernels (`reclaim_fs_writeout` false)
    /// activate a file-system folio; `folio_clear_dirty_for_io` (→ `folio_mkclean`: any
    /// shared mapping made read-only, exporting in a protected mm); `->writepage` →
    /// `folio_start_writeback` (PG_writeback, then the hook) → `folio_unlock`. Returns whether
    /// the write-out started (the folio is then unlocked).
    async fn pageout(&self, file: FileId, index: usize, p: PageId) -> bool {
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
                if !freeable || !self.cfg.reclaim_fs_writeout {
                    return false;
                }
                if !self.folio_clear_dirty_for_io(file, index, p).await {
                    return false;
                }
                let _g = self.ctx.enter("writepage");
                self.test_set_page_writeback(p).await;
                self.unlock_page(p).await;
                true
            })
            .await
    }

    /// `folio_clear_dirty_for_io` (mm/page-writeback.c): `folio_mkclean` over the shared
    /// mappings (mm/rmap.c `page_vma_mkclean_one`: a writable PTE is cleared with
    /// `ptep_clear_flush` — an export in a protected mm — and set again write-protected and
    /// clean; the page stays mapped), then test-and-clear PG_dirty.
    pub(crate) async fn folio_clear_dirty_for_io(
        &self,
        file: FileId,
        index: usize,
        p: PageId,
    ) -> bool {
        self.ctx
            .call("folio_clear_dirty_for_io", async move {
                let _f = self.ctx.enter("folio_clear_dirty_for_io");
                let shared: Vec<_> = self
                    .file_mappings(file, index)
                    .into_iter()
                    .filter(|&(mm, vpn, _)| {
                        self.ctx
                            .with_const(|w| w.mms[mm].vma(vpn).is_some_and(|v| v.shared))
                    })
                    .collect();
                for (mm, vpn, protected) in shared {
                    let _g = self.ctx.enter("page_vma_mkclean_one");
                    // `mmu_notifier_invalidate_range_start` (MMU_NOTIFY_PROTECTION_PAGE,
                    // mm/rmap.c `page_vma_mkclean_one`, 6.1.192 and 6.12.118): the KVM's
                    // notifier where it has one on this mm (the new gmap, v7.0).
                    let notifier = self.kvm_notifier_on(mm);
                    if notifier {
                        self.kvm_mmu_notifier_invalidate_range_start().await;
                    }
                    self.pte_lock(mm, vpn).await;
                    let pte = self.read_pte(mm, vpn, "page_vma_mapped_walk").await;
                    if pte.present && pte.page == Some(p) && pte.write {
                        self.ptep_clear_flush(mm, vpn, p, protected).await;
                        let a = acc(&[Access::write(self.objs.pte(mm, vpn))]);
                        self.ctx
                            .step(Op::new("set_pte_at(wrprotect, clean)", a), move |e| {
                                let pte = Pte {
                                    write: false,
                                    ..pte
                                };
                                e.world.mms[mm].set_pte(vpn, pte);
                                e.note(|| format!("pte -> P{p} read-only, clean"));
                            })
                            .await;
                    }
                    self.pte_unlock(mm, vpn).await;
                    if notifier {
                        self.kvm_mmu_notifier_invalidate_range_end().await;
                    }
                }
                let mut a = self.dirty_meta(p, true);
                a.push(Access::read(self.objs.page(p, PP::Life)));
                let a = acc(&a);
                self.ctx
                    .step(Op::new("folio_test_clear_dirty", a), move |e| {
                        live(e, p, "folio_test_clear_dirty");
                        let h = e.world.folio(p);
                        let was = std::mem::replace(&mut e.world.pages[h].dirty, false);
                        e.note(|| format!("P{p} PG_dirty was {was}"));
                        was
                    })
                    .await
            })
            .await
    }

    /// `__remove_mapping(mapping, folio, reclaimed = true)` (mm/vmscan.c, 6.1.192), the
    /// folio locked: under the i_pages lock `folio_ref_freeze(folio, 1 + nr)` (the isolation
    /// and the cache's references; any other holder — a mapping, a pin, a batch, an I/O's
    /// reference — makes it fail: return 0); frozen but dirty → unfreeze, 0; else
    /// `__filemap_remove_folio` (the slot emptied, `folio->mapping` cleared) and return 1
    /// with the count left at 0.
    async fn remove_mapping(&self, file: FileId, index: usize, p: PageId) -> bool {
        self.ctx
            .call("__remove_mapping", async move {
                let _f = self.ctx.enter("__remove_mapping");
                if !self.page_ref_freeze(p, 2).await {
                    return false;
                }
                let slot = self.objs.slot(file, index);
                let a = acc(&[
                    Access::write(slot),
                    Access::write(self.objs.page(p, PP::Meta)),
                    Access::write(self.objs.page(p, PP::Ref)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                let removed = self
                    .ctx
                    .step(Op::new("__filemap_remove_folio", a), move |e| {
                        live(e, p, "__filemap_remove_folio");
                        if e.world.pages[p].dirty {
                            e.note(|| format!("P{p} dirty after the freeze"));
                            return false;
                        }
                        let w = &mut *e.world;
                        w.files[file].cache[index] = None;
                        let pg = &mut w.pages[p];
                        pg.mapping = None;
                        // The frozen count held the cache's reference and this thread's
                        // isolation reference: both are gone.
                        pg.extra -= 1;
                        let tid = e.tid;
                        if let Some(i) = e.world.held[tid].iter().rposition(|h| h.page == p) {
                            e.world.held[tid].remove(i);
                        }
                        e.note(|| format!("P{p} removed from the page cache"));
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

    /// `free_unref_page_list` of the folios `__remove_mapping` left at a zero count.
    pub(crate) async fn free_unref_folio(&self, p: PageId) {
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Life)),
            Access::read(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Meta)),
            Access::write(ObjId(self.objs.alloc)),
        ]);
        self.ctx
            .step(Op::new("free_unref_page_list", a), move |e| {
                if live(e, p, "free_unref_page_list") {
                    free_page(e, p, "free_unref_page_list");
                }
            })
            .await
    }

    /// The write-out's bio (`submit_bio` after `->writepage`): the disk reads the page
    /// into the file's block (a secure page is I/O on a secure page; what the disk reads,
    /// ciphertext of an exported page with its seal, is what a later read brings back),
    /// then `folio_end_writeback`.
    async fn writeout_bio(&self, file: FileId, index: usize, p: PageId) {
        let _f = self.ctx.enter("submit_bio");
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Uv)),
            Access::read(self.objs.page(p, PP::Life)),
            Access::write(self.objs.slot(file, index)),
        ]);
        let what = "dma_read (disk write-out)";
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
                let block = Block {
                    data: e.world.pages[p].data,
                    sealed: e.world.uv[p].sealed,
                };
                e.world.files[file].disk[index] = Some(block);
                e.note(|| format!("the disk reads P{p} into block {index}"));
            })
            .await;
        self.end_page_writeback(p).await;
    }
}
