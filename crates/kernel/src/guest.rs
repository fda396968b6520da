//! The guest vCPU: it touches its memory under SIE; a touch of a non-secure page raises
//! PGM 0x3e and the host imports the page (`do_non_secure_storage_access` →
//! `gmap_convert_to_secure` → `gmap_make_secure`), then re-enters the guest, which touches the
//! page again. Also the unpack loop (`kvm_s390_pv_unpack`).

use crate::hook::{EAGAIN, EINVAL};
use crate::import::UvCmd;
use crate::prim::{acc, live};
use crate::retry::MAX_RETRIES;
use crate::uv::{UvCall, UvState};
use crate::vocab::properties::{self as prop, report};
use crate::world::{PagePart as PP, PAGE_BYTES};
use crate::Cx;
use explore::{Access, Op};

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
                for _ in 0..MAX_RETRIES {
                    // One entry into SIE, as a call: it hands the loop only whether the
                    // access is over (so a finished attempt is summarised by that, and a
                    // restore passes over it whole).
                    let over = self
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
                                    return true;
                                }
                                return false;
                            };
                            match self.guest_touch(mm, vpn, p, gfn, write).await {
                                Touch::Done => return true,
                                Touch::Retry => return false,
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
                                return true;
                            }
                            if rc != 0 {
                                // The guest re-executes the instruction and faults again; a
                                // retry can only succeed once the page could be frozen (weak
                                // fairness: the retries that must fail in between change
                                // nothing and are not unrolled).
                                self.park_until_importable(p, mm, vpn).await;
                            }
                            false
                        })
                        .await;
                    if over {
                        return;
                    }
                }
                self.retry_bound("guest re-fault loop (PGM 0x3e)").await;
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
        let a = acc(&[
            Access::read(self.objs.pte(mm, vpn)),
            if write.is_some() {
                Access::write(self.objs.page(p, PP::Uv))
            } else {
                Access::read(self.objs.page(p, PP::Uv))
            },
            Access::read(self.objs.page(p, PP::Life)),
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
                    let gi = w
                        .guest
                        .iter()
                        .position(|g| g.gfn == gfn)
                        .expect("guest frame exists");
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

    /// Waits until an import of `p` could succeed: its refcount equals `expected_page_refs`,
    /// it is neither locked nor under writeback, and the UV is not inside a busy period of
    /// the import — or a retry can change that itself (the page sits on the LRU batch, which
    /// the import drains), or the PTE changed. A scripted busy answer (`uv-busy` with a
    /// count) is consumed by a retry that reaches the UVC, which needs the freeze to succeed
    /// first: it is progress only when the page is importable, so it needs no term of its
    /// own (issue 26: counting it alone as progress turned a short-lived reference into a
    /// spurious `retry-bound`).
    async fn park_until_importable(&self, p: usize, mm: usize, vpn: usize) {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Ref)),
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Writeback)),
            Access::read(self.objs.page(p, PP::Lock)),
            Access::read(self.objs.page(p, PP::Life)),
            Access::read(explore::ObjId(self.objs.lru)),
            Access::read(explore::ObjId(self.objs.uv_busy)),
            Access::read(self.objs.pte(mm, vpn)),
        ]);
        fn importable(w: &crate::World, arg: u64) -> bool {
            let p = (arg & 0xffff) as usize;
            let (mm, vpn) = (((arg >> 16) & 0xffff) as usize, (arg >> 32) as usize);
            let pg = &w.pages[p];
            let pte = w.mms[mm].pte(vpn);
            let busy = w.uv_env.in_period(UvCall::Import) || w.uv_env.in_period(UvCall::Unpack);
            pg.free
                || pte.page != Some(p)
                || w.lru_batch.contains(&p)
                || (!busy
                    && pg.refcount == w.expected_page_refs(p)
                    && !pg.writeback
                    && pg.locked_by.is_none())
        }
        let arg = (p as u64) | ((mm as u64) << 16) | ((vpn as u64) << 32);
        self.ctx
            .step(Op::new("retry", a).retry_when(importable, arg), |_| ())
            .await
    }

    /// `kvm_s390_pv_unpack` for one page: `unpack_one` → `gmap_make_secure(UNPACK)`;
    /// `-EAGAIN` → `cond_resched` and retry the same page; other error → stop. A retry
    /// waits, as the guest's re-fault does, until an import of the page could succeed (weak
    /// fairness; [`Self::park_until_importable`]: that includes the end of a busy period —
    /// issue 26: parking only on the page's own state turned one busy answer into a
    /// livelock).
    pub async fn unpack(&self, gfn: usize) -> i32 {
        self.ctx
            .call("unpack", async move {
                let _f = self.ctx.enter("kvm_s390_pv_unpack");
                let Some((mm, vpn)) = self.gmap_translate(gfn) else {
                    return EINVAL;
                };
                for _ in 0..MAX_RETRIES {
                    self.ctx.attempt_begin();
                    let p = self.read_pte(mm, vpn, "ptep_get").await.page;
                    let rc = self.gmap_make_secure(gfn, UvCmd::Unpack).await;
                    if rc != EAGAIN {
                        return rc;
                    }
                    match p {
                        Some(p) => self.park_until_importable(p, mm, vpn).await,
                        None => self.park(&[self.objs.pte(mm, vpn)]).await,
                    }
                }
                self.retry_bound("kvm_s390_pv_unpack").await;
                EAGAIN
            })
            .await
    }
}
