//! The I/O paths built on GUP and on page references taken for a device: block direct I/O
//! and MSG_ZEROCOPY over several pages (what each does with a short or negative count),
//! io_uring fixed buffers (`io_pin_pages`), udmabuf (`udmabuf_create`), and KVM's own
//! accesses to guest memory (`kvm_read_guest` / `kvm_write_guest`, the adapter-interrupt
//! indicators). `vmsplice` is in `splice.rs`. See the GUP section of `docs/kernel-notes.md`.
//!
//! Every GUP here goes through [`Cx::gup`], so each call is checked against the GUP contract.
//! `held_before` is the number of references the calling thread holds before the op (the
//! actor knows: its batches).

use crate::config::IoUringPin;
use crate::gup::{Foll, GupReq};
use crate::hook::{EFAULT, EINVAL, EOPNOTSUPP};
use crate::prim::acc;
use crate::vocab::properties as prop;
use crate::world::{FileId, MmId, PageId, PagePart as PP};
use crate::Cx;
use explore::{Access, Op};

/// A page a caller holds after an op, and whether it holds it as a pin.
pub type Held = (PageId, bool);

impl Cx {
    /// Block direct I/O of `nr_pages` pages from `vpn` (`read()` into memory when
    /// `to_memory`, else `write()`): `bio_iov_iter_get_pages` (block/bio.c, 6.1.192 and
    /// 6.12.118) repeats `__bio_iov_iter_get_pages` until the buffer is in the bio or it
    /// fails: each round `iov_iter_get_pages2` → `get_user_pages_fast` (FOLL_GET, before
    /// a7e689dd1c06) or `iov_iter_extract_pages` → `pin_user_pages_fast` (FOLL_PIN, after;
    /// switch `dio_pins`) of the rest, FOLL_WRITE when reading into memory. A short count is
    /// used and the rest asked for in the next round (the I/O is split, not failed); a count
    /// ≤ 0 ends the loop, and the bio is submitted with the pages it has (no page at all:
    /// -EFAULT, no I/O). Then the disk's DMA and `bio_release_pages` (put / unpin).
    pub async fn direct_io(
        &self,
        mm: MmId,
        vpn: usize,
        nr_pages: usize,
        to_memory: bool,
        held_before: usize,
    ) {
        let foll = if self.cfg.dio_pins {
            Foll::Pin
        } else {
            Foll::Get
        };
        let pages = {
            let _f = self.ctx.enter("bio_iov_iter_get_pages");
            self.gup_loop(mm, vpn, nr_pages, foll, to_memory, held_before)
                .await
        };
        if pages.is_empty() {
            return;
        }
        {
            let _g = self.ctx.enter("disk");
            for &p in &pages {
                self.dma(
                    p,
                    !to_memory,
                    if to_memory {
                        "dma_write (disk read into memory)"
                    } else {
                        "dma_read (disk write)"
                    },
                )
                .await;
            }
        }
        let _g = self.ctx.enter("bio_release_pages");
        for p in pages {
            self.put_compound_head(p, foll).await;
        }
    }

    /// GUP fast of `nr_pages` pages from `vpn`, asked again for the rest after a short count,
    /// until done or a count ≤ 0: the pages got, in order (the loop of
    /// `bio_iov_iter_get_pages` and of `__zerocopy_sg_from_iter`).
    async fn gup_loop(
        &self,
        mm: MmId,
        vpn: usize,
        nr_pages: usize,
        foll: Foll,
        write: bool,
        held_before: usize,
    ) -> Vec<PageId> {
        self.ctx
            .call("gup_loop", async move {
                let mut pages: Vec<PageId> = Vec::new();
                while pages.len() < nr_pages {
                    let req = GupReq {
                        mm,
                        start: vpn + pages.len(),
                        nr_pages: nr_pages - pages.len(),
                        foll,
                        write,
                        longterm: false,
                    };
                    let r = self.gup(req, true, held_before + pages.len()).await;
                    if r.ret <= 0 {
                        break;
                    }
                    pages.extend(r.returned().iter().map(|g| g.page));
                }
                pages
            })
            .await
    }

    /// MSG_ZEROCOPY send of `nr_pages` pages from `vpn`: `skb_zerocopy_iter_stream` →
    /// `__zerocopy_sg_from_iter` (net/core/datagram.c, 6.1.192; 6.12.118
    /// `zerocopy_fill_skb_from_iter`): while bytes remain, `iov_iter_get_pages2` (GUP fast,
    /// FOLL_GET, no FOLL_WRITE, no hook) and each page becomes an skb frag; a count < 0 →
    /// -EFAULT, and `skb_zerocopy_iter_stream` trims the skb back (`___pskb_trim`: the frags
    /// of this send are put) — nothing is sent. Otherwise the NIC reads the pages and the skb
    /// is freed after the ACK (`put_page`).
    ///
    /// Abstraction: a count of 0 (which the model's GUP returns only for 0 pages asked) is
    /// treated as the error it would be; the route has NETIF_F_SG (else the kernel copies).
    pub async fn zerocopy_send(&self, mm: MmId, vpn: usize, nr_pages: usize, held_before: usize) {
        let (pages, failed) = {
            let _f = self
                .ctx
                .enter("skb_zerocopy_iter_stream > iov_iter_get_pages2");
            let pages = self
                .gup_loop(mm, vpn, nr_pages, Foll::Get, false, held_before)
                .await;
            let failed = pages.len() < nr_pages;
            (pages, failed)
        };
        if failed {
            let _g = self.ctx.enter("___pskb_trim");
            for p in pages {
                self.put_page(p).await;
            }
            return;
        }
        {
            let _g = self.ctx.enter("NIC");
            for &p in &pages {
                self.dma(p, true, "dma_read (NIC transmit)").await;
            }
        }
        let _g = self.ctx.enter("skb free");
        for p in pages {
            self.put_page(p).await;
        }
    }

    /// `io_pin_pages` for one buffer of `nr_pages` pages from `vpn` (`IORING_REGISTER_BUFFERS`
    /// → `io_sqe_buffer_register`), FOLL_WRITE | FOLL_LONGTERM, per `io_uring_pin`:
    /// * `slow-vma-check` (6.1.192 io_uring/rsrc.c): `mmap_read_lock`, `pin_user_pages` with
    ///   a VMA array; all pinned → every VMA must map the same file (-EINVAL) and a file must
    ///   be shmem or hugetlbfs (-EOPNOTSUPP) — checked after the pins (and the hooks) were
    ///   taken;
    /// * `slow` (34ed8d0dcd69): the same without io_uring's VMA check (GUP's
    ///   `check_vma_flags` refuses what needs refusing);
    /// * `fast` (1943f96b3816; 6.12.118 io_uring/memmap.c): `pin_user_pages_fast`.
    ///
    /// Not all pinned → -EFAULT (an error from GUP passes through); on any error the pages
    /// pinned are unpinned (`unpin_user_pages`). Returns the pinned pages on success.
    pub async fn io_pin_pages(
        &self,
        mm: MmId,
        vpn: usize,
        nr_pages: usize,
        held_before: usize,
    ) -> Result<Vec<PageId>, i32> {
        self.ctx
            .call("io_pin_pages", async move {
                let _f = self.ctx.enter("io_pin_pages");
                let req = GupReq {
                    mm,
                    start: vpn,
                    nr_pages,
                    foll: Foll::Pin,
                    write: true,
                    longterm: true,
                };
                let fast = self.cfg.io_uring_pin == IoUringPin::Fast;
                let r = self.gup(req, fast, held_before).await;
                let pages: Vec<PageId> = r.returned().iter().map(|g| g.page).collect();
                let vma_check =
                    pages.len() == nr_pages && self.cfg.io_uring_pin == IoUringPin::SlowVmaCheck;
                let ret = if pages.len() == nr_pages {
                    if vma_check {
                        self.io_uring_vma_check(mm, vpn, nr_pages)
                    } else {
                        0
                    }
                } else if r.ret < 0 {
                    r.ret
                } else {
                    EFAULT
                };
                if ret == 0 {
                    return Ok(pages);
                }
                if !pages.is_empty() {
                    let _g = self.ctx.enter("unpin_user_pages");
                    for &p in &pages {
                        self.unpin_user_page(p).await;
                    }
                }
                if vma_check {
                    self.observe(
                        prop::GUP_REFUSED,
                        format!(
                            "io_pin_pages: the VMAs of vpn {vpn}.. are refused ({}) after the \
                             pins were taken; unpinned",
                            if ret == EINVAL {
                                "-EINVAL: not one file"
                            } else {
                                "-EOPNOTSUPP: a file that is neither shmem nor hugetlbfs"
                            }
                        ),
                    )
                    .await;
                }
                Err(ret)
            })
            .await
    }

    /// io_uring's own VMA check after a full pin (6.1.192 io_uring/rsrc.c: io_pin_pages):
    /// every VMA maps the file of the first (else -EINVAL), and a file is shmem (else
    /// -EOPNOTSUPP; hugetlbfs is not modelled). Reads the VMAs, set-up constants (the mmap
    /// lock the kernel holds here keeps them).
    fn io_uring_vma_check(&self, mm: MmId, vpn: usize, nr_pages: usize) -> i32 {
        self.ctx.with_const(|w| {
            let file_of = |v: usize| w.mms[mm].vma(v).and_then(|vma| vma.file.map(|f| f.0));
            let first = file_of(vpn);
            for v in vpn..vpn + nr_pages {
                let f = file_of(v);
                if f != first {
                    return EINVAL;
                }
                if let Some(f) = f {
                    if !w.files[f].shmem {
                        return EOPNOTSUPP;
                    }
                }
            }
            0
        })
    }

    /// `udmabuf_create` over `nr_pages` pages of `file` from `index` (drivers/dma-buf/
    /// udmabuf.c): the file must be a memfd (`shmem_mapping`; else -EBADFD / -EINVAL); then
    /// per page, without the hook:
    /// * before v6.11 (6.1.192): `shmem_read_mapping_page` → the page-cache lookup (a
    ///   reference; a miss allocates the page), `lock_page`, `unlock_page`: the udmabuf
    ///   holds a reference;
    /// * from v6.11 (`udmabuf_memfd_pin`; 6.12.118 `memfd_pin_folios`):
    ///   `filemap_get_folios_contig` (a batch reference), `folio_lock`, the mapping re-check,
    ///   `try_grab_folio(FOLL_PIN)` (check, WARN, add), `folio_unlock`, then
    ///   `folio_batch_release`: the udmabuf holds a pin.
    ///
    /// A failure puts back what was taken and fails the whole create. Returns the pages and
    /// whether each is pinned. Abstraction: the memfd's seals (F_SEAL_SHRINK wanted) are
    /// taken as set.
    pub async fn udmabuf_create(
        &self,
        file: FileId,
        index: usize,
        nr_pages: usize,
    ) -> Result<Vec<Held>, i32> {
        self.ctx
            .call("udmabuf_create", async move {
                let _f = self.ctx.enter("udmabuf_create");
                let (shmem, slots) = self
                    .ctx
                    .with_const(|w| (w.files[file].shmem, w.files[file].cache.len()));
                if !shmem || index + nr_pages > slots {
                    return Err(EINVAL);
                }
                let mut got: Vec<Held> = Vec::new();
                for i in index..index + nr_pages {
                    let r = if self.cfg.udmabuf_memfd_pin {
                        self.memfd_pin_folio(file, i).await
                    } else {
                        self.shmem_read_mapping_page(file, i).await
                    };
                    match r {
                        Some(p) => got.push((p, self.cfg.udmabuf_memfd_pin)),
                        None => {
                            for (p, pin) in got {
                                if pin {
                                    self.unpin_user_page(p).await;
                                } else {
                                    self.put_page(p).await;
                                }
                            }
                            return Err(EINVAL);
                        }
                    }
                }
                Ok(got)
            })
            .await
    }

    /// `shmem_read_mapping_page` (mm/shmem.c, 6.1.192): `shmem_get_folio` finds the page
    /// (`__filemap_get_folio` with FGP_LOCK: a reference and the page lock; a miss allocates
    /// it) and returns it unlocked, with the reference.
    async fn shmem_read_mapping_page(&self, file: FileId, index: usize) -> Option<PageId> {
        self.ctx
            .call("shmem_read_mapping_page", async move {
                let _f = self.ctx.enter("shmem_read_mapping_page");
                let p = self.filemap_fault(file, index).await?;
                self.lock_page(p).await;
                self.unlock_page(p).await;
                Some(p)
            })
            .await
    }

    /// One page of `memfd_pin_folios` (mm/gup.c, 6.12.118): the batch lookup's reference
    /// (`filemap_get_folios_contig`; a miss allocates the page), `folio_lock`, the mapping
    /// re-check (changed → unlock, look up again), `try_grab_folio(folio, 1, FOLL_PIN)`
    /// (failure → -EINVAL), `folio_unlock`, and the batch reference dropped
    /// (`folio_batch_release`). `check_and_migrate_movable_folios` keeps the pin (the model's
    /// frames are long-term pinnable).
    async fn memfd_pin_folio(&self, file: FileId, index: usize) -> Option<PageId> {
        self.ctx
            .call("memfd_pin_folio", async move {
                let _f = self.ctx.enter("memfd_pin_folios");
                // The mapping re-check's `goto` has no bound; the loop carries nothing.
                let lp = self.retry_loop("memfd_pin_folios");
                while lp.head(0).await {
                    let p = {
                        let _g = self.ctx.enter("filemap_get_folios_contig");
                        self.filemap_fault(file, index).await?
                    };
                    self.lock_page(p).await;
                    let a = acc(&[
                        Access::read(self.objs.page(p, PP::Meta)),
                        Access::read(self.objs.page(p, PP::Life)),
                    ]);
                    let same = self
                        .ctx
                        .step(Op::new("folio->mapping", a), move |e| {
                            e.world.pages[p].mapping == Some((file, index))
                        })
                        .await;
                    if !same {
                        self.unlock_page(p).await;
                        self.put_page(p).await;
                        continue;
                    }
                    let pinned = self.try_grab_page(p, Foll::Pin).await;
                    self.unlock_page(p).await;
                    {
                        let _g = self.ctx.enter("folio_batch_release");
                        self.put_page(p).await;
                    }
                    return pinned.then_some(p);
                }
                None
            })
            .await
    }

    /// KVM's copy to or from guest frame `gfn` (`kvm_write_guest` / `kvm_read_guest` →
    /// `__copy_to_user` / `__copy_from_user` on the host virtual address: virt/kvm/kvm_main.c,
    /// 6.12.118). s390's uaccess runs MVCOS with the user ASCE as the secondary space, so a
    /// secure page raises 0x3d whose TEID names the secondary space: the handler's
    /// USER_FAULT branch (6.1.192 `get_fault_type`; 6.12.118 `is_kernel_fault` is false),
    /// which exports the page ([`Cx::user_access`]); a not-present page is faulted in. With
    /// page faults disabled (`kvm_read_guest_atomic`: `pagefault_disable`), the handler goes
    /// to `do_fault_error` → the exception fix-up without exporting: the copy fails with
    /// -EFAULT (reported as the observation `copy-fault` when it met a secure page).
    pub async fn kvm_copy(&self, gfn: usize, write: bool, atomic: bool) {
        let (mm, vpn) = self.guest_frame(gfn);
        let _f = self.ctx.enter(match (write, atomic) {
            (false, false) => "kvm_read_guest",
            (false, true) => "kvm_read_guest_atomic",
            (true, _) => "kvm_write_guest",
        });
        let _g = self.ctx.enter(if write {
            "__copy_to_user"
        } else {
            "__copy_from_user"
        });
        if !atomic {
            self.user_access(mm, vpn, write).await;
            return;
        }
        let pte = self.read_pte(mm, vpn, "tlb lookup").await;
        let usable = pte.present && !pte.invalid && (!write || pte.write);
        let Some(p) = pte.page.filter(|_| usable) else {
            return; // page fault with faults disabled: the fix-up, -EFAULT
        };
        if self.cpu_touch(p, write).await {
            return;
        }
        let _h = self
            .ctx
            .enter("do_secure_storage_access(faulthandler_disabled)");
        self.observe(
            prop::COPY_FAULT,
            format!(
                "do_secure_storage_access: page faults disabled; P{p} (guest frame {gfn}) stays \
                 secure and the copy fails with -EFAULT"
            ),
        )
        .await;
    }

    /// `adapter_indicators_set` (arch/s390/kvm/interrupt.c, 6.1.192 and 6.12.118): a reference
    /// on the indicator page and on the summary page (`get_map_page`: `mmap_read_lock`,
    /// `get_user_pages_remote(kvm->mm, uaddr, 1, FOLL_WRITE)` — FOLL_GET, no hook; NULL →
    /// drop what was taken, return -1), then per page a bit set through the kernel mapping
    /// (`page_address`: a secure page takes the 0x3d KERNEL_FAULT branch,
    /// [`Cx::kernel_access`]) and `set_page_dirty_lock` (the page lock), then `put_page` of
    /// both. Abstraction: PG_dirty and KVM's dirty log are not modelled (nothing reads them).
    pub async fn adapter_indicators_set(&self, ind: usize, summary: usize, held_before: usize) {
        let _f = self.ctx.enter("adapter_indicators_set");
        let mut pages: Vec<PageId> = Vec::new();
        for gfn in [ind, summary] {
            let (mm, vpn) = self.guest_frame(gfn);
            let req = GupReq {
                mm,
                start: vpn,
                nr_pages: 1,
                foll: Foll::Get,
                write: true,
                longterm: false,
            };
            let r = {
                let _g = self.ctx.enter("get_map_page > get_user_pages_remote");
                self.gup(req, false, held_before + pages.len()).await
            };
            match r.returned().first() {
                Some(g) => pages.push(g.page),
                None => {
                    for p in pages {
                        self.put_page(p).await;
                    }
                    return;
                }
            }
        }
        for &p in &pages {
            {
                let _g = self.ctx.enter("set_bit");
                self.kernel_access(p, true).await;
            }
            let _g = self.ctx.enter("set_page_dirty_lock");
            self.lock_page(p).await;
            self.unlock_page(p).await;
        }
        for p in pages {
            self.put_page(p).await;
        }
    }

    /// The mm and virtual page backing guest frame `gfn` (KVM's memslots: a set-up constant).
    fn guest_frame(&self, gfn: usize) -> (MmId, usize) {
        self.ctx.with_const(|w| {
            let g = w
                .guest
                .iter()
                .find(|g| g.gfn == gfn)
                .expect("Builder::check_op checked that the guest frame exists");
            (g.mm, g.vpn)
        })
    }
}
