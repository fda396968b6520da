//! Unmapping: `zap_pte_range` (mm/memory.c) for munmap / MADV_DONTNEED, with the s390
//! PTE-clear helper that exports a protected mm's page (arch/s390/include/asm/pgtable.h:
//! `ptep_get_and_clear_full`). See `docs/kernel-notes.md` §3.10, §7.

use crate::prim::{acc, live, warn};
use crate::uv::UvRc;
use crate::world::{MmId, PageId, PagePart as PP, Pte};
use crate::Cx;
use explore::{Access, Accesses, Op};

impl Cx {
    /// MADV_DONTNEED of one page (`zap_page_range_single`): mmap lock (read), from the new
    /// gmap (v7.0) the KVM's MMU notifier (`mmu_notifier_invalidate_range_start`), PTE lock,
    /// `ptep_get_and_clear_full` (exports in a protected mm, with the mapping's reference
    /// still held), `page_remove_rmap`, PTE unlock, `mmu_notifier_invalidate_range_end`, then
    /// the TLB batch drops the mapping's reference.
    ///
    /// The export is `uv_convert_from_secure` through `uv_call` (v5.7; the `_owned_` variant
    /// from v5.16 also clears PG_arch_1 on success, `pte_clear_export_clears_arch1`), under
    /// the PTE lock. Its failure is ignored until v6.19 — the still-secure page goes on to be
    /// freed (`secure-page-freed`) — and warned about from v7.0 (`pte_clear_export_warns`,
    /// 850103b0ce6d), which frees it all the same. Not modelled: the owned variants'
    /// `get_page`/`put_page` pair around the export (a plain increment under this PTE lock,
    /// which the importers that freeze the count under the PTE lock also hold: v5.7–v6.13,
    /// v6.14–v6.19, and v7.1 where the PTE table is reachable; v6.14-rc1's and v7.0's
    /// importers freeze without it).
    pub async fn zap_page(&self, mm: MmId, vpn: usize) {
        self.ctx
            .call("zap_page", async move {
                let _f = self.ctx.enter("zap_pte_range");
                self.mmap_read_lock(mm).await;
                self.zap_one_pte(mm, vpn).await;
                self.mmap_read_unlock(mm).await;
            })
            .await
    }

    /// The part of `zap_page_range_single` (mm/memory.c, 6.1.192 / 6.12.118) that acts on
    /// one PTE, for a caller that holds what keeps the VMA (the mmap lock for MADV_DONTNEED,
    /// `i_mmap_lock_read` for `unmap_mapping_range`): from the new gmap (v7.0) the KVM's MMU
    /// notifier, PTE lock, `ptep_get_and_clear_full` (export in a protected mm),
    /// `page_remove_rmap`, PTE unlock, the notifier's end, and `tlb_finish_mmu`'s put.
    /// Not modelled: `zap_page_range_single`'s `lru_add_drain` of the calling CPU's batch
    /// (the callers queue nothing there themselves; the model's one batch stands for the
    /// other CPUs' batches, which this drain does not empty).
    pub(crate) async fn zap_one_pte(&self, mm: MmId, vpn: usize) {
        let notifier = self.kvm_notifier_on(mm);
        if notifier {
            self.kvm_mmu_notifier_invalidate_range_start().await;
        }
        self.pte_lock(mm, vpn).await;
        let pte = self.read_pte(mm, vpn, "ptep_get").await;
        let mut freed = None;
        if let (true, Some(p)) = (pte.present, pte.page) {
            let a = acc(&[
                Access::write(self.objs.pte(mm, vpn)),
                Access::read(explore::ObjId(self.objs.vm)),
            ]);
            let protected = self
                .ctx
                .step(Op::new("ptep_get_and_clear_full", a), move |e| {
                    e.world.mms[mm].set_pte(vpn, Pte::NONE);
                    e.note(|| format!("pte -> P{p} cleared"));
                    e.world.mm_is_protected(mm)
                })
                .await;
            if protected {
                self.pte_clear_export("ptep_get_and_clear_full", p).await;
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
    }

    /// The s390 PTE-clear helpers' export of a protected mm's page (`ptep_get_and_clear_full`,
    /// `ptep_clear_flush`: arch/s390/include/asm/pgtable.h, v5.7 / 6.1.192 / 6.12.118), with
    /// the mapping's reference still held: `uv_convert_from_secure` through `uv_call` (the
    /// `_owned_` variant from v5.16 also clears PG_arch_1 on success,
    /// `pte_clear_export_clears_arch1`), under the caller's PTE lock. A failure is ignored
    /// until v6.19 and warned about from v7.0 (`pte_clear_export_warns`, 850103b0ce6d).
    pub(crate) async fn pte_clear_export(&self, helper: &'static str, p: PageId) {
        let _g = self.ctx.enter(helper);
        let rc = self.uv_convert_from_secure(p).await;
        if rc == UvRc::Ok {
            if self.cfg.pte_clear_export_clears_arch1 {
                self.set_arch1(p, false).await;
            }
        } else if self.cfg.pte_clear_export_warns {
            self.ctx
                .step(Op::new("WARN_ON_ONCE", Accesses::new()), move |e| {
                    warn(
                        e,
                        helper,
                        format!(
                            "uv_convert_from_secure_pte(P{p}) failed ({rc:?}): \
                             the page stays secure and unusable by the host"
                        ),
                    );
                })
                .await;
        }
    }
}
