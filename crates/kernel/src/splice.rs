//! splice / sendfile / tee (fs/splice.c, fs/pipe.c, lib/iov_iter.c) and the socket side
//! (net/ipv4/tcp.c: `do_tcp_sendpages`). See `docs/kernel-notes.md` §4.

use crate::hook::EIO;
use crate::prim::acc;
use crate::world::{FileId, PageId, PipeBuf, PipeId};
use crate::Cx;
use explore::{Access, Op};

/// `PIPE_DEF_BUFFERS` (include/linux/pipe_fs_i.h): the pages `iter_to_pipe` asks GUP for at
/// a time.
const PIPE_DEF_BUFFERS: usize = 16;

impl Cx {
    /// `generic_file_splice_read` → ITER_PIPE → `generic_file_buffered_read` (v5.7):
    /// `find_get_page` (reference), `copy_page_to_iter_pipe` (`get_page` for the new pipe
    /// buffer, ops `page_cache_pipe_buf_ops`), then `put_page` of the lookup reference.
    pub async fn splice_read(&self, file: FileId, index: usize, pipe: PipeId) -> bool {
        self.ctx
            .call("splice_read", async move {
                let _f = self.ctx.enter("generic_file_splice_read");
                let Some(p) = self.find_get_page(file, index).await else {
                    return false;
                };
                {
                    let _g = self.ctx.enter("copy_page_to_iter_pipe");
                    self.get_page(p).await;
                    self.pipe_push(pipe, p, true).await;
                }
                self.put_page(p).await;
                true
            })
            .await
    }

    /// Hands this thread's newest reference on `p` to a new pipe buffer:
    /// `page_cache_pipe_buf_ops` (a page-cache page) or `user_page_pipe_buf_ops` (a user page
    /// from `vmsplice`).
    async fn pipe_push(&self, pipe: PipeId, p: PageId, page_cache: bool) {
        let a = acc(&[Access::write(self.objs.pipe(pipe))]);
        self.ctx
            .step(Op::new("pipe_buf_push", a), move |e| {
                let tid = e.tid;
                if let Some(i) = e.world.held[tid].iter().rposition(|h| h.page == p) {
                    e.world.held[tid].remove(i);
                }
                e.world.pipes[pipe].bufs.push(PipeBuf {
                    page: p,
                    page_cache,
                });
                e.note(|| format!("pipe buffer -> P{p}"));
            })
            .await
    }

    /// Takes the oldest pipe buffer; its reference becomes this thread's. With `wait`, an
    /// empty pipe is waited on while another thread holds its write end
    /// (`splice_from_pipe_next`: `while (pipe_empty(...)) { if (!pipe->writers) return 0;
    /// ... pipe_wait_readable(pipe); }`, fs/splice.c, 6.12.118); without, or once no writer
    /// is left, an empty pipe gives nothing.
    async fn pipe_pop(&self, pipe: PipeId, wait: bool) -> Option<PipeBuf> {
        let a = acc(&[Access::write(self.objs.pipe(pipe))]);
        let arg = pipe as u64 | ((self.ctx.tid() as u64) << 32);
        let op = Op::new(
            if wait {
                "pipe_wait_readable"
            } else {
                "pipe_buf_pop"
            },
            a,
        );
        let op = if wait {
            op.when(readable_or_no_writer, arg)
        } else {
            op
        };
        self.ctx
            .step(op, move |e| {
                if e.world.pipes[pipe].bufs.is_empty() {
                    e.note(|| "pipe empty, no writer left: 0 bytes".into());
                    return None;
                }
                let b = e.world.pipes[pipe].bufs.remove(0);
                let generation = e.world.pages[b.page].generation;
                let tid = e.tid;
                e.world.held[tid].push(crate::world::Held {
                    page: b.page,
                    pin: false,
                    generation,
                });
                Some(b)
            })
            .await
    }

    /// `page_cache_pipe_buf_confirm` (fs/splice.c): up to date → 0. With the proposed patch
    /// ("fs/splice: add missing callback for inaccessible pages", never merged) it first calls
    /// `arch_make_page_accessible` and fails with `-EIO`.
    pub async fn page_cache_pipe_buf_confirm(&self, p: PageId) -> i32 {
        self.ctx
            .call("page_cache_pipe_buf_confirm", async move {
                let _f = self.ctx.enter("page_cache_pipe_buf_confirm");
                if self.cfg.splice_confirm_hook && self.arch_make_page_accessible(p).await != 0 {
                    return EIO;
                }
                if self.page_uptodate(p).await {
                    0
                } else {
                    EIO
                }
            })
            .await
    }

    /// `splice_from_pipe_feed` with `pipe_to_sendpage` → `tcp_sendpage` (v5.7, NETIF_F_SG):
    /// per buffer: confirm (`pipe_buf_confirm`: `page_cache_pipe_buf_confirm` for a
    /// page-cache buffer; a `vmsplice`d user page's `user_page_pipe_buf_ops` has no confirm:
    /// 0); the skb frag takes `get_page`; the buffer is released (`put_page`); later the NIC
    /// DMAs from the page, and the skb is freed after the ACK (`put_page`). No hook on the way
    /// (6.12.118 `splice_to_socket` → MSG_SPLICE_PAGES: the same references).
    pub async fn splice_to_socket(&self, pipe: PipeId) {
        self.ctx
            .call("splice_to_socket", async move {
                let _f = self.ctx.enter("splice_from_pipe_feed");
                // Only the first buffer is waited for: once something was spliced, an empty
                // pipe ends the splice (`if (sd->num_spliced) return 0;`).
                let mut first = true;
                while let Some(buf) = self.pipe_pop(pipe, first).await {
                    first = false;
                    let p = buf.page;
                    if buf.page_cache && self.page_cache_pipe_buf_confirm(p).await != 0 {
                        self.put_page(p).await;
                        break;
                    }
                    {
                        let _g = self.ctx.enter("pipe_to_sendpage > tcp_sendpage");
                        self.get_page(p).await; // skb frag reference
                    }
                    {
                        let _g = self.ctx.enter("pipe_buf_release");
                        self.put_page(p).await;
                    }
                    {
                        let _g = self.ctx.enter("NIC");
                        self.dma(p, true, "dma_read (NIC transmit)").await;
                    }
                    {
                        let _g = self.ctx.enter("tcp_clean_rtx_queue > skb free");
                        self.put_page(p).await;
                    }
                }
            })
            .await
    }

    /// `vmsplice(pipe, iov, …)` → `vmsplice_to_pipe` → `iter_to_pipe` (fs/splice.c, 6.1.192
    /// and 6.12.118): until the buffer is queued or an error: `iov_iter_get_pages2` of the
    /// rest — GUP fast, FOLL_GET (a source iterator: no FOLL_WRITE), no hook — and each page
    /// becomes a pipe buffer (`add_to_pipe`, `user_page_pipe_buf_ops`). A count ≤ 0 stops the
    /// loop. Returns the pages queued, or the error when none. `held_before`: the references
    /// the thread holds before the call.
    ///
    /// Abstraction: the model's pipes have a reader and room for every buffer (`pipe_full`
    /// and a pipe without readers — `add_to_pipe`'s -EAGAIN / -EPIPE — are not modelled;
    /// the pipe holds 16 buffers, more than a scenario queues).
    pub async fn vmsplice(
        &self,
        mm: crate::world::MmId,
        vpn: usize,
        nr_pages: usize,
        pipe: PipeId,
        held_before: usize,
    ) -> i32 {
        self.ctx
            .call("vmsplice", async move {
                let _f = self.ctx.enter("vmsplice_to_pipe");
                let _g = self.ctx.enter("iter_to_pipe");
                let mut done = 0;
                let mut ret = 0;
                while done < nr_pages {
                    let req = crate::gup::GupReq {
                        mm,
                        start: vpn + done,
                        // iov_iter_get_pages2(from, pages, total, PIPE_DEF_BUFFERS, …)
                        nr_pages: (nr_pages - done).min(PIPE_DEF_BUFFERS),
                        foll: crate::gup::Foll::Get,
                        write: false,
                        longterm: false,
                    };
                    let r = {
                        let _h = self.ctx.enter("iov_iter_get_pages2");
                        self.gup(req, true, held_before).await
                    };
                    if r.ret <= 0 {
                        ret = r.ret;
                        break;
                    }
                    let _h = self.ctx.enter("add_to_pipe");
                    for g in r.returned() {
                        self.pipe_push(pipe, g.page, false).await;
                    }
                    done += r.returned().len();
                }
                if done > 0 {
                    done as i32
                } else {
                    ret
                }
            })
            .await
    }

    /// `sendfile(file → socket)`: `splice_file_to_pipe` then the pipe's contents to the socket.
    pub async fn sendfile(&self, file: FileId, index: usize, pipe: PipeId) {
        self.ctx
            .call("sendfile", async move {
                let _f = self.ctx.enter("do_splice_direct");
                if self.splice_read(file, index, pipe).await {
                    self.splice_to_socket(pipe).await;
                }
            })
            .await
    }

    /// `tee` / pipe-to-pipe: `generic_pipe_buf_get` → `try_get_page` on a page the source
    /// pipe already references; the copy goes to `to`.
    pub async fn tee(&self, from: PipeId, to: PipeId) {
        self.ctx
            .call("tee", async move {
                // ipipe_prep: an empty source pipe is waited on while another thread holds
                // its write end; with none left, tee returns 0.
                let _f = self.ctx.enter("link_pipe");
                let arg = from as u64 | ((self.ctx.tid() as u64) << 32);
                let bufs = self
                    .ctx
                    .step(
                        Op::new("pipe_lock", acc(&[Access::read(self.objs.pipe(from))]))
                            .when(readable_or_no_writer, arg),
                        move |e| e.world.pipes[from].bufs.clone(),
                    )
                    .await;
                for b in bufs {
                    let _g = self.ctx.enter("generic_pipe_buf_get");
                    if self.try_get_page(b.page, "try_get_page").await {
                        self.pipe_push(to, b.page, b.page_cache).await;
                    }
                }
            })
            .await
    }

    /// Closes this thread's write end of `pipe` if another thread may wait on it
    /// (`world::Pipe::tracked_writers`; a set-up constant) and it is still open.
    pub async fn pipe_close_write_end(&self, pipe: PipeId) {
        let me = 1u64 << self.ctx.tid();
        if self.ctx.with_const(|w| w.pipes[pipe].tracked_writers) & me == 0 {
            return;
        }
        let a = acc(&[Access::write(self.objs.pipe(pipe))]);
        self.ctx
            .step(Op::new("close(pipe write end)", a), move |e| {
                let p = &mut e.world.pipes[pipe];
                if p.writers & me != 0 {
                    p.writers &= !me;
                    let name = p.name.clone();
                    e.note(|| format!("{name}: write end closed"));
                }
            })
            .await
    }

    /// `pipe_buf_release` of every buffer left in the pipe (the pipe is closed).
    pub async fn pipe_release(&self, pipe: PipeId) {
        self.ctx
            .call("pipe_release", async move {
                let _f = self.ctx.enter("free_pipe_info");
                while let Some(b) = self.pipe_pop(pipe, false).await {
                    self.put_page(b.page).await;
                }
            })
            .await
    }
}

/// Whether a reader (`arg`: pipe, and the reader's thread id in the high half) can go on: the
/// pipe holds a buffer, or no other thread holds its write end.
fn readable_or_no_writer(w: &crate::World, arg: u64) -> bool {
    let (pipe, tid) = ((arg & 0xffff_ffff) as usize, arg >> 32);
    let p = &w.pipes[pipe];
    !p.bufs.is_empty() || p.writers & !(1u64 << tid) == 0
}
