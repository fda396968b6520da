//! get_user_pages: the slow path (`__get_user_pages` → `follow_page_pte`, under the PTE lock
//! of the caller's own mm) and the fast path (`gup_pte_range`, lockless, speculative grab and
//! PTE re-check), plus the page-fault path they fall back on (`handle_mm_fault`).
//! See `docs/kernel-notes.md` §1–2.

use crate::config::{FastPinGrab, SlowGrab};
use crate::hook::{EFAULT, ENOMEM};
use crate::prim::{acc, live};
use crate::retry::MAX_RETRIES;
use crate::vocab::properties as prop;
use crate::world::{MmId, PageId, PagePart as PP, Pte, GUP_PIN_COUNTING_BIAS};
use crate::Cx;
use explore::{Access, Op};

/// FOLL_GET or FOLL_PIN.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Foll {
    Get,
    Pin,
}

/// What `follow_page_pte` returned.
#[derive(Clone, Hash)]
pub enum Follow {
    Page(PageId),
    /// NULL: not present, or FOLL_WRITE on a read-only PTE — the caller faults it in.
    NoPage,
    Err(i32),
}

impl Cx {
    /// `__get_user_pages` for one page: mmap lock (read), `follow_page_mask` →
    /// `follow_page_pte`; NULL → `faultin_page` (`handle_mm_fault`) and retry. Returns the
    /// page with a reference (FOLL_GET) or pin (FOLL_PIN) held by this thread.
    pub async fn get_user_pages(
        &self,
        mm: MmId,
        vpn: usize,
        foll: Foll,
        write: bool,
    ) -> Result<PageId, i32> {
        self.get_user_pages_flags(mm, vpn, foll, write, false).await
    }

    /// [`Self::get_user_pages`], long-term (FOLL_PIN | FOLL_LONGTERM) when `longterm`:
    /// `__gup_longterm_locked` (mm/gup.c, 6.1.192 and 6.12.118) pins through
    /// `__get_user_pages_locked`, whose `check_vma_flags` refuses a long-term pin for write of
    /// a file mapping that needs dirty tracking (`writable_file_mapping_allowed`, from
    /// 8ac268436e6d: switch `longterm_file_write_denied`) with -EFAULT, then runs
    /// `check_and_migrate_movable_pages`, which migrates the pinned pages that are not
    /// long-term pinnable (ZONE_MOVABLE, CMA, device-coherent memory) and pins again.
    /// Abstraction: the model's frames are ordinary kernel memory, all long-term pinnable,
    /// so that check collects nothing and the pin stays (`collect_longterm_unpinnable_pages`
    /// returns 0); the model's files are on a file system that writes back (not shmem), so
    /// a shared writable file mapping needs dirty tracking (`vma_needs_dirty_tracking`).
    pub async fn get_user_pages_flags(
        &self,
        mm: MmId,
        vpn: usize,
        foll: Foll,
        write: bool,
        longterm: bool,
    ) -> Result<PageId, i32> {
        self.ctx
            .call("get_user_pages", async move {
                let _f = self.ctx.enter(match foll {
                    Foll::Get => "get_user_pages",
                    Foll::Pin => "pin_user_pages",
                });
                let _l = longterm.then(|| self.ctx.enter("__gup_longterm_locked"));
                self.mmap_read_lock(mm).await;
                if longterm && write && !self.writable_file_mapping_allowed(mm, vpn) {
                    self.mmap_read_unlock(mm).await;
                    let _g = self.ctx.enter("check_vma_flags");
                    self.observe(
                        prop::GUP_REFUSED,
                        "check_vma_flags: FOLL_LONGTERM | FOLL_WRITE on a file mapping that \
                         needs dirty tracking (writable_file_mapping_allowed): -EFAULT"
                            .into(),
                    )
                    .await;
                    return Err(EFAULT);
                }
                let mut res = Err(EFAULT);
                for _ in 0..MAX_RETRIES {
                    match self.follow_page_pte(mm, vpn, foll, write).await {
                        Follow::Page(p) => {
                            res = Ok(p);
                            break;
                        }
                        Follow::Err(e) => {
                            res = Err(e);
                            break;
                        }
                        Follow::NoPage => {
                            if self.handle_mm_fault(mm, vpn, write).await != 0 {
                                res = Err(EFAULT);
                                break;
                            }
                        }
                    }
                }
                self.mmap_read_unlock(mm).await;
                if let Err(e) = res {
                    if e == ENOMEM {
                        self.observe(
                            prop::GUP_ENOMEM,
                            "follow_page_pte: the grab failed on a frozen count; \
                     __get_user_pages returns -ENOMEM"
                                .into(),
                        )
                        .await;
                    }
                }
                res
            })
            .await
    }

    /// `follow_page_pte` (mm/gup.c, v5.7 f28d43636d6f):
    /// 1. take the PTE lock, read the PTE; not present → NULL;
    /// 2. FOLL_WRITE on a read-only PTE → NULL;
    /// 3. `try_grab_page(page, flags)` under the PTE lock; failure → `-ENOMEM`;
    /// 4. FOLL_PIN: `arch_make_page_accessible(page)`; failure → `unpin_user_page`, error;
    /// 5. drop the PTE lock.
    pub async fn follow_page_pte(&self, mm: MmId, vpn: usize, foll: Foll, write: bool) -> Follow {
        self.ctx
            .call("follow_page_pte", async move {
                let _f = self.ctx.enter("follow_page_pte");
                self.pte_lock(mm, vpn).await;
                let pte = self.read_pte(mm, vpn, "ptep_get").await;
                let res = match usable(&pte, write) {
                    None => Follow::NoPage,
                    Some(p) => {
                        if !self.try_grab_page(p, foll).await {
                            Follow::Err(ENOMEM)
                        } else if foll == Foll::Pin && self.cfg.hook_on_foll_pin {
                            let rc = self.arch_make_page_accessible(p).await;
                            if rc != 0 {
                                self.unpin_user_page(p).await;
                                Follow::Err(rc)
                            } else {
                                Follow::Page(p)
                            }
                        } else {
                            Follow::Page(p)
                        }
                    }
                };
                self.pte_unlock(mm, vpn).await;
                res
            })
            .await
    }

    /// `follow_page(vma, addr, FOLL_WRITE)` without FOLL_GET, as the v5.7 importer calls it:
    /// the PTE lock is taken and dropped inside; no reference is taken.
    pub async fn follow_page_nogup(&self, mm: MmId, vpn: usize, write: bool) -> Option<PageId> {
        self.ctx
            .call("follow_page_nogup", async move {
                let _f = self.ctx.enter("follow_page");
                self.pte_lock(mm, vpn).await;
                let pte = self.read_pte(mm, vpn, "ptep_get").await;
                self.pte_unlock(mm, vpn).await;
                usable(&pte, write)
            })
            .await
    }

    /// `try_grab_page(page, flags)` (mm/gup.c): per version, see [`SlowGrab`].
    pub async fn try_grab_page(&self, p: PageId, foll: Foll) -> bool {
        self.ctx
            .call("try_grab_page", async move {
                let _f = self.ctx.enter("try_grab_page");
                let n = match foll {
                    Foll::Get => 1,
                    Foll::Pin => GUP_PIN_COUNTING_BIAS,
                };
                match self.cfg.slow_grab {
                    SlowGrab::CheckThenAdd => match foll {
                        Foll::Get => self.try_get_page(p, "try_get_page").await,
                        Foll::Pin => {
                            self.check_then_add(
                                p,
                                n,
                                true,
                                "try_grab_page(FOLL_PIN)",
                                "try_grab_page",
                            )
                            .await
                        }
                    },
                    SlowGrab::AddUnlessZero => {
                        let _g = self.ctx.enter("try_grab_compound_head");
                        self.page_ref_add_unless_zero(p, n, foll == Foll::Pin).await
                    }
                }
            })
            .await
    }

    /// `get_user_pages_fast` for one page: `gup_pte_range` with IRQs off, and the slow path
    /// when it stops early.
    pub async fn get_user_pages_fast(
        &self,
        mm: MmId,
        vpn: usize,
        foll: Foll,
        write: bool,
    ) -> Result<PageId, i32> {
        self.get_user_pages_fast_flags(mm, vpn, foll, write, false)
            .await
    }

    /// [`Self::get_user_pages_fast`], long-term when `longterm`: the fast walk, then
    /// `__gup_longterm_unlocked` → `__gup_longterm_locked` ([`Self::get_user_pages_flags`]).
    pub async fn get_user_pages_fast_flags(
        &self,
        mm: MmId,
        vpn: usize,
        foll: Foll,
        write: bool,
        longterm: bool,
    ) -> Result<PageId, i32> {
        self.ctx
            .call("get_user_pages_fast", async move {
                let _f = self.ctx.enter(match foll {
                    Foll::Get => "get_user_pages_fast",
                    Foll::Pin => "pin_user_pages_fast",
                });
                if let Some(p) = self.gup_pte_range(mm, vpn, foll, write, longterm).await {
                    return Ok(p);
                }
                self.get_user_pages_flags(mm, vpn, foll, write, longterm)
                    .await
            })
            .await
    }

    /// `writable_file_mapping_allowed` (mm/gup.c, 6.12.118; 8ac268436e6d): a long-term pin
    /// for write is refused on a shared, writable file mapping (the model's files need dirty
    /// tracking: they write back). Reads the VMA, a set-up constant.
    fn writable_file_mapping_allowed(&self, mm: MmId, vpn: usize) -> bool {
        if !self.cfg.longterm_file_write_denied {
            return true;
        }
        let vma = self.ctx.with_const(|w| w.mms[mm].vma(vpn).cloned());
        !vma.is_some_and(|v| v.file.is_some() && v.shared && v.writable)
    }

    /// `gup_pte_range` (mm/gup.c, v5.7): read the PTE locklessly; speculative grab
    /// (`try_grab_compound_head`: add-unless-zero, silent on a frozen count); re-read the PTE
    /// and drop the grab if it changed; a long-term pin for write: `gup_fast_folio_allowed`
    /// (6.12.118; a6e79df92e4a) reads the folio's mapping and refuses a file page (drop the
    /// grab, fall back); FOLL_PIN: the hook, failure → unpin. Returns None where the walk
    /// stops (the caller falls back to the slow path).
    pub async fn gup_pte_range(
        &self,
        mm: MmId,
        vpn: usize,
        foll: Foll,
        write: bool,
        longterm: bool,
    ) -> Option<PageId> {
        self.ctx
            .call("gup_pte_range", async move {
                let _f = self.ctx.enter("gup_pte_range");
                let pte = self.read_pte(mm, vpn, "gup_get_pte").await;
                let p = usable(&pte, write)?;
                let grabbed = {
                    let _g = self.ctx.enter("try_grab_compound_head");
                    match (foll, self.cfg.fast_pin_grab) {
                        (Foll::Get, _) => self.page_ref_add_unless_zero(p, 1, false).await,
                        (Foll::Pin, FastPinGrab::OneAddUnlessZero) => {
                            self.page_ref_add_unless_zero(p, GUP_PIN_COUNTING_BIAS, true)
                                .await
                        }
                        (Foll::Pin, FastPinGrab::AddUnlessZeroThenAdd) => {
                            if self.page_ref_add_unless_zero(p, 1, true).await {
                                self.page_ref_add_rest(p, GUP_PIN_COUNTING_BIAS - 1).await;
                                true
                            } else {
                                false
                            }
                        }
                    }
                };
                if !grabbed {
                    return None;
                }
                let again = self.read_pte(mm, vpn, "pte re-check").await;
                if again != pte {
                    self.put_compound_head(p, foll).await;
                    return None;
                }
                if longterm && write && self.cfg.longterm_file_write_denied {
                    let a = acc(&[
                        Access::read(self.objs.page(p, PP::Meta)),
                        Access::read(self.objs.page(p, PP::Life)),
                    ]);
                    let file_page = self
                        .ctx
                        .step(Op::new("gup_fast_folio_allowed", a), move |e| {
                            live(e, p, "gup_fast_folio_allowed");
                            let m = e.world.pages[p].mapping;
                            e.note(|| match m {
                                Some(_) => format!("P{p} is a file page: not allowed"),
                                None => format!("P{p} is anonymous: allowed"),
                            });
                            m.is_some()
                        })
                        .await;
                    if file_page {
                        self.put_compound_head(p, foll).await;
                        return None;
                    }
                }
                if foll == Foll::Pin
                    && self.cfg.hook_on_foll_pin
                    && self.arch_make_page_accessible(p).await != 0
                {
                    self.unpin_user_page(p).await;
                    return None;
                }
                Some(p)
            })
            .await
    }

    /// `put_compound_head` / `gup_put_folio`: drop what a GUP grab added.
    pub async fn put_compound_head(&self, p: PageId, foll: Foll) {
        match foll {
            Foll::Get => self.put_page(p).await,
            Foll::Pin => self.unpin_user_page(p).await,
        }
    }

    /// `handle_mm_fault` for a file-backed mapping: not present → `filemap_fault` (page-cache
    /// lookup, which takes a reference) then `finish_fault` under the PTE lock (map it, the
    /// lookup reference becomes the mapping's); present but read-only on a write fault of a
    /// writable shared mapping → `wp_page_shared` makes it writable.
    pub async fn handle_mm_fault(&self, mm: MmId, vpn: usize, write: bool) -> i32 {
        self.ctx
            .call("handle_mm_fault", async move {
                let _f = self.ctx.enter("handle_mm_fault");
                let Some(vma) = self.ctx.with_const(|w| w.mms[mm].vma(vpn).cloned()) else {
                    return EFAULT;
                };
                if write && !vma.writable {
                    return EFAULT;
                }
                let pte = self.read_pte(mm, vpn, "vmf->orig_pte").await;
                if pte.present && !pte.invalid {
                    if write && !pte.write {
                        let _g = self.ctx.enter("wp_page_shared");
                        self.pte_lock(mm, vpn).await;
                        self.set_pte_write(mm, vpn).await;
                        self.pte_unlock(mm, vpn).await;
                    }
                    return 0;
                }
                let p = match vma.file {
                    Some((file, index)) => self.filemap_fault(file, index).await,
                    None => self.do_anonymous_page().await,
                };
                let Some(p) = p else {
                    return EFAULT;
                };
                let _g = self.ctx.enter("finish_fault");
                self.pte_lock(mm, vpn).await;
                self.map_page(mm, vpn, p, write && vma.writable).await;
                self.pte_unlock(mm, vpn).await;
                0
            })
            .await
    }

    /// `do_anonymous_page`: a new zeroed page, queued on the per-CPU LRU batch
    /// (`lru_cache_add`, which holds a reference until a drain).
    async fn do_anonymous_page(&self) -> Option<PageId> {
        let _f = self.ctx.enter("do_anonymous_page");
        let p = self.alloc_page().await?;
        self.lru_cache_add(p).await;
        Some(p)
    }

    /// Under the PTE lock: if the PTE is still none, map `p` (`set_pte_at`,
    /// `page_add_file_rmap`) and hand this thread's reference to the mapping; else drop it.
    async fn map_page(&self, mm: MmId, vpn: usize, p: PageId, write: bool) {
        self.ctx
            .call("map_page", async move {
                let a = acc(&[
                    Access::write(self.objs.pte(mm, vpn)),
                    Access::write(self.objs.page(p, PP::Meta)),
                    Access::write(self.objs.page(p, PP::Ref)),
                    Access::read(self.objs.page(p, PP::Life)),
                ]);
                let mapped = self
                    .ctx
                    .step(Op::new("set_pte_at", a), move |e| {
                        live(e, p, "set_pte_at");
                        let w = &mut *e.world;
                        let cur = w.mms[mm].pte(vpn);
                        if cur.present && !cur.invalid {
                            return false;
                        }
                        w.mms[mm].set_pte(
                            vpn,
                            Pte {
                                present: true,
                                invalid: false,
                                write,
                                page: Some(p),
                            },
                        );
                        w.pages[p].mapcount += 1;
                        w.pages[p].extra -= 1;
                        let tid = e.tid;
                        if let Some(i) = e.world.held[tid].iter().rposition(|h| h.page == p) {
                            e.world.held[tid].remove(i);
                        }
                        e.note(|| {
                            format!(
                                "map P{p}{}: mapcount +1",
                                if write { " writable" } else { "" }
                            )
                        });
                        true
                    })
                    .await;
                if !mapped {
                    self.put_page(p).await;
                }
            })
            .await
    }

    async fn set_pte_write(&self, mm: MmId, vpn: usize) {
        let a = acc(&[Access::write(self.objs.pte(mm, vpn))]);
        self.ctx
            .step(Op::new("pte_mkwrite", a), move |e| {
                let mut pte = e.world.mms[mm].pte(vpn);
                if pte.present {
                    pte.write = true;
                    e.world.mms[mm].set_pte(vpn, pte);
                }
            })
            .await
    }
}

/// The page a PTE maps if GUP may use it (present, valid, writable if asked).
fn usable(pte: &Pte, write: bool) -> Option<PageId> {
    if !pte.present || pte.invalid || (write && !pte.write) {
        None
    } else {
        pte.page
    }
}
