//! GUP over several pages and the I/O paths built on it, against the kernel code they cite
//! (mm/gup.c of 6.1.192 and 6.12.118, the callers in block/, net/, fs/splice.c, io_uring/,
//! drivers/dma-buf/udmabuf.c, arch/s390/kvm/): a thread stepped alone where one path's effect
//! is the point, DPOR (exhaustive within a bound) where an interleaving is. Built with the
//! kernel crate's own [`Builder`]; each assertion is something the model could get wrong.

use explore::runtime::StepRecord;
use explore::{explore, Bounds, Execution, Model, Options, Outcome, Severity};
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::uv::UvState;
use kernel::vocab::ops::{GupFlags, OpCall, ThreadOp};
use kernel::vocab::presets::resolve;
use kernel::world::{GUP_PIN_COUNTING_BIAS, PTRS_PER_PTE};
use kernel::{Kernel, KernelModel, World};

const QEMU: usize = 0;
const MM2: usize = 1;
const FILE: usize = 0;
const PIPE: usize = 0;
/// The last page of the first page table and the first page of the second: a request over
/// both crosses a PMD range.
const A: usize = PTRS_PER_PTE - 1;
const B: usize = PTRS_PER_PTE;
/// The page frames of the file's pages 0 and 1 (cached file pages come first).
const P0: usize = 0;
const P1: usize = 1;

/// How the guest frames start.
#[derive(Copy, Clone)]
struct Frames {
    /// gfn 0 (vpn A) is secure (already imported).
    secure0: bool,
    /// The guest shared both frames.
    shared: bool,
}

/// A file of two pages mapped MAP_SHARED at vpns A and B of QEMU's protected mm (and of a
/// second mm), guest frames 0 and 1 on them, one pipe. `memfd`: the file is a memfd.
fn pair(f: Frames, memfd: bool) -> Builder {
    let mut b = Builder::new();
    let file = if memfd {
        b.memfd("guest.img", 2)
    } else {
        b.file("guest.img", 2)
    }
    .expect("file");
    let qemu = b.mm("qemu", true, None).expect("mm");
    let mm2 = b.mm("mm2", false, None).expect("mm");
    for mm in [qemu, mm2] {
        for (index, vpn) in [A, B].into_iter().enumerate() {
            b.map(MapSpec {
                mm,
                vpn,
                backing: Backing::File { file, index },
                shared: true,
                writable: true,
                present: true,
                pte_write: true,
            })
            .expect("map");
        }
    }
    for (gfn, vpn) in [A, B].into_iter().enumerate() {
        let secure = gfn == 0 && f.secure0;
        b.guest(GuestSpec {
            gfn,
            mm: qemu,
            vpn,
            secure,
            shared: f.shared,
            data: secure.then_some(0x11),
            image: false,
        })
        .expect("guest");
    }
    b.pipe("p").expect("pipe");
    b
}

/// Two anonymous pages of guest RAM at vpns A and B of QEMU's mm.
fn anon_pair(secure0: bool) -> Builder {
    let mut b = Builder::new();
    let qemu = b.mm("qemu", true, None).expect("mm");
    for vpn in [A, B] {
        b.map(MapSpec {
            mm: qemu,
            vpn,
            backing: Backing::Anon,
            shared: false,
            writable: true,
            present: true,
            pte_write: true,
        })
        .expect("map");
    }
    for (gfn, vpn) in [A, B].into_iter().enumerate() {
        let secure = gfn == 0 && secure0;
        b.guest(GuestSpec {
            gfn,
            mm: qemu,
            vpn,
            secure,
            shared: true,
            data: secure.then_some(0x11),
            image: false,
        })
        .expect("guest");
    }
    b
}

const PLAIN: Frames = Frames {
    secure0: false,
    shared: false,
};
const SECURE: Frames = Frames {
    secure0: true,
    shared: false,
};

fn ops(v: Vec<ThreadOp>) -> Vec<OpCall> {
    v.into_iter().map(OpCall::from).collect()
}

fn gup(mm: usize, vpn: usize, nr_pages: usize, flags: u32, fast: bool) -> ThreadOp {
    ThreadOp::Gup {
        mm,
        vpn,
        flags: GupFlags(flags),
        fast,
        write: false,
        nr_pages,
    }
}

fn kernel(name: &str) -> Kernel {
    resolve(name).unwrap_or_else(|e| panic!("{e}"))
}

fn with(name: &str, sets: &[(&str, &str)]) -> Kernel {
    let mut k = kernel(name);
    for (s, v) in sets {
        k.set(s, v).expect("switch");
    }
    k
}

fn model(mut b: Builder, threads: Vec<(&str, Vec<OpCall>)>, k: Kernel) -> KernelModel {
    for (name, ops) in threads {
        b.thread(name, ops).expect("thread builds");
    }
    b.model(k)
}

/// Steps thread `tid` alone until it finishes, blocks or ends the execution.
fn run_alone(m: &KernelModel, tid: usize) -> (Vec<StepRecord>, World, bool) {
    let mut ex = Execution::start(m.instance(), true);
    let mut steps = Vec::new();
    for _ in 0..2_000 {
        if ex.finished(tid) || !ex.enabled(tid) {
            break;
        }
        let r = ex.step(tid);
        let fatal = r.findings.iter().any(|f| f.fatal);
        steps.push(r);
        if fatal {
            break;
        }
    }
    let finished = ex.finished(tid);
    (steps, ex.with_world(|w| w.clone()), finished)
}

/// Every interleaving (DPOR), exhaustive within 50,000 executions.
fn explore_all(m: &KernelModel) -> Outcome {
    let o = explore(
        m,
        Options {
            bounds: Bounds {
                max_executions: Some(50_000),
                ..Bounds::default()
            },
            ..Options::default()
        },
    );
    assert!(o.exhaustive(), "bounded: {:?}", o.stopped_by);
    o
}

fn violated(o: &Outcome) -> Vec<&'static str> {
    o.violations().map(|r| r.property).collect()
}

fn observed(o: &Outcome) -> Vec<&'static str> {
    o.reports
        .iter()
        .filter(|r| r.severity == Severity::Observation)
        .map(|r| r.property)
        .collect()
}

fn findings(steps: &[StepRecord]) -> Vec<&'static str> {
    steps
        .iter()
        .flat_map(|s| s.findings.iter().map(|f| f.property))
        .collect()
}

/// The note of the step that checked the GUP contract (the call's return and `pages[]`).
fn returns(steps: &[StepRecord]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.name == "gup returns")
        .map(|s| s.note.clone())
        .collect()
}

fn count(steps: &[StepRecord], name: &str, frame: &str) -> usize {
    steps
        .iter()
        .filter(|s| s.name == name && (frame.is_empty() || s.frames.contains(&frame)))
        .count()
}

/// `internal_get_user_pages_fast` → `lockless_pages_from_mm` → `gup_pmd_range` (mm/gup.c,
/// 6.1.192): one `gup_pte_range` per page table, pages recorded in order; each FOLL_PIN page
/// gets its pin (+1024) and its hook, FOLL_GET pages a reference and no hook; the slow path
/// is the same per page (`__get_user_pages`), under each page table's own PTE lock.
#[test]
fn a_request_over_two_page_tables_records_both_pages_in_order() {
    for (flags, fast, refs) in [
        (GupFlags::FOLL_PIN, true, GUP_PIN_COUNTING_BIAS),
        (GupFlags::FOLL_GET, true, 1),
        (GupFlags::FOLL_PIN, false, GUP_PIN_COUNTING_BIAS),
        (GupFlags::FOLL_GET, false, 1),
    ] {
        for name in ["v5.7", "v6.1", "v6.12"] {
            let m = model(
                pair(PLAIN, false),
                vec![("gup", ops(vec![gup(QEMU, A, 2, flags, fast)]))],
                kernel(name),
            );
            let before = [m.world.pages[P0].refcount, m.world.pages[P1].refcount];
            let (steps, w, done) = run_alone(&m, 0);
            assert!(done, "{name}");
            assert_eq!(findings(&steps), Vec::<&str>::new(), "{name}");
            assert_eq!(
                returns(&steps),
                vec![format!(
                    "returns 2 for 2 pages from vpn {A}: [P0@{A}, P1@{B}]"
                )],
                "{name} {flags} fast={fast}"
            );
            for (p, b) in [(P0, before[0]), (P1, before[1])] {
                assert_eq!(w.pages[p].refcount - b, refs, "{name} P{p}");
            }
            let pin = flags == GupFlags::FOLL_PIN;
            assert_eq!(
                count(&steps, "test_bit(PG_arch_1)", "arch_make_page_accessible"),
                if pin { 2 } else { 0 },
                "the hook once per pinned page"
            );
            if fast {
                assert_eq!(count(&steps, "gup_get_pte", "gup_pte_range"), 2);
                assert_eq!(count(&steps, "mmap_read_lock", ""), 0, "no fallback");
            } else {
                assert_eq!(count(&steps, "spin_lock(ptl)", "follow_page_pte"), 2);
            }
        }
    }
}

/// A range that runs into a virtual page without a VMA: the fast walk stops there
/// (`gup_pte_range`: PTE none), the slow path resumes there and finds no VMA (-EFAULT), and
/// `internal_get_user_pages_fast` returns the pages the walk pinned (the error is lost); the
/// slow path alone returns `i` (`__get_user_pages`: `i ?: ret`). The caller (`gup`) holds a
/// batch of exactly those pages.
#[test]
fn a_short_count_when_the_range_runs_out_of_mappings() {
    for fast in [true, false] {
        let m = model(
            pair(PLAIN, false),
            vec![(
                "gup",
                ops(vec![
                    gup(QEMU, A, 3, GupFlags::FOLL_PIN, fast),
                    ThreadOp::Put {},
                ]),
            )],
            kernel("v6.12"),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        assert_eq!(findings(&steps), Vec::<&str>::new());
        assert_eq!(
            returns(&steps),
            vec![format!(
                "returns 2 for 3 pages from vpn {A}: [P0@{A}, P1@{B}]"
            )],
            "fast={fast}"
        );
        assert_eq!(count(&steps, "unpin_user_page", ""), 2, "put of the batch");
        for p in [P0, P1] {
            assert_eq!(w.pages[p].refcount, w.accounted_refs(p));
        }
    }
}

/// `__get_user_pages` (mm/gup.c, 6.1.192): an error stops the loop; it returns the pages done
/// if any (the error is lost, the pages keep their pins), else the error. Here the hook fails
/// on the page at vpn B (secure, not shared, its export failing): a request from A returns 1
/// (P0 pinned, P1's pin dropped by `follow_page_pte`); a request from B returns -EINVAL and
/// holds nothing — the contract holds in both.
#[test]
fn the_slow_loop_returns_the_pages_done_or_the_error() {
    let mut b = Builder::new();
    let file = b.file("guest.img", 2).expect("file");
    let qemu = b.mm("qemu", true, None).expect("mm");
    for (index, vpn) in [A, B].into_iter().enumerate() {
        b.map(MapSpec {
            mm: qemu,
            vpn,
            backing: Backing::File { file, index },
            shared: true,
            writable: true,
            present: true,
            pte_write: true,
        })
        .expect("map");
    }
    b.guest(GuestSpec {
        gfn: 1,
        mm: qemu,
        vpn: B,
        secure: true,
        shared: false,
        data: Some(0x22),
        image: false,
    })
    .expect("guest");
    for (start, want) in [
        (A, format!("returns 1 for 2 pages from vpn {A}: [P0@{A}]")),
        (B, format!("returns -22 for 2 pages from vpn {B}: []")),
    ] {
        let m = model(
            b.clone(),
            vec![(
                "gup",
                ops(vec![
                    ThreadOp::UvExportFails { count: 1 },
                    gup(QEMU, start, 2, GupFlags::FOLL_PIN, false),
                ]),
            )],
            kernel("v6.1"),
        );
        let (steps, w, _) = run_alone(&m, 0);
        assert_eq!(findings(&steps), Vec::<&str>::new(), "from {start}");
        assert_eq!(returns(&steps), vec![want]);
        assert_eq!(
            w.pages[P1].refcount,
            w.accounted_refs(P1),
            "P1's pin was dropped"
        );
        assert!(matches!(w.uv[P1].state, UvState::Secure { .. }));
        let pinned_p0 = start == A;
        assert_eq!(w.held[0].len(), usize::from(pinned_p0));
    }
}

/// The hook error in the fast walk (6.1.192 gup_pte_range / 6.12.118 gup_fast_pte_range, until
/// the 2025-09 fix): the failing page's pin is dropped and the walk goes on in the next page
/// table, so P1 lands in pages[0]; the slow path resumes at start + nr_pinned = B and pins P1
/// again. The call returns 2: P1 holds two pins, P0 none, and the contract's position is
/// broken. With the fix (`gup_fast_hook_fail_stops`) the walk stops at P0, the slow path
/// retries its hook (the export now succeeds) and pages[] is [P0, P1].
#[test]
fn the_fast_walks_hook_error_skips_to_the_next_page_table_until_the_fix() {
    let thread = || {
        ops(vec![
            ThreadOp::UvExportFails { count: 1 },
            gup(QEMU, A, 2, GupFlags::FOLL_PIN, true),
        ])
    };
    for name in ["v5.7", "v6.1", "v6.12", "v6.15"] {
        let m = model(pair(SECURE, false), vec![("gup", thread())], kernel(name));
        let before = m.world.pages[P1].refcount;
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        assert_eq!(findings(&steps), vec!["gup-contract"], "{name}");
        assert_eq!(
            returns(&steps),
            vec![format!(
                "returns 2 for 2 pages from vpn {A}: [P1@{B}, P1@{B}]"
            )]
        );
        assert_eq!(w.pages[P1].refcount - before, 2 * GUP_PIN_COUNTING_BIAS);
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0));
        assert!(matches!(w.uv[P0].state, UvState::Secure { .. }));
        assert_eq!(
            count(&steps, "spin_lock(ptl)", "follow_page_pte"),
            1,
            "{name}: the slow path resumes at B, one page"
        );
    }
    for k in [
        kernel("v7.1"),
        with("v6.12", &[("gup_fast_hook_fail_stops", "true")]),
    ] {
        let m = model(pair(SECURE, false), vec![("gup", thread())], k);
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        assert_eq!(findings(&steps), Vec::<&str>::new());
        assert_eq!(
            returns(&steps),
            vec![format!(
                "returns 2 for 2 pages from vpn {A}: [P0@{A}, P1@{B}]"
            )]
        );
        assert!(matches!(w.uv[P0].state, UvState::NonSecure));
        assert_eq!(count(&steps, "spin_lock(ptl)", "follow_page_pte"), 2);
    }
    // A failure in the last page table of the request ends the walk anyway (§3.5 step 9):
    // the slow path resumes at the failing page, retries the hook, and the contract holds.
    let m = model(
        pair(SECURE, false),
        vec![(
            "gup",
            ops(vec![
                ThreadOp::UvExportFails { count: 1 },
                gup(QEMU, A, 1, GupFlags::FOLL_PIN, true),
            ]),
        )],
        kernel("v6.12"),
    );
    let (steps, _, _) = run_alone(&m, 0);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert_eq!(
        returns(&steps),
        vec![format!("returns 1 for 1 pages from vpn {A}: [P0@{A}]")]
    );
}

/// The fallback resumes where the walk stopped (`internal_get_user_pages_fast`: start +
/// nr_pinned): P1's PTE is not present, so the walk pins P0 and stops; the slow path faults
/// P1 in (`handle_mm_fault` → `filemap_fault`, `finish_fault`) and pins it. Nothing is pinned
/// twice and pages[] is in order.
#[test]
fn the_fallback_resumes_at_start_plus_nr_pinned() {
    let mut b = Builder::new();
    let file = b.file("guest.img", 2).expect("file");
    let qemu = b.mm("qemu", true, None).expect("mm");
    for (index, vpn) in [A, B].into_iter().enumerate() {
        b.map(MapSpec {
            mm: qemu,
            vpn,
            backing: Backing::File { file, index },
            shared: true,
            writable: true,
            present: vpn == A,
            pte_write: true,
        })
        .expect("map");
    }
    let m = model(
        b,
        vec![("gup", ops(vec![gup(QEMU, A, 2, GupFlags::FOLL_PIN, true)]))],
        kernel("v6.12"),
    );
    let (steps, w, done) = run_alone(&m, 0);
    assert!(done);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert_eq!(
        returns(&steps),
        vec![format!(
            "returns 2 for 2 pages from vpn {A}: [P0@{A}, P1@{B}]"
        )]
    );
    assert!(steps
        .iter()
        .any(|s| s.frames.contains(&"handle_mm_fault") && s.frames.contains(&"pin_user_pages")));
    for p in [P0, P1] {
        assert_eq!(w.pages[p].refcount - w.accounted_refs(p), 0);
        assert_eq!(w.pages[p].extra, GUP_PIN_COUNTING_BIAS, "P{p}: one pin");
    }
}

/// The GUP contract is violated when a seeded defect removes a protection it watches, and
/// holds where the kernel is right:
/// * `gup_fast_grab_checked = false` (the walk ignores a failed speculative grab): against
///   the vCPU's import, whose freeze makes the grab fail, the page is returned without a pin;
/// * `hook_on_foll_pin = false`: a secure page is returned pinned but not accessible.
#[test]
fn the_contract_catches_a_dropped_marker_and_a_missing_hook() {
    let vcpu = || {
        ops(vec![ThreadOp::GuestAccess {
            gfn: 0,
            write: Some(0x5a),
        }])
    };
    let pinner = || {
        ops(vec![
            gup(QEMU, A, 2, GupFlags::FOLL_PIN, true),
            ThreadOp::Put {},
        ])
    };
    let right = model(
        pair(PLAIN, false),
        vec![("vcpu", vcpu()), ("gup", pinner())],
        kernel("v6.12"),
    );
    assert_eq!(violated(&explore_all(&right)), Vec::<&str>::new());
    let defect = model(
        pair(PLAIN, false),
        vec![("vcpu", vcpu()), ("gup", pinner())],
        with("v6.12", &[("gup_fast_grab_checked", "false")]),
    );
    let v = violated(&explore_all(&defect));
    assert!(v.contains(&"gup-contract"), "{v:?}");
    let alone = |k: Kernel| {
        let m = model(pair(SECURE, false), vec![("gup", pinner())], k);
        let (steps, _, _) = run_alone(&m, 0);
        findings(&steps)
    };
    assert_eq!(alone(kernel("v6.12")), Vec::<&str>::new());
    assert!(alone(with("v6.12", &[("hook_on_foll_pin", "false")])).contains(&"gup-contract"));
}

/// `io_pin_pages` per release: 6.1.192 pins (the hooks run: the secure page is exported),
/// then refuses a regular file with -EOPNOTSUPP and unpins (observed); 6.12.118's GUP refuses
/// the writable long-term pin of that file mapping in `check_vma_flags`, before any pin or
/// hook (the page stays secure); a memfd is allowed on both; a range that runs out of
/// mappings pins a part, which is unpinned, -EFAULT. Anonymous guest RAM registers.
#[test]
fn io_pin_pages_per_release() {
    let register = |nr_pages| {
        ops(vec![ThreadOp::IoUringRegister {
            mm: QEMU,
            vpn: A,
            nr_pages,
        }])
    };
    let run = |b: Builder, nr: usize, name: &str| {
        let m = model(b, vec![("io_uring", register(nr))], kernel(name));
        run_alone(&m, 0)
    };
    // A regular MAP_SHARED file.
    let (steps, w, _) = run(pair(SECURE, false), 2, "v6.1");
    assert!(matches!(w.uv[P0].state, UvState::NonSecure), "hook ran");
    assert!(w.held[0].is_empty(), "unpinned");
    assert!(findings(&steps).contains(&"gup-refused"));
    assert_eq!(count(&steps, "unpin_user_page", "unpin_user_pages"), 2);
    let (steps, w, _) = run(pair(SECURE, false), 2, "v6.12");
    assert!(matches!(w.uv[P0].state, UvState::Secure { .. }), "no hook");
    assert!(w.held[0].is_empty());
    assert_eq!(count(&steps, "arch_make_page_accessible", ""), 0);
    assert!(findings(&steps).contains(&"gup-refused"));
    // A memfd, and anonymous memory: registered, two pins held.
    for name in ["v6.1", "v6.12"] {
        let (steps, w, done) = run(pair(SECURE, true), 2, name);
        assert!(done && findings(&steps).is_empty(), "{name} memfd");
        assert_eq!(w.held[0].len(), 2);
        let (steps, w, done) = run(anon_pair(true), 2, name);
        assert!(done && findings(&steps).is_empty(), "{name} anon");
        assert_eq!(w.held[0].len(), 2);
        assert!(w.held[0].iter().all(|h| h.pin));
        // Three pages where two are mapped: a partial pin, unpinned, -EFAULT.
        let (steps, w, _) = run(anon_pair(false), 3, name);
        assert!(w.held[0].is_empty(), "{name} partial");
        assert_eq!(count(&steps, "unpin_user_page", "unpin_user_pages"), 2);
    }
    // v6.5 .. v6.9 pin slowly under the mmap lock without io_uring's own check; 6.6.84 has
    // the fast pin as a backport.
    let at = |r: &str| {
        let rel = kernel::vocab::Release::parse(r).expect("release");
        Kernel::at(&rel).expect("resolves").io_uring_pin
    };
    use kernel::config::IoUringPin::*;
    assert_eq!(
        [
            at("v6.4"),
            at("v6.5"),
            at("v6.6.83"),
            at("v6.6.84"),
            at("v6.9"),
            at("v6.10")
        ],
        [SlowVmaCheck, Slow, Slow, Fast, Slow, Fast]
    );
}

/// `udmabuf_create` (drivers/dma-buf/udmabuf.c): 6.1.192 takes a reference per page
/// (`shmem_read_mapping_page`, which locks and unlocks the page), 6.12.118 a FOLL_PIN
/// (`memfd_pin_folios`: batch reference, folio lock, `try_grab_folio`, unlock, batch
/// release) — neither runs the hook, so the device then meets the secure page; a file that
/// is not a memfd fails the create.
#[test]
fn udmabuf_holds_pages_without_the_hook() {
    for (name, extra) in [("v6.1", 1), ("v6.12", GUP_PIN_COUNTING_BIAS)] {
        let m = model(
            pair(SECURE, true),
            vec![(
                "udmabuf",
                ops(vec![
                    ThreadOp::UdmabufCreate {
                        file: FILE,
                        index: 0,
                        nr_pages: 2,
                    },
                    ThreadOp::Dma { to_device: false },
                    ThreadOp::Put {},
                ]),
            )],
            kernel(name),
        );
        let mut ex = Execution::start(m.instance(), true);
        let mut steps = Vec::new();
        while steps
            .iter()
            .all(|s: &StepRecord| !s.name.starts_with("dma"))
        {
            steps.push(ex.step(0));
        }
        ex.with_world(|w| {
            for p in [P0, P1] {
                assert_eq!(w.pages[p].extra, extra, "{name} P{p}");
            }
        });
        assert_eq!(count(&steps, "lock_page", ""), 2, "{name}");
        assert_eq!(count(&steps, "arch_make_page_accessible", ""), 0);
        while !ex.finished(0) {
            steps.push(ex.step(0));
        }
        assert!(findings(&steps).contains(&"io-on-secure-page"), "{name}");
        ex.with_world(|w| {
            for p in [P0, P1] {
                assert_eq!(w.pages[p].refcount, w.accounted_refs(p));
            }
        });
    }
    let m = model(
        pair(SECURE, false),
        vec![(
            "udmabuf",
            ops(vec![ThreadOp::UdmabufCreate {
                file: FILE,
                index: 0,
                nr_pages: 2,
            }]),
        )],
        kernel("v6.12"),
    );
    let (steps, w, done) = run_alone(&m, 0);
    assert!(
        done && steps.is_empty() && w.held[0].is_empty(),
        "not a memfd"
    );
}

/// `vmsplice` → `iter_to_pipe` (fs/splice.c): FOLL_GET through GUP fast (no FOLL_WRITE, no
/// hook), each page a pipe buffer with `user_page_pipe_buf_ops` — no confirm, so even the
/// 2020 splice patch (`splice_confirm_hook`, in `page_cache_pipe_buf_confirm` only) does not
/// make the page accessible before the NIC reads it.
#[test]
fn vmsplice_queues_user_pages_that_no_confirm_makes_accessible() {
    for set in [&[][..], &[("splice_confirm_hook", "true")][..]] {
        let m = model(
            pair(SECURE, false),
            vec![(
                "qemu",
                ops(vec![
                    ThreadOp::Vmsplice {
                        mm: QEMU,
                        vpn: A,
                        nr_pages: 2,
                        pipe: PIPE,
                    },
                    ThreadOp::SpliceToSocket { pipe: PIPE },
                ]),
            )],
            with("v5.7", set),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        assert_eq!(findings(&steps), vec!["io-on-secure-page"]);
        assert_eq!(count(&steps, "page_ref_add_unless", "gup_pte_range"), 2);
        assert_eq!(count(&steps, "test_bit(PG_arch_1)", ""), 0);
        assert!(w.pipes[PIPE].bufs.is_empty());
        for p in [P0, P1] {
            assert_eq!(w.pages[p].refcount, w.accounted_refs(p));
        }
    }
}

/// Block direct I/O and MSG_ZEROCOPY with a short GUP count (the second page has no
/// mapping): `bio_iov_iter_get_pages` asks again for the rest, gets an error, and submits the
/// bio with the one page (the I/O is split); `__zerocopy_sg_from_iter` returns -EFAULT and
/// `skb_zerocopy_iter_stream` trims the skb: nothing is sent, the reference is put.
#[test]
fn a_short_count_splits_direct_io_and_fails_a_zerocopy_send() {
    let m = model(
        pair(PLAIN, false),
        vec![(
            "dio",
            ops(vec![ThreadOp::DirectIo {
                mm: MM2,
                vpn: B,
                to_memory: true,
                nr_pages: 2,
            }]),
        )],
        kernel("v6.12"),
    );
    let (steps, w, done) = run_alone(&m, 0);
    assert!(done);
    assert_eq!(
        count(&steps, "gup returns", ""),
        2,
        "asked again for the rest"
    );
    assert_eq!(count(&steps, "dma_write (disk read into memory)", ""), 1);
    assert_eq!(w.pages[P1].refcount, w.accounted_refs(P1));
    let m = model(
        pair(PLAIN, false),
        vec![(
            "zc",
            ops(vec![ThreadOp::ZerocopySend {
                mm: MM2,
                vpn: B,
                nr_pages: 2,
            }]),
        )],
        kernel("v6.12"),
    );
    let (steps, w, done) = run_alone(&m, 0);
    assert!(done);
    assert_eq!(count(&steps, "dma_read (NIC transmit)", ""), 0);
    assert_eq!(count(&steps, "put_page", "___pskb_trim"), 1);
    assert_eq!(w.pages[P1].refcount, w.accounted_refs(P1));
}

/// KVM's copy from a secure, shared guest page (`kvm_read_guest` → `__copy_from_user`): the
/// 0x3d USER_FAULT branch pins it shared and the copy is retried; with page faults disabled
/// (`kvm_read_guest_atomic`) the handler goes to the fix-up without touching the page: the
/// copy fails (observed), the page stays secure. The adapter indicators
/// (`adapter_indicators_set`): FOLL_GET without the hook, the bit set through the 0x3d
/// KERNEL_FAULT branch, `set_page_dirty_lock`, both references put.
#[test]
fn kvm_accesses_guest_memory_through_the_fault_handlers() {
    let shared = Frames {
        secure0: true,
        shared: true,
    };
    for (atomic, state_after) in [(false, "pinned"), (true, "secure")] {
        let m = model(
            pair(shared, false),
            vec![(
                "kvm",
                ops(vec![ThreadOp::KvmCopy {
                    gfn: 0,
                    write: false,
                    atomic,
                }]),
            )],
            kernel("v6.12"),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        match state_after {
            "pinned" => {
                assert!(matches!(w.uv[P0].state, UvState::SharedPinned { .. }));
                assert!(findings(&steps).is_empty());
                assert!(steps
                    .iter()
                    .any(|s| s.frames.contains(&"do_secure_storage_access(USER_FAULT)")));
            }
            _ => {
                assert!(matches!(w.uv[P0].state, UvState::Secure { .. }));
                assert_eq!(findings(&steps), vec!["copy-fault"]);
            }
        }
    }
    let m = model(
        pair(shared, false),
        vec![(
            "kvm",
            ops(vec![ThreadOp::AdapterInterrupt { ind: 0, summary: 1 }]),
        )],
        kernel("v6.1"),
    );
    let (steps, w, done) = run_alone(&m, 0);
    assert!(done && findings(&steps).is_empty());
    assert_eq!(count(&steps, "gup returns", ""), 2);
    assert_eq!(count(&steps, "lock_page", "set_page_dirty_lock"), 2);
    assert!(steps
        .iter()
        .any(|s| s.frames.contains(&"do_secure_storage_access(KERNEL_FAULT)")));
    assert!(matches!(w.uv[P0].state, UvState::SharedPinned { .. }));
    for p in [P0, P1] {
        assert_eq!(w.pages[p].refcount, w.accounted_refs(p));
    }
    assert!(w.held[0].is_empty());
}

/// Pinning both pages while the vCPU imports the first, exhaustively: the fast walk's grab on
/// the frozen count stops it and the slow path (same mm) waits on the PTE lock the import
/// holds, then exports what became secure (6.12.118); in a second process the slow path's
/// check-then-add grab WARNs and returns -ENOMEM, a short count (observed).
#[test]
fn pinning_two_pages_against_the_import() {
    let vcpu = ops(vec![ThreadOp::GuestAccess {
        gfn: 0,
        write: Some(0x5a),
    }]);
    let pin = |mm| {
        ops(vec![
            gup(mm, A, 2, GupFlags::FOLL_PIN, true),
            ThreadOp::Dma { to_device: true },
            ThreadOp::Put {},
        ])
    };
    let same = model(
        pair(PLAIN, false),
        vec![("vcpu", vcpu.clone()), ("gup", pin(QEMU))],
        kernel("v6.12"),
    );
    let o = explore_all(&same);
    assert_eq!(violated(&o), Vec::<&str>::new());
    let other = model(
        pair(PLAIN, false),
        vec![("vcpu", vcpu), ("gup", pin(MM2))],
        kernel("v6.12"),
    );
    let o = explore_all(&other);
    assert_eq!(violated(&o), vec!["warn"]);
    assert_eq!(observed(&o), vec!["gup-enomem"]);
}
