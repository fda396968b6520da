//! splice / sendfile / tee (fs/splice.c, fs/pipe.c, lib/iov_iter.c) and the socket side
//! (net/ipv4/tcp.c: `do_tcp_sendpages`). See `docs/kernel-notes.md` §4.

use crate::hook::EIO;
use crate::prim::acc;
use crate::world::{FileId, PageId, PipeBuf, PipeId};
use crate::Cx;
use explore::{Access, Op};

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
                    self.pipe_push(pipe, p).await;
                }
                self.put_page(p).await;
                true
            })
            .await
    }

    /// Hands this thread's newest reference on `p` to a new pipe buffer.
    async fn pipe_push(&self, pipe: PipeId, p: PageId) {
        let a = acc(&[Access::write(self.objs.pipe(pipe))]);
        self.ctx
            .step(Op::new("pipe_buf_push", a), move |e| {
                let tid = e.tid;
                if let Some(i) = e.world.held[tid].iter().rposition(|h| h.page == p) {
                    e.world.held[tid].remove(i);
                }
                e.world.pipes[pipe].bufs.push(PipeBuf {
                    page: p,
                    page_cache: true,
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
    /// per buffer: confirm; the skb frag takes `get_page`; the buffer is released
    /// (`put_page`); later the NIC DMAs from the page, and the skb is freed after the ACK
    /// (`put_page`). No hook on the way.
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
                    if self.page_cache_pipe_buf_confirm(p).await != 0 {
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
                        self.pipe_push(to, b.page).await;
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
