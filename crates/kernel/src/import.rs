//! The import path: a host page becomes a secure guest page.
//!
//! `gmap_make_secure` and `make_secure_pte` follow arch/s390/kernel/uv.c as merged in v5.7
//! (214d9bbcd3a6) through mainline v6.3; see `docs/kernel-notes.md` §3.2–3.4.

use crate::hook::{errno_name, EAGAIN, EBUSY, EFAULT, EINVAL, ENXIO};
use crate::prim::{acc, check_arch1, live, BUG};
use crate::uv::{self, UvRc};
use crate::world::{MmId, PageId, PagePart as PP};
use crate::Cx;
use explore::{Access, Op, Severity};

pub const LOCK_OUT: &str = "lock-out";

/// Which UVC the import issues.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UvCmd {
    ConvertToSecure,
    Unpack,
}

impl Cx {
    /// `gmap_make_secure(gmap, gaddr, uvcb)` — v5.7 … v6.3 shape:
    /// 1. `again:` mmap lock (read); translate; `follow_page(vma, uaddr, FOLL_WRITE)` — no
    ///    reference is taken; NULL → `-ENXIO`;
    /// 2. `lock_page(page)` (on a page it holds no reference to), `get_locked_pte`, optional
    ///    export before import (v6.0), `make_secure_pte`, unlock PTE, `unlock_page`, mmap unlock;
    /// 3. `-EAGAIN` → `wait_on_page_writeback` (no reference) and return `-EAGAIN`;
    ///    `-EBUSY` → first `lru_add_drain()` and `goto again`, then `lru_add_drain_all()` and
    ///    `-EAGAIN`; `-ENXIO` → `gmap_fault(…, FAULT_FLAG_WRITE)`: error → `-EFAULT`, else
    ///    `-EAGAIN`.
    pub async fn gmap_make_secure(&self, gfn: usize, cmd: UvCmd) -> i32 {
        let _f = self.ctx.enter("gmap_make_secure");
        let Some((mm, vpn)) = self.gmap_translate(gfn) else {
            return EFAULT;
        };
        let mut drained = false;
        loop {
            self.mmap_read_lock(mm).await;
            let page = self.follow_page_nogup(mm, vpn, true).await;
            let rc = match page {
                None => ENXIO,
                Some(p) => {
                    self.lock_page(p).await;
                    if self.cfg.import_holds_ptl {
                        self.pte_lock(mm, vpn).await;
                    }
                    if self.cfg.export_before_import && self.protected_count(mm) > 1 {
                        self.uv_convert_from_secure(p).await;
                    }
                    let rc = self.make_secure_pte(mm, vpn, p, gfn, cmd).await;
                    if self.cfg.import_holds_ptl {
                        self.pte_unlock(mm, vpn).await;
                    }
                    self.unlock_page(p).await;
                    rc
                }
            };
            self.mmap_read_unlock(mm).await;
            match rc {
                EAGAIN => {
                    if let Some(p) = page {
                        self.wait_on_page_writeback(p).await;
                    }
                    return EAGAIN;
                }
                EBUSY => {
                    if !drained {
                        drained = true;
                        self.lru_add_drain().await;
                        continue;
                    }
                    self.lru_add_drain_all().await;
                    return EAGAIN;
                }
                ENXIO => {
                    return if self.gmap_fault(gfn, true).await == 0 {
                        EAGAIN
                    } else {
                        EFAULT
                    };
                }
                rc => return rc,
            }
        }
    }

    /// `make_secure_pte(ptep, addr, exp_page, uvcb)` (v5.7, 214d9bbcd3a6; single `__uv_call`
    /// from v5.16):
    /// 1. PTE not present or invalid, or not mapping the expected page → `-ENXIO`;
    /// 2. `PageWriteback` → `-EAGAIN`;
    /// 3. `expected = expected_page_refs(page)`; `page_ref_freeze(page, expected)` fails → `-EBUSY`;
    /// 4. `set_bit(PG_arch_1)` (before the UVC: the bit may over-indicate);
    /// 5. the UVC; 6. `page_ref_unfreeze(page, expected)` (a plain store);
    /// 7. UV rc 0x10a → `-ENXIO`, other failure → `-EINVAL`. PG_arch_1 stays set on failure.
    pub async fn make_secure_pte(
        &self,
        mm: MmId,
        vpn: usize,
        p: PageId,
        gfn: usize,
        cmd: UvCmd,
    ) -> i32 {
        let _f = self.ctx.enter("make_secure_pte");
        let pte = self.read_pte(mm, vpn, "ptep_get").await;
        if !pte.present || pte.invalid || pte.page != Some(p) {
            return ENXIO;
        }
        if self.page_writeback(p).await {
            return EAGAIN;
        }
        let expected = self.expected_page_refs(p).await;
        if self.cfg.import_freezes && !self.page_ref_freeze(p, expected).await {
            return EBUSY;
        }
        self.set_arch1(p, true).await;
        let rc = self.uv_import(mm, vpn, p, gfn, cmd).await;
        if self.cfg.import_freezes {
            self.page_ref_unfreeze(p, expected).await;
        }
        match rc {
            UvRc::Ok => 0,
            UvRc::NotMapped => ENXIO,
            _ => EINVAL,
        }
    }

    /// `expected_page_refs` read as one step of the page's mapping state.
    pub async fn expected_page_refs(&self, p: PageId) -> i32 {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("expected_page_refs", a), move |e| {
                live(e, p, "expected_page_refs");
                let n = e.world.expected_page_refs(p);
                e.note(|| format!("P{p} expected refs {n}"));
                n
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
                    e.note(|| format!("P{p} refcount {c} -> {n}: {c} reference(s) taken while frozen are erased"));
                    if debug_vm {
                        e.report(
                            BUG,
                            Severity::Violation,
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
    /// mm (rc 0x10a when it is not valid). Checks the lock-out rule: the import must never
    /// complete while an I/O marker (an extra reference or PG_writeback) is held.
    async fn uv_import(&self, mm: MmId, vpn: usize, p: PageId, gfn: usize, cmd: UvCmd) -> UvRc {
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Uv)),
            Access::read(self.objs.page(p, PP::Arch1)),
            Access::read(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Writeback)),
            Access::read(self.objs.pte(mm, vpn)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        let name = match cmd {
            UvCmd::ConvertToSecure => "uv_call(convert-to-secure)",
            UvCmd::Unpack => "uv_call(unpack)",
        };
        let guest = self.guest_id();
        self.ctx
            .step(Op::new(name, a), move |e| {
                live(e, p, name);
                let w = &mut *e.world;
                let pte = w.mms[mm].pte(vpn);
                let mapped = pte.present && !pte.invalid && pte.page == Some(p);
                let rc = uv::import(&w.keys, &mut w.uv[p], &mut w.pages[p].data, guest, gfn, mapped);
                e.note(|| format!("UVC import P{p} as gfn {gfn}: {rc:?}"));
                if rc == UvRc::Ok {
                    let pg = &e.world.pages[p];
                    if pg.extra > 0 || pg.writeback {
                        let why = if pg.writeback {
                            "PG_writeback is set".to_string()
                        } else {
                            format!("{} extra reference(s) are held", pg.extra)
                        };
                        e.report(
                            LOCK_OUT,
                            Severity::Violation,
                            format!("P{p} became secure while {why}: the I/O marker did not lock the import out"),
                        );
                    }
                    check_arch1(e, p);
                }
                rc
            })
            .await
    }

    /// `gmap_fault(gmap, gaddr, fault_flags)`: resolve a host fault for the guest frame.
    pub async fn gmap_fault(&self, gfn: usize, write: bool) -> i32 {
        let _f = self.ctx.enter("gmap_fault");
        let Some((mm, vpn)) = self.gmap_translate(gfn) else {
            return EFAULT;
        };
        self.mmap_read_lock(mm).await;
        let rc = self.handle_mm_fault(mm, vpn, write).await;
        self.mmap_read_unlock(mm).await;
        rc
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

/// Errno name for traces.
pub fn rc_name(rc: i32) -> &'static str {
    errno_name(rc)
}
