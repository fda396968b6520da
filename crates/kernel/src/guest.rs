//! The guest vCPU: it touches its memory under SIE; a touch of a non-secure page raises
//! PGM 0x3e and the host imports the page (`do_non_secure_storage_access` →
//! `gmap_convert_to_secure` → `gmap_make_secure`; from v6.13 `vcpu_post_run_handle_fault`),
//! then re-enters the guest, which touches the page again. Also the unpack loop
//! (`kvm_s390_pv_unpack` → `unpack_one`), per release (the import-uv fact sheet §6).

use crate::config::{ImportFlow, ImportLarge};
use crate::gmap::{Callback, Faultin};
use crate::hook::{EAGAIN, EINVAL, ENXIO};
use crate::import::UvCmd;
use crate::prim::{acc, live};
use crate::uv::{UvCall, UvState};
use crate::vocab::properties::{self as prop, report};
use crate::world::{Expect, ExpectBy, MmId, PageId, PagePart as PP, PAGE_BYTES, PTRS_PER_PTE};
use crate::Cx;
use explore::{Access, ObjId, Op};

/// How one entry into SIE ended, for the re-fault loop.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Round {
    /// The access completed, or the guest was killed.
    Over,
    /// Go round again (a fault was handled or an import attempted): counts against the bound.
    Again,
    /// The PTE changed between the translation and the access: go round again, uncounted.
    Uncounted,
}

#[derive(Clone, Hash)]
enum Touch {
    Done,
    /// PGM 0x3e: the page is not secure.
    NonSecure,
    /// The translation changed between the walk and the access: retry.
    Retry,
}

impl Cx {
    /// The guest reads (`write == None`) or writes guest frame `gfn`, retrying through the
    /// host's fault handling until the access completes.
    pub async fn guest_access(&self, gfn: usize, write: Option<u8>) {
        self.ctx
            .call("guest_access", async move {
                let _f = self.ctx.enter("sie64a");
                let Some((mm, vpn)) = self.gmap_translate(gfn) else {
                    return;
                };
                // SIE is re-entered after each fault (no bound in the kernel); the loop
                // carries nothing but its constants. A round whose access found the PTE
                // changed since its translation (`Touch::Retry`) is one round of the
                // hardware with the next (it translates and accesses atomically): it does
                // not pass the loop's head.
                let lp = self.retry_loop("guest re-fault loop (PGM 0x3e)");
                let mut head = true;
                loop {
                    if head && !lp.head(0).await {
                        return;
                    }
                    // One entry into SIE, as a call: it hands the loop only whether the
                    // access is over, or to go round again uncounted (so a finished attempt is
                    // summarised by that, and a restore passes over it whole).
                    let round = self
                        .ctx
                        .call("sie_entry", async move {
                            self.ctx.attempt_begin();
                            let pte = self.read_pte(mm, vpn, "dat: host pte").await;
                            let page = pte.page.filter(|_| {
                                pte.present && !pte.invalid && (write.is_none() || pte.write)
                            });
                            let Some(p) = page else {
                                // A host DAT fault for the guest: gmap_fault, then re-enter SIE.
                                if self.gmap_fault(gfn, write.is_some()).await != 0 {
                                    self.sigsegv("gmap_fault failed").await;
                                    return Round::Over;
                                }
                                return Round::Again;
                            };
                            match self.guest_touch(mm, vpn, p, gfn, write).await {
                                Touch::Done => return Round::Over,
                                Touch::Retry => return Round::Uncounted,
                                Touch::NonSecure => {}
                            }
                            let rc = {
                                let _g = self.ctx.enter("do_non_secure_storage_access");
                                let _h = self.ctx.enter("gmap_convert_to_secure");
                                self.gmap_make_secure(gfn, UvCmd::ConvertToSecure).await
                            };
                            if rc == EINVAL {
                                self.sigsegv(
                                    "do_non_secure_storage_access: gmap_convert_to_secure \
                                     returned -EINVAL",
                                )
                                .await;
                                return Round::Over;
                            }
                            if rc == ENXIO && self.cfg.enxio_write_fault {
                                // d8dfda5af0be: fall through to the DAT-fault case with
                                // FAULT_FLAG_WRITE, then back to the guest.
                                let _g = self.ctx.enter("vcpu_post_run_handle_fault");
                                if self.gmap_fault(gfn, true).await != 0 {
                                    self.sigsegv("gmap_fault failed").await;
                                    return Round::Over;
                                }
                                return Round::Again;
                            }
                            if rc != 0 {
                                // The guest re-executes the instruction and faults again; a
                                // retry can only succeed once the page could be frozen (weak
                                // fairness: the retries that must fail in between change
                                // nothing and are not unrolled).
                                self.park_until_importable(p, mm, vpn).await;
                            }
                            Round::Again
                        })
                        .await;
                    match round {
                        Round::Over => return,
                        Round::Again => head = true,
                        Round::Uncounted => head = false,
                    }
                }
            })
            .await
    }

    /// One guest access under SIE to the page the host PTE maps, re-checking the PTE in the
    /// same step (the hardware translates and accesses atomically).
    async fn guest_touch(
        &self,
        mm: usize,
        vpn: usize,
        p: usize,
        gfn: usize,
        write: Option<u8>,
    ) -> Touch {
        let gi = self.guest_index(gfn);
        let a = acc(&[
            Access::read(self.objs.pte(mm, vpn)),
            if write.is_some() {
                Access::write(self.objs.page(p, PP::Uv))
            } else {
                Access::read(self.objs.page(p, PP::Uv))
            },
            Access::read(self.objs.page(p, PP::Life)),
            Access::write(self.objs.guest_frame(gi)),
        ]);
        self.ctx
            .step(
                Op::new(
                    if write.is_some() {
                        "guest store"
                    } else {
                        "guest load"
                    },
                    a,
                ),
                move |e| {
                    let pte = e.world.mms[mm].pte(vpn);
                    if !(pte.present && !pte.invalid && pte.page == Some(p)) {
                        return Touch::Retry;
                    }
                    live(e, p, "guest access");
                    match e.world.uv[p].state {
                        UvState::Secure { gfn: g, .. } | UvState::SharedPinned { gfn: g, .. }
                            if g == gfn => {}
                        _ => {
                            e.note(|| format!("P{p} not secure: program interrupt 0x3e"));
                            return Touch::NonSecure;
                        }
                    }
                    let w = &mut *e.world;
                    w.guest[gi].expect = Some(Expect {
                        page: p,
                        generation: w.pages[p].generation,
                        by: ExpectBy::Touch,
                    });
                    match write {
                        Some(v) => {
                            let data = [v; PAGE_BYTES];
                            w.pages[p].data = data;
                            w.guest[gi].written = Some(data);
                            e.note(|| format!("guest writes {v:#x} to gfn {gfn}"));
                        }
                        None => {
                            let want = w.guest[gi].written.unwrap_or([0; PAGE_BYTES]);
                            let got = w.pages[p].data;
                            if got != want {
                                report(
                                    e,
                                    prop::GUEST_INTEGRITY,
                                    format!(
                                        "guest read gfn {gfn} (P{p}) and did not get what it wrote"
                                    ),
                                );
                            } else {
                                e.note(|| format!("guest reads gfn {gfn}: ok"));
                            }
                        }
                    }
                    Touch::Done
                },
            )
            .await
    }

    /// The index of guest frame `gfn` in `World::guest` (a set-up constant; the builder
    /// checked that every op's gfn is a declared frame).
    pub(crate) fn guest_index(&self, gfn: usize) -> usize {
        self.ctx.with_const(|w| {
            w.guest
                .iter()
                .position(|g| g.gfn == gfn)
                .expect("Builder::check_op checked the guest frame")
        })
    }

    /// Waits until a retry of the import of page `p`, which the caller saw mapped at `vpn` of
    /// `mm`, can do something the failed attempt could not (weak fairness: the attempts that
    /// must fail in between change nothing and are not unrolled): the PTE no longer maps `p`
    /// present, valid and writable (the retry faults in or looks up anew); `p` was freed; it
    /// sits on the LRU batch and this release's import drains it on `-EBUSY`; or its
    /// refcount is what the freeze expects and it is neither locked nor under writeback —
    /// and, for v7.1's trylocks, neither the PTE lock nor the mmap lock (for write) is held.
    /// A UV that answered busy is not by itself a reason: when the freeze failed first, the
    /// retry never reaches the UV (the busy answers a retry does consume are covered by the
    /// page being freezable; issue 26: counting a scripted busy answer alone as progress
    /// turned a short-lived reference into a spurious `retry-bound`). Inside a busy period
    /// of the import or unpack call (the UV as an environment, eventually not busy) a
    /// freezable page is not enough either: from v5.16 (f0a1a0615a6f) every retry gets the
    /// busy answer back as `-EAGAIN` until the period ends (issue 26: without this term a
    /// busy period ran the unpack and the re-fault into their retry bound).
    async fn park_until_importable(&self, p: PageId, mm: MmId, vpn: usize) {
        let mut a = acc(&[
            Access::read(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Writeback)),
            Access::read(self.objs.page(p, PP::Lock)),
            Access::read(self.objs.page(p, PP::Life)),
            Access::read(ObjId(self.objs.lru)),
            Access::read(self.objs.pte(mm, vpn)),
            Access::read(self.objs.ptl(mm, vpn)),
            Access::read(self.objs.mmap(mm)),
        ]);
        if self.scripted(UvCall::Import) || self.scripted(UvCall::Unpack) {
            // The busy period of the import's and the unpack's UVC (one object for both).
            a.push(Access::read(self.objs.uv_env(UvCall::Import)));
        }
        // The other pages of its set-up folio: a large folio's mapcount is theirs too.
        let head = self.objs.folio_head.get(p).copied().unwrap_or(p);
        for (q, &hq) in self.objs.folio_head.iter().enumerate() {
            if hq == head && q != p {
                a.push(Access::read(self.objs.page(q, PP::Meta)));
            }
        }
        fn importable(w: &crate::World, arg: u64) -> bool {
            let p = (arg & 0xffff_ffff) as usize;
            let (mm, vpn) = w.objs.pte_index[(arg >> 32) as usize];
            let pte = w.mms[mm].pte(vpn);
            let pg = &w.pages[p];
            let large = w.pages[w.folio(p)].order > 0;
            // From v6.14-rc1 the import tests for a large folio before the PTE's write bit
            // (`make_hva_secure`: -E2BIG, then -ENXIO for a read-only PTE; `gfn_to_page` and
            // the new gmap's fault-in look the folio up for write): a read-only PTE to a
            // large folio brings the retry to the same folio, not to a fault that changes it.
            let large_first = large
                && !matches!(
                    w.cfg.import_flow,
                    ImportFlow::FollowPageLockPage
                        | ImportFlow::PteLockTrylock
                        | ImportFlow::PteLockTrylockRef
                );
            let maps_p = pte.present && !pte.invalid && pte.page == Some(p);
            if pg.free || !(maps_p && (pte.write || large_first)) {
                return true;
            }
            if large && w.cfg.import_large_folio == ImportLarge::Einval {
                // The folio conversion refuses a large folio with -EINVAL before the
                // trylock: the retry ends the loop (6.1.192 gmap_make_secure).
                return true;
            }
            let drains = match w.cfg.import_flow {
                // gmap_make_secure's own -EBUSY ladder: lru_add_drain, lru_add_drain_all.
                ImportFlow::FollowPageLockPage
                | ImportFlow::PteLockTrylock
                | ImportFlow::PteLockTrylockRef => true,
                _ => w.cfg.wiggle_drains,
            };
            if drains && w.lru_batch.contains(&p) {
                return true;
            }
            let h = w.folio(p);
            let f = &w.pages[h];
            if f.writeback || f.locked_by.is_some() {
                return false;
            }
            if w.uv_env.in_period(UvCall::Import) || w.uv_env.in_period(UvCall::Unpack) {
                return false;
            }
            if f.order > 0 {
                // A large folio: the releases that split it (-E2BIG) can when only the
                // mappings and the page cache hold it (`can_split_folio`, the retry's own
                // reference aside); the older ones freeze the page's own count
                // (v5.7 `make_secure_pte`, v6.4 `make_page_secure`: a tail's count is 0, a
                // head's counts the whole folio): never (-EINVAL: above).
                // A split of a dirty folio whose file system keeps private data fails in
                // `filemap_release_folio` (-EBUSY) until someone writes the folio back —
                // or, from ab73b29efd36 (`split_dirty_writeback`), the wiggle itself; the
                // release drops the private data's reference before `can_split_folio`.
                let nr = w.folio_nr_pages(h) as i32;
                let release_refused = f.private && f.dirty && !w.cfg.split_dirty_writeback;
                return w.cfg.import_large_folio == ImportLarge::Split
                    && !release_refused
                    && f.refcount - i32::from(f.private) == w.folio_mapcount(h) + nr;
            }
            if pg.refcount != w.expected_page_refs(p) {
                return false;
            }
            match w.cfg.import_flow {
                ImportFlow::NewGmapTrylock => {
                    let m = &w.mms[mm];
                    m.ptl_holder(vpn / PTRS_PER_PTE).is_none() && !m.mmap_writer
                }
                _ => true,
            }
        }
        // The frame and the mapping's position in `Objs::pte_index`, 32 bits each (frames are
        // at most `build::MAX_FRAMES`, mappings at most `build::MAX_ITEMS`): a vpn has up to
        // 52 bits and is never packed.
        let arg = (p as u64) | ((self.objs.pte_slot(mm, vpn) as u64) << 32);
        self.ctx
            .step(Op::new("retry", a).retry_when(importable, arg), |_| ())
            .await
    }

    /// `KVM_PV_UNPACK` of an image of `pages` pages from guest frame `gfn` on
    /// (`kvm_s390_pv_unpack`, arch/s390/kvm/pv.c, v5.7 … newest): per page `unpack_one`;
    /// `-EAGAIN` → `cond_resched()` (v5.7 … v6.19; the newest tree read, v7.1, checks only
    /// `fatal_signal_pending`, which the model has no signals for) and the same page again;
    /// any other error stops the loop and is the ioctl's result; 0 → the next page (from
    /// here on the ioctl has told userspace this page is in place: [`ExpectBy::Unpack`]).
    pub async fn unpack(&self, gfn: usize, pages: usize) -> i32 {
        self.ctx
            .call("unpack", async move {
                let _f = self.ctx.enter("kvm_s390_pv_unpack");
                for g in gfn..gfn + pages {
                    let Some((mm, vpn)) = self.gmap_translate(g) else {
                        return EINVAL;
                    };
                    // The -EAGAIN loop of one page (no bound in the kernel): it carries
                    // nothing but the page.
                    let lp = self.retry_loop("kvm_s390_pv_unpack");
                    loop {
                        if !lp.head(0).await {
                            return EAGAIN;
                        }
                        self.ctx.attempt_begin();
                        let rc = self.unpack_one(g, mm, vpn).await;
                        if rc == EAGAIN {
                            let _g = self.ctx.enter(match self.cfg.import_flow {
                                ImportFlow::NewGmap | ImportFlow::NewGmapTrylock => {
                                    "fatal_signal_pending"
                                }
                                _ => "cond_resched",
                            });
                            let pte = self.read_pte(mm, vpn, "ptep_get").await;
                            if let Some(p) = pte.page.filter(|_| pte.present) {
                                self.park_until_importable(p, mm, vpn).await;
                            }
                            continue;
                        }
                        if rc != 0 {
                            return rc;
                        }
                        self.unpack_one_done(g, mm, vpn).await;
                        break;
                    }
                }
                0
            })
            .await
    }

    /// `unpack_one` (arch/s390/kvm/pv.c): the import with the Unpack UVC; from 5cbe24350b7d
    /// the import returns `-ENXIO` for a page that is not mapped writable and `unpack_one`
    /// faults it in itself — `fixup_user_fault(FAULT_FLAG_WRITE)` and `__gmap_link` under the
    /// mmap lock (v6.14-rc1 … v6.19), `kvm_s390_faultin_gfn_simple(…, write)` (v7.0 on) —
    /// and returns `-EAGAIN` when that worked, its error otherwise.
    async fn unpack_one(&self, gfn: usize, mm: MmId, vpn: usize) -> i32 {
        self.ctx
            .call("unpack_one", async move {
                let _f = self.ctx.enter("unpack_one");
                let rc = self.gmap_make_secure(gfn, UvCmd::Unpack).await;
                if rc != ENXIO || self.import_faults_in_itself() {
                    return rc;
                }
                match self.cfg.import_flow {
                    ImportFlow::NewGmap | ImportFlow::NewGmapTrylock => {
                        let _g = self.ctx.enter("kvm_s390_faultin_gfn_simple");
                        match self.kvm_s390_faultin_gfn(mm, vpn, Callback::None).await {
                            Faultin::Done { .. } => EAGAIN,
                            Faultin::Failed(e) => e,
                        }
                    }
                    _ => {
                        let _g = self.ctx.enter("fixup_user_fault");
                        self.mmap_read_lock(mm).await;
                        let rc = self.handle_mm_fault(mm, vpn, true).await;
                        self.mmap_read_unlock(mm).await;
                        if rc == 0 {
                            EAGAIN
                        } else {
                            rc
                        }
                    }
                }
            })
            .await
    }

    /// The unpack goes past guest frame `gfn`: from now on the ioctl reports it in place, in
    /// the page the host maps there now (what the import-completeness check compares at the
    /// end). Reads the PTE and the allocator (the page's generation).
    async fn unpack_one_done(&self, gfn: usize, mm: MmId, vpn: usize) {
        let gi = self.guest_index(gfn);
        let mut a = acc(&[
            Access::read(self.objs.pte(mm, vpn)),
            Access::read(ObjId(self.objs.alloc)),
            Access::write(self.objs.guest_frame(gi)),
        ]);
        // A file-backed frame without a PTE stands for its page-cache page.
        if let Some((f, i)) = self
            .ctx
            .with_const(|w| w.mms[mm].vma(vpn).and_then(|v| v.file))
        {
            if self.objs.slot_index.contains(&(f, i)) {
                a.push(Access::read(self.objs.slot(f, i)));
            }
        }
        self.ctx
            .step(Op::new("unpack_one: 0", a), move |e| {
                let w = &mut *e.world;
                w.guest[gi].expect = w.frame_page(mm, vpn).map(|p| Expect {
                    page: p,
                    generation: w.pages[p].generation,
                    by: ExpectBy::Unpack,
                });
                e.note(|| format!("gfn {gfn} unpacked: the ioctl moves on"));
            })
            .await
    }
}
