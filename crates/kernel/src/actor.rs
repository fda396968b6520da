//! What a scenario thread does: a sequence of operations, each a kernel entry point (a
//! system call, a device completion, a guest access) run as model code.

use crate::gup::Foll;
use crate::world::{FileId, MmId, PageId, PipeId};
use crate::Cx;

/// One operation of a scenario thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadOp {
    /// The guest touches guest frame `gfn` (a store of `write` when given): SIE, PGM 0x3e,
    /// import, retry.
    GuestAccess {
        gfn: usize,
        write: Option<u8>,
    },
    /// `KVM_PV_UNPACK` of one guest frame.
    Unpack {
        gfn: usize,
    },
    /// GUP of one user page: FOLL_GET or FOLL_PIN, slow (`get_user_pages`) or fast
    /// (`get_user_pages_fast`). On success the thread holds the page.
    Gup {
        mm: MmId,
        vpn: usize,
        pin: bool,
        fast: bool,
        write: bool,
    },
    /// Device I/O on the page the thread holds most recently (`to_device`: the device reads).
    Dma {
        to_device: bool,
    },
    /// `put_page` / `unpin_user_page` of the page the thread holds most recently.
    Put,
    /// `arch_make_page_accessible` on the page the thread holds most recently.
    Hook,
    /// `find_get_page`: the thread holds the page-cache page.
    FindGetPage {
        file: FileId,
        index: usize,
    },
    SpliceRead {
        file: FileId,
        index: usize,
        pipe: PipeId,
    },
    SpliceToSocket {
        pipe: PipeId,
    },
    Sendfile {
        file: FileId,
        index: usize,
        pipe: PipeId,
    },
    Tee {
        from: PipeId,
        to: PipeId,
    },
    PipeRelease {
        pipe: PipeId,
    },
    /// Write back one dirty page-cache page.
    Writeback {
        file: FileId,
        index: usize,
    },
    /// `read()` of a page-cache page into a user buffer: the kernel copies from it
    /// (`find_get_page`, CPU access with the 0x3d KERNEL_FAULT fix-up, `put_page`).
    KernelRead {
        file: FileId,
        index: usize,
    },
    /// A user load or store through `mm`'s page table (USER_FAULT fix-up).
    UserAccess {
        mm: MmId,
        vpn: usize,
        write: bool,
    },
    /// MADV_DONTNEED of one page.
    Zap {
        mm: MmId,
        vpn: usize,
    },
    /// Block direct I/O on a user page (`bio_iov_iter_get_pages`): FOLL_GET through
    /// `iov_iter_get_pages` before v6.5, FOLL_PIN through `iov_iter_extract_pages` after;
    /// the device writes memory (`read()` from disk) or reads it; then put or unpin.
    DirectIo {
        mm: MmId,
        vpn: usize,
        to_memory: bool,
    },
    /// MSG_ZEROCOPY send of a user page (`skb_zerocopy_iter_stream` → `iov_iter_get_pages2`,
    /// FOLL_GET, no hook, still in 6.12): the NIC reads the page, then the skb is freed.
    ZerocopySend {
        mm: MmId,
        vpn: usize,
    },
    /// The Ultravisor answers the next `count` calls with "busy" (condition code 2).
    UvBusy {
        count: u32,
    },
    /// `mark_page_accessed` queues the page-cache page on the per-CPU LRU batch.
    LruAdd {
        file: FileId,
        index: usize,
    },
    LruDrain,
}

/// A page the thread holds, and how it got it.
#[derive(Copy, Clone, Debug)]
struct Holding {
    page: PageId,
    pin: bool,
}

/// Runs a thread's operations in order.
pub async fn run(cx: &Cx, ops: &[ThreadOp]) {
    let mut held: Vec<Holding> = Vec::new();
    for op in ops {
        match *op {
            ThreadOp::GuestAccess { gfn, write } => cx.guest_access(gfn, write).await,
            ThreadOp::Unpack { gfn } => {
                cx.unpack(gfn).await;
            }
            ThreadOp::Gup {
                mm,
                vpn,
                pin,
                fast,
                write,
            } => {
                let foll = if pin { Foll::Pin } else { Foll::Get };
                let r = if fast {
                    cx.get_user_pages_fast(mm, vpn, foll, write).await
                } else {
                    cx.get_user_pages(mm, vpn, foll, write).await
                };
                match r {
                    Ok(page) => held.push(Holding { page, pin }),
                    // The caller gives up: the I/O that needed the page does not happen.
                    Err(_) => return,
                }
            }
            ThreadOp::Dma { to_device } => {
                if let Some(h) = held.last() {
                    let _f = cx.ctx.enter("device");
                    cx.dma(
                        h.page,
                        to_device,
                        if to_device { "dma_read" } else { "dma_write" },
                    )
                    .await;
                }
            }
            ThreadOp::Put => {
                if let Some(h) = held.pop() {
                    if h.pin {
                        cx.unpin_user_page(h.page).await;
                    } else {
                        cx.put_page(h.page).await;
                    }
                }
            }
            ThreadOp::Hook => {
                if let Some(h) = held.last() {
                    cx.arch_make_page_accessible(h.page).await;
                }
            }
            ThreadOp::FindGetPage { file, index } => match cx.find_get_page(file, index).await {
                Some(page) => held.push(Holding { page, pin: false }),
                None => return,
            },
            ThreadOp::SpliceRead { file, index, pipe } => {
                cx.splice_read(file, index, pipe).await;
            }
            ThreadOp::SpliceToSocket { pipe } => cx.splice_to_socket(pipe).await,
            ThreadOp::Sendfile { file, index, pipe } => cx.sendfile(file, index, pipe).await,
            ThreadOp::Tee { from, to } => cx.tee(from, to).await,
            ThreadOp::PipeRelease { pipe } => cx.pipe_release(pipe).await,
            ThreadOp::Writeback { file, index } => cx.write_one_page(file, index).await,
            ThreadOp::KernelRead { file, index } => {
                let _f = cx.ctx.enter("generic_file_read_iter");
                if let Some(p) = cx.find_get_page(file, index).await {
                    cx.kernel_access(p, false).await;
                    cx.put_page(p).await;
                }
            }
            ThreadOp::UserAccess { mm, vpn, write } => cx.user_access(mm, vpn, write).await,
            ThreadOp::Zap { mm, vpn } => cx.zap_page(mm, vpn).await,
            ThreadOp::LruAdd { file, index } => {
                let _f = cx.ctx.enter("mark_page_accessed");
                if let Some(p) = cx.find_get_page(file, index).await {
                    cx.lru_cache_add(p).await;
                    cx.put_page(p).await;
                }
            }
            ThreadOp::LruDrain => cx.lru_add_drain().await,
            ThreadOp::DirectIo { mm, vpn, to_memory } => {
                let _f = cx.ctx.enter("bio_iov_iter_get_pages");
                let foll = if cx.cfg.dio_pins {
                    Foll::Pin
                } else {
                    Foll::Get
                };
                if let Ok(p) = cx.get_user_pages_fast(mm, vpn, foll, to_memory).await {
                    {
                        let _g = cx.ctx.enter("disk");
                        cx.dma(
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
                    let _g = cx.ctx.enter("bio_release_pages");
                    cx.put_compound_head(p, foll).await;
                }
            }
            ThreadOp::ZerocopySend { mm, vpn } => {
                let _f = cx
                    .ctx
                    .enter("skb_zerocopy_iter_stream > iov_iter_get_pages2");
                if let Ok(p) = cx.get_user_pages_fast(mm, vpn, Foll::Get, false).await {
                    {
                        let _g = cx.ctx.enter("NIC");
                        cx.dma(p, true, "dma_read (NIC transmit)").await;
                    }
                    let _g = cx.ctx.enter("skb free");
                    cx.put_page(p).await;
                }
            }
            ThreadOp::UvBusy { count } => cx.uv_set_busy(count).await,
        }
    }
}
