//! F(n, k) for loom: one importer (the model's main thread) and n − 1 I/O threads, the same
//! operations as `bench/family` and `bench/spin/family.pml`. SeqCst everywhere; the page is
//! reached through a plain `std::sync::Arc`, so that loom schedules only the protocol's own
//! operations. Prints one JSON line; while running, prints progress to stderr every second so
//! that a run stopped by the time limit still says how far it got.
//!
//! One loom operation per pvmm step: the refcount is a loom `Mutex<usize>`, each step on it
//! one acquisition (its release is no scheduling point in loom). An atomic would not do:
//! loom 0.7 implements `fetch_update` (try-get's add-unless-frozen) as a load followed by a
//! compare-exchange loop, two or more scheduling points for one pvmm step.
//!
//! ```text
//! loom-family N K [--bug]
//! ```

use loom::sync::atomic::AtomicBool;
use loom::sync::Mutex;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool as StdBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

const EXPECTED: usize = 1;

struct Page {
    pte_lock: Mutex<()>,
    refcount: Mutex<usize>,
    secure: AtomicBool,
}

static EXECUTIONS: AtomicU64 = AtomicU64::new(0);
static VIOLATION: StdBool = StdBool::new(false);

fn importer(p: &Page) {
    let _g = p.pte_lock.lock().unwrap();
    // page_ref_freeze
    let frozen = {
        let mut rc = p.refcount.lock().unwrap();
        let ok = *rc == EXPECTED;
        if ok {
            *rc = 0;
        }
        ok
    };
    if frozen {
        p.secure.store(true, SeqCst); // make secure
        *p.refcount.lock().unwrap() = EXPECTED; // page_ref_unfreeze
    }
    // unlock at drop
}

fn io_thread(p: &Page, k: usize, bug: bool) {
    for _ in 0..k {
        if !bug {
            // try_get_page: add-unless-frozen; after a failure spin until unfrozen, retry.
            loop {
                {
                    let mut rc = p.refcount.lock().unwrap();
                    if *rc != 0 {
                        *rc += 1;
                        break;
                    }
                }
                // wait-unfrozen: one read per try, yielding in between
                while *p.refcount.lock().unwrap() == 0 {
                    loom::thread::yield_now();
                }
            }
        }
        // arch_make_page_accessible: export a secure page
        p.secure.swap(false, SeqCst);
        // the I/O
        if p.secure.load(SeqCst) {
            VIOLATION.store(true, SeqCst);
            panic!("io-on-secure-page: I/O on a secure page");
        }
        if !bug {
            *p.refcount.lock().unwrap() -= 1; // put_page
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args[0].parse().expect("N");
    let k: usize = args[1].parse().expect("K");
    let bug = args.iter().any(|a| a == "--bug");
    assert!(
        n <= loom::MAX_THREADS,
        "loom runs at most {} threads",
        loom::MAX_THREADS
    );
    let case = format!("F({n},{k}){}", if bug { "-bug" } else { "" });
    let start = Instant::now();
    let last = std::sync::Mutex::new(Instant::now());
    // A panic in a model thread is how loom reports a failing interleaving.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| {
        let mut b = loom::model::Builder::new();
        b.max_branches = 1_000_000;
        b.preemption_bound = None;
        b.check(move || {
            let e = EXECUTIONS.fetch_add(1, SeqCst) + 1;
            {
                let mut l = last.lock().unwrap();
                if l.elapsed().as_secs_f64() >= 1.0 {
                    *l = Instant::now();
                    eprintln!(
                        "progress executions={e} secs={:.1}",
                        start.elapsed().as_secs_f64()
                    );
                }
            }
            let page = Arc::new(Page {
                pte_lock: Mutex::new(()),
                refcount: Mutex::new(EXPECTED),
                secure: AtomicBool::new(false),
            });
            let hs: Vec<_> = (1..n)
                .map(|_| {
                    let p = page.clone();
                    loom::thread::spawn(move || io_thread(&p, k, bug))
                })
                .collect();
            importer(&page);
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(
                *page.refcount.lock().unwrap(),
                EXPECTED,
                "reference-balance"
            );
        });
    });
    let secs = start.elapsed().as_secs_f64();
    let violation = result.is_err();
    let props = if VIOLATION.load(SeqCst) {
        "[\"io-on-secure-page\"]"
    } else if violation {
        "[\"panic\"]"
    } else {
        "[]"
    };
    println!(
        "{{\"tool\":\"loom\",\"case\":\"{case}\",\"verdict\":\"{}\",\"exhaustive\":{},\"executions\":{},\"secs\":{secs},\"properties\":{props}}}",
        if violation { "violation" } else { "verified" },
        !violation,
        EXECUTIONS.load(SeqCst),
    );
}
