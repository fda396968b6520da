//! get_user_pages over one or several pages: the slow path (`__get_user_pages` →
//! `follow_page_pte` per page, under the PTE lock of the caller's mm), the fast path
//! (`lockless_pages_from_mm` / 6.12 `gup_fast`: a lockless walk over the PTEs of each page
//! table, speculative grab, re-check, the hook for FOLL_PIN) and its fallback to the slow path
//! where the walk stopped, FOLL_LONGTERM, the page-fault path the slow path falls back on
//! (`handle_mm_fault`), and the GUP contract each call is checked against when it returns.
//! See `docs/kernel-notes.md` §1–2 and the GUP section of `docs/kernel-notes.md`.

use crate::config::{FastPinGrab, SlowGrab};
use crate::hook::{EFAULT, ENOMEM};
use crate::prim::{acc, live};
use crate::uv::UvState;
use crate::vocab::properties::{self as prop, report};
use crate::world::{MmId, PageId, PagePart as PP, Pte, GUP_PIN_COUNTING_BIAS, PTRS_PER_PTE};
use crate::Cx;
use explore::{Access, Accesses, Op};

/// FOLL_GET or FOLL_PIN.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
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

/// One GUP request: `nr_pages` pages of `mm` from virtual page `start` on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct GupReq {
    pub mm: MmId,
    pub start: usize,
    pub nr_pages: usize,
    pub foll: Foll,
    /// FOLL_WRITE.
    pub write: bool,
    /// FOLL_LONGTERM (with FOLL_PIN).
    pub longterm: bool,
}

/// One entry of the `pages[]` array a GUP call fills: the page, and the virtual page whose
/// PTE mapped it when the call took its marker (the model's record, what the contract's
/// position check compares with the entry's index).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Got {
    pub page: PageId,
    pub vpn: usize,
}

/// What a GUP call returns: the kernel's return value (the number of pages, or `-errno`) and
/// what it wrote to `pages[]` (the entries `0..ret` are the caller's).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gup {
    pub ret: i32,
    pub pages: Vec<Got>,
}

impl Gup {
    /// The entries the caller owns: `pages[0..ret]` (none for `ret <= 0`).
    pub fn returned(&self) -> &[Got] {
        let n = usize::try_from(self.ret).unwrap_or(0).min(self.pages.len());
        &self.pages[..n]
    }
}

/// The first virtual page of the next page table (PMD range) after `vpn`: `pmd_addr_end`
/// (s390: a PTE table maps 256 pages, 1 MiB).
fn pmd_addr_end(vpn: usize, end: usize) -> usize {
    ((vpn / PTRS_PER_PTE + 1) * PTRS_PER_PTE).min(end)
}

impl Cx {
    /// A GUP call as its callers make it: `get_user_pages` / `pin_user_pages` (slow) or
    /// `get_user_pages_fast` / `pin_user_pages_fast`, then the contract check of what it
    /// returns ([`Self::gup_contract`]). `held_before` is how many references the calling
    /// thread holds before the call (the caller knows: what it holds), so that the check can
    /// tell the markers this call took from older ones.
    pub async fn gup(&self, req: GupReq, fast: bool, held_before: usize) -> Gup {
        self.ctx
            .call("gup", async move {
                let r = if fast {
                    let _f = self.ctx.enter(match req.foll {
                        Foll::Get => "get_user_pages_fast",
                        Foll::Pin => "pin_user_pages_fast",
                    });
                    self.internal_get_user_pages_fast(req).await
                } else {
                    self.get_user_pages_locked(req).await
                };
                self.gup_contract(req, r.clone(), held_before).await;
                r
            })
            .await
    }

    /// One page through GUP fast, for the import flows' own lookups (`gfn_to_page`, the
    /// 2026 guest-fault walk): [`Self::internal_get_user_pages_fast`] of one page, the page
    /// or the error. Not checked against the GUP contract ([`Self::gup`] is, for every I/O
    /// path): the import holds the page only for itself, and its own properties watch it.
    pub async fn get_user_pages_fast(
        &self,
        mm: MmId,
        vpn: usize,
        foll: Foll,
        write: bool,
    ) -> Result<PageId, i32> {
        self.ctx
            .call("get_user_pages_fast", async move {
                let _f = self.ctx.enter(match foll {
                    Foll::Get => "get_user_pages_fast",
                    Foll::Pin => "pin_user_pages_fast",
                });
                let req = GupReq {
                    mm,
                    start: vpn,
                    nr_pages: 1,
                    foll,
                    write,
                    longterm: false,
                };
                let r = self.internal_get_user_pages_fast(req).await;
                match r.returned().first() {
                    Some(g) => Ok(g.page),
                    None => Err(r.ret),
                }
            })
            .await
    }

    /// The slow path of a whole request: `get_user_pages` / `pin_user_pages`
    /// (`__gup_longterm_locked` for FOLL_LONGTERM) → `__get_user_pages_locked` →
    /// `__get_user_pages` (mm/gup.c, v5.7, 6.1.192 and 6.12.118), under the mmap lock (read):
    /// per page, the VMA (none → -EFAULT; FOLL_LONGTERM | FOLL_WRITE: `check_vma_flags`),
    /// then `follow_page_pte`; NULL → `faultin_page` (`handle_mm_fault`) and the same page
    /// again; an error stops the loop. Returns `i` (pages done) if any, else the error: an
    /// error after some pages is lost, and the pages done keep their markers.
    ///
    /// FOLL_LONGTERM: `__gup_longterm_locked` then runs `check_and_migrate_movable_pages` on
    /// the pages pinned, which migrates those that may not stay pinned (ZONE_MOVABLE, CMA,
    /// device-coherent memory) and pins again. Abstraction: the model's frames are ordinary
    /// kernel memory, all long-term pinnable, so that check collects nothing and the pins
    /// stay (`collect_longterm_unpinnable_pages` returns 0). The model's handle_mm_fault
    /// never drops the mmap lock (no VM_FAULT_RETRY), so `__get_user_pages_locked`'s
    /// re-lock-and-retry path is never taken; the 6.12 final "0 pages → WARN, -EFAULT" never
    /// applies either (the loop returns 0 only for 0 pages asked).
    pub async fn get_user_pages_locked(&self, req: GupReq) -> Gup {
        self.ctx
            .call("get_user_pages", async move {
                let _f = self.ctx.enter(match req.foll {
                    Foll::Get => "get_user_pages",
                    Foll::Pin => "pin_user_pages",
                });
                let _l = req
                    .longterm
                    .then(|| self.ctx.enter("__gup_longterm_locked"));
                let mm = req.mm;
                self.mmap_read_lock(mm).await;
                let mut pages = Vec::new();
                let mut ret = 0;
                let mut refused = None;
                'pages: for vpn in req.start..req.start + req.nr_pages {
                    // vma_lookup: the model's VMAs are set-up constants, one per mapped vpn.
                    if self.ctx.with_const(|w| w.mms[mm].vma(vpn).is_none()) {
                        ret = EFAULT;
                        break;
                    }
                    if req.longterm && req.write && !self.writable_file_mapping_allowed(mm, vpn) {
                        ret = EFAULT;
                        refused = Some(vpn);
                        break;
                    }
                    // faultin_page and `goto retry`: the same page again, without a bound
                    // (mm/gup.c: __get_user_pages, v5.7 … 6.12.118; only a fatal signal,
                    // which the model has none of, ends it). The loop is entered per page:
                    // what the earlier pages gave (the partial progress) is in the history
                    // at its entry, so it carries nothing else.
                    let lp = self.retry_loop("__get_user_pages (faultin_page, retry)");
                    loop {
                        if !lp.head(0).await {
                            // Cut: the execution ends at the head's step.
                            ret = EFAULT;
                            break 'pages;
                        }
                        match self.follow_page_pte(mm, vpn, req.foll, req.write).await {
                            Follow::Page(page) => {
                                pages.push(Got { page, vpn });
                                continue 'pages;
                            }
                            Follow::Err(e) => {
                                ret = e;
                                break 'pages;
                            }
                            Follow::NoPage => {
                                if self.handle_mm_fault(mm, vpn, req.write).await != 0 {
                                    ret = EFAULT;
                                    break 'pages;
                                }
                            }
                        }
                    }
                }
                self.mmap_read_unlock(mm).await;
                if let Some(vpn) = refused {
                    let _g = self.ctx.enter("check_vma_flags");
                    self.observe(
                        prop::GUP_REFUSED,
                        format!(
                            "check_vma_flags: FOLL_LONGTERM | FOLL_WRITE on vpn {vpn}, a file \
                             mapping that needs dirty tracking (writable_file_mapping_allowed): \
                             -EFAULT"
                        ),
                    )
                    .await;
                }
                let ret = if pages.is_empty() {
                    ret
                } else {
                    pages.len() as i32
                };
                if ret == ENOMEM {
                    self.observe(
                        prop::GUP_ENOMEM,
                        "follow_page_pte: the grab failed on a frozen count; \
                         __get_user_pages returns -ENOMEM"
                            .into(),
                    )
                    .await;
                }
                Gup { ret, pages }
            })
            .await
    }

    /// `internal_get_user_pages_fast` (mm/gup.c, v5.7 … 6.1.192; 6.12.118
    /// `gup_fast_fallback`): the lockless walk ([`Self::lockless_pages_from_mm`]) records
    /// `nr_pinned` pages in order; all done → `nr_pinned`. Otherwise the slow path takes the
    /// rest **from `start + nr_pinned` on** (`pages + nr_pinned`), through
    /// `__gup_longterm_unlocked` (6.1: mmap lock, `__gup_longterm_locked` or
    /// `get_user_pages_unlocked`; 6.12: `__gup_longterm_locked` with FOLL_UNLOCKABLE — the
    /// same steps in the model). Its error → `nr_pinned` if the walk pinned any (the caller
    /// must unpin them), else the error; else `nr_pinned` + its count.
    ///
    /// Not modelled: the FOLL_PIN fork guard (`write_protect_seq`: the model has no fork),
    /// `gup_fast_permitted`/`access_ok` (every modelled address is a user address).
    pub async fn internal_get_user_pages_fast(&self, req: GupReq) -> Gup {
        self.ctx
            .call("internal_get_user_pages_fast", async move {
                let walked = self.lockless_pages_from_mm(req).await;
                let nr_pinned = walked.len();
                if nr_pinned == req.nr_pages {
                    return Gup {
                        ret: nr_pinned as i32,
                        pages: walked,
                    };
                }
                let rest = GupReq {
                    start: req.start + nr_pinned,
                    nr_pages: req.nr_pages - nr_pinned,
                    ..req
                };
                let slow = self.get_user_pages_locked(rest).await;
                let ret = if slow.ret < 0 {
                    if nr_pinned > 0 {
                        nr_pinned as i32
                    } else {
                        slow.ret
                    }
                } else {
                    slow.ret + nr_pinned as i32
                };
                let mut pages = walked;
                pages.extend(slow.returned());
                Gup { ret, pages }
            })
            .await
    }

    /// `lockless_pages_from_mm` → `gup_pgd_range` … `gup_pmd_range` (mm/gup.c, 6.1.192;
    /// 6.12.118 `gup_fast` → `gup_fast_pmd_range`): IRQs off, one `gup_pte_range` per PMD
    /// range (page table) of `[start, start + nr_pages)`; only a return of 0 stops the walk,
    /// any other value — 1, or (before the 2025-09 fix, `gup_fast_hook_fail_stops = false`)
    /// the hook's negative error — goes on with the next range. The pages are recorded
    /// consecutively, whatever address they came from.
    async fn lockless_pages_from_mm(&self, req: GupReq) -> Vec<Got> {
        self.ctx
            .call("lockless_pages_from_mm", async move {
                let end = req.start + req.nr_pages;
                let mut pages = Vec::new();
                let mut addr = req.start;
                while addr < end {
                    let next = pmd_addr_end(addr, end);
                    let (ret, got) = self.gup_pte_range(req, addr, next).await;
                    pages.extend(got);
                    if ret == 0 {
                        break;
                    }
                    addr = next;
                }
                pages
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

    /// `writable_file_mapping_allowed` (mm/gup.c, 6.12.118; 8ac268436e6d): a long-term pin
    /// for write is refused on a shared, writable file mapping that needs dirty tracking
    /// (`vma_needs_dirty_tracking`): the model's files write back, except memfds (shmem).
    /// Reads the VMA and the file kind, set-up constants.
    fn writable_file_mapping_allowed(&self, mm: MmId, vpn: usize) -> bool {
        if !self.cfg.longterm_file_write_denied {
            return true;
        }
        self.ctx.with_const(|w| match w.mms[mm].vma(vpn) {
            Some(v) => match v.file {
                Some((f, _)) => !(v.shared && v.writable) || w.files[f].shmem,
                None => true,
            },
            None => true,
        })
    }

    /// `gup_pte_range` (mm/gup.c, v5.7 … 6.1.192; 6.12.118 `gup_fast_pte_range`) over the
    /// virtual pages `[addr, end)` of one page table, IRQs off, no lock. Per PTE:
    /// 1. read it locklessly; not present, or read-only for FOLL_WRITE → stop (0);
    /// 2. speculative grab (`try_grab_compound_head` / `try_grab_folio`: add-unless-zero,
    ///    silent on a frozen count) → failure: stop (0) (seeded defect
    ///    `gup_fast_grab_checked = false`: go on as if it had succeeded);
    /// 3. re-read the PTE; changed → drop the grab, stop (0);
    /// 4. a long-term pin for write: `gup_fast_folio_allowed` (6.12.118; a6e79df92e4a) reads
    ///    the folio's mapping and refuses a file page that needs dirty tracking → drop, stop;
    /// 5. FOLL_PIN: the hook; failure → unpin (`gup_put_folio`) and return the hook's error,
    ///    which the PMD loop reads as "carry on" (before the 2025-09 fix;
    ///    `gup_fast_hook_fail_stops`), or 0 (after it);
    /// 6. record the page.
    ///
    /// All PTEs done → 1. A virtual page without a VMA has no PTE (nothing maps it): stop
    /// there without a step. Returns the value and the pages recorded.
    async fn gup_pte_range(&self, req: GupReq, addr: usize, end: usize) -> (i32, Vec<Got>) {
        self.ctx
            .call("gup_pte_range", async move {
                let _f = self.ctx.enter("gup_pte_range");
                let (mm, foll, write) = (req.mm, req.foll, req.write);
                let mut got = Vec::new();
                for vpn in addr..end {
                    if self.ctx.with_const(|w| w.mms[mm].vma(vpn).is_none()) {
                        return (0, got);
                    }
                    let pte = self.read_pte(mm, vpn, "gup_get_pte").await;
                    let Some(p) = usable(&pte, write) else {
                        return (0, got);
                    };
                    let grabbed = self.try_grab_fast(p, foll).await;
                    if !grabbed && self.cfg.gup_fast_grab_checked {
                        return (0, got);
                    }
                    let again = self.read_pte(mm, vpn, "pte re-check").await;
                    if again != pte {
                        self.put_compound_head(p, foll).await;
                        return (0, got);
                    }
                    if req.longterm && write && self.cfg.longterm_file_write_denied {
                        let a = acc(&[
                            Access::read(self.objs.page(p, PP::Meta)),
                            Access::read(self.objs.page(p, PP::Life)),
                        ]);
                        let file_page = self
                            .ctx
                            .step(Op::new("gup_fast_folio_allowed", a), move |e| {
                                live(e, p, "gup_fast_folio_allowed");
                                let m = e.world.pages[p].mapping;
                                let shmem = m.is_some_and(|(f, _)| e.world.files[f].shmem);
                                e.note(|| match m {
                                    Some(_) if shmem => format!("P{p} is a shmem page: allowed"),
                                    Some(_) => format!("P{p} is a file page: not allowed"),
                                    None => format!("P{p} is anonymous: allowed"),
                                });
                                m.is_some() && !shmem
                            })
                            .await;
                        if file_page {
                            self.put_compound_head(p, foll).await;
                            return (0, got);
                        }
                    }
                    if foll == Foll::Pin && self.cfg.hook_on_foll_pin {
                        let rc = self.arch_make_page_accessible(p).await;
                        if rc != 0 {
                            self.unpin_user_page(p).await;
                            let ret = if self.cfg.gup_fast_hook_fail_stops {
                                0
                            } else {
                                rc
                            };
                            return (ret, got);
                        }
                    }
                    got.push(Got { page: p, vpn });
                }
                (1, got)
            })
            .await
    }

    /// The fast path's grab (`try_grab_compound_head`, 6.1 `try_grab_folio`, 6.12
    /// `try_grab_folio_fast`): add-unless-zero of 1 (FOLL_GET) or of the pin bias, per
    /// [`FastPinGrab`].
    async fn try_grab_fast(&self, p: PageId, foll: Foll) -> bool {
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
    }

    /// The GUP contract (`Documentation/core-api/pin_user_pages.rst`; the kernel's callers
    /// rely on it: `io_pin_pages`, `bio_iov_iter_get_pages`, `iter_to_pipe`, …), checked in
    /// one step when a call returns, against what the call did:
    /// 1. the count is honest: `ret <= nr_pages`; `ret < 0` → the call left no marker; else
    ///    exactly the entries `pages[0..ret]` hold a marker this call took (no more, no less);
    /// 2. `pages[i]` is the page at `start + i` (the page whose PTE at that address the call
    ///    read when it took the marker);
    /// 3. each returned page holds its marker (a reference for FOLL_GET, a pin for FOLL_PIN);
    /// 4. FOLL_PIN pages are accessible (not secure): the hook ran after the pin, and the pin
    ///    keeps every import out.
    ///
    /// Reads the UV state of each FOLL_PIN page (item 4); items 1–3 read only the thread's
    /// own references (thread-private).
    async fn gup_contract(&self, req: GupReq, r: Gup, held_before: usize) {
        let mut a = Accesses::new();
        if req.foll == Foll::Pin {
            for g in r.returned() {
                let o = Access::read(self.objs.page(g.page, PP::Uv));
                if !a.as_slice().contains(&o) {
                    a.push(o);
                }
            }
        }
        self.ctx
            .step(Op::new("gup returns", a), move |e| {
                let tid = e.tid;
                let pin = req.foll == Foll::Pin;
                let kind = if pin { "pin" } else { "reference" };
                let held = &e.world.held[tid];
                let mut taken: Vec<(PageId, bool)> = held
                    .get(held_before..)
                    .unwrap_or(&[])
                    .iter()
                    .map(|h| (h.page, h.pin))
                    .collect();
                let mut problems: Vec<String> = Vec::new();
                if i64::from(r.ret) > req.nr_pages as i64 {
                    problems.push(format!(
                        "returned {} for {} pages asked",
                        r.ret, req.nr_pages
                    ));
                }
                for (i, g) in r.returned().iter().enumerate() {
                    if g.vpn != req.start + i {
                        problems.push(format!(
                            "pages[{i}] is P{} of vpn {}, not the page at start + {i} (vpn {})",
                            g.page,
                            g.vpn,
                            req.start + i
                        ));
                    }
                    match taken.iter().position(|&(p, k)| p == g.page && k == pin) {
                        Some(j) => {
                            taken.remove(j);
                        }
                        None => problems.push(format!(
                            "pages[{i}] is P{}, which holds no {kind} of this call",
                            g.page
                        )),
                    }
                    if pin {
                        if let UvState::Secure { .. } = e.world.uv[g.page].state {
                            problems.push(format!(
                                "pages[{i}] is P{}, which is secure: a FOLL_PIN page that is \
                                 not accessible",
                                g.page
                            ));
                        }
                    }
                }
                for (p, k) in &taken {
                    problems.push(format!(
                        "P{p} keeps a {} this call took but does not return (returned {})",
                        if *k { "pin" } else { "reference" },
                        r.ret
                    ));
                }
                let returned: Vec<String> = r
                    .returned()
                    .iter()
                    .map(|g| format!("P{}@{}", g.page, g.vpn))
                    .collect();
                e.note(|| {
                    format!(
                        "returns {} for {} pages from vpn {}: [{}]",
                        r.ret,
                        req.nr_pages,
                        req.start,
                        returned.join(", ")
                    )
                });
                if let Some(first) = problems.first() {
                    let more = problems.len() - 1;
                    report(
                        e,
                        prop::GUP_CONTRACT,
                        format!(
                            "{} of {} pages from vpn {} returned {}: {first}{}",
                            if pin { "pin" } else { "get" },
                            req.nr_pages,
                            req.start,
                            r.ret,
                            if more > 0 {
                                format!(" (and {more} more)")
                            } else {
                                String::new()
                            }
                        ),
                    );
                }
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
                if let Some(crate::world::Swp::Migration { page, .. }) = pte.swp {
                    // `handle_pte_fault` → `do_swap_page` → `migration_entry_wait`; the
                    // fault returns 0 and the caller retries (mm/memory.c, 6.1.192).
                    let _g = self.ctx.enter("do_swap_page");
                    self.migration_entry_wait(mm, vpn, page).await;
                    return 0;
                }
                if let Some(crate::world::Swp::Swap { slot }) = pte.swp {
                    // `handle_pte_fault` → `do_swap_page` (mm/memory.c, 6.1.192).
                    return self.do_swap_page(mm, vpn, slot, write).await;
                }
                if pte.present && pte.invalid {
                    // An old PTE (s390 `pte_mkold`: present, `_PAGE_INVALID`, left by
                    // reclaim's aging): `handle_pte_fault` → `ptep_set_access_flags` with
                    // `pte_mkyoung`, which makes it valid again; no UV call.
                    let _g = self.ctx.enter("handle_pte_fault");
                    self.pte_lock(mm, vpn).await;
                    self.pte_mkyoung(mm, vpn, pte.page).await;
                    self.pte_unlock(mm, vpn).await;
                }
                if pte.present {
                    if write && !pte.write && vma.file.is_none() && self.swaps() {
                        // `do_wp_page` on an anonymous page, as the release decides it
                        // (swap.rs; models without swap keep the plain reuse below).
                        if let Some(p) = pte.page {
                            self.do_wp_page_anon(mm, vpn, p).await;
                        }
                        return 0;
                    }
                    if write && !pte.write {
                        let _g = self.ctx.enter("wp_page_shared");
                        // A shared mapping of a file that writes back: `do_page_mkwrite` →
                        // `filemap_page_mkwrite` locks the folio, gives up if it left the
                        // file (VM_FAULT_NOPAGE: the access faults again) and dirties it;
                        // `wp_page_reuse` makes the PTE writable; `fault_dirty_shared_page`
                        // unlocks (mm/memory.c, mm/filemap.c, 6.1.192 and 6.12.118).
                        let mkwrite = match (vma.file, pte.page) {
                            (Some((file, index)), Some(p)) if vma.shared => self
                                .ctx
                                .with_const(|w| !w.files[file].shmem)
                                .then_some((file, index, p)),
                            _ => None,
                        };
                        if let Some((file, index, p)) = mkwrite {
                            let _h = self.ctx.enter("filemap_page_mkwrite");
                            self.lock_page(p).await;
                            if !self.folio_mapping_is(p, file, index).await {
                                self.unlock_page(p).await;
                                return 0;
                            }
                            self.folio_mark_dirty(p).await;
                        }
                        self.pte_lock(mm, vpn).await;
                        self.set_pte_write(mm, vpn).await;
                        self.pte_unlock(mm, vpn).await;
                        if let Some((_, _, p)) = mkwrite {
                            self.unlock_page(p).await;
                        }
                    }
                    return 0;
                }
                let p = match vma.file {
                    // `filemap_fault` returns the folio locked (`lock_folio_maybe_drop_mmap`
                    // sleeps on PG_locked: VM_FAULT_LOCKED), after checking that it is
                    // still this file's page; `do_read_fault` / `do_shared_fault` unlock it
                    // after `finish_fault` (mm/filemap.c, mm/memory.c, 6.1.192). A folio
                    // removed from the cache meanwhile (truncated): unlock, put, and
                    // `goto retry_find` — the lookup again, inside `filemap_fault`.
                    Some((file, index)) => {
                        // `retry_find` has no bound; the loop carries nothing.
                        let mut found = None;
                        let lp = self.retry_loop("filemap_fault (retry_find)");
                        while lp.head(0).await {
                            let Some(p) = self.filemap_fault(file, index).await else {
                                return EFAULT;
                            };
                            self.lock_page(p).await;
                            if self.folio_mapping_is(p, file, index).await {
                                found = Some(p);
                                break;
                            }
                            self.unlock_page(p).await;
                            self.put_page(p).await;
                        }
                        let Some(p) = found else {
                            // Cut at the head's step: the execution ends there.
                            return EFAULT;
                        };
                        p
                    }
                    None => {
                        let Some(p) = self.do_anonymous_page().await else {
                            return EFAULT;
                        };
                        p
                    }
                };
                let _g = self.ctx.enter("finish_fault");
                self.pte_lock(mm, vpn).await;
                self.map_page(mm, vpn, p, write && vma.writable).await;
                self.pte_unlock(mm, vpn).await;
                if let Some((file, _)) = vma.file {
                    // `do_shared_fault` → `fault_dirty_shared_page`: a write fault on a
                    // shared mapping of a file that writes back dirties the folio before
                    // unlocking it.
                    if write && vma.shared && !self.ctx.with_const(|w| w.files[file].shmem) {
                        self.folio_mark_dirty(p).await;
                    }
                    self.unlock_page(p).await;
                }
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
                        // `pte_none` re-checked under the PTE lock (`do_anonymous_page`,
                        // `finish_fault`): a present PTE or a swap-format entry (a migration
                        // entry set meanwhile) makes the fault drop its page.
                        if !cur.is_none() {
                            return false;
                        }
                        w.mms[mm].set_pte(
                            vpn,
                            Pte {
                                present: true,
                                invalid: false,
                                write,
                                page: Some(p),
                                swp: None,
                            },
                        );
                        w.pages[p].mapcount += 1;
                        let h = w.folio(p);
                        w.pages[h].extra -= 1;
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

    /// `folio->mapping == mapping` (and the index) under the folio lock.
    pub(crate) async fn folio_mapping_is(&self, p: PageId, file: usize, index: usize) -> bool {
        let a = acc(&[
            Access::read(self.objs.page(p, PP::Meta)),
            Access::read(self.objs.page(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("folio_mapping", a), move |e| {
                live(e, p, "folio_mapping");
                e.world.pages[p].mapping == Some((file, index))
            })
            .await
    }

    /// `ptep_set_access_flags(…, pte_mkyoung(entry))` under the PTE lock: if the PTE still
    /// maps the page the fault saw, it becomes young (valid) again.
    async fn pte_mkyoung(&self, mm: MmId, vpn: usize, page: Option<PageId>) {
        let a = acc(&[Access::write(self.objs.pte(mm, vpn))]);
        self.ctx
            .step(Op::new("ptep_set_access_flags", a), move |e| {
                let mut pte = e.world.mms[mm].pte(vpn);
                if pte.present && pte.page == page {
                    pte.invalid = false;
                    e.world.mms[mm].set_pte(vpn, pte);
                    e.note(|| "pte made young (valid)".into());
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

/// The page a PTE maps if GUP may use it: present (an old PTE, present with
/// `_PAGE_INVALID`, too: `follow_page_pte` tests `pte_present`, GUP fast
/// `pte_access_permitted` = present and writable if asked), writable if asked.
fn usable(pte: &Pte, write: bool) -> Option<PageId> {
    if !pte.present || (write && !pte.write) {
        None
    } else {
        pte.page
    }
}
