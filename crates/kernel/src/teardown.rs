//! The protected VM's teardown (`KVM_PV_DISABLE`, the asynchronous cleanup): the guest's
//! configuration is destroyed and its pages are made host-accessible again, per release
//! (`pv_teardown`):
//!
//! * v5.7 (`arch/s390/kvm/pv.c: kvm_s390_pv_deinit_vm`, search id 43205037):
//!   `s390_reset_acc` exports every present page of the mm (a page walk under each PTE
//!   lock, `WARN_ON_ONCE` on a failure), then Destroy-Secure-Configuration through
//!   `uv_call_sched`; the handle and `is_protected` are cleared whatever its result;
//!   `WARN_ONCE` on its failure, whose memory is leaked ("Intended memory leak").
//! * v5.10 / v5.16: the walk destroys instead of exporting (`uv_destroy_page`, then
//!   `uv_destroy_owned_page`).
//! * v6.0 (6.1.192): Destroy-Secure-Configuration first — it cleans the guest's pages —
//!   then `s390_uv_destroy_range`: batches of up to 32 present pages gathered with
//!   `get_page` under the PTE lock, each `uv_destroy_owned_page` (failure ignored) and
//!   `put_page`; `protected_count` drops only on success.
//! * v6.2 (6.12.118): `kvm_s390_pv_deinit_cleanup_all`, and the asynchronous cleanup
//!   (`kvm_s390_pv_set_aside`: Destroy-Secure-Configuration-Fast, the lower 2 GB destroyed;
//!   `kvm_s390_pv_deinit_aside_vm`: the rest destroyed, the leftover disposed).
//!
//! Abstractions, stated: the vCPUs have stopped (`kvm_s390_cpus_from_pv` takes each vCPU's
//! mutex; the builder requires the op after every guest access, in its thread), so no
//! import runs concurrently; every page of the model lies below 2 GB, so the set-aside's
//! `kvm_s390_destroy_lower_2g` covers them all and the perform step finds them destroyed;
//! no fatal signal interrupts `s390_uv_destroy_range_interruptible` (its re-queue of the
//! leftover is not reached); a new protected VM started while the cleanup runs is not
//! modelled (the UV's answer to a Destroy of another configuration's page is unknown).

use crate::config::PvTeardown;
use crate::hook::{busy_note, spin_check, uv_answer, Issue};
use crate::prim::{acc, warn};
use crate::uv::{self, Answer, UvCall, UvRc};
use crate::world::{Conf, MmId, PageId, PagePart as PP, PTRS_PER_PTE};
use crate::Cx;
use explore::{Access, Accesses, Op};

/// `GATHER_GET_PAGES` (arch/s390/mm/gmap.c, 6.1.192): pages gathered per walk.
pub const GATHER_GET_PAGES: usize = 32;

/// How `s390_reset_acc` makes a page accessible.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ResetAcc {
    Export,
    Destroy,
    DestroyOwned,
}

impl Cx {
    /// The teardown op: `KVM_PV_DISABLE`, or with `async_cleanup` (where the release has it)
    /// `KVM_PV_ASYNC_CLEANUP_PREPARE` then `KVM_PV_ASYNC_CLEANUP_PERFORM`.
    pub async fn pv_teardown(&self, async_cleanup: bool) {
        self.ctx
            .call("pv_teardown", async move {
                let _f = self.ctx.enter("kvm_s390_handle_pv");
                let Some(mm) = self.ctx.with_const(|w| w.guest.first().map(|g| g.mm)) else {
                    return;
                };
                match self.cfg.pv_teardown {
                    PvTeardown::ResetAccExport => {
                        self.deinit_vm_reset_acc(mm, ResetAcc::Export).await
                    }
                    PvTeardown::ResetAccDestroy => {
                        self.deinit_vm_reset_acc(mm, ResetAcc::Destroy).await
                    }
                    PvTeardown::ResetAccDestroyOwned => {
                        self.deinit_vm_reset_acc(mm, ResetAcc::DestroyOwned).await
                    }
                    PvTeardown::DestroyRange => {
                        let _g = self.ctx.enter("KVM_PV_DISABLE");
                        self.kvm_s390_pv_deinit_vm(mm, true).await;
                    }
                    PvTeardown::CleanupAll if async_cleanup => {
                        {
                            let _g = self.ctx.enter("KVM_PV_ASYNC_CLEANUP_PREPARE");
                            self.kvm_s390_pv_set_aside(mm).await;
                        }
                        let _g = self.ctx.enter("KVM_PV_ASYNC_CLEANUP_PERFORM");
                        self.kvm_s390_pv_deinit_aside_vm(mm).await;
                    }
                    PvTeardown::CleanupAll => {
                        let _g = self.ctx.enter("KVM_PV_DISABLE");
                        self.kvm_s390_pv_deinit_cleanup_all(mm).await;
                    }
                }
            })
            .await
    }

    /// v5.7 … v5.19 `kvm_s390_pv_deinit_vm`: `s390_reset_acc`, then the configuration's
    /// destroy; `is_protected` cleared (v5.7) whatever the result.
    async fn deinit_vm_reset_acc(&self, mm: MmId, how: ResetAcc) {
        let _f = self.ctx.enter("KVM_PV_DISABLE");
        let _g = self.ctx.enter("kvm_s390_pv_deinit_vm");
        self.s390_reset_acc(mm, how).await;
        let rc = self.uv_cmd_nodata(UvCall::DestroySecConf).await;
        let conf = if rc == UvRc::Ok {
            Conf::Destroyed
        } else {
            Conf::Leaked
        };
        self.pv_vm_done(conf, true).await;
        self.warn_once_destroy_failed(rc, "kvm_s390_pv_deinit_vm")
            .await;
    }

    /// `s390_reset_acc(mm)` (arch/s390/mm/gmap.c, v5.7): nothing unless `mm_is_protected`;
    /// under the mmap lock, a walk of every page table with its PTE lock held, each present
    /// page exported (v5.7) or destroyed (v5.10; owned, v5.16), `WARN_ON_ONCE` on failure.
    async fn s390_reset_acc(&self, mm: MmId, how: ResetAcc) {
        let _f = self.ctx.enter("s390_reset_acc");
        if !self.mm_is_protected(mm).await {
            return;
        }
        self.mmap_read_lock(mm).await;
        for table in self.page_tables(mm) {
            self.pte_lock(mm, table[0]).await;
            for &vpn in &table {
                let pte = self.read_pte(mm, vpn, "ptep_get").await;
                let Some(p) = pte.page.filter(|_| pte.present) else {
                    continue;
                };
                let _g = self.ctx.enter("__s390_reset_acc");
                let failed = match how {
                    ResetAcc::Export => self.uv_convert_from_secure(p).await != UvRc::Ok,
                    ResetAcc::Destroy => self.uv_destroy_page(p).await != 0,
                    ResetAcc::DestroyOwned => self.uv_destroy_owned_page(p).await != 0,
                };
                if failed {
                    self.warn_step("__s390_reset_acc", format!("the UV call on P{p} failed"))
                        .await;
                }
            }
            self.pte_unlock(mm, table[0]).await;
        }
        self.mmap_read_unlock(mm).await;
    }

    /// 6.1.192 `kvm_s390_pv_deinit_vm` (v6.0): Destroy-Secure-Configuration, the handle
    /// cleared, then (`destroy_range`) the pages destroyed; on success `protected_count`
    /// drops, else the memory is leaked; `WARN_ONCE` on failure. 6.12.118's version (called
    /// by `kvm_s390_pv_deinit_cleanup_all`) leaves the pages to its caller.
    async fn kvm_s390_pv_deinit_vm(&self, mm: MmId, destroy_range: bool) -> UvRc {
        let _f = self.ctx.enter("kvm_s390_pv_deinit_vm");
        let rc = self.uv_cmd_nodata(UvCall::DestroySecConf).await;
        if destroy_range {
            self.s390_uv_destroy_range(mm).await;
        }
        let ok = rc == UvRc::Ok;
        self.pv_vm_done(if ok { Conf::Destroyed } else { Conf::Leaked }, ok)
            .await;
        self.warn_once_destroy_failed(rc, "kvm_s390_pv_deinit_vm")
            .await;
        rc
    }

    /// 6.12.118 `kvm_s390_pv_deinit_cleanup_all` (v6.2): nothing if `protected_count` is
    /// already 0 (`atomic_inc_not_zero`, which holds it up until the pages are done);
    /// destroy the VM (`kvm_s390_pv_deinit_vm`), then `s390_uv_destroy_range` over the mm.
    async fn kvm_s390_pv_deinit_cleanup_all(&self, mm: MmId) {
        let _f = self.ctx.enter("kvm_s390_pv_deinit_cleanup_all");
        if !self.mm_is_protected(mm).await {
            return;
        }
        if self.vm_conf().await == Conf::Running {
            self.kvm_s390_pv_deinit_vm(mm, false).await;
        }
        self.s390_uv_destroy_range(mm).await;
    }

    /// 6.12.118 `kvm_s390_pv_set_aside`: Destroy-Secure-Configuration-Fast (available: the
    /// model's firmware has it; `WARN_ONCE` unless it fails with rc 0x104; a failure refuses
    /// the set-aside, and the VMM falls back to `KVM_PV_DISABLE`), then
    /// `kvm_s390_destroy_lower_2g` (every model page).
    async fn kvm_s390_pv_set_aside(&self, mm: MmId) {
        let _f = self.ctx.enter("kvm_s390_pv_set_aside");
        let rc = self.uv_cmd_nodata(UvCall::DestroySecConfFast).await;
        if rc != UvRc::Ok {
            if !matches!(rc, UvRc::Error { rc: 0x104, .. }) {
                self.warn_once_destroy_failed(rc, "kvm_s390_pv_deinit_vm_fast")
                    .await;
            }
            let _g = self.ctx.enter("KVM_PV_DISABLE");
            self.kvm_s390_pv_deinit_cleanup_all(mm).await;
            return;
        }
        {
            let _g = self.ctx.enter("kvm_s390_destroy_lower_2g");
            self.s390_uv_destroy_range(mm).await;
        }
        let _g = self.ctx.enter("kvm_s390_clear_pv_state");
        self.pv_vm_set(Conf::Destroyed, false).await;
    }

    /// 6.12.118 `kvm_s390_pv_deinit_aside_vm` (without `kvm->lock`): the whole range
    /// destroyed (interruptible; no fatal signal in the model), then the leftover disposed:
    /// it used the fast destroy, so only `protected_count` drops.
    async fn kvm_s390_pv_deinit_aside_vm(&self, mm: MmId) {
        let _f = self.ctx.enter("kvm_s390_pv_deinit_aside_vm");
        if self.vm_conf().await != Conf::Destroyed {
            return;
        }
        {
            let _g = self.ctx.enter("s390_uv_destroy_range_interruptible");
            self.s390_uv_destroy_range(mm).await;
        }
        let _g = self.ctx.enter("kvm_s390_pv_dispose_one_leftover");
        self.pv_vm_set(Conf::Destroyed, true).await;
    }

    /// `__s390_uv_destroy_range(mm, 0, TASK_SIZE, false)` (arch/s390/mm/gmap.c, 6.1.192):
    /// until the walk has seen every page: under the mmap lock a walk takes, under each PTE
    /// lock, `get_page` on up to [`GATHER_GET_PAGES`] present pages; then
    /// `s390_uv_destroy_pfns`: each page `uv_destroy_owned_page` (6.12.118
    /// `uv_destroy_folio`; failure ignored) and `put_page`.
    async fn s390_uv_destroy_range(&self, mm: MmId) {
        let _f = self.ctx.enter("s390_uv_destroy_range");
        let vpns: Vec<usize> = self.page_tables(mm).concat();
        let mut next = 0;
        while next < vpns.len() {
            let mut pfns: Vec<PageId> = Vec::new();
            self.mmap_read_lock(mm).await;
            {
                let _g = self.ctx.enter("s390_gather_pages");
                let mut locked: Option<usize> = None;
                while next < vpns.len() && pfns.len() < GATHER_GET_PAGES {
                    let vpn = vpns[next];
                    let table = vpn / PTRS_PER_PTE;
                    if locked != Some(table) {
                        if let Some(t) = locked {
                            self.pte_unlock(mm, t * PTRS_PER_PTE).await;
                        }
                        self.pte_lock(mm, vpn).await;
                        locked = Some(table);
                    }
                    let pte = self.read_pte(mm, vpn, "ptep_get").await;
                    if let Some(p) = pte.page.filter(|_| pte.present) {
                        // "we have a reference from the mapping, take an extra one"
                        self.get_page(p).await;
                        pfns.push(p);
                    }
                    next += 1;
                }
                if let Some(t) = locked {
                    self.pte_unlock(mm, t * PTRS_PER_PTE).await;
                }
            }
            self.mmap_read_unlock(mm).await;
            let _g = self.ctx.enter("s390_uv_destroy_pfns");
            for p in pfns {
                self.uv_destroy_owned_page(p).await;
                self.put_page(p).await;
            }
        }
    }

    /// `uv_cmd_nodata(handle, cmd)` for a configuration destroy (arch/s390/include/asm/uv.h):
    /// the UVC through `uv_call_sched` (a busy answer reschedules and repeats: no
    /// bounded-waiting concern, `kvm->lock` is a mutex). On success the UV destroys the
    /// configuration: Destroy-Secure-Configuration cleans the guest's pages,
    /// -Fast leaves them to be destroyed ([`uv::destroy_sec_conf`]).
    async fn uv_cmd_nodata(&self, call: UvCall) -> UvRc {
        let (name, clean) = match call {
            UvCall::DestroySecConfFast => ("uv_call_sched(destroy-sec-conf-fast)", false),
            _ => ("uv_call_sched(destroy-sec-conf)", true),
        };
        self.ctx
            .call(name, async move {
                let frames = self.ctx.with_const(|w| w.pages.len());
                let mut a = Accesses::new().with(Access::write(self.objs.uv_env(call)));
                for p in 0..frames {
                    a.push(Access::write(self.objs.page(p, PP::Uv)));
                }
                let mut spins = 0u32;
                loop {
                    let (rc, park) = self
                        .ctx
                        .step(Op::new(name, a), move |e| match uv_answer(e, call) {
                            Answer::Busy { cc, period } => {
                                let park = spin_check(e, call, spins + 1, None, Issue::Sched);
                                e.note(|| busy_note(call, cc, period, Some(Issue::Sched)));
                                (UvRc::Busy, park)
                            }
                            Answer::Error { rc, rrc } => {
                                e.note(|| format!("UVC {}: cc 1 rc {rc:#x} rrc {rrc:#x}", call.name()));
                                (UvRc::Error { rc, rrc }, false)
                            }
                            Answer::Proceed => {
                                let w = &mut *e.world;
                                for (f, pg) in w.uv.iter_mut().zip(w.pages.iter_mut()) {
                                    uv::destroy_sec_conf(f, &mut pg.data, 0, clean);
                                }
                                e.note(|| {
                                    if clean {
                                        "the configuration is destroyed; its pages are cleaned and accessible".into()
                                    } else {
                                        "the configuration is destroyed; its pages stay secure until destroyed".into()
                                    }
                                });
                                (UvRc::Ok, false)
                            }
                        })
                        .await;
                    if rc != UvRc::Busy {
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

    /// The VM's bookkeeping after its destroy: the handle cleared and, with `uncount`,
    /// `atomic_dec(&mm->context.protected_count)` (v5.7: `is_protected` cleared).
    async fn pv_vm_done(&self, conf: Conf, uncount: bool) {
        let _f = self.ctx.enter(if conf == Conf::Leaked {
            "s390_replace_asce"
        } else {
            "kvm_s390_pv_dealloc_vm"
        });
        self.pv_vm_set(conf, uncount).await;
    }

    async fn pv_vm_set(&self, conf: Conf, uncount: bool) {
        let a = acc(&[Access::write(explore::ObjId(self.objs.vm))]);
        self.ctx
            .step(Op::new("atomic_dec(protected_count)", a), move |e| {
                e.world.vm.conf = conf;
                if uncount {
                    e.world.vm.uncounted = true;
                }
                e.note(|| {
                    format!(
                        "the VM: {conf:?}{}",
                        if uncount { ", no longer counted" } else { "" }
                    )
                });
            })
            .await
    }

    /// The VM's configuration state.
    async fn vm_conf(&self) -> Conf {
        let a = acc(&[Access::read(explore::ObjId(self.objs.vm))]);
        self.ctx
            .step(Op::new("kvm_s390_pv_get_handle", a), |e| e.world.vm.conf)
            .await
    }

    /// `mm_is_protected(mm)` read as a step.
    async fn mm_is_protected(&self, mm: MmId) -> bool {
        let a = acc(&[Access::read(explore::ObjId(self.objs.vm))]);
        self.ctx
            .step(Op::new("mm_is_protected", a), move |e| {
                e.world.mm_is_protected(mm)
            })
            .await
    }

    /// `WARN_ONCE(cc, "protvirt destroy vm failed rc %x rrc %x")` when the destroy failed.
    async fn warn_once_destroy_failed(&self, rc: UvRc, site: &'static str) {
        if rc != UvRc::Ok {
            self.warn_step(site, format!("protvirt destroy vm failed: {rc:?}"))
                .await;
        }
    }

    /// A `WARN_ON_ONCE` / `WARN_ONCE` reached, as a step of its own.
    async fn warn_step(&self, site: &'static str, why: String) {
        self.ctx
            .step(Op::new("WARN_ON_ONCE", Accesses::new()), move |e| {
                warn(e, site, why)
            })
            .await
    }

    /// The mm's mapped virtual pages, grouped by page table (the walk's order).
    fn page_tables(&self, mm: MmId) -> Vec<Vec<usize>> {
        let mut vpns: Vec<usize> = self
            .ctx
            .with_const(|w| w.mms[mm].vmas.iter().map(|v| v.vpn).collect());
        vpns.sort_unstable();
        let mut out: Vec<Vec<usize>> = Vec::new();
        for v in vpns {
            match out.last_mut() {
                Some(t) if t[0] / PTRS_PER_PTE == v / PTRS_PER_PTE => t.push(v),
                _ => out.push(vec![v]),
            }
        }
        out
    }
}
