//! Unmapping: `zap_pte_range` (mm/memory.c) for munmap / MADV_DONTNEED, with the s390
//! PTE-clear helper that exports a protected mm's page (arch/s390/include/asm/pgtable.h:
//! `ptep_get_and_clear_full`). See `docs/kernel-notes.md` §3.10, §7.

use crate::prim::{acc, live};
use crate::uv;
use crate::world::{MmId, PagePart as PP, Pte};
use crate::Cx;
use explore::{Access, Op};

impl Cx {
    /// MADV_DONTNEED of one page (`zap_page_range_single`): mmap lock (read), from the new
    /// gmap (v7.0) the KVM's MMU notifier (`mmu_notifier_invalidate_range_start`), PTE lock,
    /// `ptep_get_and_clear_full` (exports in a protected mm, with the mapping's reference
    /// still held), `page_remove_rmap`, PTE unlock, `mmu_notifier_invalidate_range_end`, then
    /// the TLB batch drops the mapping's reference.
    pub async fn zap_page(&self, mm: MmId, vpn: usize) {
        self.ctx
            .call("zap_page", async move {
                let _f = self.ctx.enter("zap_pte_range");
                self.mmap_read_lock(mm).await;
                let notifier = self.kvm_notifier_on(mm);
                if notifier {
                    self.kvm_mmu_notifier_invalidate_range_start().await;
                }
                self.pte_lock(mm, vpn).await;
                let protected = self.ctx.with_const(|w| w.mms[mm].protected);
                let pte = self.read_pte(mm, vpn, "ptep_get").await;
                let mut freed = None;
                if let (true, Some(p)) = (pte.present, pte.page) {
                    let clears = self.cfg.pte_clear_export_clears_arch1;
                    let a = acc(&[
                        Access::write(self.objs.pte(mm, vpn)),
                        Access::write(self.objs.page(p, PP::Uv)),
                        Access::read(self.objs.page(p, PP::Life)),
                    ]);
                    self.ctx
                        .step(Op::new("ptep_get_and_clear_full", a), move |e| {
                            e.world.mms[mm].set_pte(vpn, Pte::NONE);
                            e.note(|| format!("pte -> P{p} cleared"));
                            if protected && live(e, p, "uv_convert_from_secure") {
                                let w = &mut *e.world;
                                let rc = uv::export(&w.keys, &mut w.uv[p], &mut w.pages[p].data);
                                e.note(|| format!("export P{p}: {rc:?}"));
                            }
                        })
                        .await;
                    if protected && clears {
                        self.set_arch1(p, false).await;
                    }
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
                            // The mapping's reference now belongs to the TLB gather batch.
                            let h = w.folio(p);
                            w.pages[h].extra += 1;
                            let generation = w.pages[p].generation;
                            let tid = e.tid;
                            e.world.held[tid].push(crate::world::Held {
                                page: p,
                                pin: false,
                                generation,
                            });
                            e.note(|| format!("P{p} mapcount -1"));
                        })
                        .await;
                    freed = Some(p);
                }
                self.pte_unlock(mm, vpn).await;
                if notifier {
                    self.kvm_mmu_notifier_invalidate_range_end().await;
                }
                if let Some(p) = freed {
                    let _g = self.ctx.enter("tlb_finish_mmu");
                    self.put_page(p).await;
                }
                self.mmap_read_unlock(mm).await;
            })
            .await
    }
}
