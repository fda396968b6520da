//! The VMM's side of the protected boot: what QEMU does with `KVM_PV_UNPACK`'s result.
//!
//! QEMU runs the protected boot in the machine reset that the guest's diag 308 subcode 10
//! requests (every vCPU stopped): `s390_machine_protect` (hw/s390x/s390-virtio-ccw.c)
//! enables the secure VM, sets the SE header, unpacks every image component
//! (`s390_ipl_pv_unpack` → `s390_pv_unpack` → the `KVM_PV_UNPACK` ioctl, hw/s390x/ipl.c,
//! target/s390x/kvm/pv.c; a failing component ends the loop), then verifies the image
//! (`s390_pv_verify` → `KVM_PV_VERIFY`). Any nonzero result goes to `out_err`:
//! `s390_machine_unprotect` → `s390_pv_vm_disable` → `KVM_PV_DISABLE`, and the reset
//! reports the error to the guest in its diag 308 registers (`s390_machine_inject_pv_error`,
//! rc 0xa02) and lets the *unprotected* guest go on after the diag: the protected guest
//! never runs. Read: QEMU's hw/s390x/s390-virtio-ccw.c of the v5.x era (search id
//! 35158321: unpack → verify → `out_err: s390_machine_unprotect`), the patch that
//! introduced it (Janosch Frank, 2020, id 19169417342) and the 2025 `S390PVResponse`
//! patch (id 48191477806), which changes only how rc/rrc are reported — the same sequence
//! throughout. QEMU retries nothing: the kernel returns `-EAGAIN` from the ioctl only on a
//! fatal signal (`kvm_s390_pv_unpack` retries it itself).
//!
//! The kernel side (`arch/s390/kvm/kvm-s390.c: kvm_s390_handle_pv`, 6.1.192 and 6.12.118):
//! `KVM_PV_VERIFY` is `uv_cmd_nodata(handle, UVC_CMD_VERIFY_IMG, …)`, nonzero → `-EINVAL`.
//! What the Ultravisor checks is not public: the model's UV answers success when every
//! frame of the image was unpacked (`GuestFrame::unpacked`, set by a successful
//! Unpack-Image UVC) — the SE header carries the image's digests, so a page the host never
//! unpacked cannot verify [inferred: weaker evidence, no firmware documentation].
//!
//! Abstractions, stated: one `unpack` op is one image component followed by its
//! verification (a scenario with several `unpack` ops verifies each); the SE header and the
//! secure VM's creation are not steps (they cannot fail in the model); the guest's
//! unprotected continuation after the diag is not modelled — the thread ends (its later
//! ops are the protected guest's). A model that runs a guest access in another thread
//! beside the unpack (kernel tests of the unpack's own code; QEMU stops every vCPU for
//! the reset) gets no `KVM_PV_DISABLE`: its `kvm_s390_cpus_from_pv` would wait for that
//! vCPU to leave `KVM_RUN`, which the teardown does not model
//! ([`crate::world::Objs::vcpus_stopped_for_unpack`]).

use crate::prim::acc;
use crate::vocab::properties::{self as prop, report};
use crate::Cx;
use explore::{Access, Op};

impl Cx {
    /// QEMU's `s390_machine_protect` around `KVM_PV_UNPACK` of `pages` pages from guest frame
    /// `gfn`: the ioctl; a nonzero result, or a failing `KVM_PV_VERIFY`, → the VMM unprotects
    /// the VM (`KVM_PV_DISABLE`, teardown.rs) and the protected guest never runs. Returns
    /// whether it runs (the thread's later ops happen).
    pub async fn s390_machine_protect(&self, gfn: usize, pages: usize) -> bool {
        self.ctx
            .call("s390_machine_protect", async move {
                let _f = self.ctx.enter("s390_machine_protect");
                let rc = {
                    let _g = self.ctx.enter("s390_ipl_pv_unpack");
                    self.unpack(gfn, pages).await
                };
                if rc == 0 && self.kvm_pv_verify(gfn, pages).await {
                    return true;
                }
                if self.objs.vcpus_stopped_for_unpack {
                    let _g = self.ctx.enter("s390_machine_unprotect");
                    self.pv_teardown(false).await;
                }
                false
            })
            .await
    }

    /// `KVM_PV_VERIFY` (`UVC_CMD_VERIFY_IMG`) after an unpack that returned 0: the UV
    /// verifies when it unpacked every frame of the image (module doc). A frame the ioctl
    /// went past without the UV having unpacked it is the kernel's lie — `KVM_PV_UNPACK`
    /// told userspace the page is in place (`unpack_one` returned 0: v6.14-rc1's failed
    /// `gfn_to_page`, v6.14/v6.15's split that returns 0, 3ec8a8330a1a) —, reported as
    /// `import-completeness` here, where the ioctl's result is known; the verification then
    /// fails and QEMU does not start the guest, so no guest access follows.
    async fn kvm_pv_verify(&self, gfn: usize, pages: usize) -> bool {
        let gis: Vec<usize> = (gfn..gfn + pages).map(|g| self.guest_index(g)).collect();
        let a = acc(&gis
            .iter()
            .map(|&gi| Access::read(self.objs.guest_frame(gi)))
            .collect::<Vec<_>>());
        let _f = self.ctx.enter("kvm_s390_handle_pv");
        self.ctx
            .step(
                Op::new("KVM_PV_VERIFY: uv_cmd_nodata(VERIFY_IMG)", a),
                move |e| {
                    let missing: Vec<usize> = gis
                        .iter()
                        .filter(|&&gi| !e.world.guest[gi].unpacked)
                        .map(|&gi| e.world.guest[gi].gfn)
                        .collect();
                    if missing.is_empty() {
                        e.note(|| "UVC verify image: ok".into());
                        return true;
                    }
                    report(
                        e,
                        prop::IMPORT_COMPLETENESS,
                        format!(
                            "KVM_PV_UNPACK returned 0 but the UV never unpacked guest frame(s) \
                         {missing:?}: KVM_PV_VERIFY fails and the VMM does not start the guest"
                        ),
                    );
                    false
                },
            )
            .await
    }
}
