//! Host CPU access to a page, and the secure-storage-access handler that heals it
//! (arch/s390/mm/fault.c: `do_secure_storage_access`, PGM 0x3d). See kernel-notes §3.8.

use crate::config::KernelFault;
use crate::gup::MAX_RETRIES;
use crate::prim::{acc, check_host_read, live, BUG};
use crate::uv::UvState;
use crate::world::{MmId, PageId, PagePart as PP, PAGE_BYTES};
use crate::Cx;
use explore::{Access, Op, Severity};

impl Cx {
    /// The kernel touches `p` (`copy_to_user`, a memcpy of a page-cache page): on a secure
    /// page the CPU raises 0x3d, the handler runs, and the instruction is retried.
    pub async fn kernel_access(&self, p: PageId, write: bool) {
        let _f = self.ctx.enter("copy_page");
        for _ in 0..MAX_RETRIES {
            if self.cpu_touch(p, write).await {
                return;
            }
            let _g = self.ctx.enter("do_secure_storage_access(KERNEL_FAULT)");
            match self.cfg.kernel_fault {
                KernelFault::TryGetPage => {
                    if !self.try_get_page(p, "try_get_page").await {
                        // The handler returns; the access faults again.
                        self.park(&[self.objs.page(p, PP::Ref), self.objs.page(p, PP::Uv)])
                            .await;
                        continue;
                    }
                    let rc = self.arch_make_page_accessible(p).await;
                    self.put_page(p).await;
                    if rc != 0 {
                        self.ctx
                            .step(Op::new("BUG", explore::Accesses::new()), move |e| {
                                e.report_fatal(BUG, format!("BUG() in do_secure_storage_access: the hook failed on P{p}"));
                            })
                            .await;
                        return;
                    }
                }
            }
        }
        self.retry_bound("do_secure_storage_access").await;
    }

    /// A user access through `mm`'s page table (USER_FAULT): on 0x3d, mmap lock,
    /// `follow_page(FOLL_WRITE | FOLL_GET)`, hook, `put_page`; hook failure → SIGSEGV.
    pub async fn user_access(&self, mm: MmId, vpn: usize, write: bool) {
        let _f = self.ctx.enter("user access");
        for _ in 0..MAX_RETRIES {
            let pte = self.read_pte(mm, vpn, "tlb lookup").await;
            let Some(p) = pte.page.filter(|_| pte.present && !pte.invalid) else {
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
            let got = self.get_user_pages_follow_get(mm, vpn).await;
            let rc = match got {
                Some(p) => {
                    let rc = self.arch_make_page_accessible(p).await;
                    self.put_page(p).await;
                    rc
                }
                None => 0,
            };
            self.mmap_read_unlock(mm).await;
            if rc != 0 {
                self.sigsegv("do_secure_storage_access: hook failed").await;
                return;
            }
            if got.is_none() {
                self.park(&[self.objs.pte(mm, vpn), self.objs.page(p, PP::Uv)])
                    .await;
            }
        }
        self.retry_bound("do_secure_storage_access").await;
    }

    /// `follow_page(vma, addr, FOLL_WRITE | FOLL_GET)` as the 0x3d handler calls it.
    async fn get_user_pages_follow_get(&self, mm: MmId, vpn: usize) -> Option<PageId> {
        match self
            .follow_page_pte(mm, vpn, crate::gup::Foll::Get, true)
            .await
        {
            crate::gup::Follow::Page(p) => Some(p),
            _ => None,
        }
    }

    /// One CPU load or store of `p`; false when the CPU raised 0x3d (secure page).
    async fn cpu_touch(&self, p: PageId, write: bool) -> bool {
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
                        e.world.pages[p].data = [0xc0; PAGE_BYTES];
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
                    e.report(
                        crate::guest::GUEST_KILLED,
                        Severity::Violation,
                        format!("SIGSEGV: {why}"),
                    );
                },
            )
            .await
    }
}
