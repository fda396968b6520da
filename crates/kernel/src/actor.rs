//! What a scenario thread does: a sequence of operations, each a kernel entry point (a
//! system call, a device completion, a guest access) run as model code.

use crate::gup::Foll;
use crate::vocab::ops::OpCall;
use crate::world::PageId;
use crate::Cx;

pub use crate::vocab::ops::ThreadOp;

/// Why an op that uses or releases a batch finds one: [`crate::build::Builder::thread`]
/// rejects a thread whose op would not.
const HELD: &str = "Builder::thread checked that a batch is held";

/// A page the thread holds, and how it got it.
#[derive(Copy, Clone, Debug)]
struct Holding {
    page: PageId,
    pin: bool,
}

/// Runs a thread's operations in order, each under the caller frames its scenario wrote.
/// The thread's batches of references: an op that uses or releases one finds it (the
/// builder checked that every such op follows an acquiring one, and an acquisition that
/// fails ends the thread).
pub async fn run(cx: &Cx, ops: &[OpCall]) {
    let mut held: Vec<Holding> = Vec::new();
    for call in ops {
        let _frames: Vec<_> = call.frames.iter().map(|f| cx.ctx.enter(f)).collect();
        match call.op {
            ThreadOp::GuestAccess { gfn, write } => cx.guest_access(gfn, write).await,
            ThreadOp::Unpack { gfn } => {
                cx.unpack(gfn).await;
            }
            ThreadOp::Gup {
                mm,
                vpn,
                flags,
                fast,
                write,
            } => {
                let pin = flags.pin();
                let write = write || flags.write();
                let longterm = flags.longterm();
                let foll = if pin { Foll::Pin } else { Foll::Get };
                let r = if fast {
                    cx.get_user_pages_fast_flags(mm, vpn, foll, write, longterm)
                        .await
                } else {
                    cx.get_user_pages_flags(mm, vpn, foll, write, longterm)
                        .await
                };
                match r {
                    Ok(page) => held.push(Holding { page, pin }),
                    // The caller gives up: the I/O that needed the page does not happen.
                    Err(_) => return,
                }
            }
            ThreadOp::Dma { to_device } => {
                let h = held.last().expect(HELD);
                let _f = cx.ctx.enter("device");
                cx.dma(
                    h.page,
                    to_device,
                    if to_device { "dma_read" } else { "dma_write" },
                )
                .await;
            }
            ThreadOp::Put {} => {
                let h = held.pop().expect(HELD);
                if h.pin {
                    cx.unpin_user_page(h.page).await;
                } else {
                    cx.put_page(h.page).await;
                }
            }
            ThreadOp::Hook {} => {
                let h = held.last().expect(HELD);
                cx.arch_make_page_accessible(h.page).await;
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
            ThreadOp::LruDrain {} => cx.lru_add_drain().await,
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
            ThreadOp::UvBusy {
                call,
                count,
                partial,
                forever,
            } => cx.uv_busy(call.0, count, partial, forever).await,
            ThreadOp::UvFail {
                call,
                rc,
                rrc,
                count,
            } => cx.uv_fail(call.0, rc, rrc.unwrap_or(0), count).await,
            ThreadOp::PvTeardown { async_cleanup } => cx.pv_teardown(async_cleanup).await,
        }
    }
}
