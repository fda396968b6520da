//! What a scenario thread does: a sequence of operations, each a kernel entry point (a
//! system call, a device completion, a guest access) run as model code.

use crate::gup::{Foll, GupReq};
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

/// The thread's batches of references: one per acquiring op (a GUP of several pages, a
/// page-cache lookup, a registered buffer), newest last.
#[derive(Default)]
struct Batches(Vec<Vec<Holding>>);

impl Batches {
    /// How many references the thread holds (what a GUP call's contract check needs to
    /// tell the markers the call took from older ones).
    fn held(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    fn newest(&self) -> &[Holding] {
        self.0.last().expect(HELD)
    }
}

/// Runs a thread's operations in order, each under the caller frames its scenario wrote, then
/// closes the write ends of the pipes it still holds (the thread is done with them, as an
/// exiting task closes its files; only the write ends another thread may wait on are
/// tracked, `world::Pipe::writers`).
pub async fn run(cx: &Cx, ops: &[OpCall]) {
    if let Some(stop) = run_ops(cx, ops).await {
        let mut closed = Vec::new();
        for c in &ops[stop..] {
            if let (Some(p), _) = crate::build::pipe_io(&c.op) {
                if !closed.contains(&p) {
                    closed.push(p);
                    cx.pipe_close_write_end(p).await;
                }
            }
        }
    }
}

/// The ops in order. The thread's batches of references: an op that uses or releases one
/// finds it (the builder checked that every such op follows an acquiring one, and an
/// acquisition that fails ends the thread). After its last op writing into a pipe, the
/// thread closes its write end. Returns the index of the op after which the thread gave up
/// (`None`: every op ran).
async fn run_ops(cx: &Cx, ops: &[OpCall]) -> Option<usize> {
    let mut batches = Batches::default();
    for (i, call) in ops.iter().enumerate() {
        if !run_op(cx, call, &mut batches).await {
            // The caller gives up: the I/O that needed the page does not happen.
            return Some(i + 1);
        }
        if let (Some(p), _) = crate::build::pipe_io(&call.op) {
            if !ops[i + 1..]
                .iter()
                .any(|c| crate::build::pipe_io(&c.op).0 == Some(p))
            {
                cx.pipe_close_write_end(p).await;
            }
        }
    }
    None
}

/// Runs one op under the caller frames its scenario wrote; `false` when the thread gives up
/// (an acquisition failed).
async fn run_op(cx: &Cx, call: &OpCall, batches: &mut Batches) -> bool {
    {
        let _frames: Vec<_> = call.frames.iter().map(|f| cx.ctx.enter(f)).collect();
        match call.op {
            ThreadOp::GuestAccess { gfn, write } => cx.guest_access(gfn, write).await,
            ThreadOp::Unpack { gfn, pages } => {
                // QEMU's s390_machine_protect: a failed unpack or verification unprotects
                // the VM and the protected guest never runs (vmm.rs).
                if !cx.s390_machine_protect(gfn, pages).await {
                    return false;
                }
            }
            ThreadOp::Gup {
                mm,
                vpn,
                flags,
                fast,
                write,
                nr_pages,
            } => {
                let pin = flags.pin();
                let req = GupReq {
                    mm,
                    start: vpn,
                    nr_pages,
                    foll: if pin { Foll::Pin } else { Foll::Get },
                    write: write || flags.write(),
                    longterm: flags.longterm(),
                };
                let r = cx.gup(req, fast, batches.held()).await;
                if r.ret <= 0 {
                    // The caller gives up: the I/O that needed the pages does not happen.
                    return false;
                }
                let got = r.returned().iter();
                batches
                    .0
                    .push(got.map(|g| Holding { page: g.page, pin }).collect());
            }
            ThreadOp::Dma { to_device } => {
                let _f = cx.ctx.enter("device");
                for h in batches.newest() {
                    cx.dma(
                        h.page,
                        to_device,
                        if to_device { "dma_read" } else { "dma_write" },
                    )
                    .await;
                }
            }
            ThreadOp::Put {} => {
                for h in batches.0.pop().expect(HELD) {
                    if h.pin {
                        cx.unpin_user_page(h.page).await;
                    } else {
                        cx.put_page(h.page).await;
                    }
                }
            }
            ThreadOp::Hook {} => {
                for h in batches.newest() {
                    cx.arch_make_page_accessible(h.page).await;
                }
            }
            ThreadOp::FindGetPage { file, index } => match cx.find_get_page(file, index).await {
                Some(page) => batches.0.push(vec![Holding { page, pin: false }]),
                None => return false,
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
            ThreadOp::DirectIo {
                mm,
                vpn,
                to_memory,
                nr_pages,
            } => {
                cx.direct_io(mm, vpn, nr_pages, to_memory, batches.held())
                    .await
            }
            ThreadOp::ZerocopySend { mm, vpn, nr_pages } => {
                cx.zerocopy_send(mm, vpn, nr_pages, batches.held()).await
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
            ThreadOp::Vmsplice {
                mm,
                vpn,
                nr_pages,
                pipe,
            } => {
                let _f = cx.ctx.enter("vmsplice");
                if cx.vmsplice(mm, vpn, nr_pages, pipe, batches.held()).await <= 0 {
                    // vmsplice failed: the program does not go on to splice the pipe.
                    return false;
                }
            }
            ThreadOp::IoUringRegister { mm, vpn, nr_pages } => {
                match cx.io_pin_pages(mm, vpn, nr_pages, batches.held()).await {
                    Ok(pages) => batches.0.push(
                        pages
                            .into_iter()
                            .map(|page| Holding { page, pin: true })
                            .collect(),
                    ),
                    Err(_) => return false,
                }
            }
            ThreadOp::UdmabufCreate {
                file,
                index,
                nr_pages,
            } => match cx.udmabuf_create(file, index, nr_pages).await {
                Ok(pages) => batches.0.push(
                    pages
                        .into_iter()
                        .map(|(page, pin)| Holding { page, pin })
                        .collect(),
                ),
                Err(_) => return false,
            },
            ThreadOp::KvmCopy { gfn, write, atomic } => cx.kvm_copy(gfn, write, atomic).await,
            ThreadOp::AdapterInterrupt { ind, summary } => {
                cx.adapter_indicators_set(ind, summary, batches.held())
                    .await
            }
            ThreadOp::Reclaim {
                file,
                index,
                kswapd,
            } => cx.shrink_folio(file, index, kswapd).await,
            ThreadOp::Truncate {
                file,
                index,
                pages,
                punch_hole,
            } => cx.truncate(file, index, pages, punch_hole).await,
            ThreadOp::Migrate { mm, vpn, sync } => cx.migrate(mm, vpn, sync).await,
            ThreadOp::ReclaimAnon { mm, vpn } => cx.shrink_anon(mm, vpn).await,
        }
    }
    true
}
