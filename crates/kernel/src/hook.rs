//! The accessibility hook and the UV calls behind it.

use crate::prim::{acc, holds_ref, live};
use crate::uv::{self, UvRc};
use crate::vocab::properties::{self as prop, report};
use crate::world::{PageId, PagePart as PP};
use crate::Cx;
use explore::{Access, Op};

/// errno values the model passes around (negated, as in the kernel).
pub const EINVAL: i32 = -22;
pub const EAGAIN: i32 = -11;
pub const EBUSY: i32 = -16;
pub const ENXIO: i32 = -6;
pub const EFAULT: i32 = -14;
pub const ENOMEM: i32 = -12;
pub const EIO: i32 = -5;
/// `-E2BIG`: the import met a large folio (eef88fe45ac9).
pub const E2BIG: i32 = -7;
pub const EOPNOTSUPP: i32 = -95;

impl Cx {
    /// `arch_make_page_accessible` (arch/s390/kernel/uv.c, v5.7 f28d43636d6f … v6.11;
    /// `arch_make_folio_accessible` later):
    /// 1. PG_arch_1 clear → 0 (fast path);
    /// 2. `uv_pin_shared` succeeds → clear PG_arch_1, 0;
    /// 3. `uv_convert_from_secure` (export) succeeds → clear PG_arch_1, 0;
    /// 4. else `-EINVAL`.
    ///
    /// Precondition (its kernel comment): the caller holds the page lock or an extra
    /// reference; a call without either is reported as `hook-precondition`.
    pub async fn arch_make_page_accessible(&self, p: PageId) -> i32 {
        self.ctx
            .call("arch_make_page_accessible", async move {
                let _f = self.ctx.enter("arch_make_page_accessible");
                let a = acc(&[
                    Access::read(self.objs.page(p, PP::Arch1)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                let set = self
                    .ctx
                    .step(Op::new("test_bit(PG_arch_1)", a), move |e| {
                        live(e, p, "arch_make_page_accessible");
                        let w = &*e.world;
                        let tid = e.tid;
                        if w.pages[p].locked_by != Some(tid) && !holds_ref(w, tid, p) {
                            report(
                                e,
                                prop::HOOK_PRECONDITION,
                                format!(
                                    "arch_make_page_accessible(P{p}) called \
                         without the page lock and without a reference"
                                ),
                            );
                        }
                        let set = e.world.pages[p].arch1;
                        e.note(|| {
                            let what = if set { "set" } else { "clear: fast path" };
                            format!("P{p} PG_arch_1 {what}")
                        });
                        set
                    })
                    .await;
                if !set {
                    return 0;
                }
                if self.uv_pin_shared(p).await == UvRc::Ok {
                    self.set_arch1(p, false).await;
                    return 0;
                }
                if self.uv_convert_from_secure(p).await == UvRc::Ok {
                    self.set_arch1(p, false).await;
                    return 0;
                }
                EINVAL
            })
            .await
    }

    /// The firmware becomes busy for the next `count` UV calls of the import.
    pub async fn uv_set_busy(&self, count: u32) {
        let a = acc(&[Access::write(explore::ObjId(self.objs.uv_busy))]);
        self.ctx
            .step(Op::new("ultravisor busy", a), move |e| {
                e.world.uv_busy += count;
                e.note(|| format!("the UV answers the next {count} call(s) with cc 2"));
            })
            .await
    }

    /// `uv_pin_shared` (arch/s390/kernel/uv.c): UVC Pin-Page-Shared.
    pub async fn uv_pin_shared(&self, p: PageId) -> UvRc {
        let a = acc(&[
            Access::write(self.objs.page(p, PP::Uv)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("uv_pin_shared", a), move |e| {
                live(e, p, "uv_pin_shared");
                let rc = uv::pin_shared(&mut e.world.uv[p]);
                e.note(|| format!("UVC pin-shared P{p}: {rc:?}"));
                rc
            })
            .await
    }

    /// The firmware answers the next `count` Convert-From-Secure calls with condition code
    /// 1 (`uv-export-fails`).
    pub async fn uv_set_export_fail(&self, count: u32) {
        let obj = self
            .objs
            .uv_fail
            .expect("Builder::objs gives the object to a model with uv-export-fails");
        let a = acc(&[Access::write(explore::ObjId(obj))]);
        self.ctx
            .step(Op::new("ultravisor export fails", a), move |e| {
                e.world.uv_export_fail += count;
                e.note(|| format!("the UV answers the next {count} export(s) with cc 1"));
            })
            .await
    }

    /// `uv_convert_from_secure` (export): UVC Convert-From-Secure. The UV encrypts the page.
    /// Does not touch PG_arch_1 (v5.7); the `_owned_` variant clears it (v5.16+).
    ///
    /// In a model with `uv-export-fails`, the call first reads the firmware's failing
    /// answers: one left → condition code 1, nothing changes (the kernel's `-EINVAL`). That
    /// hook is the smallest one the GUP hook-failure scenarios need (issue 26 item 3 models
    /// the UV's failures in general); it covers the exports of this function — the hook,
    /// the 0x3d kernel branch's export, the export before import — not the inline export at
    /// PTE clear (`zap.rs`).
    pub async fn uv_convert_from_secure(&self, p: PageId) -> UvRc {
        let mut a = acc(&[
            Access::write(self.objs.page(p, PP::Uv)),
            Access::read(self.objs.page(p, PP::Arch1)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        if let Some(obj) = self.objs.uv_fail {
            a.push(Access::write(explore::ObjId(obj)));
        }
        self.ctx
            .step(Op::new("uv_convert_from_secure", a), move |e| {
                live(e, p, "uv_convert_from_secure");
                let w = &mut *e.world;
                if w.uv_export_fail > 0 {
                    w.uv_export_fail -= 1;
                    e.note(|| format!("UVC export P{p}: condition code 1 (the UV failed it)"));
                    return UvRc::Refused;
                }
                let was = w.uv[p].state;
                let rc = uv::export(&w.keys, &mut w.uv[p], &mut w.pages[p].data);
                e.note(|| format!("UVC export P{p}: {was:?} -> NonSecure (encrypted)"));
                rc
            })
            .await
    }
}
