//! The new gmap (e38c884df921 "KVM: s390: Switch to new gmap", v7.0): the locks and the
//! MMU-notifier protocol the import runs under from v7.0 on.
//!
//! * `kvm->arch.pv.import_lock`, a VM-wide mutex around every import-like operation
//!   (`kvm_s390_pv_make_secure`, arch/s390/kvm/pv.c, newest tree read; "[PATCH v7 06/29] KVM:
//!   s390: Introduce import_lock", 2026-02-04).
//! * `kvm->mmu_lock`, an rwlock: the fault-in links the guest page and runs the import
//!   callback under it for read (`kvm_s390_faultin_gfn` → `gmap_link` → `dat_link`,
//!   arch/s390/kvm/faultin.c, torvalds/linux @4204067f); the generic KVM MMU notifier takes it
//!   for write around every invalidation of the host mapping (`kvm_mmu_notifier_
//!   invalidate_range_start` / `_end`, virt/kvm/kvm_main.c), counting
//!   `mmu_invalidate_in_progress` up and down and bumping `mmu_invalidate_seq`.
//! * The fault-in reads `mmu_invalidate_seq` before its GUP and, under `mmu_lock` (read),
//!   retries when an invalidation is in progress or finished in between
//!   (`mmu_invalidate_retry_gfn`): the page it links is the one the host PTE maps.
//!
//! Abstractions: the write side of `mmu_lock` is taken and released within one step (the
//! notifier's begin and end each hold it only for their counters and the gmap unmap, which
//! the model does not represent: the guest's translation is fixed); the PGSTE bit lock
//! `dat_link` also holds is not modelled (no other model thread takes it);
//! `gmap_try_fixup_minor` (an existing gmap entry: the callback under `mmu_lock` without a GUP
//! reference, `__kvm_s390_pv_make_secure` then takes `folio_get`) is modelled as the slow
//! path: the same references are held at the freeze; the retry's range check is per mm (a
//! scenario's protected mm backs one memslot).

use crate::gup::Foll;
use crate::hook::EFAULT;
use crate::import::UvCmd;
use crate::prim::acc;
use crate::world::{MmId, PageId};
use crate::Cx;
use explore::{Access, ObjId, Op};

/// The callback a fault-in runs under `mmu_lock` once the page is linked.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Callback {
    /// `kvm_s390_faultin_gfn_simple`: none.
    None,
    /// `_kvm_s390_pv_make_secure` for this guest frame and UVC.
    PvMakeSecure { gfn: usize, cmd: UvCmd },
}

/// What a fault-in returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Faultin {
    /// The page was linked and the callback ran: its result (`priv.rc`, 0 without a
    /// callback) and the folio it kept a reference on for the wiggle (`priv.folio`).
    Done { rc: i32, kept: Option<PageId> },
    /// The fault-in failed (`__kvm_faultin_pfn` errors → `-EFAULT`).
    Failed(i32),
}

impl Cx {
    fn kvm_mmu(&self) -> ObjId {
        ObjId(self.objs.kvm_mmu)
    }

    /// `mutex_lock(&kvm->arch.pv.import_lock)`: waits while another thread holds it.
    pub async fn import_lock(&self) {
        let a = acc(&[Access::acquire(ObjId(self.objs.import_lock))]);
        fn free(w: &crate::World, _: u64) -> bool {
            w.kvm.import_lock.is_none()
        }
        self.ctx
            .step(
                Op::new("mutex_lock(import_lock)", a).when(free, 0),
                move |e| {
                    e.world.kvm.import_lock = Some(e.tid);
                },
            )
            .await
    }

    /// `mutex_unlock(&kvm->arch.pv.import_lock)`.
    pub async fn import_unlock(&self) {
        let a = acc(&[Access::release(ObjId(self.objs.import_lock))]);
        self.ctx
            .step(Op::new("mutex_unlock(import_lock)", a), move |e| {
                e.world.kvm.import_lock = None;
            })
            .await
    }

    /// `kvm->mmu_invalidate_seq` read before the fault-in's GUP (`kvm_s390_faultin_gfn`).
    async fn mmu_invalidate_seq(&self) -> u32 {
        let a = acc(&[Access::read(self.kvm_mmu())]);
        self.ctx
            .step(Op::new("inv_seq = kvm->mmu_invalidate_seq", a), move |e| {
                e.world.kvm.invalidate_seq
            })
            .await
    }

    /// `read_lock(&kvm->mmu_lock)` and `mmu_invalidate_retry_gfn(kvm, inv_seq, gfn)`: whether
    /// the fault-in may link the page (no invalidation in progress, none since `seq`). The
    /// read side is held when this returns `true`; on `false` it was dropped again.
    async fn mmu_lock_read_unless_invalidated(&self, seq: u32) -> bool {
        let a = acc(&[Access::write(self.kvm_mmu())]);
        self.ctx
            .step(Op::new("read_lock(mmu_lock)", a), move |e| {
                let k = &mut e.world.kvm;
                if k.invalidate_in_progress > 0 || k.invalidate_seq != seq {
                    e.note(|| "an invalidation raced: mmu_invalidate_retry_gfn".into());
                    return false;
                }
                k.mmu_lock_readers += 1;
                true
            })
            .await
    }

    /// `read_unlock(&kvm->mmu_lock)`.
    async fn mmu_read_unlock(&self) {
        let a = acc(&[Access::write(self.kvm_mmu())]);
        self.ctx
            .step(Op::new("read_unlock(mmu_lock)", a), move |e| {
                e.world.kvm.mmu_lock_readers -= 1;
            })
            .await
    }

    /// Waits (weak fairness) until no invalidation is in progress: the fault-in's loop
    /// would go round without a chance until then.
    async fn park_until_not_invalidating(&self) {
        let a = acc(&[Access::read(self.kvm_mmu())]);
        fn quiet(w: &crate::World, _: u64) -> bool {
            w.kvm.invalidate_in_progress == 0
        }
        self.ctx
            .step(Op::new("retry", a).retry_when(quiet, 0), |_| ())
            .await
    }

    /// `kvm_s390_faultin_gfn(NULL, kvm, &f)` with `write_attempt` (arch/s390/kvm/faultin.c,
    /// torvalds/linux @4204067f): `inv_seq`; `__kvm_faultin_pfn` (GUP for write: one
    /// reference in `f->page`); error → `-EFAULT`; invalidation raced → release the page,
    /// again; else under `mmu_lock` (read) `gmap_link`, whose `dat_link` runs the callback;
    /// then the page's reference is released.
    pub async fn kvm_s390_faultin_gfn(&self, mm: MmId, vpn: usize, cb: Callback) -> Faultin {
        self.ctx
            .call("kvm_s390_faultin_gfn", async move {
                let _f = self.ctx.enter("kvm_s390_faultin_gfn");
                self.faultin_loop(mm, vpn, cb).await
            })
            .await
    }

    async fn faultin_loop(&self, mm: MmId, vpn: usize, cb: Callback) -> Faultin {
        loop {
            let seq = self.mmu_invalidate_seq().await;
            let p = {
                let _g = self.ctx.enter("__kvm_faultin_pfn");
                match self.get_user_pages_fast(mm, vpn, Foll::Get, true).await {
                    Ok(p) => p,
                    Err(_) => return Faultin::Failed(EFAULT),
                }
            };
            if !self.mmu_lock_read_unless_invalidated(seq).await {
                {
                    let _g = self.ctx.enter("kvm_release_faultin_page");
                    self.put_page(p).await;
                }
                self.park_until_not_invalidating().await;
                continue;
            }
            let (rc, kept) = match cb {
                Callback::None => (0, None),
                Callback::PvMakeSecure { gfn, cmd } => {
                    let _g = self.ctx.enter("gmap_link > dat_link");
                    self._kvm_s390_pv_make_secure(mm, vpn, p, gfn, cmd).await
                }
            };
            self.mmu_read_unlock().await;
            {
                let _g = self.ctx.enter("kvm_release_faultin_page");
                self.put_page(p).await;
            }
            return Faultin::Done { rc, kept };
        }
    }

    /// `kvm_mmu_notifier_invalidate_range_start` for the KVM's mm (virt/kvm/kvm_main.c, the
    /// new gmap's notifier): under `mmu_lock` (write, waiting for the readers)
    /// `mmu_invalidate_in_progress++` and the gmap unmap.
    pub async fn kvm_mmu_notifier_invalidate_range_start(&self) {
        let a = acc(&[Access::write(self.kvm_mmu())]);
        fn no_readers(w: &crate::World, _: u64) -> bool {
            w.kvm.mmu_lock_readers == 0
        }
        self.ctx
            .step(
                Op::new("kvm_mmu_notifier_invalidate_range_start", a).when(no_readers, 0),
                move |e| {
                    e.world.kvm.invalidate_in_progress += 1;
                    e.note(|| "write_lock(mmu_lock): mmu_invalidate_in_progress++".into());
                },
            )
            .await
    }

    /// `kvm_mmu_notifier_invalidate_range_end`: under `mmu_lock` (write)
    /// `mmu_invalidate_seq++`, `mmu_invalidate_in_progress--`.
    pub async fn kvm_mmu_notifier_invalidate_range_end(&self) {
        let a = acc(&[Access::write(self.kvm_mmu())]);
        fn no_readers(w: &crate::World, _: u64) -> bool {
            w.kvm.mmu_lock_readers == 0
        }
        self.ctx
            .step(
                Op::new("kvm_mmu_notifier_invalidate_range_end", a).when(no_readers, 0),
                move |e| {
                    let k = &mut e.world.kvm;
                    k.invalidate_seq += 1;
                    k.invalidate_in_progress -= 1;
                },
            )
            .await
    }

    /// Whether the KVM's MMU notifier sees changes of `mm`'s page tables: the new gmap's
    /// (v7.0) generic notifier, registered on the protected VM's mm.
    pub fn kvm_notifier_on(&self, mm: MmId) -> bool {
        use crate::config::ImportFlow;
        matches!(
            self.cfg.import_flow,
            ImportFlow::NewGmap | ImportFlow::NewGmapTrylock
        ) && self.ctx.with_const(|w| w.mms[mm].protected)
    }
}
