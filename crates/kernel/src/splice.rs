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

    /// Takes the oldest pipe buffer; its reference becomes this thread's.
    async fn pipe_pop(&self, pipe: PipeId) -> Option<PipeBuf> {
        let a = acc(&[Access::write(self.objs.pipe(pipe))]);
        self.ctx
            .step(Op::new("pipe_buf_pop", a), move |e| {
                if e.world.pipes[pipe].bufs.is_empty() {
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
                while let Some(buf) = self.pipe_pop(pipe).await {
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
                let _f = self.ctx.enter("link_pipe");
                let bufs = self
                    .ctx
                    .step(
                        Op::new("pipe_lock", acc(&[Access::read(self.objs.pipe(from))])),
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

    /// `pipe_buf_release` of every buffer left in the pipe (the pipe is closed).
    pub async fn pipe_release(&self, pipe: PipeId) {
        self.ctx
            .call("pipe_release", async move {
                let _f = self.ctx.enter("free_pipe_info");
                while let Some(b) = self.pipe_pop(pipe).await {
                    self.put_page(b.page).await;
                }
            })
            .await
    }
}
