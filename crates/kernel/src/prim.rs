//! Primitives every path uses: page references, page flags, the page lock, PTE locks, the mmap
//! lock, and device I/O. Each is one visible step (or two where the kernel's own code has two
//! separate atomics) that declares the objects it touches.
//!
//! Properties reported here (declared in [`crate::vocab::properties`]): `use-after-free`,
//! `warn`, `bug`, `io-on-secure-page`, `arch1-hint`, `confidentiality`.

use crate::uv::UvState;
use crate::vocab::properties::{self as prop, report};
use crate::world::{Held, MmId, PageId, PagePart as PP, Pte, World, PTRS_PER_PTE};
use crate::Cx;
use explore::{Access, Accesses, Op, StepEnv};

pub type Env<'a, 'b> = StepEnv<'a, World>;

#[inline]
pub fn acc(list: &[Access]) -> Accesses {
    Accesses::from_slice(list)
}

/// Reports a use-after-free if `p` is not allocated; returns whether it is.
pub fn live(e: &mut Env, p: PageId, what: &str) -> bool {
    if e.world.pages[p].free {
        report(
            e,
            prop::USE_AFTER_FREE,
            format!("{what} on P{p}, which was freed"),
        );
        false
    } else {
        true
    }
}

/// `WARN_ON_ONCE` reached in a modelled kernel function.
pub fn warn(e: &mut Env, site: &'static str, why: String) {
    report(e, prop::WARN, format!("WARN_ON_ONCE in {site}: {why}"));
}

fn held_push(e: &mut Env, p: PageId, pin: bool) {
    let generation = e.world.pages[p].generation;
    let tid = e.tid;
    e.world.held[tid].push(Held {
        page: p,
        pin,
        generation,
    });
}

/// Whether the calling thread holds a reference (or pin) on `p`.
pub fn holds_ref(w: &World, tid: usize, p: PageId) -> bool {
    w.held[tid].iter().any(|h| h.page == p)
}

impl Cx {
    fn page_obj(&self, p: PageId, part: PP) -> explore::ObjId {
        self.objs.page(p, part)
    }

    /// `get_page` / `folio_get` (include/linux/mm.h): a plain atomic increment; the caller
    /// already holds a reference. The new reference is held by the calling thread.
    pub async fn get_page(&self, p: PageId) {
        let a = acc(&[
            Access::add(self.page_obj(p, PP::Ref)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("get_page", a), move |e| {
                live(e, p, "get_page");
                let h = e.world.folio(p);
                let pg = &mut e.world.pages[h];
                let before = pg.refcount;
                if before <= 0 && !pg.free {
                    e.note(|| "increment of a frozen count".into());
                }
                let pg = &mut e.world.pages[h];
                pg.refcount += 1;
                pg.extra += 1;
                held_push(e, p, false);
                e.note(|| format!("P{p} refcount {} -> {}", before, before + 1));
            })
            .await
    }

    /// `put_page` / `folio_put`: drops one reference of the calling thread; frees the page
    /// when the count reaches zero.
    pub async fn put_page(&self, p: PageId) {
        self.put_refs(p, 1, false, "put_page").await
    }

    /// `unpin_user_page` (mm/gup.c): drops a FOLL_PIN (`GUP_PIN_COUNTING_BIAS`).
    pub async fn unpin_user_page(&self, p: PageId) {
        self.put_refs(
            p,
            crate::world::GUP_PIN_COUNTING_BIAS,
            true,
            "unpin_user_page",
        )
        .await
    }

    /// Drops `n` references held by this thread (or by the holder it acts for when
    /// `held_by_thread` is false).
    pub(crate) async fn put_refs(&self, p: PageId, n: i32, pin: bool, name: &'static str) {
        self.put_refs_of(p, n, pin, name, true).await
    }

    pub(crate) async fn put_refs_of(
        &self,
        p: PageId,
        n: i32,
        pin: bool,
        name: &'static str,
        held_by_thread: bool,
    ) {
        let debug_vm = self.cfg.debug_vm;
        let a = acc(&[
            Access::write(self.page_obj(p, PP::Ref)),
            Access::write(self.page_obj(p, PP::Life)),
            Access::read(self.page_obj(p, PP::Meta)),
            Access::write(explore::ObjId(self.objs.alloc)),
        ]);
        self.ctx
            .step(Op::new(name, a), move |e| {
                if held_by_thread {
                    let tid = e.tid;
                    if let Some(i) = e.world.held[tid]
                        .iter()
                        .rposition(|h| h.page == p && h.pin == pin)
                    {
                        let h = e.world.held[tid].remove(i);
                        if h.generation != e.world.pages[p].generation {
                            report(
                                e,
                                prop::USE_AFTER_FREE,
                                format!(
                                    "{name} on P{p}: \
                                 the reference was taken on an earlier life of this frame"
                                ),
                            );
                        }
                    }
                }
                // A put on a freed page is a use-after-free, and it still does what the
                // kernel's atomic decrement does to the freed `struct page`: the count goes
                // down (as `get_page` on a freed page takes it up), but nothing is freed
                // again. (Skipping the decrement made every get/put round of a retry loop on
                // a freed page grow the count, a state that never repeats: the lasso check
                // could not close the loop and the search was cut, incomplete.)
                let freed = !live(e, p, name);
                let w = &mut *e.world;
                let h = w.folio(p);
                let pg = &mut w.pages[h];
                if freed {
                    let before = pg.refcount;
                    pg.refcount -= n;
                    pg.extra -= n;
                    let after = pg.refcount;
                    e.note(|| format!("P{p} refcount {before} -> {after} (a freed page)"));
                    return;
                }
                let before = pg.refcount;
                pg.refcount -= n;
                pg.extra -= n;
                let after = pg.refcount;
                e.note(|| format!("P{p} refcount {before} -> {after}"));
                if before <= 0 {
                    // put_page_testzero: VM_BUG_ON_PAGE(page_ref_count(page) == 0), live only
                    // with CONFIG_DEBUG_VM; without it the count silently goes negative and
                    // the reference-balance check sees the damage.
                    e.note(|| format!("P{p}: put on a zero (frozen or free) count"));
                    if debug_vm {
                        report(
                            e,
                            prop::BUG,
                            format!(
                                "VM_BUG_ON_PAGE in {name}: P{p} refcount {before} before the put"
                            ),
                        );
                    }
                } else if after == 0 {
                    free_page(e, h, name);
                }
            })
            .await
    }

    /// `try_get_page` (include/linux/mm.h, 88b1a17dfc3e): `WARN_ON_ONCE` and fail if the
    /// count is ≤ 0, else `page_ref_inc` — two separate atomics in every version that has it
    /// (v5.7 … 6.12), so an increment can land on a count frozen in between.
    pub async fn try_get_page(&self, p: PageId, site: &'static str) -> bool {
        self.check_then_add(p, 1, false, "try_get_page", site).await
    }

    /// The two-step grab: read the count (WARN if ≤ 0), then add `n` in a separate step.
    pub(crate) async fn check_then_add(
        &self,
        p: PageId,
        n: i32,
        pin: bool,
        name: &'static str,
        site: &'static str,
    ) -> bool {
        let _f = self.ctx.enter(name);
        let ok = self
            .ctx
            .step(
                Op::new(
                    "page_ref_count",
                    acc(&[Access::read(self.page_obj(p, PP::Ref))]),
                ),
                move |e| {
                    let c = e.world.pages[e.world.folio(p)].refcount;
                    if c <= 0 {
                        warn(e, site, format!("P{p} refcount {c} <= 0"));
                        false
                    } else {
                        e.note(|| format!("P{p} refcount {c} > 0"));
                        true
                    }
                },
            )
            .await;
        if !ok {
            return false;
        }
        let a = acc(&[
            Access::add(self.page_obj(p, PP::Ref)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(
                Op::new(
                    if n == 1 {
                        "page_ref_inc"
                    } else {
                        "page_ref_add"
                    },
                    a,
                ),
                move |e| {
                    live(e, p, "page_ref_add");
                    let h = e.world.folio(p);
                    let pg = &mut e.world.pages[h];
                    let before = pg.refcount;
                    pg.refcount += n;
                    pg.extra += n;
                    held_push(e, p, pin);
                    if before == 0 {
                        e.note(|| format!("P{p} refcount 0 -> {n}: added to a frozen count"));
                    } else {
                        e.note(|| format!("P{p} refcount {before} -> {}", before + n));
                    }
                },
            )
            .await;
        true
    }

    /// `page_ref_add_unless(page, n, 0)` — the speculative grab of `page_cache_get_speculative`,
    /// `try_get_compound_head`, `folio_try_get`: one atomic that fails silently on a zero
    /// (frozen or free) count. Allowed on a free frame: struct pages are never freed.
    pub async fn page_ref_add_unless_zero(&self, p: PageId, n: i32, pin: bool) -> bool {
        let a = acc(&[Access::write(self.page_obj(p, PP::Ref))]);
        self.ctx
            .step(Op::new("page_ref_add_unless", a), move |e| {
                let h = e.world.folio(p);
                let pg = &mut e.world.pages[h];
                let before = pg.refcount;
                if before == 0 {
                    e.note(|| format!("P{p} refcount 0: speculative get fails"));
                    return false;
                }
                pg.refcount += n;
                pg.extra += n;
                held_push(e, p, pin);
                e.note(|| format!("P{p} refcount {before} -> {}", before + n));
                true
            })
            .await
    }

    /// `page_ref_add` of the rest of the pin bias after a speculative +1 (v5.15+ GUP fast).
    pub async fn page_ref_add_rest(&self, p: PageId, n: i32) {
        let a = acc(&[
            Access::add(self.page_obj(p, PP::Ref)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("page_ref_add", a), move |e| {
                live(e, p, "page_ref_add");
                let h = e.world.folio(p);
                let pg = &mut e.world.pages[h];
                pg.refcount += n;
                pg.extra += n;
                let tid = e.tid;
                if let Some(h) = e.world.held[tid].iter_mut().rev().find(|h| h.page == p) {
                    h.pin = true;
                }
            })
            .await
    }

    /// `lock_page` / `folio_lock`: sleeps until PG_locked is clear, then sets it.
    pub async fn lock_page(&self, p: PageId) {
        let a = acc(&[
            Access::acquire(self.page_obj(p, PP::Lock)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        fn unlocked(w: &World, p: u64) -> bool {
            w.pages[w.folio(p as usize)].locked_by.is_none()
        }
        self.ctx
            .step(Op::new("lock_page", a).when(unlocked, p as u64), move |e| {
                live(e, p, "lock_page");
                let h = e.world.folio(p);
                e.world.pages[h].locked_by = Some(e.tid);
                e.note(|| format!("P{p} PG_locked set"));
            })
            .await
    }

    /// `trylock_page` / `folio_trylock`.
    pub async fn trylock_page(&self, p: PageId) -> bool {
        let a = acc(&[
            Access::write(self.page_obj(p, PP::Lock)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("trylock_page", a), move |e| {
                live(e, p, "trylock_page");
                let h = e.world.folio(p);
                let pg = &mut e.world.pages[h];
                if pg.locked_by.is_some() {
                    e.note(|| format!("P{p} already locked"));
                    false
                } else {
                    pg.locked_by = Some(e.tid);
                    e.note(|| format!("P{p} PG_locked set"));
                    true
                }
            })
            .await
    }

    /// `unlock_page` / `folio_unlock`.
    pub async fn unlock_page(&self, p: PageId) {
        let a = acc(&[
            Access::release(self.page_obj(p, PP::Lock)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("unlock_page", a), move |e| {
                live(e, p, "unlock_page");
                let h = e.world.folio(p);
                e.world.pages[h].locked_by = None;
                e.note(|| format!("P{p} PG_locked cleared"));
            })
            .await
    }

    /// `PageWriteback` / `folio_test_writeback`.
    pub async fn page_writeback(&self, p: PageId) -> bool {
        let a = acc(&[
            Access::read(self.page_obj(p, PP::Writeback)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("PageWriteback", a), move |e| {
                live(e, p, "PageWriteback");
                let wb = e.world.pages[e.world.folio(p)].writeback;
                e.note(|| format!("P{p} PG_writeback {}", if wb { "set" } else { "clear" }));
                wb
            })
            .await
    }

    /// `wait_on_page_writeback` / `folio_wait_writeback`: sleeps while PG_writeback is set.
    pub async fn wait_on_page_writeback(&self, p: PageId) {
        let a = acc(&[
            Access::read(self.page_obj(p, PP::Writeback)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        fn no_wb(w: &World, p: u64) -> bool {
            !w.pages[w.folio(p as usize)].writeback
        }
        self.ctx
            .step(
                Op::new("wait_on_page_writeback", a).when(no_wb, p as u64),
                move |e| {
                    live(e, p, "wait_on_page_writeback");
                },
            )
            .await
    }

    /// `set_bit(PG_arch_1)` / `clear_bit(PG_arch_1)`. Clearing checks the hint invariant:
    /// a secure page always carries PG_arch_1.
    pub async fn set_arch1(&self, p: PageId, on: bool) {
        let a = acc(&[
            Access::write(self.page_obj(p, PP::Arch1)),
            Access::read(self.page_obj(p, PP::Uv)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(
                Op::new(
                    if on {
                        "set_bit(PG_arch_1)"
                    } else {
                        "clear_bit(PG_arch_1)"
                    },
                    a,
                ),
                move |e| {
                    live(e, p, "PG_arch_1 update");
                    e.world.pages[p].arch1 = on;
                    e.note(|| format!("P{p} PG_arch_1 {}", if on { "set" } else { "cleared" }));
                    check_arch1(e, p);
                },
            )
            .await
    }

    /// `PageUptodate` plus the page's mapping: what `page_cache_pipe_buf_confirm` reads.
    pub async fn page_uptodate(&self, p: PageId) -> bool {
        let a = acc(&[
            Access::read(self.page_obj(p, PP::Meta)),
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new("PageUptodate", a), move |e| {
                live(e, p, "PageUptodate");
                e.world.pages[p].uptodate
            })
            .await
    }

    /// Device I/O (DMA) on `p`: a NIC, a disk or any other device reading (`to_device`) or
    /// writing the page. On a secure page the I/O fails — there is no fault to fix it up.
    pub async fn dma(&self, p: PageId, to_device: bool, what: &'static str) {
        let a = acc(&[
            if to_device {
                Access::read(self.page_obj(p, PP::Uv))
            } else {
                Access::write(self.page_obj(p, PP::Uv))
            },
            Access::read(self.page_obj(p, PP::Life)),
        ]);
        self.ctx
            .step(Op::new(what, a), move |e| {
                if !live(e, p, what) {
                    return;
                }
                match e.world.uv[p].state {
                    UvState::Secure { guest, gfn } => {
                        report(
                            e,
                            prop::IO_SECURE,
                            format!(
                                "{what}: device I/O on P{p}, which is secure \
                                 (guest {guest}, gfn {gfn}): the I/O fails"
                            ),
                        );
                    }
                    _ => {
                        if to_device {
                            check_host_read(e, p, what);
                            e.note(|| format!("device reads P{p}"));
                        } else {
                            host_store(e, p, [0xd0; crate::world::PAGE_BYTES]);
                            e.note(|| format!("device writes P{p}"));
                        }
                    }
                }
            })
            .await
    }

    /// `alloc_page` (the page allocator): takes the lowest free frame, refcount 1, held by
    /// this thread. Declares every frame's refcount and lifetime: which frame it takes is only
    /// known when it runs.
    pub async fn alloc_page(&self) -> Option<PageId> {
        let frames = self.ctx.with_const(|w| w.pages.len());
        let mut a = explore::Accesses::new().with(Access::write(explore::ObjId(self.objs.alloc)));
        for p in 0..frames {
            a.push(Access::write(self.page_obj(p, PP::Ref)));
            a.push(Access::write(self.page_obj(p, PP::Life)));
        }
        self.ctx
            .step(Op::new("alloc_page", a), move |e| {
                let p = e.world.alloc_page()?;
                e.world.pages[p].extra = 1;
                held_push(e, p, false);
                e.note(|| format!("allocated P{p}"));
                Some(p)
            })
            .await
    }

    /// Reports an observation (not a violation) as a step of its own that touches nothing.
    pub async fn observe(&self, property: prop::Prop, message: String) {
        self.ctx
            .step(Op::new("observe", Accesses::new()), move |e| {
                report(e, property, message);
            })
            .await
    }

    // ---- page tables ----------------------------------------------------------------

    /// `pte_offset_map_lock` / `get_locked_pte`: takes the PTE lock of the page table that
    /// maps `vpn` in `mm`.
    pub async fn pte_lock(&self, mm: MmId, vpn: usize) {
        let a = acc(&[Access::acquire(self.objs.ptl(mm, vpn))]);
        // The guard gets the lock's position in `Objs::ptl_index` (never a packed vpn:
        // a vpn has up to 52 bits).
        fn free(w: &World, slot: u64) -> bool {
            let (mm, t) = w.objs.ptl_index[slot as usize];
            w.mms[mm].ptl_holder(t).is_none()
        }
        let t = vpn / PTRS_PER_PTE;
        let slot = self.objs.ptl_slot(mm, vpn) as u64;
        self.ctx
            .step(Op::new("spin_lock(ptl)", a).when(free, slot), move |e| {
                let tid = e.tid;
                e.world.mms[mm].ptl_held.push((t, tid));
                let name = e.world.mms[mm].name.clone();
                e.note(|| format!("{name} PTE lock taken"));
            })
            .await
    }

    pub async fn pte_unlock(&self, mm: MmId, vpn: usize) {
        let a = acc(&[Access::release(self.objs.ptl(mm, vpn))]);
        let t = vpn / PTRS_PER_PTE;
        self.ctx
            .step(Op::new("spin_unlock(ptl)", a), move |e| {
                e.world.mms[mm].ptl_held.retain(|&(tt, _)| tt != t);
                let name = e.world.mms[mm].name.clone();
                e.note(|| format!("{name} PTE lock released"));
            })
            .await
    }

    /// Reads a PTE (under its lock, or locklessly as GUP fast and the hardware do).
    pub async fn read_pte(&self, mm: MmId, vpn: usize, name: &'static str) -> Pte {
        let a = acc(&[Access::read(self.objs.pte(mm, vpn))]);
        self.ctx
            .step(Op::new(name, a), move |e| {
                let pte = e.world.mms[mm].pte(vpn);
                e.note(|| describe_pte(&pte));
                pte
            })
            .await
    }

    /// `mmap_read_lock`.
    pub async fn mmap_read_lock(&self, mm: MmId) {
        let a = acc(&[Access::add(self.objs.mmap(mm))]);
        fn no_writer(w: &World, mm: u64) -> bool {
            !w.mms[mm as usize].mmap_writer
        }
        self.ctx
            .step(
                Op::new("mmap_read_lock", a).when(no_writer, mm as u64),
                move |e| {
                    e.world.mms[mm].mmap_readers += 1;
                },
            )
            .await
    }

    /// `mmap_read_trylock`: a reader unless a writer holds (or waits for) the lock.
    pub async fn mmap_read_trylock(&self, mm: MmId) -> bool {
        let a = acc(&[Access::write(self.objs.mmap(mm))]);
        self.ctx
            .step(Op::new("mmap_read_trylock", a), move |e| {
                let m = &mut e.world.mms[mm];
                if m.mmap_writer {
                    e.note(|| "mmap_lock held for write: trylock fails".into());
                    return false;
                }
                m.mmap_readers += 1;
                true
            })
            .await
    }

    /// `spin_trylock(ptl)` of the page table mapping `vpn` in `mm` (`try_get_locked_pte`,
    /// arch/s390/mm/gmap_helpers.c, 89fa757931dc).
    pub async fn pte_trylock(&self, mm: MmId, vpn: usize) -> bool {
        let a = acc(&[Access::write(self.objs.ptl(mm, vpn))]);
        let t = vpn / PTRS_PER_PTE;
        self.ctx
            .step(Op::new("spin_trylock(ptl)", a), move |e| {
                let tid = e.tid;
                let m = &mut e.world.mms[mm];
                if m.ptl_holder(t).is_some() {
                    let name = m.name.clone();
                    e.note(|| format!("{name} PTE lock contended: trylock fails"));
                    return false;
                }
                m.ptl_held.push((t, tid));
                let name = m.name.clone();
                e.note(|| format!("{name} PTE lock taken"));
                true
            })
            .await
    }

    /// `mmap_read_unlock`.
    pub async fn mmap_read_unlock(&self, mm: MmId) {
        let a = acc(&[Access::add(self.objs.mmap(mm))]);
        self.ctx
            .step(Op::new("mmap_read_unlock", a), move |e| {
                e.world.mms[mm].mmap_readers -= 1;
            })
            .await
    }
}

pub fn describe_pte(p: &Pte) -> String {
    match p.swp {
        Some(crate::world::Swp::Migration { page, write }) => {
            return format!(
                "pte: {} migration entry for P{page}",
                if write { "writable" } else { "readable" }
            );
        }
        Some(crate::world::Swp::Swap { slot }) => {
            return format!("pte: swap entry for slot {slot}");
        }
        None => {}
    }
    match p.page {
        Some(pg) if p.present => format!(
            "pte -> P{pg}{}{}",
            if p.invalid { " invalid" } else { "" },
            if p.write { " writable" } else { " read-only" }
        ),
        _ => "pte none".into(),
    }
}

/// The page's refcount reached zero through a put: it is freed. Freeing a page that is
/// still mapped or cached is itself a use-after-free in the making.
pub fn free_page(e: &mut Env, p: PageId, by: &str) {
    let p = e.world.folio(p);
    let nr = e.world.folio_nr_pages(p);
    let pg = &e.world.pages[p];
    let mapcount = e.world.folio_mapcount(p);
    if mapcount > 0 || pg.mapping.is_some() {
        let (m, c) = (mapcount, pg.mapping.is_some());
        report(
            e,
            prop::USE_AFTER_FREE,
            format!(
                "{by} freed P{p} while it is still {}",
                match (m > 0, c) {
                    (true, true) => format!("mapped ({m} PTEs) and in the page cache"),
                    (true, false) => format!("mapped ({m} PTEs)"),
                    _ => "in the page cache".to_string(),
                }
            ),
        );
    }
    // A large folio goes back to the allocator as free order-0 frames (the model's
    // allocator hands out order-0 pages only).
    for q in p..p + nr {
        let pg = &mut e.world.pages[q];
        pg.free = true;
        pg.head = None;
        pg.order = 0;
    }
    e.note(|| format!("P{p} freed"));
}

/// A host write (a device's DMA, a CPU store) of `data` into page `p`. A frame the guest
/// shared with the host and the UV has pinned shared (`uv_pin_shared`) is one the guest
/// handed over for exactly this (virtio rings and buffers): what it expects to read there
/// becomes `data` (the definition of `guest-integrity`). A write to any other page is not
/// something the guest asked for.
pub fn host_store(e: &mut Env, p: PageId, data: [u8; crate::world::PAGE_BYTES]) {
    e.world.pages[p].data = data;
    if let UvState::SharedPinned { gfn, .. } = e.world.uv[p].state {
        if let Some(g) = e.world.guest.iter_mut().find(|g| g.gfn == gfn && g.shared) {
            g.written = Some(data);
        }
    }
}

/// I2: a secure page carries PG_arch_1.
pub fn check_arch1(e: &mut Env, p: PageId) {
    if matches!(e.world.uv[p].state, UvState::Secure { .. }) && !e.world.pages[p].arch1 {
        report(
            e,
            prop::ARCH1,
            format!("P{p} is secure but PG_arch_1 is clear: the hook's fast path will skip it"),
        );
    }
}

/// Confidentiality: the host never reads a guest page's plaintext. A frame that holds an
/// exported guest page (the UV keeps its seal) must hold ciphertext, never what the guest
/// wrote there. (Guest writes to that frame go through the same `Uv` object, so the check
/// reads only what the step declares.)
pub fn check_host_read(e: &mut Env, p: PageId, what: &str) {
    let data = e.world.pages[p].data;
    let Some(s) = e.world.uv[p].sealed.as_ref() else {
        return;
    };
    let gfn = s.gfn;
    if let Some(g) = e.world.guest.iter().find(|g| g.gfn == gfn && !g.shared) {
        if g.written == Some(data) && data != [0; crate::world::PAGE_BYTES] {
            report(
                e,
                prop::CONFIDENTIALITY,
                format!("{what}: the host read guest frame {gfn}'s plaintext from P{p}"),
            );
        }
    }
}
