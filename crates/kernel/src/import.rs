//! The import path: a host page becomes a secure guest page — the driver of each era, with
//! every return code of its release (the import-uv fact sheet §4–5; `docs/kernel-notes.md`
//! §3.2–3.4):
//!
//! * E1, v5.7–v6.3 (214d9bbcd3a6): `follow_page` without a reference, `lock_page`, PTE lock,
//!   `make_secure_pte`; `-EBUSY` drains the LRU locally then on all CPUs; `-ENXIO` faults the
//!   page in (`gmap_fault`).
//! * E2, v6.4–v6.13 (c148dc8e2fa4, 3f29f6537f54; 6.1.29 / 6.1.103 as backports; the Debian
//!   6.12.118 tree): PTE lock first, `pte_write`, `folio_trylock`, the same dispatch.
//! * E3, v6.14-rc1…rc7 (5cbe24350b7d): `gfn_to_page` (a reference; a failed lookup returns 0),
//!   no PTE lock; `-EBUSY` → writeback wait + `lru_add_drain_all` → `-EAGAIN`; `-ENXIO`
//!   returned raw (the callers fault the page in).
//! * E4/E5, v6.14–v6.19 (d8dfda5af0be; 3ec8a8330a1a from v6.16; 6.12.114 as a backport):
//!   `make_hva_secure` under `folio_walk` (PTE lock), not writable → `-ENXIO`; `-EBUSY` →
//!   `s390_wiggle_split_folio` → `-EAGAIN`.
//! * E6, v7.0 (e38c884df921): `import_lock`, a fault-in with a GUP reference, the import as
//!   its callback under `mmu_lock` (read), no host PTE lock, no check of the host PTE.
//! * E7, v7.1 (the 2026-06 fix): the callback takes `mmap_read_trylock` and
//!   `try_get_locked_pte` (a trylock) around `folio_trylock`; each gives up with `-EAGAIN`.
//!
//! Large folios (folio.rs; a `[[file]]` with `folio_order`), per release: v5.7–v6.9 freeze
//! the page's own count (`import_large_folio = page-count`: `-EBUSY` on every attempt);
//! v6.10 (6.1.103) refuses with `-EINVAL`; v6.11 (6.12.118) answers `-E2BIG`, splits
//! (`folio_lock`, `split_folio`) and retries; from v6.14-rc1 `s390_wiggle_split_folio`
//! splits — and on v6.14/v6.15 its 0 is the import's result: the page is skipped
//! (`wiggle_split_eagain` = false), fixed in v6.16 by 3ec8a8330a1a with the two-try split of
//! bd428b8c79ed/ab73b29efd36. Hugetlb (`-EFAULT`) is not modelled.

use crate::config::ImportFlow;
use crate::config::ImportLarge;
use crate::gmap::{Callback, Faultin};
use crate::hook::{
    busy_note, spin_check, uv_answer, Issue, E2BIG, EAGAIN, EBUSY, EFAULT, EINVAL, ENXIO,
};
use crate::prim::warn;
use crate::prim::{acc, check_arch1, live};
use crate::uv::{self, Answer, UvCall, UvRc};
use crate::vocab::properties::{self as prop, report};
use crate::world::{MmId, PageId, PagePart as PP};
use crate::Cx;
use explore::{Access, Op};

/// What one pass of the v5.7 / v6.4 drivers from `again:` ends in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Pass {
    /// The driver returns this.
    Done(i32),
    /// `goto again`, after `lru_add_drain()` (true: the next `-EBUSY` drains all CPUs
    /// and returns) or after a split (false).
    Again(bool),
}

/// Which UVC the import issues.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UvCmd {
    ConvertToSecure,
    Unpack,
}

impl Cx {
    /// The import driver of the configured version (see [`ImportFlow`] and the module doc).
    /// The guest's translation is fixed at set-up (a frame without one is a scenario error),
    /// so `__gmap_translate` / `gfn_to_hva` never fail here.
    pub async fn gmap_make_secure(&self, gfn: usize, cmd: UvCmd) -> i32 {
        self.ctx
            .call("gmap_make_secure", async move {
                let _f = self.ctx.enter("gmap_make_secure");
                let Some((mm, vpn)) = self.gmap_translate(gfn) else {
                    return EFAULT;
                };
                match self.cfg.import_flow {
                    ImportFlow::FollowPageLockPage => self.import_v57(mm, vpn, gfn, cmd).await,
                    ImportFlow::PteLockTrylock => self.import_v64(mm, vpn, gfn, cmd, false).await,
                    ImportFlow::PteLockTrylockRef => self.import_v64(mm, vpn, gfn, cmd, true).await,
                    ImportFlow::GfnToPage => self.import_gfn_to_page(mm, vpn, gfn, cmd).await,
                    ImportFlow::MakeHvaSecure => self.make_hva_secure(mm, vpn, gfn, cmd).await,
                    ImportFlow::NewGmap | ImportFlow::NewGmapTrylock => {
                        self.kvm_s390_pv_make_secure(mm, vpn, gfn, cmd).await
                    }
                }
            })
            .await
    }

    /// Whether this release's `gmap_make_secure` handles `-ENXIO` itself (E1, E2:
    /// `gmap_fault`); from 5cbe24350b7d its callers do (`unpack_one`,
    /// `vcpu_post_run_handle_fault`).
    pub fn import_faults_in_itself(&self) -> bool {
        matches!(
            self.cfg.import_flow,
            ImportFlow::FollowPageLockPage
                | ImportFlow::PteLockTrylock
                | ImportFlow::PteLockTrylockRef
        )
    }

    /// v5.7 … v6.3 (`arch/s390/kernel/uv.c: gmap_make_secure`, 214d9bbcd3a6):
    /// 1. `again:` mmap lock (read); `follow_page(vma, uaddr, FOLL_WRITE)` — no reference is
    ///    taken; NULL → `-ENXIO`;
    /// 2. `lock_page(page)` (on a page it holds no reference to), `get_locked_pte`, optional
    ///    export before import (v6.0), `make_secure_pte`, unlock PTE, `unlock_page`, mmap unlock;
    /// 3. `-EAGAIN` → `wait_on_page_writeback` (no reference) and return `-EAGAIN`;
    ///    `-EBUSY` → first `lru_add_drain()` and `goto again`, then `lru_add_drain_all()` and
    ///    `-EAGAIN`; `-ENXIO` → `gmap_fault(…, FAULT_FLAG_WRITE)`: error → `-EFAULT`, else
    ///    `-EAGAIN`.
    async fn import_v57(&self, mm: MmId, vpn: usize, gfn: usize, cmd: UvCmd) -> i32 {
        self.ctx
            .call("import_v57", async move {
                let mut drained = false;
                loop {
                    // One pass from `again:`, as a call (it hands back only the driver's
                    // result or `goto again`).
                    let pass = self.ctx.call("gmap_make_secure_pass", async move {
                        self.mmap_read_lock(mm).await;
                        let page = self.follow_page_nogup(mm, vpn, true).await;
                        let rc = match page {
                            None => ENXIO,
                            Some(p) => {
                                self.lock_page(p).await;
                                if self.cfg.import_holds_ptl {
                                    self.pte_lock(mm, vpn).await;
                                }
                                self.export_before_import(mm, p).await;
                                let rc = self.make_secure_pte(mm, vpn, p, gfn, cmd).await;
                                if self.cfg.import_holds_ptl {
                                    self.pte_unlock(mm, vpn).await;
                                }
                                self.unlock_page(p).await;
                                rc
                            }
                        };
                        self.mmap_read_unlock(mm).await;
                        self.after_import(gfn, rc, page, false, drained).await
                    });
                    match pass.await {
                        Pass::Done(rc) => return rc,
                        Pass::Again(d) => drained |= d,
                    }
                }
            })
            .await
    }

    /// v6.4 … v6.13 (`gmap_make_secure` after c148dc8e2fa4; 6.1.192 and 6.12.118 read): mmap
    /// lock; `get_locked_pte`; the PTE must be present, valid and writable (else `-ENXIO`);
    /// `folio_trylock` (fail → `-EAGAIN`); export before import; `make_folio_secure`;
    /// unlock; with `ref_on_eagain` (3f29f6537f54, v6.11, 6.1.103) `folio_get` under the PTE
    /// lock when the result is `-EAGAIN`; drop the locks; then the same `-EAGAIN` / `-EBUSY` /
    /// `-ENXIO` handling as v5.7, the writeback wait followed by `folio_put` when a reference
    /// was taken.
    async fn import_v64(
        &self,
        mm: MmId,
        vpn: usize,
        gfn: usize,
        cmd: UvCmd,
        ref_on_eagain: bool,
    ) -> i32 {
        self.ctx
            .call("import_v64", async move {
                let mut drained = false;
                loop {
                    // One pass from `again:`, as a call (see `import_v57`).
                    let pass = self.ctx.call("gmap_make_secure_pass", async move {
                        self.mmap_read_lock(mm).await;
                        if self.cfg.import_holds_ptl {
                            self.pte_lock(mm, vpn).await;
                        }
                        // The lookup establishes the allocation the import goes on with (no
                        // reference: only the PTE lock keeps it).
                        let (pte, gen) = self.read_pte_gen(mm, vpn, None).await;
                        let mut page = None;
                        let mut referenced = false;
                        let rc = match pte
                            .page
                            .filter(|_| pte.present && !pte.invalid && pte.write)
                        {
                            None => ENXIO,
                            Some(p) => {
                                let large = match self.cfg.import_large_folio {
                                    ImportLarge::PageCount => None,
                                    _ => Some(self.folio_test_large(p).await),
                                };
                                match large {
                                    Some((true, _))
                                        if self.cfg.import_large_folio == ImportLarge::Einval =>
                                    {
                                        EINVAL
                                    }
                                    Some((true, h)) => {
                                        // -E2BIG: folio_get under the PTE lock.
                                        self.get_page(h).await;
                                        page = Some(h);
                                        referenced = true;
                                        E2BIG
                                    }
                                    _ => {
                                        page = Some(p);
                                        let rc = self
                                            .make_folio_secure_locked(mm, vpn, p, gen, gfn, cmd)
                                            .await;
                                        if rc == EAGAIN && ref_on_eagain {
                                            self.get_page(p).await;
                                            referenced = true;
                                        }
                                        rc
                                    }
                                }
                            }
                        };
                        if self.cfg.import_holds_ptl {
                            self.pte_unlock(mm, vpn).await;
                        }
                        self.mmap_read_unlock(mm).await;
                        self.after_import(gfn, rc, page, referenced, drained).await
                    });
                    match pass.await {
                        Pass::Done(rc) => return rc,
                        Pass::Again(d) => drained |= d,
                    }
                }
            })
            .await
    }

    /// The common tail of the v5.7 and v6.4 drivers: the driver's return value, or `goto
    /// again` after the first `-EBUSY` (`lru_add_drain()` done; the caller sets `drained`: a
    /// [`explore::Ctx::call`] hands its caller nothing but its value) or after a split.
    /// `-E2BIG` (6.12.118 `gmap_make_secure`, eef88fe45ac9): `folio_lock` (sleeps),
    /// `split_folio`, `folio_unlock`, `folio_put`; 0 → `goto again`; `-EAGAIN` → the drain
    /// ladder (`drain_lru`); `-EBUSY` → `-EAGAIN`; other → `WARN_ON_ONCE`, `-ENXIO`.
    async fn after_import(
        &self,
        gfn: usize,
        rc: i32,
        page: Option<PageId>,
        referenced: bool,
        drained: bool,
    ) -> Pass {
        self.ctx
            .call("after_import", async move {
                match rc {
                    E2BIG => {
                        let h = page.expect("-E2BIG comes with the folio");
                        self.lock_page(h).await;
                        let rc = self.split_folio(h).await;
                        self.unlock_page(h).await;
                        self.put_page(h).await;
                        match rc {
                            0 => Pass::Again(false),
                            EAGAIN => {
                                if !drained {
                                    self.lru_add_drain().await;
                                    return Pass::Again(true);
                                }
                                self.lru_add_drain_all().await;
                                Pass::Done(EAGAIN)
                            }
                            EBUSY => Pass::Done(EAGAIN),
                            other => {
                                self.observe_warn(format!("split_folio returned {other}"))
                                    .await;
                                Pass::Done(ENXIO)
                            }
                        }
                    }
                    EAGAIN => {
                        if let Some(p) = page {
                            self.wait_on_page_writeback(p).await;
                            if referenced {
                                self.put_page(p).await;
                            }
                        }
                        Pass::Done(EAGAIN)
                    }
                    EBUSY => {
                        if !drained {
                            self.lru_add_drain().await;
                            return Pass::Again(true);
                        }
                        self.lru_add_drain_all().await;
                        Pass::Done(EAGAIN)
                    }
                    ENXIO => Pass::Done(if self.gmap_fault(gfn, true).await == 0 {
                        EAGAIN
                    } else {
                        EFAULT
                    }),
                    rc => Pass::Done(rc),
                }
            })
            .await
    }

    /// v6.14-rc1 … rc7 (`arch/s390/kvm/gmap.c: gmap_make_secure`, 5cbe24350b7d, as pulled
    /// 2025-01-30): `gfn_to_page` outside the mmap lock (GUP for write, a reference); mmap
    /// lock; **a failed lookup leaves rc at 0: the caller is told the page is secure**;
    /// `__gmap_make_secure`; `kvm_release_page_clean`; mmap unlock. `-ENXIO` (UV rc 0x10a)
    /// is returned as it is.
    async fn import_gfn_to_page(&self, mm: MmId, vpn: usize, gfn: usize, cmd: UvCmd) -> i32 {
        self.ctx
            .call("import_gfn_to_page", async move {
                let page = {
                    let _g = self.ctx.enter("gfn_to_page");
                    self.get_user_pages_fast(mm, vpn, crate::gup::Foll::Get, true)
                        .await
                        .ok()
                };
                self.mmap_read_lock(mm).await;
                let rc = match page {
                    Some(p) => self.__gmap_make_secure(mm, vpn, p, gfn, cmd).await,
                    None => 0,
                };
                if let Some(p) = page {
                    let _g = self.ctx.enter("kvm_release_page_clean");
                    self.put_page(p).await;
                }
                self.mmap_read_unlock(mm).await;
                rc
            })
            .await
    }

    /// `__gmap_make_secure(gmap, page, uvcb)` (5cbe24350b7d): `folio_trylock` (fail →
    /// `-EAGAIN`), export before import, `make_folio_secure` (writeback → `-EBUSY`, freeze at
    /// expected + 1), unlock; `-EBUSY` → drop the mmap lock, `kvm_s390_wiggle_split_folio(…,
    /// false)` (writeback wait, `lru_add_drain_all`), retake it, `-EAGAIN`; every other
    /// result returned as it is. Runs with the mmap lock held.
    async fn __gmap_make_secure(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        gfn: usize,
        cmd: UvCmd,
    ) -> i32 {
        self.ctx
            .call("__gmap_make_secure", async move {
                let _f = self.ctx.enter("__gmap_make_secure");
                let (large, h) = self.folio_test_large(p).await;
                if large {
                    // The reference gfn_to_page took is the split's caller pin; the split
                    // leaves it on the head, whatever page the lookup returned (the rc fix
                    // of February 2025, search id 10192452394, says so; superseded by
                    // d8dfda5af0be).
                    self.mmap_read_unlock(mm).await;
                    let rc = {
                        let _g = self.ctx.enter("kvm_s390_wiggle_split_folio");
                        self.wiggle_split(h, true).await
                    };
                    self.mmap_read_lock(mm).await;
                    if rc != 0 {
                        return rc;
                    }
                }
                // The gfn_to_page reference keeps the allocation: the freeze reads it.
                let rc = self
                    .make_folio_secure_locked(mm, vpn, p, None, gfn, cmd)
                    .await;
                if rc != EBUSY {
                    return rc;
                }
                self.mmap_read_unlock(mm).await;
                {
                    let _g = self.ctx.enter("kvm_s390_wiggle_split_folio");
                    self.wiggle(p).await;
                }
                self.mmap_read_lock(mm).await;
                EAGAIN
            })
            .await
    }

    /// v6.14 … v6.19 (`arch/s390/kernel/uv.c: make_hva_secure`, d8dfda5af0be; the caller
    /// `gmap_make_secure` / `kvm_s390_pv_make_secure` translates with `gfn_to_hva`): mmap
    /// lock; `vma_lookup`; `folio_walk_start` (PTE lock), no folio → `-ENXIO`; `folio_get`;
    /// PTE not writable or invalid → `-ENXIO`; else `make_folio_secure` (trylock → `-EAGAIN`,
    /// export, `__make_folio_secure`, unlock); `folio_walk_end`; mmap unlock; `-EBUSY` →
    /// `s390_wiggle_split_folio` (writeback wait, `lru_add_drain_all`), whose result for a
    /// small folio the callers see as `-EAGAIN` (v6.14: the wiggle returns it; v6.16,
    /// 3ec8a8330a1a and bd428b8c79ed: it returns 0, which `make_hva_secure` turns into
    /// `-EAGAIN`); `folio_put`. `-ENXIO` is for the callers to fault in.
    async fn make_hva_secure(&self, mm: MmId, vpn: usize, gfn: usize, cmd: UvCmd) -> i32 {
        self.ctx
            .call("make_hva_secure", async move {
                let _f = self.ctx.enter("make_hva_secure");
                self.mmap_read_lock(mm).await;
                let mut rc;
                let mut page = None;
                {
                    let _g = self.ctx.enter("folio_walk_start");
                    self.pte_lock(mm, vpn).await;
                    let pte = self.read_pte(mm, vpn, "ptep_get").await;
                    match pte.page.filter(|_| pte.present) {
                        None => rc = ENXIO,
                        Some(p) => {
                            let (large, h) = self.folio_test_large(p).await;
                            self.get_page(h).await;
                            page = Some(h);
                            rc = if large {
                                E2BIG
                            } else if pte.invalid || !pte.write {
                                ENXIO
                            } else {
                                // folio_get under the PTE lock keeps the allocation the walk
                                // found: the freeze reads it.
                                self.make_folio_secure_locked(mm, vpn, p, None, gfn, cmd)
                                    .await
                            };
                        }
                    }
                    self.pte_unlock(mm, vpn).await;
                }
                self.mmap_read_unlock(mm).await;
                if let Some(p) = page {
                    if rc == EBUSY || rc == E2BIG {
                        rc = self.s390_wiggle_split_folio(p, rc == E2BIG).await;
                        if self.cfg.wiggle_split_eagain && rc == 0 {
                            rc = EAGAIN;
                        }
                    }
                    self.put_page(p).await;
                }
                rc
            })
            .await
    }

    /// `s390_wiggle_split_folio(mm, folio[, split])` (d8dfda5af0be; v6.16 bd428b8c79ed,
    /// ab73b29efd36), `p` the folio's head with the caller's reference.
    async fn s390_wiggle_split_folio(&self, p: PageId, split: bool) -> i32 {
        let _f = self.ctx.enter("s390_wiggle_split_folio");
        self.wiggle_split(p, split).await
    }

    /// The wiggle with its split: `folio_wait_writeback`, `lru_add_drain_all` where the
    /// release drains, then
    /// * v6.14-rc1 … v6.15 (`wiggle_split_eagain` false; 5cbe24350b7d
    ///   `kvm_s390_wiggle_split_folio`, d8dfda5af0be): if `split`, `folio_lock`,
    ///   `split_folio`, `folio_unlock`, and a result other than `-EBUSY` is returned — 0 when
    ///   the split worked; else `-EAGAIN`;
    /// * v6.16 (bd428b8c79ed, modelled with the same switch as 3ec8a8330a1a, pushed
    ///   together): a small folio → 0; a large one: `folio_lock`, `split_folio`, and a
    ///   result other than `-EBUSY` is returned (unlocked); else `-EAGAIN`. With
    ///   ab73b29efd36 (`split_dirty_writeback`, v6.16, 6.15.3) up to two tries, and after a
    ///   `-EBUSY` on a dirty folio of a file that writes back: unlock,
    ///   `filemap_write_and_wait_range` over the folio (a real write-out: it cleans the
    ///   folio, which iomap then lets go of), try again.
    async fn wiggle_split(&self, p: PageId, split: bool) -> i32 {
        self.wiggle(p).await;
        if !self.cfg.wiggle_split_eagain {
            if !split {
                return EAGAIN;
            }
            self.lock_page(p).await;
            let rc = self.split_folio(p).await;
            self.unlock_page(p).await;
            return if rc != EBUSY { rc } else { EAGAIN };
        }
        let (large, h) = self.folio_test_large(p).await;
        if !large {
            return 0;
        }
        // bd428b8c79ed alone: one try; ab73b29efd36 (`split_dirty_writeback`): two, with the
        // write-back of a dirty file folio after an -EBUSY (`tried_splits < 2`).
        let tries = if self.cfg.split_dirty_writeback { 2 } else { 1 };
        for _ in 0..tries {
            self.lock_page(h).await;
            let rc = self.split_folio(h).await;
            if rc != EBUSY {
                self.unlock_page(h).await;
                return rc;
            }
            let writes_back =
                self.cfg.split_dirty_writeback && self.folio_dirty_writes_back(h).await;
            self.unlock_page(h).await;
            if !writes_back {
                break;
            }
            self.filemap_write_and_wait_range(h).await;
        }
        EAGAIN
    }

    /// `filemap_write_and_wait_range(mapping, folio_pos(folio), end of the folio)`
    /// (ab73b29efd36, the folio unlocked, an inode reference held): the data-integrity
    /// writer over the folio's range — one folio, so one write-out of it
    /// ([`Self::write_one_page`] at its first index: the tagged lookup finds the folio, the
    /// write cleans it, `folio_mkclean` write-protects its shared mappings), then the wait
    /// for its writeback (the writer ends it itself).
    async fn filemap_write_and_wait_range(&self, h: PageId) {
        let _g = self.ctx.enter("filemap_write_and_wait_range");
        let Some((file, index)) = self.ctx.with_const(|w| w.pages[h].mapping) else {
            return;
        };
        self.write_one_page(file, index).await;
    }

    /// `folio_test_dirty(folio) && !folio_test_anon(folio) && folio->mapping &&
    /// mapping_can_writeback(folio->mapping)` (ab73b29efd36): a shmem file does not write
    /// back.
    async fn folio_dirty_writes_back(&self, h: PageId) -> bool {
        let shmem = self
            .ctx
            .with_const(|w| w.pages[h].mapping.is_some_and(|(f, _)| w.files[f].shmem));
        let a = acc(&[
            Access::read(self.objs.page(h, PP::Meta)),
            Access::read(self.objs.page(h, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_test_dirty", a), move |e| {
                live(e, h, "folio_test_dirty");
                let pg = &e.world.pages[h];
                pg.dirty && pg.mapping.is_some() && !shmem
            })
            .await
    }

    /// `WARN_ON_ONCE(1)` reached on a path that has no step of its own.
    async fn observe_warn(&self, why: String) {
        self.ctx
            .step(
                Op::new("WARN_ON_ONCE", explore::Accesses::new()),
                move |e| {
                    warn(e, "gmap_make_secure", why);
                },
            )
            .await
    }

    /// The wiggle's common part: wait for writeback and, where the release does, drain the
    /// LRU on all CPUs (`wiggle_drains`).
    async fn wiggle(&self, p: PageId) {
        self.wait_on_page_writeback(p).await;
        if self.cfg.wiggle_drains {
            self.lru_add_drain_all().await;
        }
    }

    /// v7.0 and v7.1 (`arch/s390/kvm/pv.c: kvm_s390_pv_make_secure`, e38c884df921; newest
    /// tree read @7bb6284aa7b3): `needs_export` before any lock; `import_lock`;
    /// `kvm_s390_faultin_gfn` with `_kvm_s390_pv_make_secure` as the callback; its error is
    /// returned (no callback ran); else the callback's result, and when it kept the folio
    /// (`-E2BIG`, `-EBUSY`) `s390_wiggle_split_folio`, 0 → `-EAGAIN`; unlock; `folio_put`.
    async fn kvm_s390_pv_make_secure(&self, mm: MmId, vpn: usize, gfn: usize, cmd: UvCmd) -> i32 {
        self.ctx
            .call("kvm_s390_pv_make_secure", async move {
                let _f = self.ctx.enter("kvm_s390_pv_make_secure");
                self.import_lock().await;
                let (mut rc, kept) = match self
                    .kvm_s390_faultin_gfn(mm, vpn, Callback::PvMakeSecure { gfn, cmd })
                    .await
                {
                    Faultin::Failed(e) => (e, None),
                    Faultin::Done { rc, kept } => (rc, kept),
                };
                if let Some(p) = kept {
                    rc = self.s390_wiggle_split_folio(p, rc == E2BIG).await;
                    if rc == 0 {
                        rc = EAGAIN;
                    }
                }
                self.import_unlock().await;
                if let Some(p) = kept {
                    self.put_page(p).await;
                }
                rc
            })
            .await
    }

    /// `_kvm_s390_pv_make_secure(f)`, the fault-in's callback, run under `mmu_lock` (read)
    /// with the fault-in's GUP reference on `p` (`f->page`): rc = `-EAGAIN`; v7.1 (the 2026-06
    /// fix) first `mmap_read_trylock` (fail: give up) and `try_get_locked_pte` (a contended
    /// PTE lock: give up; a missing page table — NULL, the import goes on unlocked — does not
    /// occur in the model: every mapped vpn has its table); `folio_trylock` →
    /// `__kvm_s390_pv_make_secure` (export when needed, `__make_folio_secure`); `-E2BIG` /
    /// `-EBUSY` → keep the folio (`folio_get`) for the wiggle; unlock. No release reads the
    /// host PTE's content here. Returns the result and the kept folio.
    pub async fn _kvm_s390_pv_make_secure(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        gfn: usize,
        cmd: UvCmd,
    ) -> (i32, Option<PageId>) {
        let _f = self.ctx.enter("_kvm_s390_pv_make_secure");
        let trylocks = self.cfg.import_flow == ImportFlow::NewGmapTrylock;
        if trylocks {
            if !self.mmap_read_trylock(mm).await {
                return (EAGAIN, None);
            }
            let locked = {
                let _g = self.ctx.enter("try_get_locked_pte");
                self.pte_trylock(mm, vpn).await
            };
            if !locked {
                self.mmap_read_unlock(mm).await;
                return (EAGAIN, None);
            }
        }
        let mut kept = None;
        let rc = if self.trylock_page(p).await {
            let (rc, h) = {
                let _g = self.ctx.enter("__kvm_s390_pv_make_secure");
                self.export_before_import(mm, p).await;
                let (large, h) = self.folio_test_large(p).await;
                if large {
                    (E2BIG, h)
                } else {
                    // The fault-in's GUP reference keeps the allocation: the freeze reads it.
                    (self.make_folio_secure(mm, vpn, p, None, gfn, cmd).await, h)
                }
            };
            if rc == EBUSY || rc == E2BIG {
                self.get_page(h).await;
                kept = Some(h);
            }
            self.unlock_page(p).await;
            rc
        } else {
            EAGAIN
        };
        if trylocks {
            self.pte_unlock(mm, vpn).await;
            self.mmap_read_unlock(mm).await;
        }
        (rc, kept)
    }

    /// `folio_trylock` (fail → `-EAGAIN`), export before import, `make_folio_secure`,
    /// `folio_unlock` — the sequence the drivers from v6.4 run (v6.14 names it
    /// `make_folio_secure(mm, folio, uvcb)`).
    async fn make_folio_secure_locked(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        gen: Option<u32>,
        gfn: usize,
        cmd: UvCmd,
    ) -> i32 {
        self.ctx
            .call("make_folio_secure_locked", async move {
                if !self.trylock_page(p).await {
                    return EAGAIN;
                }
                self.export_before_import(mm, p).await;
                let rc = self.make_folio_secure(mm, vpn, p, gen, gfn, cmd).await;
                self.unlock_page(p).await;
                rc
            })
            .await
    }

    /// `should_export_before_import` (v6.0, 72b1daff2671): with more than one protected VM
    /// in the mm, export the page first (result ignored). (The Unpin-Page-Shared UVC and a
    /// UV with the MISC feature never export; the model's imports are Convert-To-Secure and
    /// Unpack, and its UV has no MISC feature.)
    async fn export_before_import(&self, mm: MmId, p: PageId) {
        self.ctx
            .call("export_before_import", async move {
                if self.cfg.export_before_import && self.protected_count(mm) > 1 {
                    let _g = self.ctx.enter("should_export_before_import");
                    self.uv_convert_from_secure(p).await;
                }
            })
            .await
    }

    /// `make_secure_pte(ptep, addr, exp_page, uvcb)` (v5.7, 214d9bbcd3a6): the PTE must be
    /// present, valid and map the page found earlier (else `-ENXIO`), then
    /// [`Self::make_folio_secure`].
    pub async fn make_secure_pte(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        gfn: usize,
        cmd: UvCmd,
    ) -> i32 {
        self.ctx
            .call("make_secure_pte", async move {
                let _f = self.ctx.enter("make_secure_pte");
                // The check under the PTE lock establishes the allocation the import goes
                // on with (follow_page took no reference: only the PTE lock keeps it).
                let (pte, gen) = self.read_pte_gen(mm, vpn, Some(p)).await;
                if !pte.present || pte.invalid || pte.page != Some(p) {
                    return ENXIO;
                }
                self.secure_core(mm, vpn, p, gen, gfn, cmd).await
            })
            .await
    }

    /// `make_folio_secure` (v6.4–v6.13) / `__make_folio_secure` (v6.14+): the freeze and the
    /// UVC, with the caller holding the folio lock.
    pub async fn make_folio_secure(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        gen: Option<u32>,
        gfn: usize,
        cmd: UvCmd,
    ) -> i32 {
        self.ctx
            .call("make_folio_secure", async move {
                let _f = self.ctx.enter(if self.cfg.freeze_plus_one {
                    "__make_folio_secure"
                } else {
                    "make_folio_secure"
                });
                self.secure_core(mm, vpn, p, gen, gfn, cmd).await
            })
            .await
    }

    /// The steps every version shares:
    /// 1. writeback → `-EAGAIN` (`-EBUSY` from v6.14);
    /// 2. `expected = expected_page_refs(page)` (+1 from v6.14: the caller's reference);
    ///    `page_ref_freeze(page, expected)` fails → `-EBUSY`;
    /// 3. `set_bit(PG_arch_1)` (before the UVC: the bit may over-indicate);
    /// 4. the UVC (`uv_call` loops while busy; from v5.16 one `__uv_call`, busy → `-EAGAIN`);
    /// 5. `page_ref_unfreeze(page, expected)` (a plain store);
    /// 6. UV rc 0x10a → `-ENXIO`, other failure → `-EINVAL`; PG_arch_1 stays set on failure.
    ///
    /// `gen` is the allocation (the page's generation) the import's lookup established: read
    /// with the PTE under its lock by the flows that hold no reference (E1 `make_secure_pte`,
    /// E2 `gmap_make_secure`); `None` for the flows that hold a reference from their lookup
    /// (E3 `gfn_to_page`, E4 `folio_get` in the walk, E6/E7 the fault-in's GUP), whose
    /// allocation cannot change: read in the `expected_page_refs` step. The UVC's step
    /// compares it with the page the PTE maps (`import-precondition`).
    async fn secure_core(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        gen: Option<u32>,
        gfn: usize,
        cmd: UvCmd,
    ) -> i32 {
        self.ctx
            .call("secure_core", async move {
                if self.page_writeback(p).await {
                    return if self.cfg.writeback_ebusy {
                        EBUSY
                    } else {
                        EAGAIN
                    };
                }
                let (expected, now) = self.expected_page_refs_gen(p).await;
                let expected = expected + i32::from(self.cfg.freeze_plus_one);
                let gen = gen.unwrap_or(now);
                if self.cfg.import_freezes && !self.page_ref_freeze(p, expected).await {
                    return EBUSY;
                }
                self.set_arch1(p, true).await;
                let rc = self.uv_import(mm, vpn, p, gen, gfn, cmd).await;
                if self.cfg.import_freezes {
                    self.page_ref_unfreeze(p, expected).await;
                }
                match rc {
                    UvRc::Ok => 0,
                    UvRc::Busy => EAGAIN,
                    UvRc::NotMapped | UvRc::Error { rc: 0x10a, .. } => ENXIO,
                    _ => EINVAL,
                }
            })
            .await
    }

    /// `expected_page_refs` read as one step of the page's mapping state.
    pub async fn expected_page_refs(&self, p: PageId) -> i32 {
        self.expected_page_refs_gen(p).await.0
    }

    /// [`Self::expected_page_refs`], with the page's allocation generation read in the same
    /// step (the step reads the page's lifetime).
    async fn expected_page_refs_gen(&self, p: PageId) -> (i32, u32) {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("expected_page_refs", a), move |e| {
                live(e, p, "expected_page_refs");
                let n = e.world.expected_page_refs(p);
                e.note(|| format!("P{p} expected refs {n}"));
                (n, e.world.pages[p].generation)
            })
            .await
    }

    /// `page_ref_freeze(page, n)`: compare-and-exchange of the refcount from `n` to 0.
    pub async fn page_ref_freeze(&self, p: PageId, n: i32) -> bool {
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("page_ref_freeze", a), move |e| {
                live(e, p, "page_ref_freeze");
                let pg = &mut e.world.pages[p];
                let c = pg.refcount;
                if c == n {
                    pg.refcount = 0;
                    e.note(|| format!("page_ref_freeze(P{p}, {n}) ok: refcount {c} -> 0"));
                    true
                } else {
                    e.note(|| format!("page_ref_freeze(P{p}, {n}) fails: refcount {c}"));
                    false
                }
            })
            .await
    }

    /// `page_ref_unfreeze(page, n)`: `atomic_set_release(count, n)` — a store, which erases
    /// any increment that landed on the frozen count (`VM_BUG_ON_PAGE` with DEBUG_VM).
    pub async fn page_ref_unfreeze(&self, p: PageId, n: i32) {
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        let debug_vm = self.cfg.debug_vm;
        self.ctx
            .step(Op::new("page_ref_unfreeze", a), move |e| {
                live(e, p, "page_ref_unfreeze");
                let pg = &mut e.world.pages[p];
                let c = pg.refcount;
                pg.refcount = n;
                if c != 0 {
                    e.note(|| {
                        format!(
                            "P{p} refcount {c} -> {n}: \
                             {c} reference(s) taken while frozen are erased"
                        )
                    });
                    if debug_vm {
                        report(
                            e,
                            prop::BUG,
                            format!("VM_BUG_ON_PAGE in page_ref_unfreeze: P{p} count {c} != 0"),
                        );
                    }
                } else {
                    e.note(|| format!("P{p} refcount 0 -> {n}"));
                }
            })
            .await
    }

    /// The import UVC (Convert-To-Secure / Unpack). The UV follows the host PTE of the KVM
    /// mm (rc 0x10a when it is not valid). Checks, in the same step:
    /// * the import's precondition (`import-precondition`): a host PTE the UV can follow
    ///   (present and valid) maps the page the import froze, in the allocation its lookup
    ///   established (`gen`, the page's generation: a frame freed and reused since is another
    ///   page, whatever its frame number; see [`Self::secure_core`]) — what the lookup under the PTE
    ///   lock established (E1, E2, E4, E7) and what nothing re-establishes without it (E3; E6
    ///   keeps invalidations of the host mapping out with `mmu_lock`); checked at every
    ///   attempt of the UVC, a busy one included. A PTE that is gone or invalid (zapped,
    ///   aged by s390's `ptep_test_and_clear_young`) is benign: the UV answers rc 0x10a, the
    ///   kernel's `-ENXIO` (`uv::import`, `NotMapped`), the callers fault the page in and
    ///   retry (`gmap_fault` E1/E2, `unpack_one`'s `fixup_user_fault`, from d8dfda5af0be
    ///   `vcpu_post_run_handle_fault`) — issue 26 item 8. A PTE mapping another page is not:
    ///   the UV would import a page nobody froze (the model's UV answers 0x10a there too, so
    ///   the property is what records it). The writable test the kernel makes before the UVC
    ///   is a precondition of its COW/dirty handling, not of the UV's translation (a
    ///   read-only PTE to the frozen page is followed to that page) and is not checked here;
    ///   `uv::import` follows the PTE whatever its protection bit;
    /// * the lock-out rule: the import must never complete while an I/O marker (an extra
    ///   reference or PG_writeback) is held.
    ///
    /// The firmware environment answers after the precondition check (`uv-busy`, `uv-fail`):
    /// from v5.16 (f0a1a0615a6f) one `__uv_call` hands a busy answer back (→ `-EAGAIN`);
    /// before, `uv_call` repeats it, each attempt a step, inside the freeze with the PTE lock
    /// held (the bounded-waiting check, [`crate::hook::spin_check`]).
    async fn uv_import(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        gen: u32,
        gfn: usize,
        cmd: UvCmd,
    ) -> UvRc {
        self.ctx
            .call("uv_import", async move {
                let a = acc(&[
                    Access::write(self.objs.page(p, PP::Uv)),
                    Access::read(self.objs.page(p, PP::Arch1)),
                    Access::read(self.objs.page(p, PP::Ref)),
                    Access::read(self.objs.page(p, PP::Writeback)),
                    Access::read(self.objs.pte(mm, vpn)),
                    Access::read(self.objs.page(p, PP::Life)),
                    Access::write(explore::ObjId(self.objs.uv_busy)),
                ]);
                // The Unpack UVC records the frame in the UV's image (`GuestFrame::unpacked`,
                // what KVM_PV_VERIFY checks: vmm.rs).
                let unpack_gi = (cmd == UvCmd::Unpack).then(|| self.guest_index(gfn));
                let mut a = a;
                if let Some(gi) = unpack_gi {
                    a.push(Access::write(self.objs.guest_frame(gi)));
                }
                let single = self.cfg.import_single_uv_call;
                let (name, call) = match cmd {
                    UvCmd::ConvertToSecure => ("uv_call(convert-to-secure)", UvCall::Import),
                    UvCmd::Unpack => ("uv_call(unpack)", UvCall::Unpack),
                };
                let frozen = self.cfg.import_freezes.then_some(p);
                let guest = self.guest_id();
                let mut spins = 0u32;
                loop {
                    let (rc, park) = self
                        .ctx
                        .step(Op::new(name, a), move |e| {
                            live(e, p, name);
                            let pte = e.world.mms[mm].pte(vpn);
                            let valid = pte.present && !pte.invalid;
                            let now_gen = e.world.pages[p].generation;
                            if valid && (pte.page != Some(p) || now_gen != gen) {
                                let now = crate::prim::describe_pte(&pte);
                                let what = if pte.page == Some(p) {
                                    format!(
                                        "P{p} allocated anew (generation {now_gen}, the lookup's \
                                         {gen}): the frame was freed and reused since"
                                    )
                                } else {
                                    "a page that is not the one the import froze".to_string()
                                };
                                report(
                                    e,
                                    prop::IMPORT_PRECONDITION,
                                    format!(
                                        "the import of P{p} (gfn {gfn}) reached the UV call with \
                                         the host PTE at {now}: the UV follows it to {what}"
                                    ),
                                );
                            } else if !valid {
                                e.note(|| {
                                    format!(
                                        "the import of P{p} (gfn {gfn}) reaches the UV call with \
                                         the host PTE not valid: the UV answers rc 0x10a \
                                         (-ENXIO, the caller faults the page in and retries)"
                                    )
                                });
                            }
                            match uv_answer(e, call) {
                                Answer::Busy { cc, period } => {
                                    if single {
                                        e.note(|| busy_note(call, cc, period, None));
                                        return (UvRc::Busy, false);
                                    }
                                    let park = spin_check(e, call, spins + 1, frozen, Issue::Spin);
                                    e.note(|| busy_note(call, cc, period, Some(Issue::Spin)));
                                    return (UvRc::Busy, park);
                                }
                                Answer::Error { rc, rrc } => {
                                    e.note(|| {
                                        format!("UVC import P{p}: cc 1 rc {rc:#x} rrc {rrc:#x}")
                                    });
                                    return (UvRc::Error { rc, rrc }, false);
                                }
                                Answer::Proceed => {}
                            }
                            let w = &mut *e.world;
                            let mapped = pte.present && !pte.invalid && pte.page == Some(p);
                            let data = &mut w.pages[p].data;
                            let rc = match cmd {
                                UvCmd::ConvertToSecure => {
                                    uv::import(&w.keys, &mut w.uv[p], data, guest, gfn, mapped)
                                }
                                UvCmd::Unpack => {
                                    uv::unpack(&w.keys, &mut w.uv[p], data, guest, gfn, mapped)
                                }
                            };
                            e.note(|| format!("UVC import P{p} as gfn {gfn}: {rc:?}"));
                            if let (Some(gi), UvRc::Ok) = (unpack_gi, rc) {
                                e.world.guest[gi].unpacked = true;
                            }
                            if rc == UvRc::Ok {
                                let tid = e.tid;
                                let own =
                                    e.world.held[tid].iter().filter(|h| h.page == p).count() as i32;
                                let pg = &e.world.pages[p];
                                let others = pg.extra - own;
                                if others > 0 || pg.writeback {
                                    let why = if pg.writeback {
                                        "PG_writeback is set".to_string()
                                    } else {
                                        format!("{others} extra reference(s) are held")
                                    };
                                    report(
                                        e,
                                        prop::LOCK_OUT,
                                        format!(
                                            "P{p} became secure while {why}: \
                                 the I/O marker did not lock the import out"
                                        ),
                                    );
                                }
                                check_arch1(e, p);
                            }
                            (rc, false)
                        })
                        .await;
                    if rc != UvRc::Busy || single {
                        return rc;
                    }
                    spins += 1;
                    if park {
                        self.uv_wait_period_end(call).await;
                    }
                }
            })
            .await
    }

    /// `ptep_get` at the import's lookup, with the allocation generation of the page the PTE
    /// maps read in the same step (the allocation the import goes on with; `None` when the
    /// PTE maps no page). With `known` (E1's `make_secure_pte`, which compares the PTE with
    /// the page `follow_page` returned) the step reads that page's lifetime and gives its
    /// generation only when the PTE maps it; without (E2, the page is only known from the
    /// PTE) it reads the allocator, which every free and allocation writes.
    async fn read_pte_gen(
        &self,
        mm: MmId,
        vpn: usize,
        known: Option<PageId>,
    ) -> (crate::world::Pte, Option<u32>) {
        let mut a = acc(&[Access::read(self.objs.pte(mm, vpn))]);
        match known {
            Some(p) => a.push(Access::read(self.objs.page(p, PP::Life))),
            None => a.push(Access::read(explore::ObjId(self.objs.alloc))),
        }
        self.ctx
            .step(Op::new("ptep_get", a), move |e| {
                let pte = e.world.mms[mm].pte(vpn);
                e.note(|| crate::prim::describe_pte(&pte));
                let gen = pte
                    .page
                    .filter(|&q| known.is_none_or(|p| p == q))
                    .map(|q| e.world.pages[q].generation);
                (pte, gen)
            })
            .await
    }

    /// `gmap_fault(gmap, gaddr, fault_flags)`: resolve a host fault for the guest frame.
    pub async fn gmap_fault(&self, gfn: usize, write: bool) -> i32 {
        self.ctx
            .call("gmap_fault", async move {
                let _f = self.ctx.enter("gmap_fault");
                let Some((mm, vpn)) = self.gmap_translate(gfn) else {
                    return EFAULT;
                };
                self.mmap_read_lock(mm).await;
                let rc = self.handle_mm_fault(mm, vpn, write).await;
                self.mmap_read_unlock(mm).await;
                rc
            })
            .await
    }

    /// The guest frame's host mapping (`__gmap_translate`): fixed at set-up.
    pub fn gmap_translate(&self, gfn: usize) -> Option<(MmId, usize)> {
        self.ctx
            .with_const(|w| w.guest.iter().find(|g| g.gfn == gfn).map(|g| (g.mm, g.vpn)))
    }

    fn protected_count(&self, mm: MmId) -> u32 {
        self.ctx.with_const(|w| w.mms[mm].protected_count)
    }

    fn guest_id(&self) -> u32 {
        0
    }
}
