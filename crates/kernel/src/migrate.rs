//! Page migration of an anonymous page (compaction, NUMA balancing, `move_pages`, the
//! long-term pinning's `check_and_migrate_movable_pages`): the folio isolated from the LRU,
//! `migrate_pages` with its passes, `migrate_folio_unmap` (folio lock, writeback,
//! `try_to_migrate` → `try_to_migrate_one`: `ptep_clear_flush` — the export of a protected
//! mm's secure page — and a migration entry in its place), `migrate_folio_move`
//! (`folio_migrate_mapping`'s reference check, the CPU copy of the old page, the new page
//! mapped by `remove_migration_ptes`, the old one freed), and the fault that meets a
//! migration entry (`migration_entry_wait`). See `docs/kernel-notes.md` §17.
//!
//! Per release (`migrate_batch`): 6.1.192 (and the v5.x-era `unmap_and_move`) unmap and move
//! each folio in one go, a failed move restoring its PTEs, 10 passes with `force` from the
//! fourth; 6.12.118 (from v6.3) unmaps first and retries only the move with the folio left
//! unmapped (migration entries in place), undoing leftovers after the last pass.
//!
//! Abstractions, and why none changes a verdict:
//! * The migration target is any free frame (`alloc_page`: the lowest); the node/zone the
//!   caller asks for plays no part in what the host does to the page.
//! * Only anonymous folios not in the swap cache are migrated here (`folio_mapping` NULL):
//!   `folio_migrate_mapping` then only compares the count with `1` (no freeze, no xarray) in
//!   every release read (6.1.192 `folio_migrate_mapping`, 6.12.118 `__migrate_folio`, v5.x
//!   `migrate_page_move_mapping`). The order of the compare and the copy (6.1.192 copies
//!   after, 6.12.118 before) does not matter for such a folio: both run with the folio
//!   locked and unmapped.
//! * The restored or new PTE is young: s390 keeps the young bit in a migration entry from
//!   v6.1 (`migration_entry_supports_ad`: s390's swap offset holds `SWP_MIG_TOTAL_BITS`,
//!   mm/swapfile.c `swapfile_init`, 6.1.192). Before v6.1 (`is_migration_entry_young`
//!   false) the new PTE is old: present with `_PAGE_INVALID`, which the import answers with
//!   -ENXIO and the fault makes young again — one more round, the same outcome.
//! * 6.12.118 drains the LRU batch after `folio_add_lru(dst)` only for an mlocked folio
//!   (6.1.192: whenever the folio was mapped); the model drains as 6.1.192 does. Left on a
//!   batch, the new page's extra reference makes the import's freeze fail (-EBUSY), which
//!   the import's own drain ladder answers.
//! * The v5.x `__migration_entry_wait` takes a transient reference (`get_page_unless_zero`,
//!   `put_and_wait_on_page_locked`); from "mm/migrate.c: rework migration_entry_wait() to
//!   not take a pageref" the waiter takes none (6.1.192 `migration_entry_wait_on_locked`).
//!   The model takes none: the v5.x reference can only make one move's reference check
//!   fail (-EAGAIN, retried), as any other transient holder does.
//! * The anonymous rmap walk (`rmap_walk_anon` under the anon_vma lock) visits the anonymous
//!   mappings of every mm under each one's PTE lock and acts where the PTE maps the folio
//!   (or holds its migration entry).
//! * `try_to_migrate_one`'s pinned check (`page_try_share_anon_rmap` on an anon-exclusive
//!   page, 6.1.192; `folio_try_share_anon_rmap_pte`, 6.12.118) is modelled for every
//!   release; before the anon-exclusive series (v5.19, not modelled as a switch) a pinned
//!   page was unmapped and its move failed the reference check instead: its PTEs were
//!   restored in both cases.

use crate::prim::{acc, check_host_read, live};
use crate::vocab::properties::{self as prop, report};
use crate::world::{MmId, PageId, PagePart as PP, Pte, Swp};
use crate::Cx;
use explore::{Access, Op};

/// `NR_MAX_MIGRATE_PAGES_RETRY` (mm/migrate.c, 6.1.192 and 6.12.118; `pass < 10` in the
/// v5.x-era `migrate_pages`).
pub const NR_MAX_MIGRATE_PAGES_RETRY: usize = 10;
/// `NR_MAX_MIGRATE_ASYNC_RETRY` (mm/migrate.c, 6.12.118).
pub const NR_MAX_MIGRATE_ASYNC_RETRY: usize = 3;

/// What one step of a migration returned (`MIGRATEPAGE_*` and the errnos the loop reads).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Rc {
    /// `MIGRATEPAGE_SUCCESS`: moved (or freed under us).
    Success,
    /// `MIGRATEPAGE_UNMAP`: unmapped and locked, with this target.
    Unmap(PageId),
    /// `-EAGAIN`: stays on the list for the next pass.
    Again,
    /// `-EBUSY` (writeback in a non-sync mode): a permanent failure.
    Busy,
    /// `-ENOMEM`: no target page; the whole call stops.
    NoMem,
}

/// The caller's `migrate_mode`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Mode {
    Async,
    Sync,
}

impl Cx {
    /// Migration of the anonymous page mapped at `vpn` of `mm` (see the module doc): the
    /// pfn scan of compaction reaches that frame (`isolate_migratepages_block`:
    /// `folio_try_get`, `folio_test_clear_lru`), then `migrate_pages` in `MIGRATE_ASYNC`
    /// (direct compaction) or, with `sync`, `MIGRATE_SYNC` (`move_pages`, the long-term
    /// pinning's `check_and_migrate_movable_pages`); a folio that could not be migrated is
    /// put back (`putback_movable_pages`).
    pub async fn migrate(&self, mm: MmId, vpn: usize, sync: bool) {
        self.ctx
            .call("migrate", async move {
                let _f = self.ctx.enter("isolate_migratepages_block");
                let pte = self.read_pte(mm, vpn, "pfn scan").await;
                let Some(src) = pte.page.filter(|_| pte.present) else {
                    return;
                };
                if !self.folio_isolate_lru(src).await {
                    return;
                }
                drop(_f);
                let _g = self.ctx.enter("migrate_pages");
                let mode = if sync { Mode::Sync } else { Mode::Async };
                let done = if !self.cfg.migrate_batch {
                    self.migrate_pages_unbatched(src, mode).await
                } else if mode == Mode::Async {
                    self.migrate_pages_batch(src, Mode::Async, NR_MAX_MIGRATE_PAGES_RETRY)
                        .await
                } else {
                    // `migrate_pages_sync`: the list asynchronously first, then each folio
                    // alone in the requested mode.
                    match self
                        .migrate_pages_batch(src, Mode::Async, NR_MAX_MIGRATE_ASYNC_RETRY)
                        .await
                    {
                        Some(false) => {
                            self.migrate_pages_batch(
                                src,
                                Mode::Sync,
                                NR_MAX_MIGRATE_PAGES_RETRY - NR_MAX_MIGRATE_ASYNC_RETRY,
                            )
                            .await
                        }
                        r => r,
                    }
                };
                if done != Some(true) {
                    // `putback_movable_pages`: back on the LRU, the isolation reference
                    // dropped (the folio is unlocked by now).
                    self.folio_putback_lru(src, false).await;
                }
            })
            .await
    }

    /// 6.1.192 `migrate_pages_batch` (no batching) / v5.x `migrate_pages`: up to 10 passes
    /// of `migrate_folio_unmap` + `migrate_folio_move`, `force = pass > 2`. Some(true):
    /// migrated (the isolation reference is gone); Some(false): failed, permanently or after
    /// the last pass; None: -ENOMEM (stop).
    async fn migrate_pages_unbatched(&self, src: PageId, mode: Mode) -> Option<bool> {
        for pass in 0..NR_MAX_MIGRATE_PAGES_RETRY {
            let _p = self.ctx.enter("migrate_pages_batch");
            let rc = match self.migrate_folio_unmap(src, pass > 2, mode).await {
                Rc::Unmap(dst) => self.migrate_folio_move(src, dst, true).await,
                rc => rc,
            };
            match rc {
                Rc::Success => return Some(true),
                Rc::Again => continue,
                Rc::Busy => return Some(false),
                Rc::NoMem => return None,
                Rc::Unmap(_) => unreachable!("migrate_folio_move returns no UNMAP"),
            }
        }
        // After the last pass the -EAGAIN folios count as failed.
        Some(false)
    }

    /// 6.12.118 `migrate_pages_batch` for a batch of one folio: unmap passes, then move
    /// passes with the folio left unmapped; a folio still unmoved after `nr_pass` is undone.
    async fn migrate_pages_batch(&self, src: PageId, mode: Mode, nr_pass: usize) -> Option<bool> {
        let _p = self.ctx.enter("migrate_pages_batch");
        let mut dst = None;
        for _ in 0..nr_pass {
            match self.migrate_folio_unmap(src, true, mode).await {
                Rc::Unmap(d) => {
                    dst = Some(d);
                    break;
                }
                Rc::Success => return Some(true),
                Rc::Again => continue,
                Rc::Busy => return Some(false),
                Rc::NoMem => return None,
            }
        }
        let Some(dst) = dst else {
            // Every unmap pass failed with -EAGAIN: the folio counts as failed (a sync
            // caller then tries it alone in its mode: `migrate_pages_sync`).
            return Some(false);
        };
        for _ in 0..nr_pass {
            // The move of an anonymous folio returns success or -EAGAIN.
            if self.migrate_folio_move(src, dst, false).await == Rc::Success {
                return Some(true);
            }
        }
        // `migrate_folio_undo_src` (remove_migration_ptes(src, src), unlock) and
        // `migrate_folio_undo_dst` (unlock, put).
        let _u = self.ctx.enter("migrate_folio_undo_src");
        self.remove_migration_ptes(src, src).await;
        self.unlock_page(src).await;
        self.unlock_page(dst).await;
        self.put_page(dst).await;
        Some(false)
    }

    /// `migrate_folio_unmap` (mm/migrate.c, 6.1.192 / 6.12.118): a folio whose count is down
    /// to the isolation reference was freed under us (done: the caller's put frees it);
    /// allocate the target (-ENOMEM); `folio_trylock`, else -EAGAIN in async mode (6.1.192:
    /// also without `force`) or `folio_lock`; writeback: -EBUSY unless `MIGRATE_SYNC` (6.1.192:
    /// and `force`) waits; lock the target; `try_to_migrate`; still mapped →
    /// `remove_migration_ptes(src, src)`, unlock, -EAGAIN.
    async fn migrate_folio_unmap(&self, src: PageId, force: bool, mode: Mode) -> Rc {
        self.ctx
            .call("migrate_folio_unmap", async move {
                let _f = self.ctx.enter("migrate_folio_unmap");
                let a = acc(&[
                    Access::read(self.objs.page(src, PP::Ref)),
                    Access::read(self.objs.page(src, PP::Life)),
                ]);
                let alone = self
                    .ctx
                    .step(Op::new("folio_ref_count", a), move |e| {
                        live(e, src, "folio_ref_count");
                        let c = e.world.pages[src].refcount;
                        e.note(|| format!("P{src} refcount {c}"));
                        c == 1
                    })
                    .await;
                if alone {
                    // `migrate_folio_done`: the caller's put of the isolation reference
                    // frees the folio.
                    self.put_page(src).await;
                    return Rc::Success;
                }
                let Some(dst) = self.alloc_page().await else {
                    return Rc::NoMem;
                };
                let fail = |rc| async move {
                    self.put_page(dst).await;
                    rc
                };
                if !self.trylock_page(src).await {
                    let may_sleep = mode == Mode::Sync && (self.cfg.migrate_batch || force);
                    if !may_sleep {
                        return fail(Rc::Again).await;
                    }
                    self.lock_page(src).await;
                }
                if self.page_writeback(src).await {
                    if mode != Mode::Sync || !force {
                        self.unlock_page(src).await;
                        return fail(if mode == Mode::Sync {
                            Rc::Again
                        } else {
                            Rc::Busy
                        })
                        .await;
                    }
                    self.wait_on_page_writeback(src).await;
                }
                // The target is a fresh page nobody else can see: the trylock succeeds.
                let _ = self.trylock_page(dst).await;
                let mut was_mapped = false;
                if self.folio_mapped(src).await {
                    let _t = self.ctx.enter("try_to_migrate");
                    for (mm, vpn, protected) in self.anon_mappings() {
                        self.try_to_migrate_one(mm, vpn, src, protected).await;
                    }
                    was_mapped = true;
                }
                if !self.folio_mapped(src).await {
                    return Rc::Unmap(dst);
                }
                if was_mapped {
                    self.remove_migration_ptes(src, src).await;
                }
                self.unlock_page(dst).await;
                self.unlock_page(src).await;
                fail(Rc::Again).await
            })
            .await
    }

    /// The anonymous mappings of every mm (the rmap walk's candidates; a set-up constant):
    /// (mm, vpn, mm protected).
    pub(crate) fn anon_mappings(&self) -> Vec<(MmId, usize, bool)> {
        self.ctx.with_const(|w| {
            w.mms
                .iter()
                .enumerate()
                .flat_map(|(mm, m)| {
                    m.vmas
                        .iter()
                        .filter(|v| v.file.is_none())
                        .map(move |v| (mm, v.vpn, m.protected))
                })
                .collect()
        })
    }

    /// `try_to_migrate_one` (mm/rmap.c, 6.1.192 / 6.12.118) for one mapping, under its PTE
    /// lock (from the new gmap, v7.0, inside the KVM's MMU-notifier range): the PTE maps the
    /// folio → `ptep_clear_flush` (the export of a secure page in a protected mm, with the
    /// mapping's reference still held); an anon-exclusive page that may be DMA-pinned
    /// (`page_try_share_anon_rmap` fails) → the old PTE is set back and the walk stops (the
    /// page stays mapped, already exported); else a migration entry (writable if the PTE
    /// was), `page_remove_rmap`, `folio_put` of the mapping's reference.
    async fn try_to_migrate_one(&self, mm: MmId, vpn: usize, p: PageId, protected: bool) {
        self.ctx
            .call("try_to_migrate_one", async move {
                let _f = self.ctx.enter("try_to_migrate_one");
                let notifier = self.kvm_notifier_on(mm);
                if notifier {
                    self.kvm_mmu_notifier_invalidate_range_start().await;
                }
                self.pte_lock(mm, vpn).await;
                let pte = self.read_pte(mm, vpn, "page_vma_mapped_walk").await;
                if pte.present && pte.page == Some(p) {
                    self.ptep_clear_flush(mm, vpn, p, protected).await;
                    if self.folio_maybe_dma_pinned(p).await {
                        self.set_pte(mm, vpn, pte, "set_pte_at(pteval)").await;
                    } else {
                        let entry = Pte {
                            swp: Some(Swp::Migration {
                                page: p,
                                write: pte.write,
                            }),
                            ..Pte::NONE
                        };
                        self.set_pte(mm, vpn, entry, "set_pte_at(migration entry)")
                            .await;
                        self.remove_rmap_and_put(p).await;
                    }
                }
                self.pte_unlock(mm, vpn).await;
                if notifier {
                    self.kvm_mmu_notifier_invalidate_range_end().await;
                }
            })
            .await
    }

    /// `set_pte_at` of `pte` under the caller's PTE lock.
    pub(crate) async fn set_pte(&self, mm: MmId, vpn: usize, pte: Pte, name: &'static str) {
        let a = acc(&[Access::write(self.objs.pte(mm, vpn))]);
        self.ctx
            .step(Op::new(name, a), move |e| {
                e.world.mms[mm].set_pte(vpn, pte);
                e.note(|| crate::prim::describe_pte(&pte));
            })
            .await
    }

    /// `migrate_folio_move` (mm/migrate.c, 6.1.192 / 6.12.118) of an anonymous folio:
    /// `move_to_new_folio` → `migrate_folio` → `folio_migrate_mapping` (no mapping: the
    /// count must be exactly the isolation reference, else -EAGAIN) and `folio_migrate_copy`
    /// (the CPU copy); success → `folio_add_lru(dst)` (+ `lru_add_drain`),
    /// `remove_migration_ptes(src, dst)`, unlock both, `folio_put(dst)` (the allocation's
    /// reference), `migrate_folio_done` (the isolation reference dropped: the old page is
    /// freed). -EAGAIN with `restore` (6.1.192): `remove_migration_ptes(src, src)`, unlock
    /// both, put the target; without (6.12.118's batch): the folio stays unmapped and locked
    /// with its target for the next pass.
    async fn migrate_folio_move(&self, src: PageId, dst: PageId, restore: bool) -> Rc {
        self.ctx
            .call("migrate_folio_move", async move {
                let _f = self.ctx.enter("migrate_folio_move");
                let a = acc(&[
                    Access::read(self.objs.page(src, PP::Ref)),
                    Access::read(self.objs.page(src, PP::Life)),
                ]);
                let ok = {
                    let _g = self.ctx.enter("folio_migrate_mapping");
                    self.ctx
                        .step(Op::new("folio_ref_count == expected", a), move |e| {
                            live(e, src, "folio_migrate_mapping");
                            let c = e.world.pages[src].refcount;
                            e.note(|| format!("P{src} refcount {c}, expected 1"));
                            c == 1
                        })
                        .await
                };
                if !ok {
                    if restore {
                        self.remove_migration_ptes(src, src).await;
                        self.unlock_page(dst).await;
                        self.put_page(dst).await;
                        self.unlock_page(src).await;
                    }
                    return Rc::Again;
                }
                self.folio_migrate_copy(src, dst).await;
                self.lru_cache_add(dst).await;
                self.lru_add_drain().await;
                self.remove_migration_ptes(src, dst).await;
                self.unlock_page(dst).await;
                self.unlock_page(src).await;
                self.put_page(dst).await;
                let _d = self.ctx.enter("migrate_folio_done");
                self.put_page(src).await;
                Rc::Success
            })
            .await
    }

    /// `folio_migrate_copy` → `folio_copy` → `copy_highpage` (6.12.118: `folio_mc_copy`):
    /// the CPU reads the old page (a still-secure page raises 0x3d, handled as every kernel
    /// access is: [`Cx::kernel_access`]) and writes the new one. The new page holds what the
    /// old one held — the ciphertext of an exported guest page — and the UV's integrity
    /// data of that guest page stays valid for it (kept per guest page, carried with the
    /// content as a disk block carries it: `world::Block`).
    async fn folio_migrate_copy(&self, src: PageId, dst: PageId) {
        self.cpu_copy_page(src, dst, "folio_migrate_copy", "copy_highpage")
            .await
    }

    /// The CPU copy of `src` into `dst` as [`Self::folio_migrate_copy`] describes it, in the
    /// caller's frame `frame` with the copy step named `name` (also `wp_page_copy`'s
    /// `cow_user_page` → `copy_user_highpage`, mm/memory.c, 6.1.192).
    pub(crate) async fn cpu_copy_page(
        &self,
        src: PageId,
        dst: PageId,
        frame: &'static str,
        name: &'static str,
    ) {
        let _f = self.ctx.enter(frame);
        self.kernel_access(src, false).await;
        let a = acc(&[
            Access::read(self.objs.page(src, PP::Uv)),
            Access::read(self.objs.page(src, PP::Life)),
            Access::write(self.objs.page(dst, PP::Uv)),
            Access::read(self.objs.page(dst, PP::Life)),
        ]);
        self.ctx
            .step(Op::new(name, a), move |e| {
                if !(live(e, src, name) && live(e, dst, name)) {
                    return;
                }
                if let crate::uv::UvState::Secure { guest, gfn } = e.world.uv[src].state {
                    // Nothing maps the locked, unmapped source, so no import made it secure
                    // again: both the export at the PTE clear and the 0x3d handler's failed
                    // (the handler's fix-up ended the access above).
                    report(
                        e,
                        prop::IO_SECURE,
                        format!(
                            "{name}: the CPU copies P{src}, still secure (guest {guest}, \
                             gfn {gfn}): the exports at the PTE clear and in the 0x3d handler \
                             failed"
                        ),
                    );
                    return;
                }
                check_host_read(e, src, name);
                let w = &mut *e.world;
                w.pages[dst].data = w.pages[src].data;
                w.uv[dst].sealed = w.uv[src].sealed;
                e.note(|| format!("P{src} copied to P{dst}"));
            })
            .await
    }

    /// `remove_migration_ptes(src, new)` (mm/migrate.c `remove_migration_pte`, 6.1.192):
    /// for every anonymous mapping whose PTE holds `src`'s migration entry, under its PTE
    /// lock: `folio_get(new)`, a present young PTE to `new` (writable if the entry was),
    /// `page_add_anon_rmap`, `set_pte_at`.
    async fn remove_migration_ptes(&self, src: PageId, new: PageId) {
        let _f = self.ctx.enter("remove_migration_ptes");
        for (mm, vpn, _) in self.anon_mappings() {
            self.pte_lock(mm, vpn).await;
            let a = acc(&[
                Access::write(self.objs.pte(mm, vpn)),
                Access::write(self.objs.page(new, PP::Meta)),
                Access::add(self.objs.page(new, PP::Ref)),
                Access::read(self.objs.page(new, PP::Life)),
            ]);
            self.ctx
                .step(Op::new("remove_migration_pte", a), move |e| {
                    let pte = e.world.mms[mm].pte(vpn);
                    let Some(Swp::Migration { page, write }) = pte.swp else {
                        return;
                    };
                    if page != src {
                        return;
                    }
                    live(e, new, "remove_migration_pte");
                    let w = &mut *e.world;
                    w.mms[mm].set_pte(
                        vpn,
                        Pte {
                            present: true,
                            invalid: false,
                            write,
                            page: Some(new),
                            swp: None,
                        },
                    );
                    let pg = &mut w.pages[new];
                    pg.mapcount += 1;
                    pg.refcount += 1;
                    e.note(|| format!("pte -> P{new} (migration entry removed): mapcount +1"));
                })
                .await;
            self.pte_unlock(mm, vpn).await;
        }
    }

    /// `migration_entry_wait` (mm/migrate.c, 6.1.192 / 6.12.118): under the PTE lock, still
    /// a migration entry → `migration_entry_wait_on_locked`: the PTE lock dropped, sleep
    /// until the folio's PG_locked clears, without a reference (the waiter is queued on the
    /// folio's wait queue before the PTE lock is dropped, so the unlock that ends the
    /// migration wakes it). The fault then returns 0 and the access is retried.
    pub(crate) async fn migration_entry_wait(&self, mm: MmId, vpn: usize, page: PageId) {
        let _f = self.ctx.enter("migration_entry_wait");
        self.pte_lock(mm, vpn).await;
        let pte = self.read_pte(mm, vpn, "ptep_get").await;
        self.pte_unlock(mm, vpn).await;
        if !matches!(pte.swp, Some(Swp::Migration { page: q, .. }) if q == page) {
            return;
        }
        let a = acc(&[
            Access::read(self.objs.page(page, PP::Lock)),
            Access::read(self.objs.page(page, PP::Life)),
        ]);
        fn unlocked(w: &crate::World, p: u64) -> bool {
            let p = p as usize;
            w.pages[p].free || w.pages[w.folio(p)].locked_by.is_none()
        }
        self.ctx
            .step(
                Op::new("migration_entry_wait_on_locked", a).when(unlocked, page as u64),
                move |e| {
                    e.note(|| format!("P{page} unlocked: the fault returns"));
                },
            )
            .await
    }
}
