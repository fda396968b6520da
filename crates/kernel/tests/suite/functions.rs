//! The kernel model's function families against the kernel behaviour they cite, built with
//! the kernel crate's own [`Builder`] (no scenario parser): a thread stepped alone where one
//! path's effect is the point, the explorer (DPOR, exhaustive within a bound of executions)
//! where an interleaving is. Each assertion is something the model could get wrong.

use explore::runtime::StepRecord;
use explore::{explore, Bounds, Execution, Model, Options, Outcome, Severity};
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::config::preset;
use kernel::uv::UvState;
use kernel::vocab::ops::{GupFlags, OpCall, ThreadOp};
use kernel::world::{GUP_PIN_COUNTING_BIAS, PAGE_BYTES};
use kernel::{Kernel, KernelModel, World};

/// A file page in the page cache, mapped MAP_SHARED in QEMU's protected mm (vpn 0) and in a
/// second, unprotected mm (vpn 0); guest frame 0 is backed by QEMU's mapping; one pipe.
fn file_guest(secure: bool, shared: bool) -> Builder {
    let mut b = Builder::new();
    let f = b.file("guest.img", 1).expect("file");
    let qemu = b.mm("qemu", true, None).expect("mm");
    let mm2 = b.mm("mm2", false, None).expect("mm");
    for mm in [qemu, mm2] {
        b.map(MapSpec {
            mm,
            vpn: 0,
            backing: Backing::File { file: f, index: 0 },
            shared: true,
            writable: true,
            present: true,
            pte_write: true,
        })
        .expect("map");
    }
    b.guest(GuestSpec {
        gfn: 0,
        mm: qemu,
        vpn: 0,
        secure,
        shared,
        data: secure.then_some(0x11),
        image: false,
    })
    .expect("guest");
    b.pipe("p").expect("pipe");
    b
}

/// QEMU's anonymous guest RAM (one present page) as guest frame 0.
fn anon_guest(secure: bool) -> Builder {
    let mut b = Builder::new();
    let qemu = b.mm("qemu", true, None).expect("mm");
    b.map(MapSpec {
        mm: qemu,
        vpn: 0,
        backing: Backing::Anon,
        shared: false,
        writable: true,
        present: true,
        pte_write: true,
    })
    .expect("map");
    b.guest(GuestSpec {
        gfn: 0,
        mm: qemu,
        vpn: 0,
        secure,
        shared: false,
        data: secure.then_some(0x11),
        image: false,
    })
    .expect("guest");
    b
}

const QEMU: usize = 0;
const MM2: usize = 1;
const FILE: usize = 0;
const PIPE: usize = 0;
const P0: usize = 0;

fn ops(v: Vec<ThreadOp>) -> Vec<OpCall> {
    v.into_iter().map(OpCall::from).collect()
}

fn vcpu() -> Vec<OpCall> {
    ops(vec![ThreadOp::GuestAccess {
        gfn: 0,
        write: Some(0x5a),
    }])
}

fn gup(mm: usize, flags: u32, fast: bool) -> ThreadOp {
    ThreadOp::Gup {
        mm,
        vpn: 0,
        flags: GupFlags(flags),
        fast,
        write: false,
        nr_pages: 1,
    }
}

fn kernel(name: &str) -> Kernel {
    preset(name).unwrap_or_else(|| panic!("preset {name}"))
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

fn called(steps: &[StepRecord], function: &str) -> bool {
    steps
        .iter()
        .any(|s| s.name == function || s.frames.contains(&function))
}

/// `page_ref_freeze` / `page_ref_unfreeze` (include/linux/page_ref.h) against the speculative
/// get `page_ref_add_unless(…, 0)` (mm/filemap.c: find_get_entry, v5.7): a get that lands on
/// a frozen count fails and retries, so in no interleaving does the import complete while
/// the lookup's reference is held, and every reference balances. Without the freeze
/// (seeded defect `import_freezes=false`) the import completes under the reference.
#[test]
fn refcount_freeze_locks_out_a_speculative_get() {
    let reader = ops(vec![
        ThreadOp::FindGetPage {
            file: FILE,
            index: 0,
        },
        ThreadOp::Put {},
    ]);
    let m = model(
        file_guest(false, false),
        vec![("vcpu", vcpu()), ("reader", reader.clone())],
        kernel("v5.7"),
    );
    let o = explore_all(&m);
    assert_eq!(violated(&o), Vec::<&str>::new());
    // The lookup between the freeze and the unfreeze: its get fails, it retries, and it
    // gets the page once the count is back.
    let mut ex = Execution::start(m.instance(), true);
    while ex.step(0).name != "page_ref_freeze" {}
    let mut failed = false;
    while ex.enabled(1) {
        let r = ex.step(1);
        failed |= r.name == "page_ref_add_unless" && r.note.contains("speculative get fails");
    }
    assert!(
        failed && !ex.finished(1),
        "the get on the frozen count fails and retries"
    );
    while !ex.finished(0) {
        ex.step(0);
    }
    while !ex.finished(1) {
        ex.step(1);
    }
    ex.with_world(|w| {
        assert!(matches!(w.uv[P0].state, UvState::Secure { .. }));
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0));
    });
    let m = model(
        file_guest(false, false),
        vec![("vcpu", vcpu()), ("reader", reader)],
        with("v5.7", &[("import_freezes", "false")]),
    );
    assert!(violated(&explore_all(&m)).contains(&"lock-out"));
}

/// `try_grab_page` (mm/gup.c): v5.7's check-then-add (`try_get_page`: WARN if ≤ 0, then a
/// separate `page_ref_inc`) lets the add land on a count frozen in between, which
/// `page_ref_unfreeze`'s plain store erases (kernel-notes W1); v5.15's one add-unless-zero
/// fails silently on the frozen count instead (`-ENOMEM`, observed).
#[test]
fn gup_slow_grab_per_version() {
    let g = || ops(vec![gup(MM2, GupFlags::FOLL_GET, false), ThreadOp::Put {}]);
    let m = model(
        file_guest(false, false),
        vec![("vcpu", vcpu()), ("gup", g())],
        kernel("v5.7"),
    );
    let v57 = violated(&explore_all(&m));
    for p in ["warn", "reference-balance", "lock-out"] {
        assert!(v57.contains(&p), "v5.7: {p} missing from {v57:?}");
    }
    let m = model(
        file_guest(false, false),
        vec![("vcpu", vcpu()), ("gup", g())],
        kernel("v5.15"),
    );
    let o = explore_all(&m);
    assert_eq!(violated(&o), Vec::<&str>::new());
    assert_eq!(observed(&o), vec!["gup-enomem"]);
}

/// GUP alone: FOLL_GET takes one reference, FOLL_PIN `GUP_PIN_COUNTING_BIAS` (slow and fast,
/// each `fast_pin_grab`), the put or unpin gives back exactly that; the pin calls the hook
/// (`arch_make_page_accessible`), the get does not (mm/gup.c: follow_page_pte,
/// gup_pte_range, v5.7).
#[test]
fn gup_takes_and_gives_back_its_references() {
    for (name, flags, fast, refs, hook) in [
        ("v5.7", GupFlags::FOLL_GET, false, 1, false),
        (
            "v5.7",
            GupFlags::FOLL_PIN,
            false,
            GUP_PIN_COUNTING_BIAS,
            true,
        ),
        (
            "v5.7",
            GupFlags::FOLL_PIN,
            true,
            GUP_PIN_COUNTING_BIAS,
            true,
        ),
        (
            "v6.1",
            GupFlags::FOLL_PIN,
            true,
            GUP_PIN_COUNTING_BIAS,
            true,
        ),
        ("v6.1", GupFlags::FOLL_GET, true, 1, false),
    ] {
        let m = model(
            file_guest(false, false),
            vec![("gup", ops(vec![gup(MM2, flags, fast)]))],
            kernel(name),
        );
        let before = m.world.pages[P0].refcount;
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done, "{name} {flags} {fast}");
        assert_eq!(
            w.pages[P0].refcount - before,
            refs,
            "{name} {flags} fast={fast}"
        );
        assert_eq!(w.held[0].len(), 1);
        assert_eq!(called(&steps, "arch_make_page_accessible"), hook);
        assert_eq!(called(&steps, "gup_pte_range"), fast);
        let fast_split = name != "v5.7" && fast && flags == GupFlags::FOLL_PIN;
        let rest = steps
            .iter()
            .filter(|s| s.name == "page_ref_add" && s.frames.contains(&"gup_pte_range"))
            .count();
        assert_eq!(
            rest,
            usize::from(fast_split),
            "{name}: the fast pin adds 1, then the rest of the bias"
        );
        let m = model(
            file_guest(false, false),
            vec![("gup", ops(vec![gup(MM2, flags, fast), ThreadOp::Put {}]))],
            kernel(name),
        );
        let (_, w, _) = run_alone(&m, 0);
        assert_eq!(w.pages[P0].refcount, before);
        assert!(w.held[0].is_empty());
    }
}

/// FOLL_LONGTERM (mm/gup.c: __gup_longterm_locked, 6.1.192): the modelled frames are long-term
/// pinnable, so the pin stays. From v6.5 a long-term pin for write of a shared file mapping
/// is refused (check_vma_flags → writable_file_mapping_allowed; the fast path's
/// gup_fast_folio_allowed drops its grab first), an anonymous one is not.
#[test]
fn gup_longterm_pins_and_refuses_file_writes_from_v6_5() {
    let lt = GupFlags::FOLL_PIN | GupFlags::FOLL_LONGTERM | GupFlags::FOLL_WRITE;
    for (name, fast) in [
        ("v6.1", false),
        ("v6.1", true),
        ("v6.5", false),
        ("v6.5", true),
    ] {
        let m = model(
            file_guest(false, false),
            vec![("io", ops(vec![gup(MM2, lt, fast)]))],
            kernel(name),
        );
        let before = m.world.pages[P0].refcount;
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        assert!(called(&steps, "__gup_longterm_locked") || name == "v6.1" && fast);
        if name == "v6.1" {
            assert_eq!(
                w.pages[P0].refcount,
                before + GUP_PIN_COUNTING_BIAS,
                "{name}"
            );
            assert!(!findings(&steps).contains(&"gup-refused"));
        } else {
            assert_eq!(w.pages[P0].refcount, before, "{name} fast={fast}: refused");
            assert!(findings(&steps).contains(&"gup-refused"), "{name}");
            assert_eq!(called(&steps, "gup_fast_folio_allowed"), fast);
        }
    }
    let m = model(
        anon_guest(false),
        vec![("io", ops(vec![gup(QEMU, lt, true)]))],
        kernel("v6.12"),
    );
    let before = m.world.pages[P0].refcount;
    let (_, w, _) = run_alone(&m, 0);
    assert_eq!(w.pages[P0].refcount, before + GUP_PIN_COUNTING_BIAS);
}

/// The import flow of each preset (`gmap_make_secure` and its successors, cited per
/// `import_flow` value), run alone: the page becomes secure for guest frame 0 with
/// PG_arch_1, the refcount is back at what the mapping and cache account for, the guest's
/// store lands, and the functions of that flow are on the path.
#[test]
fn import_flow_of_every_preset_secures_the_page() {
    for (name, functions) in [
        (
            "v5.7",
            &[
                "follow_page",
                "lock_page",
                "make_secure_pte",
                "uv_call(convert-to-secure)",
            ][..],
        ),
        ("v6.4", &["trylock_page", "make_folio_secure"][..]),
        ("v6.11", &["trylock_page", "make_folio_secure"][..]),
        ("v6.1.192", &["trylock_page", "make_folio_secure"][..]),
        (
            "debian-6.12.118",
            &["trylock_page", "make_folio_secure"][..],
        ),
        (
            "v6.14-rc1",
            &["gfn_to_page", "__gmap_make_secure", "__make_folio_secure"][..],
        ),
        (
            "v6.14",
            &["make_hva_secure", "folio_walk_start", "__make_folio_secure"][..],
        ),
        (
            "v6.16",
            &["make_hva_secure", "folio_walk_start", "__make_folio_secure"][..],
        ),
        (
            "v7.0",
            &[
                "kvm_s390_pv_make_secure",
                "mutex_lock(import_lock)",
                "kvm_s390_faultin_gfn",
                "read_lock(mmu_lock)",
                "_kvm_s390_pv_make_secure",
            ][..],
        ),
        (
            "v7.1",
            &[
                "kvm_s390_pv_make_secure",
                "mmap_read_trylock",
                "spin_trylock(ptl)",
                "_kvm_s390_pv_make_secure",
            ][..],
        ),
    ] {
        let m = model(
            file_guest(false, false),
            vec![("vcpu", vcpu())],
            kernel(name),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done, "{name}");
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{name}");
        assert_eq!(
            w.uv[P0].state,
            UvState::Secure { guest: 0, gfn: 0 },
            "{name}"
        );
        assert!(w.pages[P0].arch1, "{name}: PG_arch_1 set before the UVC");
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0), "{name}");
        assert_eq!(w.guest[0].written, Some([0x5a; PAGE_BYTES]), "{name}");
        for f in functions {
            assert!(called(&steps, f), "{name}: {f} not on the path");
        }
        // The other flows' functions are not.
        assert_eq!(called(&steps, "gfn_to_page"), name == "v6.14-rc1", "{name}");
        assert_eq!(
            called(&steps, "make_hva_secure"),
            ["v6.14", "v6.16"].contains(&name),
            "{name}"
        );
        assert_eq!(
            called(&steps, "spin_trylock(ptl)"),
            name == "v7.1",
            "{name}: only the 2026-06 fix trylocks the PTE lock"
        );
        // No release after c148dc8e2fa4 reads the PTE's content in the new gmap's callback.
        if name.starts_with("v7") {
            assert!(!called(&steps, "ptep_get"), "{name}");
        }
    }
}

/// `__test_set_page_writeback` (mm/page-writeback.c, v5.7 f28d43636d6f) sets PG_writeback and
/// calls the hook before the disk reads the page: a secure page is exported first, no
/// device touches it secure, PG_writeback ends clear. `end_page_writeback` takes its own
/// reference only where `end_writeback_takes_ref` says (v5.15 on).
#[test]
fn writeback_exports_before_the_disk_reads() {
    for (name, takes_ref) in [("v5.7", false), ("v5.15", true)] {
        let m = model(
            file_guest(true, false),
            vec![(
                "wb",
                ops(vec![ThreadOp::Writeback {
                    file: FILE,
                    index: 0,
                }]),
            )],
            kernel(name),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        assert_eq!(findings(&steps), Vec::<&str>::new());
        assert_eq!(w.uv[P0].state, UvState::NonSecure);
        assert!(w.uv[P0].sealed.is_some(), "exported: the UV keeps the seal");
        assert_ne!(
            w.pages[P0].data, [0x11; PAGE_BYTES],
            "the host sees ciphertext"
        );
        assert!(!w.pages[P0].writeback && !w.pages[P0].arch1);
        let hook = steps
            .iter()
            .position(|s| s.name == "uv_convert_from_secure");
        let dma = steps.iter().position(|s| s.name.starts_with("dma_read"));
        assert!(
            hook.is_some() && hook < dma,
            "{name}: export before the disk"
        );
        let end = steps
            .iter()
            .position(|s| s.frames.contains(&"end_page_writeback"))
            .expect("end_page_writeback");
        assert_eq!(steps[end].name == "get_page", takes_ref, "{name}");
    }
}

/// sendfile (fs/splice.c, v5.7): `page_cache_pipe_buf_confirm` has no hook, so the NIC reads a
/// page the guest owns; the proposed patch's hook (`splice_confirm_hook`) exports it first.
#[test]
fn splice_to_socket_reads_a_secure_page_without_the_patch() {
    let send = || {
        ops(vec![ThreadOp::Sendfile {
            file: FILE,
            index: 0,
            pipe: PIPE,
        }])
    };
    let m = model(
        file_guest(true, false),
        vec![("send", send())],
        kernel("v5.7"),
    );
    let (steps, w, _) = run_alone(&m, 0);
    assert_eq!(findings(&steps), vec!["io-on-secure-page"]);
    assert!(w.pipes[PIPE].bufs.is_empty());
    let m = model(
        file_guest(true, false),
        vec![("send", send())],
        kernel("v5.7+splice-patch"),
    );
    let (steps, w, done) = run_alone(&m, 0);
    assert!(done);
    assert_eq!(findings(&steps), Vec::<&str>::new());
    assert_eq!(w.uv[P0].state, UvState::NonSecure);
    assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0));
}

/// MADV_DONTNEED (mm/memory.c: zap_pte_range; arch/s390/include/asm/pgtable.h:
/// ptep_get_and_clear_full): in a protected mm the PTE clear exports the page, which is then
/// freed; the owned export of v5.16 (380d97bd02fc) clears PG_arch_1, v5.7's keeps it.
#[test]
fn zap_exports_and_frees_guest_ram() {
    for (name, arch1_after) in [("v5.7", true), ("v5.16", false)] {
        let m = model(
            anon_guest(true),
            vec![("zap", ops(vec![ThreadOp::Zap { mm: QEMU, vpn: 0 }]))],
            kernel(name),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        assert_eq!(findings(&steps), Vec::<&str>::new());
        assert!(!w.mms[QEMU].pte(0).present);
        assert!(
            w.pages[P0].free,
            "{name}: the mapping's reference was the last"
        );
        assert_eq!(w.uv[P0].state, UvState::NonSecure);
        assert!(w.uv[P0].sealed.is_some());
        assert_eq!(w.pages[P0].arch1, arch1_after, "{name}");
    }
}

/// The hook's UV calls (arch/s390/kernel/uv.c: arch_make_page_accessible, v5.7): a page the
/// guest shared is pinned shared (`uv_pin_shared`) and keeps its plaintext; a page it did not
/// share is exported (`uv_convert_from_secure`, encrypted). A page without PG_arch_1 takes
/// the fast path and makes no UV call.
#[test]
fn hook_pins_shared_pages_and_exports_the_others() {
    for (shared, want) in [(true, "uv_pin_shared"), (false, "uv_convert_from_secure")] {
        let m = model(
            file_guest(true, shared),
            vec![(
                "pin",
                ops(vec![gup(MM2, GupFlags::FOLL_PIN, false), ThreadOp::Put {}]),
            )],
            kernel("v5.7"),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done);
        assert!(called(&steps, want), "shared={shared}");
        if shared {
            assert!(matches!(w.uv[P0].state, UvState::SharedPinned { .. }));
            assert_eq!(w.pages[P0].data, [0x11; PAGE_BYTES]);
        } else {
            assert_eq!(w.uv[P0].state, UvState::NonSecure);
            assert_ne!(w.pages[P0].data, [0x11; PAGE_BYTES]);
        }
        assert!(!w.pages[P0].arch1);
    }
    let m = model(
        file_guest(false, false),
        vec![("pin", ops(vec![gup(MM2, GupFlags::FOLL_PIN, false)]))],
        kernel("v5.7"),
    );
    let (steps, _, _) = run_alone(&m, 0);
    assert!(!called(&steps, "uv_pin_shared") && !called(&steps, "uv_convert_from_secure"));
}

/// The UV's busy answers (condition code 2): `uv_call` loops (v5.7), the single `__uv_call`
/// of v5.16 (f0a1a0615a6f) returns -EAGAIN and the guest re-faults; either way the import
/// ends secure.
#[test]
fn uv_busy_is_repeated_or_returned() {
    for (name, again) in [("v5.7", false), ("v5.16", true)] {
        let busy = ops(vec![ThreadOp::UvBusy { count: 1 }]);
        let m = model(
            file_guest(false, false),
            vec![("vcpu", vcpu()), ("fw", busy)],
            kernel(name),
        );
        // The firmware thread first, then the vCPU alone.
        let mut ex = Execution::start(m.instance(), true);
        ex.step(1);
        let mut steps = Vec::new();
        while !ex.finished(0) && ex.enabled(0) {
            steps.push(ex.step(0));
        }
        assert!(ex.finished(0), "{name}");
        let uvcs = steps
            .iter()
            .filter(|s| s.name == "uv_call(convert-to-secure)")
            .count();
        assert_eq!(
            uvcs,
            1 + usize::from(again),
            "{name}: one call, or a retried import"
        );
        assert!(steps.iter().any(|s| s.note.contains("cc 2")), "{name}");
        ex.with_world(|w| assert!(matches!(w.uv[P0].state, UvState::Secure { .. })));
    }
}

/// A pin that is never released keeps the import out for ever: the explorer's `livelock`,
/// named by its constant (`explore::LIVELOCK`, declared as the property
/// `vocab::properties::LIVELOCK`).
#[test]
fn a_pin_held_for_ever_is_a_livelock() {
    let m = model(
        anon_guest(false),
        vec![
            ("vcpu", vcpu()),
            (
                "pin",
                ops(vec![
                    gup(QEMU, GupFlags::FOLL_PIN, false),
                    ThreadOp::Dma { to_device: true },
                ]),
            ),
        ],
        kernel("v6.1"),
    );
    let v = violated(&explore_all(&m));
    assert_eq!(v, vec![explore::LIVELOCK]);
    assert_eq!(kernel::vocab::properties::LIVELOCK.id(), explore::LIVELOCK);
    assert_eq!(kernel::vocab::properties::DEADLOCK.id(), explore::DEADLOCK);
}

/// A thread whose `put` has nothing to release is not built (the ops' declared effect on
/// held references).
#[test]
fn a_thread_that_releases_nothing_is_not_built() {
    let mut b = file_guest(false, false);
    let e = b
        .thread("t", ops(vec![ThreadOp::Hook {}]))
        .expect_err("hook without a batch");
    assert_eq!((e.op, e.field), (Some(0), "op"));
    b.thread(
        "t",
        ops(vec![
            ThreadOp::FindGetPage {
                file: FILE,
                index: 0,
            },
            ThreadOp::Hook {},
            ThreadOp::Put {},
        ]),
    )
    .expect("acquired first");
    let e = b
        .thread(
            "u",
            ops(vec![
                gup(MM2, GupFlags::FOLL_GET, false),
                ThreadOp::Zap { mm: 5, vpn: 0 },
            ]),
        )
        .expect_err("no mm 5");
    assert_eq!((e.op, e.field), (Some(1), "mm"));
}

/// QEMU's file-backed guest frame `gfn` at `vpn` in its own mm, and a FOLL_GET GUP of the
/// same vpn in the same mm (the GUP runs under the PTE lock the importer holds: no
/// collision), with a second mapping in another page table of the same mm.
fn same_mm_at(vpn: usize, gfn: usize) -> KernelModel {
    let mut b = Builder::new();
    let f = b.file("guest.img", 2).expect("file");
    let qemu = b.mm("qemu", true, None).expect("mm");
    for (v, index) in [(vpn, 0), (vpn ^ (1 << 40), 1)] {
        b.map(MapSpec {
            mm: qemu,
            vpn: v,
            backing: Backing::File { file: f, index },
            shared: true,
            writable: true,
            present: true,
            pte_write: true,
        })
        .expect("map");
    }
    b.guest(GuestSpec {
        gfn,
        mm: qemu,
        vpn,
        secure: false,
        shared: false,
        data: None,
        image: false,
    })
    .expect("guest");
    let g = ThreadOp::Gup {
        mm: qemu,
        vpn,
        flags: GupFlags(GupFlags::FOLL_GET),
        fast: false,
        write: false,
        nr_pages: 1,
    };
    let access = ops(vec![ThreadOp::GuestAccess {
        gfn,
        write: Some(0x5a),
    }]);
    model(
        b,
        vec![("vcpu", access), ("gup", ops(vec![g, ThreadOp::Put {}]))],
        kernel("v5.7"),
    )
}

/// Every vpn of s390 user space and every 52-bit gfn is the same to the model: nothing packs
/// them into narrower integers (a vpn of 2^32 was once packed into 32 bits by the import's
/// retry guard — a retry-bound violation —, and one of 2^40 into the PTE lock's guard, which
/// stopped excluding, then panicked).
#[test]
fn high_vpns_and_gfns_check_as_low_ones() {
    use kernel::build::{MAX_GFN, MAX_VPN};
    let base = explore_all(&same_mm_at(0, 0));
    assert!(violated(&base).is_empty(), "{:?}", violated(&base));
    for (vpn, gfn) in [
        (1 << 32, 1 << 32),
        ((1 << 40) - 1, 7),
        (1 << 40, 1 << 40),
        (MAX_VPN, MAX_GFN),
    ] {
        let o = explore_all(&same_mm_at(vpn, gfn));
        assert_eq!(
            (violated(&o), o.stats.executions),
            (violated(&base), base.stats.executions),
            "vpn {vpn}, gfn {gfn}"
        );
    }
}

/// What the model cannot represent, or what contradicts itself, is refused by the builder
/// with the field concerned.
#[test]
fn the_builder_refuses_what_the_model_cannot_represent() {
    use kernel::build::{MAX_FRAMES, MAX_GFN, MAX_VPN};
    let anon = |vpn, present| MapSpec {
        mm: 0,
        vpn,
        backing: Backing::Anon,
        shared: false,
        writable: true,
        present,
        pte_write: true,
    };
    let guest = |gfn, vpn| GuestSpec {
        gfn,
        mm: 0,
        vpn,
        secure: false,
        shared: false,
        data: None,
        image: false,
    };
    let mut b = Builder::new();
    b.mm("qemu", true, None).expect("mm");
    assert_eq!(
        b.map(anon(MAX_VPN + 1, true)).expect_err("vpn").field,
        "vpn"
    );
    b.map(anon(MAX_VPN, true)).expect("the last user page");
    b.map(anon(0, false)).expect("a page not yet faulted in");
    assert_eq!(
        b.guest(guest(MAX_GFN + 1, 0)).expect_err("gfn").field,
        "gfn"
    );
    let e = b
        .guest(GuestSpec {
            secure: true,
            ..guest(1, 0)
        })
        .expect_err("no page to be secure");
    assert_eq!(e.field, "secure");
    let e = b
        .guest(GuestSpec {
            secure: true,
            image: true,
            ..guest(1, MAX_VPN)
        })
        .expect_err("secure and an image");
    assert_eq!(e.field, "image");
    b.guest(GuestSpec {
        secure: true,
        ..guest(MAX_GFN, MAX_VPN)
    })
    .expect("a secure frame");
    let e = b.guest(guest(3, MAX_VPN)).expect_err("aliased");
    assert_eq!(e.field, "vpn");
    assert_eq!(b.mm("qemu", false, None).expect_err("dup").field, "name");
    assert_eq!(b.mm("", false, None).expect_err("empty").field, "name");
    for (protected, vms) in [(true, 0), (false, 2)] {
        let e = b
            .mm("x", protected, Some(vms))
            .expect_err("protected_count");
        assert_eq!(e.field, "protected_vms");
    }
    let e = b.file("huge", usize::MAX).expect_err("frames");
    assert_eq!(e.field, "pages");
    b.file("fits", MAX_FRAMES - 2)
        .expect("fits with the present page and the spare");
    let busy = |count| OpCall::from(ThreadOp::UvBusy { count });
    b.thread("fw", vec![busy(u32::MAX)]).expect("one count");
    let e = b.thread("fw", vec![busy(1)]).expect_err("dup thread");
    assert_eq!(e.field, "name");
    let e = b.thread("fw2", vec![busy(1)]).expect_err("counts together");
    assert_eq!((e.op, e.field), (Some(0), "count"));
    assert_eq!(b.thread("idle", vec![]).expect_err("no ops").field, "ops");
}

/// The UV's nonce keeps every bit of a 52-bit gfn (two frames 2^32 apart never share one).
#[test]
fn uv_exports_of_gfns_2_pow_32_apart_differ() {
    use kernel::uv::{export, import, UvFrame, UvKeys, UvRc};
    let keys = UvKeys::new(1);
    let sealed = |gfn| {
        let mut f = UvFrame::default();
        let mut data = [0u8; PAGE_BYTES];
        assert_eq!(import(&keys, &mut f, &mut data, 0, gfn, true), UvRc::Ok);
        data = [0x42; PAGE_BYTES];
        assert_eq!(export(&keys, &mut f, &mut data), UvRc::Ok);
        data
    };
    assert_ne!(sealed(5), sealed(5 + (1 << 32)));
}
