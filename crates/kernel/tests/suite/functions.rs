//! The kernel model's function families against the kernel behaviour they cite, built with
//! the kernel crate's own [`Builder`] (no scenario parser): a thread stepped alone where one
//! path's effect is the point, the explorer (DPOR, exhaustive within a bound of executions)
//! where an interleaving is. Each assertion is something the model could get wrong.

use super::common::*;
use explore::runtime::StepRecord;
use explore::{Execution, Model};
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::uv::UvState;
use kernel::vocab::ops::{GupFlags, OpCall, ThreadOp, UvCalls};
use kernel::world::{GUP_PIN_COUNTING_BIAS, PAGE_BYTES};
use kernel::{Kernel, KernelModel};

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

const IMPORT: u32 = 1;
const EXPORT: u32 = 1 << 2;
const PIN_SHARED: u32 = 1 << 3;

fn uv_busy(call: u32, count: Option<u32>) -> ThreadOp {
    ThreadOp::UvBusy {
        call: UvCalls(call),
        count,
        partial: false,
        forever: false,
    }
}

fn uv_fail(call: u32, rc: u16) -> ThreadOp {
    ThreadOp::UvFail {
        call: UvCalls(call),
        rc,
        rrc: None,
        count: 1,
    }
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

/// The UV's busy answers (condition code 2): `uv_call` repeats the call inside the freeze
/// (v5.7, each attempt a step of its own), the single `__uv_call` of v5.16 (f0a1a0615a6f)
/// returns it, the import answers -EAGAIN and the guest re-faults (a second pass through
/// `gmap_make_secure`); either way the import ends secure after two UVC attempts.
#[test]
fn uv_busy_is_repeated_or_returned() {
    for (name, returned) in [("v5.7", false), ("v5.16", true)] {
        let busy = ops(vec![uv_busy(IMPORT, Some(1))]);
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
        let uvcs: Vec<&StepRecord> = steps
            .iter()
            .filter(|s| s.name == "uv_call(convert-to-secure)")
            .collect();
        assert_eq!(uvcs.len(), 2, "{name}: a busy attempt, then the import");
        let note = &uvcs[0].note;
        assert!(note.contains("cc 2"), "{name}: {note}");
        assert_eq!(
            note.contains("__uv_call returns it"),
            returned,
            "{name}: {note}"
        );
        assert_eq!(
            note.contains("uv_call repeats"),
            !returned,
            "{name}: {note}"
        );
        let passes = steps
            .iter()
            .filter(|s| s.name == "expected_page_refs")
            .count();
        assert_eq!(
            passes,
            1 + usize::from(returned),
            "{name}: one freeze, or a retried import"
        );
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

/// A firmware thread with `ops`.
fn firmware(ops_: Vec<ThreadOp>) -> (&'static str, Vec<OpCall>) {
    ("firmware", ops(ops_))
}

fn at(release: &str) -> Kernel {
    let r = kernel::vocab::Release::parse(release).expect("release");
    Kernel::at(&r).expect("resolves")
}

/// `uv_call` (arch/s390/include/asm/uv.h) repeats `__uv_call` while the UV answers busy,
/// with no reschedule point; `make_secure_pte` calls it inside the freeze with the PTE lock
/// held until f0a1a0615a6f (v5.16) made it one `__uv_call` that hands busy back as -EAGAIN.
/// A busy period (any number of busy answers, ended by the firmware under weak fairness)
/// is therefore a bounded-waiting violation on v5.7 and v5.15 and not from v5.16; a period
/// that never ends leaves no progress possible: a livelock on every release (v5.7 also
/// spins past the bound first).
#[test]
fn a_busy_uv_is_bounded_waiting_until_v5_16_and_a_livelock_for_ever() {
    let period = |forever| ThreadOp::UvBusy {
        call: UvCalls(IMPORT),
        count: None,
        partial: false,
        forever,
    };
    for (name, spins_holding) in [
        ("v5.7", true),
        ("v5.15", true),
        ("v5.16", false),
        ("v6.12", false),
    ] {
        let m = model(
            file_guest(false, false),
            vec![("vcpu", vcpu()), firmware(vec![period(false)])],
            kernel(name),
        );
        let v = violated(&explore_all(&m));
        let want: Vec<&str> = if spins_holding {
            vec!["bounded-waiting"]
        } else {
            vec![]
        };
        assert_eq!(v, want, "{name}: a busy period");
        let m = model(
            file_guest(false, false),
            vec![("vcpu", vcpu()), firmware(vec![period(true)])],
            kernel(name),
        );
        let mut v = violated(&explore_all(&m));
        v.sort_unstable();
        let mut want = vec![explore::LIVELOCK];
        if spins_holding {
            want.insert(0, "bounded-waiting");
        }
        assert_eq!(v, want, "{name}: a busy period that never ends");
    }
    // The protection is f0a1a0615a6f's single __uv_call: without it (the old value as a
    // seeded defect on a release that has it) the spin under the PTE lock is back.
    let m = model(
        file_guest(false, false),
        vec![("vcpu", vcpu()), firmware(vec![period(false)])],
        with("v6.12", &[("import_single_uv_call", "false")]),
    );
    assert_eq!(violated(&explore_all(&m)), vec!["bounded-waiting"]);
}

/// The bound: a scripted count of busy answers is a bounded wait; it violates bounded
/// waiting on v5.7 only past the bound (`[bounds] max_spins`, `--max-spins`).
#[test]
fn the_spin_bound_decides_for_a_scripted_count() {
    for (count, bound, want) in [
        (2, None, false),
        (3, None, true),
        (3, Some(3), false),
        (1, Some(0), true),
    ] {
        let mut b = file_guest(false, false);
        if let Some(n) = bound {
            b.set_spin_bound(n);
        }
        let m = model(
            b,
            vec![
                ("vcpu", vcpu()),
                firmware(vec![uv_busy(IMPORT, Some(count))]),
            ],
            kernel("v5.7"),
        );
        let v = violated(&explore_all(&m));
        assert_eq!(
            v.contains(&"bounded-waiting"),
            want,
            "{count} busy answers, bound {bound:?}: {v:?}"
        );
    }
}

/// `kvm_s390_pv_unpack` retries -EAGAIN (cond_resched) until the UV stops answering busy:
/// from v5.16 a busy answer comes back as -EAGAIN, and the retry must wait for the busy
/// period's end or consume a scripted answer, not park on the page alone (issue 26: one busy
/// answer was a livelock); the guest then reads back the image's data.
#[test]
fn unpack_retries_a_busy_uv_and_reads_back_the_image() {
    let mut b = anon_guest(false);
    let vmm = ops(vec![
        ThreadOp::Unpack { gfn: 0, pages: 1 },
        ThreadOp::GuestAccess {
            gfn: 0,
            write: None,
        },
    ]);
    let _ = &mut b;
    for count in [Some(1), Some(2), None] {
        for name in [
            "v5.16",
            "v6.1",
            "v6.12",
            "v6.14-rc1",
            "v6.14",
            "v7.0",
            "v7.1",
        ] {
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
                secure: false,
                shared: false,
                data: Some(0x42),
                image: true,
            })
            .expect("guest");
            let m = model(
                b,
                vec![("vmm", vmm.clone()), firmware(vec![uv_busy(2, count)])],
                kernel(name),
            );
            let o = explore_all(&m);
            assert_eq!(
                violated(&o),
                Vec::<&str>::new(),
                "{name}, {count:?} busy answers"
            );
        }
    }
}

/// The guest's re-fault loop waits for an importable page; a scripted busy answer is no
/// progress while a reference blocks the freeze (issue 26: counting it alone as progress
/// made a short-lived reference a spurious `retry-bound`).
#[test]
fn a_pending_busy_answer_is_no_progress_while_a_reference_blocks_the_freeze() {
    for name in ["v5.16", "v6.12"] {
        let m = model(
            file_guest(false, false),
            vec![
                ("vcpu", vcpu()),
                (
                    "reader",
                    ops(vec![
                        ThreadOp::FindGetPage {
                            file: FILE,
                            index: 0,
                        },
                        ThreadOp::Put {},
                    ]),
                ),
                firmware(vec![uv_busy(IMPORT, Some(1))]),
            ],
            kernel(name),
        );
        assert_eq!(violated(&explore_all(&m)), Vec::<&str>::new(), "{name}");
    }
}

/// A failed export (cc 1) on each path, as the kernel handles it:
/// * writeback: the writer's `folio_clear_dirty_for_io` → `folio_mkclean` exports first at
///   `ptep_clear_flush` (the shared mapping of the protected mm, mm/rmap.c
///   `page_vma_mkclean_one`), where a failure is ignored (6.12.118) and the page stays
///   secure; one failure is then healed by the hook in `__folio_start_writeback`; two make
///   the hook fail too: `VM_BUG_ON` only with CONFIG_DEBUG_VM; without it the disk reads
///   the secure page;
/// * GUP slow FOLL_PIN (`follow_page_pte`): `unpin_user_page`, the GUP fails, no I/O, every
///   reference balanced;
/// * the 0x3d kernel handler: `BUG()` (v5.7, 6.12.118), the fix-up from the 2026-03 fix (and
///   its 6.1.192 backport: `try-get-page-export-always`);
/// * the 0x3d user handler: SIGSEGV.
#[test]
fn a_failing_export_on_every_path() {
    let fail = || uv_fail(EXPORT, 0x102);
    let secure = || file_guest(true, false);
    // writeback: one failure (the mkclean's export) is healed by the hook
    let m = model(
        secure(),
        vec![(
            "wb",
            ops(vec![
                fail(),
                ThreadOp::Writeback {
                    file: FILE,
                    index: 0,
                },
            ]),
        )],
        kernel("v6.12"),
    );
    let (steps, w, done) = run_alone(&m, 0);
    assert!(done);
    assert_eq!(
        findings(&steps),
        Vec::<&str>::new(),
        "writeback, one failure"
    );
    let mkclean = steps
        .iter()
        .position(|s| s.name == "uv_convert_from_secure" && s.frames.contains(&"ptep_clear_flush"));
    let hook = steps.iter().position(|s| {
        s.name == "uv_convert_from_secure" && s.frames.contains(&"arch_make_page_accessible")
    });
    assert!(
        mkclean.is_some() && mkclean < hook,
        "the mkclean's export, then the hook's"
    );
    assert_eq!(w.uv[P0].state, UvState::NonSecure);
    // two failures: the hook fails as well
    for (debug_vm, want) in [("false", "io-on-secure-page"), ("true", "bug")] {
        let m = model(
            secure(),
            vec![(
                "wb",
                ops(vec![
                    ThreadOp::UvFail {
                        call: UvCalls(EXPORT),
                        rc: 0x102,
                        rrc: None,
                        count: 2,
                    },
                    ThreadOp::Writeback {
                        file: FILE,
                        index: 0,
                    },
                ]),
            )],
            with("v6.12", &[("debug_vm", debug_vm)]),
        );
        let (steps, _, _) = run_alone(&m, 0);
        assert_eq!(
            findings(&steps),
            vec![want],
            "writeback, debug_vm={debug_vm}"
        );
        assert_eq!(
            called(&steps, "dma_read (disk write-out)"),
            debug_vm == "false",
            "the BUG ends the write-out"
        );
    }
    // GUP slow FOLL_PIN
    for name in ["v5.7", "v6.12"] {
        let m = model(
            secure(),
            vec![(
                "gup",
                ops(vec![
                    fail(),
                    gup(QEMU, GupFlags::FOLL_PIN, false),
                    ThreadOp::Dma { to_device: true },
                    ThreadOp::Put {},
                ]),
            )],
            kernel(name),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(
            done && findings(&steps).is_empty(),
            "{name}: {:?}",
            findings(&steps)
        );
        assert!(
            called(&steps, "unpin_user_page"),
            "{name}: the failed hook unpins"
        );
        assert!(
            !steps.iter().any(|s| s.name == "dma_read"),
            "{name}: no I/O"
        );
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0), "{name}");
        assert!(matches!(w.uv[P0].state, UvState::Secure { .. }), "{name}");
    }
    // 0x3d, kernel mode
    let read = || {
        ops(vec![
            fail(),
            ThreadOp::KernelRead {
                file: FILE,
                index: 0,
            },
        ])
    };
    for (k, want) in [
        (kernel("v5.7"), vec!["bug"]),
        (kernel("v6.12"), vec!["bug"]),
        (kernel("v7.1"), vec!["copy-fault"]),
        (
            with("v6.1", &[("kernel_fault", "try-get-page-export-always")]),
            vec!["copy-fault"],
        ),
        (at("v6.1.192"), vec!["copy-fault"]),
        (at("v7.0"), vec!["copy-fault"]),
    ] {
        let label = k.name.clone();
        let m = model(secure(), vec![("read", read())], k);
        let (steps, _, _) = run_alone(&m, 0);
        assert_eq!(findings(&steps), want, "{label}");
    }
    // 0x3d, user mode
    let m = model(
        secure(),
        vec![(
            "user",
            ops(vec![
                fail(),
                ThreadOp::UserAccess {
                    mm: QEMU,
                    vpn: 0,
                    write: false,
                },
            ]),
        )],
        kernel("v6.12"),
    );
    let (steps, _, _) = run_alone(&m, 0);
    assert_eq!(findings(&steps), vec!["guest-killed"]);
}

/// The export at PTE clear (`ptep_get_and_clear_full`): its failure is ignored until v6.19
/// and the page, still secure, is freed (`secure-page-freed`); v7.0 (850103b0ce6d) warns
/// and frees it all the same.
#[test]
fn a_failing_export_at_pte_clear_is_ignored_then_warned() {
    for (k, warns) in [
        (kernel("v6.14"), false),
        (at("v6.19"), false),
        (at("v7.0"), true),
        (kernel("v7.1"), true),
    ] {
        let label = k.name.clone();
        let m = model(
            anon_guest(true),
            vec![(
                "zap",
                ops(vec![
                    uv_fail(EXPORT, 0x102),
                    ThreadOp::Zap { mm: QEMU, vpn: 0 },
                ]),
            )],
            k,
        );
        let o = explore_all(&m);
        assert_eq!(violated(&o).contains(&"warn"), warns, "{label}");
        assert!(observed(&o).contains(&"secure-page-freed"), "{label}");
    }
    // Without the failure the export works and nothing is left secure.
    let m = model(
        anon_guest(true),
        vec![("zap", ops(vec![ThreadOp::Zap { mm: QEMU, vpn: 0 }]))],
        kernel("v6.14"),
    );
    let o = explore_all(&m);
    assert!(violated(&o).is_empty() && observed(&o).is_empty());
}

/// Two secure guest pages (vpn 0 and 1 of QEMU's anonymous RAM).
fn two_secure_pages() -> Builder {
    let mut b = Builder::new();
    let qemu = b.mm("qemu", true, None).expect("mm");
    for vpn in 0..2 {
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
        b.guest(GuestSpec {
            gfn: vpn,
            mm: qemu,
            vpn,
            secure: true,
            shared: false,
            data: Some(0x11 + vpn as u8),
            image: false,
        })
        .expect("guest");
    }
    b
}

fn teardown(async_cleanup: bool) -> ThreadOp {
    ThreadOp::PvTeardown { async_cleanup }
}

/// The teardown of every era leaves every guest page host-accessible, every reference
/// balanced and the mm no longer protected: v5.7 exports (the host sees ciphertext), v5.10
/// and later destroy (cleared pages); from v6.0 Destroy-Secure-Configuration first (its
/// cleaning makes the page destroys no-ops) and the destroy range's `get_page` is taken
/// under the PTE lock; from v6.2 the asynchronous cleanup does the same in two ioctls.
#[test]
fn the_teardown_of_every_release_makes_the_guest_pages_accessible() {
    for (release, exported, gathers) in [
        ("v5.7", true, false),
        ("v5.10", false, false),
        ("v5.16", false, false),
        ("v6.0", false, true),
        ("v6.2", false, true),
    ] {
        for async_cleanup in [false, true] {
            let m = model(
                two_secure_pages(),
                vec![("vmm", ops(vec![teardown(async_cleanup)]))],
                at(release),
            );
            let (steps, w, done) = run_alone(&m, 0);
            assert!(
                done && findings(&steps).is_empty(),
                "{release}: {:?}",
                findings(&steps)
            );
            for p in 0..2 {
                assert_eq!(w.uv[p].state, UvState::NonSecure, "{release} P{p}");
                assert_eq!(w.pages[p].refcount, w.accounted_refs(p), "{release} P{p}");
                let plain = [0x11 + p as u8; PAGE_BYTES];
                if exported {
                    // Ciphertext: the export encrypted it, the configuration's destroy
                    // forgot its integrity data.
                    let d = w.pages[p].data;
                    assert!(d != plain && d != [0; PAGE_BYTES], "{release}");
                } else {
                    assert_eq!(w.pages[p].data, [0; PAGE_BYTES], "{release}: cleared");
                }
            }
            assert!(!w.mm_is_protected(QEMU), "{release}");
            assert_eq!(called(&steps, "s390_gather_pages"), gathers, "{release}");
            assert_eq!(called(&steps, "s390_reset_acc"), !gathers, "{release}");
            let fast = called(&steps, "uv_call_sched(destroy-sec-conf-fast)");
            assert_eq!(fast, async_cleanup && release == "v6.2", "{release}");
            if gathers {
                // Each gathered reference is taken with the PTE lock held.
                let gets: Vec<_> = steps
                    .iter()
                    .filter(|s| s.name == "get_page" && s.frames.contains(&"s390_gather_pages"))
                    .collect();
                assert_eq!(gets.len(), 2 * (1 + usize::from(fast)), "{release}");
            }
        }
    }
}

/// The teardown's UV failures: a failed configuration destroy `WARN_ONCE`s and leaks the
/// VM (v5.7 clears `is_protected` anyway; from v6.0 `protected_count` stays up); the
/// legacy destroy answer rc 0x107 rrc 0xd is success (`uv_destroy_page`), any other
/// `WARN_ON_ONCE`s in `s390_reset_acc` and is ignored in `s390_uv_destroy_pfns`; the fast
/// destroy's rc 0x104 is no warning, and the set-aside falls back to `KVM_PV_DISABLE`.
#[test]
fn the_teardown_handles_each_uv_failure_as_its_release_does() {
    let run = |k: Kernel, fw: Vec<ThreadOp>, async_cleanup: bool| {
        let mut v = fw;
        v.push(teardown(async_cleanup));
        let m = model(two_secure_pages(), vec![("vmm", ops(v))], k);
        run_alone(&m, 0)
    };
    let conf = UvCalls(1 << 5);
    let destroy = UvCalls(1 << 4);
    let fast = UvCalls(1 << 6);
    let fail = |call, rc, rrc| ThreadOp::UvFail {
        call,
        rc,
        rrc: Some(rrc),
        count: 1,
    };
    for (release, uncounted) in [("v5.7", true), ("v6.0", false), ("v6.2", false)] {
        let (steps, w, done) = run(at(release), vec![fail(conf, 0x102, 0)], false);
        assert!(done, "{release}");
        assert_eq!(findings(&steps), vec!["warn"], "{release}");
        assert_eq!(w.vm.conf, kernel::world::Conf::Leaked, "{release}");
        assert_eq!(!w.mm_is_protected(QEMU), uncounted, "{release}");
    }
    for (rrc, warns) in [(0xd, false), (0x1, true)] {
        let (steps, _, _) = run(at("v5.10"), vec![fail(destroy, 0x107, rrc)], false);
        assert_eq!(
            findings(&steps).contains(&"warn"),
            warns,
            "v5.10 rrc {rrc:#x}"
        );
        // From v6.0 the destroy range ignores the failure.
        let (steps, _, _) = run(at("v6.0"), vec![fail(destroy, 0x107, rrc)], false);
        assert!(findings(&steps).is_empty(), "v6.0 rrc {rrc:#x}");
    }
    for (rc, warns) in [(0x104, false), (0x102, true)] {
        let (steps, w, done) = run(at("v6.2"), vec![fail(fast, rc, 0)], true);
        assert!(done);
        assert_eq!(findings(&steps).contains(&"warn"), warns, "fast rc {rc:#x}");
        assert!(
            called(&steps, "kvm_s390_pv_deinit_cleanup_all"),
            "falls back"
        );
        assert_eq!(w.vm.conf, kernel::world::Conf::Destroyed);
    }
}

/// The teardown runs after the vCPUs stopped: a scenario that could race it with a guest
/// access is not built; nor a busy period that never ends with a count.
#[test]
fn the_builder_rejects_what_the_kernel_cannot_do() {
    let mut b = file_guest(false, false);
    b.thread("vmm", ops(vec![teardown(false)])).expect("alone");
    let e = b
        .thread("vcpu", vcpu())
        .expect_err("a vCPU beside the teardown");
    assert_eq!((e.op, e.field), (Some(0), "op"));
    let mut b = file_guest(false, false);
    let e = b
        .thread(
            "vcpu",
            ops(vec![
                teardown(false),
                ThreadOp::GuestAccess {
                    gfn: 0,
                    write: None,
                },
            ]),
        )
        .expect_err("an access after the teardown");
    assert_eq!((e.op, e.field), (Some(1), "op"));
    let mut b = file_guest(false, false);
    b.thread(
        "vcpu",
        ops(vec![
            ThreadOp::GuestAccess {
                gfn: 0,
                write: None,
            },
            teardown(false),
        ]),
    )
    .expect("after the accesses, in their thread");
    let e = b
        .thread(
            "fw",
            ops(vec![ThreadOp::UvBusy {
                call: UvCalls(IMPORT),
                count: Some(1),
                partial: false,
                forever: true,
            }]),
        )
        .expect_err("forever with a count");
    assert_eq!(e.field, "forever");
    // No protected VM to tear down: an error, not a no-op.
    let mut b = Builder::new();
    b.mm("qemu", true, None).expect("mm");
    let e = b
        .thread("vmm", ops(vec![teardown(false)]))
        .expect_err("a teardown without a guest");
    assert_eq!((e.op, e.field), (Some(0), "op"));
    assert!(e.message.contains("[[guest]]"), "{}", e.message);
}

/// Pin-Page-Shared failing with condition code 1 (arch/s390/kernel/uv.c:
/// arch_make_page_accessible, v5.7 / 6.1.192: `uv_pin_shared` only tests for 0, then falls
/// back to `uv_convert_from_secure`): a page the guest shared is exported instead — the host
/// gets ciphertext, no device touches it secure, every reference balanced; with the export
/// failing too the hook returns -EINVAL and GUP slow FOLL_PIN unpins and fails (no I/O).
#[test]
fn a_failing_pin_shared_falls_back_to_the_export() {
    for release in ["v5.7", "v6.1", "v6.12"] {
        let m = model(
            file_guest(true, true),
            vec![(
                "pin",
                ops(vec![
                    uv_fail(PIN_SHARED, 0x102),
                    gup(MM2, GupFlags::FOLL_PIN, false),
                    ThreadOp::Dma { to_device: true },
                    ThreadOp::Put {},
                ]),
            )],
            kernel(release),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done, "{release}");
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{release}");
        assert!(called(&steps, "uv_pin_shared") && called(&steps, "uv_convert_from_secure"));
        assert_eq!(w.uv[P0].state, UvState::NonSecure, "{release}: exported");
        assert_ne!(
            w.pages[P0].data, [0x11; PAGE_BYTES],
            "{release}: ciphertext"
        );
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0), "{release}");
        let m = model(
            file_guest(true, true),
            vec![(
                "pin",
                ops(vec![
                    uv_fail(PIN_SHARED | EXPORT, 0x102),
                    gup(MM2, GupFlags::FOLL_PIN, false),
                    ThreadOp::Dma { to_device: true },
                    ThreadOp::Put {},
                ]),
            )],
            kernel(release),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done, "{release}");
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{release}");
        assert!(called(&steps, "unpin_user_page"), "{release}");
        assert!(!called(&steps, "dma_read"), "{release}: no I/O");
        assert!(
            matches!(w.uv[P0].state, UvState::Secure { .. }),
            "{release}"
        );
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0), "{release}");
    }
}

/// A busy export spins in `uv_call` wherever the hook runs: under the PTE lock in GUP slow
/// (every release: the hook has always used `uv_call`), and in writeback under the PTE lock
/// too: the writer's `folio_mkclean` exports at `ptep_clear_flush` under the shared
/// mapping's PTE lock (mm/rmap.c `page_vma_mkclean_one`, v5.7 `uv_convert_from_secure`,
/// 6.12.118 `uv_convert_from_secure_pte`, both through the looping `uv_call`).
#[test]
fn a_busy_export_spins_under_the_callers_locks() {
    for (path, want) in [
        (
            vec![gup(QEMU, GupFlags::FOLL_PIN, false), ThreadOp::Put {}],
            vec!["bounded-waiting"],
        ),
        (
            vec![ThreadOp::Writeback {
                file: FILE,
                index: 0,
            }],
            vec!["bounded-waiting"],
        ),
    ] {
        for name in ["v5.7", "v6.12"] {
            let mut v = vec![ThreadOp::UvBusy {
                call: UvCalls(EXPORT),
                count: None,
                partial: true,
                forever: false,
            }];
            let fw = ops(std::mem::take(&mut v));
            let m = model(
                file_guest(true, false),
                vec![("io", ops(path.clone())), ("firmware", fw)],
                kernel(name),
            );
            assert_eq!(violated(&explore_all(&m)), want, "{name}: {path:?}");
        }
    }
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
    let busy = |count| {
        OpCall::from(ThreadOp::UvBusy {
            call: UvCalls(IMPORT),
            count: Some(count),
            partial: false,
            forever: false,
        })
    };
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

/// The writer as the kernel writes a folio (mm/page-writeback.c `write_cache_pages`,
/// 6.1.192; `writeback_iter` → `folio_prepare_writeback`, 6.12.118): `folio_clear_dirty_for_io`
/// write-protects the shared mappings (`folio_mkclean`: the PTE read-only and clean, the
/// page still mapped) and clears PG_dirty; a second writer then finds the folio clean
/// ("someone wrote it for us") and starts no I/O.
#[test]
fn a_second_writeback_of_a_clean_folio_writes_nothing() {
    for name in ["v5.7", "v6.1.192", "v6.12"] {
        let wb = || ThreadOp::Writeback {
            file: FILE,
            index: 0,
        };
        let m = model(
            file_guest(false, false),
            vec![("wb", ops(vec![wb(), wb()]))],
            kernel(name),
        );
        let (steps, w, done) = run_alone(&m, 0);
        assert!(done, "{name}");
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{name}");
        let writes = steps
            .iter()
            .filter(|s| s.name == "dma_read (disk write-out)")
            .count();
        assert_eq!(writes, 1, "{name}: one write-out");
        assert!(!w.pages[P0].dirty && !w.pages[P0].writeback, "{name}");
        for mm in 0..2 {
            let pte = w.mms[mm].pte(0);
            assert!(
                pte.present && !pte.write,
                "{name}: mm {mm} read-only, mapped"
            );
        }
    }
}
