//! The kernel-realistic cases for loom: D1 second mapping with a second GUP
//! (`bench/scenarios/d1-second-mapping-3t.toml`) and D3 sendfile with a second vCPU
//! (`bench/scenarios/d3-sendfile-3t.toml`), step for step as pvmm's kernel model runs them
//! (`crates/kernel/src`; the table is in bench/README.md). The same cases for SPIN are
//! `bench/spin/d1-second-mapping.pml` and `bench/spin/d3-sendfile.pml`.
//!
//! ```text
//! loom-kernel d1 v5.7|v5.15 [--debug-vm] [--two-threads]
//! loom-kernel d3 v5.7|v5.7+splice-patch [--debug-vm] [--two-threads|--four-threads]
//! ```
//!
//! `--debug-vm`: the switch debug_vm=true (VM_BUG_ON live). `--two-threads`: without the
//! third thread (mm2-gup2, vcpu2), i.e. `scenarios/d1-second-mapping-foll-get.toml` and
//! `scenarios/d3-sendfile.toml`: a smaller cross-check that loom can finish. `--four-threads`
//! (D3 only): with a third vCPU, vcpu3 storing 0x77 (`bench/scenarios/d3-sendfile-4t.toml`).
//!
//! One loom operation per pvmm step (`Ctx::step`). The guest page's state (refcount, holders,
//! flags, the Ultravisor's view, the content) is one value behind a loom `Mutex`: a step is
//! one acquisition (loom 0.7 implements `fetch_update` on an atomic as a load plus a
//! compare-exchange loop — two or more scheduling points — so a conditional update of an
//! atomic would not be one operation). A step's release is not a scheduling point in loom.
//! PTE locks are loom `Mutex`es (the unlock, a guard drop, is no scheduling point); objects
//! nobody writes here (PTEs, the page-cache slot) are loom atomics that steps load; mmap-lock
//! reader counts are loom atomics (`fetch_add` / `fetch_sub`). A blocking step (`lock_page`,
//! the retry waits) takes the page lock, and when its guard is false releases it and calls
//! `yield_now` before trying again (loom's idiom for a wait; each try is one operation). A
//! step without accesses (pvmm's `observe`, `retry-bound`) loads a thread-private atomic.
//! SeqCst everywhere; shared state behind a plain `std::sync::Arc`.
//!
//! Findings are recorded and the execution goes on (pvmm's findings are not fatal unless
//! they say so: `retry-bound` ends its thread here and switches the end-of-execution checks
//! off); every property met in any execution is reported. Prints one JSON line, and progress
//! (executions, properties so far) to stderr every second.

use loom::sync::atomic::AtomicUsize;
use loom::sync::{Mutex, MutexGuard};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool as StdBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

/// `MAX_RETRIES` (crates/kernel/src/gup.rs).
const MAXR: usize = 8;
/// A present, valid, writable PTE mapping P0 (the only PTE value in these scenarios).
const P0_RW: usize = 1;
const EBUSY: i32 = -16;
const EAGAIN: i32 = -11;

static EXECUTIONS: AtomicU64 = AtomicU64::new(0);
static FOUND: std::sync::Mutex<BTreeSet<&'static str>> = std::sync::Mutex::new(BTreeSet::new());

fn report(property: &'static str) {
    FOUND.lock().unwrap().insert(property);
}

/// Page P0 (crates/kernel/src/world.rs: `Page`, `UvFrame`), as far as these scenarios change
/// it. mapcount, mapping, uptodate and PG_writeback never change here.
#[derive(Clone, Copy, Debug, Default)]
struct Page {
    refcount: i32,
    /// References held beyond mappings and the cache slot.
    extra: i32,
    freed: bool,
    /// PG_locked: 0 or the holder's id.
    locked: u8,
    arch1: bool,
    /// UV state Secure { guest 0, gfn 0 } (else NonSecure).
    secure: bool,
    /// The UV keeps an exported image of gfn 0.
    sealed: bool,
    /// The frame holds ciphertext.
    enc: bool,
    /// The frame's plaintext (0: zeroes).
    pdata: u8,
    /// What the guest last stored to gfn 0 (0: nothing).
    written: u8,
    /// d3: another thread wrote the refcount since the sendfile thread's retry loop took its
    /// baseline (pvmm: `Guard::Changed`).
    rcw_sf: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    D1,
    D3,
}

struct K {
    case: Case,
    /// expected_page_refs(P0): mapcount + the page-cache slot.
    e: i32,
    add_unless_zero: bool,
    splice_hook: bool,
    debug_vm: bool,
    page: Mutex<Page>,
    pte_qemu: AtomicUsize,
    pte_mm2: AtomicUsize,
    slot: AtomicUsize,
    /// The per-CPU LRU batch (always empty here).
    lru: Mutex<usize>,
    mmap_qemu: AtomicUsize,
    mmap_mm2: AtomicUsize,
    ptl_qemu: Mutex<()>,
    ptl_mm2: Mutex<()>,
    /// Pipe buffers (each holds a reference on P0).
    pipe: Mutex<usize>,
    /// Thread-private atomics for steps without accesses.
    nop: [AtomicUsize; 4],
    /// A fatal finding ended the execution (not a model object: read after the joins).
    stopped: StdBool,
}

fn uaf(p: &Page) {
    if p.freed {
        report("use-after-free");
    }
}

fn arch1_check(p: &Page) {
    if p.secure && !p.arch1 {
        report("arch1-hint");
    }
}

impl K {
    /// One step on the page: one acquisition of its lock.
    fn step<R>(&self, f: impl FnOnce(&mut Page) -> R) -> R {
        let mut g = self.page.lock().unwrap();
        f(&mut g)
    }

    /// A blocking step: enabled while `guard` holds.
    fn guarded<R>(&self, guard: impl Fn(&Page) -> bool, f: impl FnOnce(&mut Page) -> R) -> R {
        loop {
            let mut g = self.page.lock().unwrap();
            if guard(&g) {
                return f(&mut g);
            }
            drop(g);
            loom::thread::yield_now();
        }
    }

    fn nop(&self, me: usize) {
        self.nop[me].load(SeqCst);
    }

    /// A fatal finding (pvmm: `report_fatal`): this thread stops, nothing is checked at the end.
    fn retry_bound(&self, me: usize) {
        self.nop(me);
        report("retry-bound");
        self.stopped.store(true, SeqCst);
    }

    /// The vCPU's refcount writes wake the sendfile thread's parked retry (d3).
    fn ref_written(&self, p: &mut Page) {
        if self.case == Case::D3 {
            p.rcw_sf = true;
        }
    }

    /// put_page (prim.rs: put_refs_of).
    fn put(&self) {
        let debug_vm = self.debug_vm;
        self.step(|p| {
            if p.freed {
                report("use-after-free");
                return;
            }
            let before = p.refcount;
            p.refcount -= 1;
            p.extra -= 1;
            if before <= 0 {
                if debug_vm {
                    report("bug");
                }
            } else if p.refcount == 0 {
                // freed while still mapped and cached
                p.freed = true;
                report("use-after-free");
            }
        })
    }

    /// get_page: a plain increment.
    fn get(&self) {
        self.step(|p| {
            uaf(p);
            p.refcount += 1;
            p.extra += 1;
        })
    }

    /// guest.rs: guest_access(gfn 0, store `val`).
    fn vcpu(&self, me: usize, val: u8) {
        for _ in 0..MAXR {
            assert_eq!(self.pte_qemu.load(SeqCst), P0_RW); // dat: host pte
            let done = self.step(|p| {
                // guest store
                uaf(p);
                if p.secure {
                    p.pdata = val;
                    p.written = val;
                    true
                } else {
                    false
                }
            });
            if done {
                return;
            }
            if self.import_v57(me) != 0 {
                // retry (until importable)
                let e = self.e;
                self.guarded(|p| p.freed || (p.refcount == e && p.locked == 0), |_| ());
            }
        }
        self.retry_bound(me);
    }

    /// import.rs: gmap_make_secure → import_v57 → make_secure_pte → secure_core; after_import.
    fn import_v57(&self, me: usize) -> i32 {
        let mut drained = false;
        let e = self.e;
        loop {
            self.mmap_qemu.fetch_add(1, SeqCst); // mmap_read_lock
            {
                let _ptl = self.ptl_qemu.lock().unwrap(); // follow_page: spin_lock(ptl)
                assert_eq!(self.pte_qemu.load(SeqCst), P0_RW); // follow_page: ptep_get
            } // follow_page: spin_unlock(ptl)
            self.guarded(
                |p| p.locked == 0,
                |p| {
                    // lock_page
                    uaf(p);
                    p.locked = me as u8 + 1;
                },
            );
            let ptl: MutexGuard<'_, ()> = self.ptl_qemu.lock().unwrap(); // spin_lock(ptl)
            assert_eq!(self.pte_qemu.load(SeqCst), P0_RW); // make_secure_pte: ptep_get
            self.step(|p| uaf(p)); // PageWriteback (never set)
            self.step(|p| uaf(p)); // expected_page_refs (= e)
            let frozen = self.step(|p| {
                // page_ref_freeze(P0, e)
                uaf(p);
                let ok = p.refcount == e;
                if ok {
                    p.refcount = 0;
                }
                self.ref_written(p);
                ok
            });
            let rc = if frozen {
                self.step(|p| {
                    // set_bit(PG_arch_1)
                    uaf(p);
                    p.arch1 = true;
                    arch1_check(p);
                });
                self.step(|p| {
                    // uv_call(convert-to-secure)
                    uaf(p);
                    if !p.secure {
                        if p.sealed {
                            p.enc = false; // decrypt; the integrity check passes
                            p.sealed = false;
                        } else {
                            p.pdata = 0; // a fresh import is zeroed
                            p.enc = false;
                        }
                    }
                    p.secure = true;
                    if p.extra > 0 {
                        report("lock-out"); // the vCPU holds no reference itself
                    }
                    arch1_check(p);
                });
                let debug_vm = self.debug_vm;
                self.step(|p| {
                    // page_ref_unfreeze(P0, e)
                    uaf(p);
                    if debug_vm && p.refcount != 0 {
                        report("bug");
                    }
                    p.refcount = e;
                    self.ref_written(p);
                });
                0
            } else {
                EBUSY
            };
            drop(ptl); // spin_unlock(ptl)
            self.step(|p| {
                // unlock_page
                uaf(p);
                p.locked = 0;
            });
            self.mmap_qemu.fetch_sub(1, SeqCst); // mmap_read_unlock
            if rc == 0 {
                return 0;
            }
            // -EBUSY: lru_add_drain and again; then lru_add_drain_all and -EAGAIN
            {
                let mut lru = self.lru.lock().unwrap(); // pagevec_lru_move
                assert_eq!(*lru, 0);
                *lru = 0;
            }
            if !drained {
                drained = true;
                continue;
            }
            return EAGAIN;
        }
    }

    /// gup.rs: get_user_pages(mm2, 0, FOLL_GET) → follow_page_pte → try_grab_page; then put.
    fn gup(&self, me: usize) {
        self.mmap_mm2.fetch_add(1, SeqCst); // mmap_read_lock
        let ptl = self.ptl_mm2.lock().unwrap(); // follow_page_pte: spin_lock(ptl)
        assert_eq!(self.pte_mm2.load(SeqCst), P0_RW); // ptep_get
        let ok = if self.add_unless_zero {
            self.step(|p| {
                // try_grab_compound_head: page_ref_add_unless
                if p.refcount != 0 {
                    p.refcount += 1;
                    p.extra += 1;
                    true
                } else {
                    false
                }
            })
        } else {
            let ok = self.step(|p| {
                // try_get_page: page_ref_count
                if p.refcount <= 0 {
                    report("warn");
                    false
                } else {
                    true
                }
            });
            if ok {
                self.get(); // try_get_page: page_ref_inc
            }
            ok
        };
        drop(ptl); // spin_unlock(ptl)
        self.mmap_mm2.fetch_sub(1, SeqCst); // mmap_read_unlock
        if ok {
            self.put(); // put_page
        } else {
            self.nop(me); // observe: gup-enomem (no put)
        }
    }

    /// splice.rs: sendfile → splice_read (find_get_page, copy_page_to_iter_pipe, put_page) →
    /// splice_to_socket (confirm, tcp_sendpage, pipe_buf_release, NIC DMA, skb free).
    fn sendfile(&self, me: usize) {
        let mut got = false;
        for round in 0..MAXR {
            assert_eq!(self.slot.load(SeqCst), 1); // xas_load
            let ok = self.step(|p| {
                // page_cache_get_speculative: page_ref_add_unless (the retry loop's baseline)
                p.rcw_sf = false;
                if p.refcount != 0 {
                    p.refcount += 1;
                    p.extra += 1;
                    true
                } else {
                    false
                }
            });
            if ok {
                assert_eq!(self.slot.load(SeqCst), 1); // xas_reload: same page
                got = true;
                break;
            }
            if round > 0 {
                // retry (parked until another thread wrote the refcount)
                self.guarded(|p| p.rcw_sf, |p| p.rcw_sf = false);
            }
        }
        if !got {
            self.retry_bound(me);
            return;
        }
        self.get(); // copy_page_to_iter_pipe: get_page
        *self.pipe.lock().unwrap() += 1; // pipe_buf_push
        self.put(); // put_page (the lookup's)
        loop {
            let popped = {
                let mut n = self.pipe.lock().unwrap(); // pipe_buf_pop
                if *n > 0 {
                    *n -= 1;
                    true
                } else {
                    false
                }
            };
            if !popped {
                return;
            }
            if self.splice_hook {
                // page_cache_pipe_buf_confirm → arch_make_page_accessible
                let set = self.step(|p| {
                    // test_bit(PG_arch_1)
                    uaf(p);
                    p.arch1
                });
                if set {
                    self.step(|p| uaf(p)); // uv_pin_shared: refused (not shared)
                    self.step(|p| {
                        // uv_convert_from_secure
                        uaf(p);
                        if p.secure {
                            p.secure = false;
                            p.enc = true;
                            p.sealed = true;
                        }
                    });
                    self.step(|p| {
                        // clear_bit(PG_arch_1)
                        uaf(p);
                        p.arch1 = false;
                        arch1_check(p);
                    });
                }
            }
            self.step(|p| uaf(p)); // PageUptodate
            self.get(); // tcp_sendpage: get_page
            self.put(); // pipe_buf_release: put_page
            self.step(|p| {
                // NIC: dma_read
                if p.freed {
                    report("use-after-free");
                } else if p.secure {
                    report("io-on-secure-page");
                } else if p.sealed && !p.enc && p.pdata == p.written && p.written != 0 {
                    report("confidentiality");
                }
            });
            self.put(); // skb free: put_page
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: loom-kernel d1 v5.7|v5.15 [--debug-vm] [--two-threads] | loom-kernel d3 v5.7|v5.7+splice-patch [--debug-vm] [--two-threads|--four-threads]";
    let (case, preset) = match (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
    ) {
        (Some("d1"), Some(p @ ("v5.7" | "v5.15"))) => (Case::D1, p.to_string()),
        (Some("d3"), Some(p @ ("v5.7" | "v5.7+splice-patch"))) => (Case::D3, p.to_string()),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let debug_vm = args.iter().any(|a| a == "--debug-vm");
    let (two, four) = (
        args.iter().any(|a| a == "--two-threads"),
        args.iter().any(|a| a == "--four-threads"),
    );
    let threads = match (two, four) {
        (true, true) => {
            eprintln!("--two-threads and --four-threads exclude each other\n{usage}");
            std::process::exit(2);
        }
        (_, true) if case == Case::D1 => {
            eprintln!("--four-threads is for d3 only\n{usage}");
            std::process::exit(2);
        }
        (true, _) => 2,
        (_, true) => 4,
        _ => 3,
    };
    let name = match (case, threads) {
        (Case::D1, 3) => format!("d1-second-mapping-3t [{preset}]"),
        (Case::D1, _) => format!("d1-second-mapping-foll-get [{preset}]"),
        (Case::D3, 3) => format!("d3-sendfile-3t [{preset}]"),
        (Case::D3, 4) => format!("d3-sendfile-4t [{preset}]"),
        (Case::D3, _) => format!("d3-sendfile [{preset}]"),
    };
    let start = Instant::now();
    let last = std::sync::Mutex::new(Instant::now());
    // A panic in a model thread is how loom reports a failing execution (deadlock, …).
    std::panic::set_hook(Box::new(|_| {}));
    let p2 = preset.clone();
    let result = std::panic::catch_unwind(move || {
        let mut b = loom::model::Builder::new();
        b.max_branches = 1_000_000;
        b.preemption_bound = None;
        b.check(move || {
            let n = EXECUTIONS.fetch_add(1, SeqCst) + 1;
            {
                let mut l = last.lock().unwrap();
                if l.elapsed().as_secs_f64() >= 1.0 {
                    *l = Instant::now();
                    let found: Vec<_> = FOUND.lock().unwrap().iter().copied().collect();
                    eprintln!(
                        "progress executions={n} secs={:.1} properties={}",
                        start.elapsed().as_secs_f64(),
                        found.join(",")
                    );
                }
            }
            let e = if case == Case::D1 { 3 } else { 2 };
            let k = Arc::new(K {
                case,
                e,
                add_unless_zero: p2 == "v5.15",
                splice_hook: p2 == "v5.7+splice-patch",
                debug_vm,
                page: Mutex::new(Page {
                    refcount: e,
                    ..Page::default()
                }),
                pte_qemu: AtomicUsize::new(P0_RW),
                pte_mm2: AtomicUsize::new(P0_RW),
                slot: AtomicUsize::new(1),
                lru: Mutex::new(0),
                mmap_qemu: AtomicUsize::new(0),
                mmap_mm2: AtomicUsize::new(0),
                ptl_qemu: Mutex::new(()),
                ptl_mm2: Mutex::new(()),
                pipe: Mutex::new(0),
                nop: [
                    AtomicUsize::new(0),
                    AtomicUsize::new(0),
                    AtomicUsize::new(0),
                    AtomicUsize::new(0),
                ],
                stopped: StdBool::new(false),
            });
            // pvmm thread T0 (a vCPU) runs on loom's main thread; T1 (and T2, T3) are spawned.
            let hs: Vec<_> = (1..threads)
                .map(|t| {
                    let k = k.clone();
                    loom::thread::spawn(move || match k.case {
                        Case::D1 => k.gup(t),
                        Case::D3 if t == 1 => k.sendfile(t),
                        Case::D3 if t == 2 => k.vcpu(t, 0x33),
                        Case::D3 => k.vcpu(t, 0x77),
                    })
                })
                .collect();
            k.vcpu(0, 0x5a);
            for h in hs {
                h.join().unwrap();
            }
            if !k.stopped.load(SeqCst) {
                // lib.rs: at_end, reference balance
                let p = *k.page.lock().unwrap();
                if !p.freed && p.refcount != e + p.extra {
                    report("reference-balance");
                }
            }
        });
    });
    let secs = start.elapsed().as_secs_f64();
    let mut props: Vec<String> = FOUND
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let exhaustive = result.is_ok();
    if let Err(e) = &result {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        props.push(if msg.contains("deadlock") {
            "deadlock".into()
        } else if msg.contains("branches") {
            "livelock (loom: too many branches)".into()
        } else {
            format!("panic: {msg}")
        });
    }
    let verdict = if !props.is_empty() {
        "violation"
    } else {
        "verified"
    };
    println!(
        "{{\"tool\":\"loom\",\"case\":\"{name}\",\"verdict\":\"{verdict}\",\"exhaustive\":{exhaustive},\"executions\":{},\"secs\":{secs},\"properties\":{}}}",
        EXECUTIONS.load(SeqCst),
        serde_like(&props)
    );
}

fn serde_like(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| format!("\"{}\"", s.replace('"', "'")))
        .collect();
    format!("[{}]", items.join(","))
}
