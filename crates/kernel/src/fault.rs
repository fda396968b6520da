//! Host CPU access to a page, and the secure-storage-access handler that heals it
//! (arch/s390/mm/fault.c: `do_secure_storage_access`, PGM 0x3d). See kernel-notes §3.8.

use crate::config::{KernelFault, UserFault};
use crate::prim::{acc, check_host_read, live};
use crate::uv::UvState;
use crate::vocab::properties::{self as prop, report, report_fatal};
use crate::world::{MmId, PageId, PagePart as PP, PAGE_BYTES};
use crate::Cx;
use explore::{Access, Op};

impl Cx {
    /// The kernel touches `p` (`copy_to_user`, a memcpy of a page-cache page): on a secure
    /// page the CPU raises 0x3d, the KERNEL_FAULT branch of `do_secure_storage_access` runs,
    /// and the instruction is retried:
    /// * v5.7 …: `try_get_page` (WARN on a frozen count; failure → return), the hook,
    ///   `put_page`; hook failure → `BUG()`;
    /// * 2024 folio conversion: `folio_try_get` (silent), hook, `folio_put`, BUG on failure;
    /// * 2026-03 (v7.0): `folio_try_get`, unconditional `uv_convert_from_secure`, clear
    ///   PG_arch_1; failure → the exception fix-up (`handle_fault_error_nolock`: the copy
    ///   fails with -EFAULT), no BUG; the 6.1.y backport (6.1.192) takes `try_get_page` and
    ///   fixes up with `do_no_context`.
    ///
    /// A failed export (`uv-fail call = "export"`) is what tells them apart: BUG before the
    /// fix, the fix-up after.
    pub async fn kernel_access(&self, p: PageId, write: bool) {
        self.ctx
            .call("kernel_access", async move {
                let _f = self.ctx.enter("copy_page");
                // The faulting instruction is re-executed after each 0x3d (no bound in the
                // kernel); the loop carries nothing but its constants.
                let lp = self.retry_loop("do_secure_storage_access (KERNEL_FAULT)");
                while lp.head(0).await {
                    self.ctx.attempt_begin();
                    if self.cpu_touch(p, write).await {
                        return;
                    }
                    let _g = self.ctx.enter("do_secure_storage_access(KERNEL_FAULT)");
                    let got = match self.cfg.kernel_fault {
                        KernelFault::TryGetPage | KernelFault::TryGetPageExportAlways => {
                            self.try_get_page(p, "try_get_page").await
                        }
                        KernelFault::FolioTryGet | KernelFault::ExportAlways => {
                            let _h = self.ctx.enter("folio_try_get");
                            self.page_ref_add_unless_zero(p, 1, false).await
                        }
                    };
                    if !got {
                        // The handler returns; the access faults again.
                        self.park(&[self.objs.page(p, PP::Ref), self.objs.page(p, PP::Uv)])
                            .await;
                        continue;
                    }
                    let export_always = matches!(
                        self.cfg.kernel_fault,
                        KernelFault::ExportAlways | KernelFault::TryGetPageExportAlways
                    );
                    let ok = match export_always {
                        true => {
                            let ok = self.uv_convert_from_secure(p).await == crate::uv::UvRc::Ok;
                            if ok {
                                self.set_arch1(p, false).await;
                            }
                            ok
                        }
                        false => self.arch_make_page_accessible(p).await == 0,
                    };
                    self.put_page(p).await;
                    if !ok {
                        if export_always {
                            self.observe(
                                prop::COPY_FAULT,
                                format!(
                                    "do_secure_storage_access: export of P{p} failed; \
                             the exception fix-up fails the copy"
                                ),
                            )
                            .await;
                        } else {
                            self.ctx
                                .step(Op::new("BUG", explore::Accesses::new()), move |e| {
                                    report_fatal(
                                        e,
                                        prop::BUG,
                                        format!(
                                    "BUG() in do_secure_storage_access: the hook failed on P{p}"
                                ),
                                    );
                                })
                                .await;
                        }
                        return;
                    }
                }
            })
            .await
    }

    /// A user access through `mm`'s page table; on 0x3d the USER_FAULT branch:
    /// * v5.7 … v6.11: mmap lock, `follow_page(vma, addr, FOLL_WRITE | FOLL_GET)` (NULL on a
    ///   read-only PTE: the handler returns and the access faults again), hook, `put_page`;
    /// * v6.12 on: `folio_walk_start` (PTE lock, no write requirement), `folio_get`, hook,
    ///   `folio_put`, `folio_walk_end`.
    ///
    /// Hook failure → SIGSEGV.
    pub async fn user_access(&self, mm: MmId, vpn: usize, write: bool) {
        self.ctx
            .call("user_access", async move {
                let _f = self.ctx.enter("user access");
                // The faulting instruction is re-executed after each fault (no bound in the
                // kernel); the loop carries nothing but its constants.
                let lp = self.retry_loop("do_secure_storage_access (USER_FAULT)");
                while lp.head(0).await {
                    self.ctx.attempt_begin();
                    let pte = self.read_pte(mm, vpn, "tlb lookup").await;
                    let usable = pte.present && !pte.invalid && (!write || pte.write);
                    let Some(p) = pte.page.filter(|_| usable) else {
                        self.mmap_read_lock(mm).await;
                        let rc = self.handle_mm_fault(mm, vpn, write).await;
                        self.mmap_read_unlock(mm).await;
                        if rc != 0 {
                            self.sigsegv("user access: fault failed").await;
                            return;
                        }
                        continue;
                    };
                    if self.cpu_touch(p, write).await {
                        return;
                    }
                    let _g = self.ctx.enter("do_secure_storage_access(USER_FAULT)");
                    self.mmap_read_lock(mm).await;
                    let (got, rc) = match self.cfg.user_fault {
                        UserFault::FollowPageWrite => {
                            match self.get_user_pages_follow_get(mm, vpn).await {
                                Some(p) => {
                                    let rc = self.arch_make_page_accessible(p).await;
                                    self.put_page(p).await;
                                    (true, rc)
                                }
                                None => (false, 0),
                            }
                        }
                        UserFault::FolioWalk => {
                            let _h = self.ctx.enter("folio_walk_start");
                            self.pte_lock(mm, vpn).await;
                            let pte = self.read_pte(mm, vpn, "ptep_get").await;
                            let r = match pte.page.filter(|_| pte.present && !pte.invalid) {
                                Some(p) => {
                                    self.get_page(p).await;
                                    let rc = self.arch_make_page_accessible(p).await;
                                    self.put_page(p).await;
                                    (true, rc)
                                }
                                None => (false, 0),
                            };
                            self.pte_unlock(mm, vpn).await;
                            r
                        }
                    };
                    self.mmap_read_unlock(mm).await;
                    if rc != 0 {
                        self.sigsegv("do_secure_storage_access: hook failed").await;
                        return;
                    }
                    if !got {
                        self.park(&[self.objs.pte(mm, vpn), self.objs.page(p, PP::Uv)])
                            .await;
                    }
                }
            })
            .await
    }

    /// `follow_page(vma, addr, FOLL_WRITE | FOLL_GET)` as the 0x3d handler calls it.
    async fn get_user_pages_follow_get(&self, mm: MmId, vpn: usize) -> Option<PageId> {
        self.ctx
            .call("get_user_pages_follow_get", async move {
                match self
                    .follow_page_pte(mm, vpn, crate::gup::Foll::Get, true)
                    .await
                {
                    crate::gup::Follow::Page(p) => Some(p),
                    _ => None,
                }
            })
            .await
    }

    /// One CPU load or store of `p`; false when the CPU raised 0x3d (secure page).
    pub(crate) async fn cpu_touch(&self, p: PageId, write: bool) -> bool {
        let a = acc(&[
            if write {
                Access::write(self.objs.page(p, PP::Uv))
            } else {
                Access::read(self.objs.page(p, PP::Uv))
            },
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(
                Op::new(if write { "cpu store" } else { "cpu load" }, a),
                move |e| {
                    live(e, p, "cpu access");
                    if let UvState::Secure { .. } = e.world.uv[p].state {
                        e.note(|| format!("P{p} is secure: program interrupt 0x3d"));
                        return false;
                    }
                    if write {
                        crate::prim::host_store(e, p, [0xc0; PAGE_BYTES]);
                    } else {
                        check_host_read(e, p, "cpu load");
                    }
                    true
                },
            )
            .await
    }

    pub async fn sigsegv(&self, why: &'static str) {
        self.ctx
            .step(
                Op::new("force_sig(SIGSEGV)", explore::Accesses::new()),
                move |e| {
                    report(e, prop::GUEST_KILLED, format!("SIGSEGV: {why}"));
                },
            )
            .await
    }
}
