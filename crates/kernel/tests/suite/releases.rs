//! Issue 26, releases and the import flows per era: the model's import drivers, their callers
//! (`kvm_s390_pv_unpack` → `unpack_one`, the PGM 0x3e handler), the new gmap's locks, the
//! empty-pipe splice, the shared-frame write and the two import properties, each against
//! the kernel source it cites (arch/s390/kernel/uv.c, arch/s390/kvm/{gmap,pv,faultin}.c,
//! fs/splice.c of the release named). Built with the kernel crate's own [`Builder`]; a
//! thread stepped alone where one path's effect is the point, DPOR where an interleaving is.

use super::common::*;
use explore::runtime::StepRecord;
use explore::{Execution, Finding, Model};
use kernel::build::{Backing, Builder, GuestSpec, MapSpec};
use kernel::uv::UvState;
use kernel::vocab::ops::{GupFlags, ThreadOp, UvCalls};
use kernel::world::{ExpectBy, PAGE_BYTES};
use kernel::{Kernel, KernelModel, World};

const QEMU: usize = 0;
const MM2: usize = 1;
const P0: usize = 0;

/// A file of `pages` pages, each mapped MAP_SHARED in QEMU's protected mm and in a second
/// mm at vpn i, backing guest frame i; `image`: each frame holds a part of the guest's
/// encrypted boot image (bytes 0x41, 0x42, …); one pipe.
fn file_guest(pages: usize, image: bool) -> Builder {
    let mut b = Builder::new();
    let f = b.file("guest.img", pages).expect("file");
    let qemu = b.mm("qemu", true, None).expect("mm");
    let mm2 = b.mm("mm2", false, None).expect("mm");
    for mm in [qemu, mm2] {
        for i in 0..pages {
            b.map(MapSpec {
                mm,
                vpn: i,
                backing: Backing::File { file: f, index: i },
                shared: true,
                writable: true,
                present: true,
                pte_write: true,
            })
            .expect("map");
        }
    }
    for i in 0..pages {
        b.guest(GuestSpec {
            gfn: i,
            mm: qemu,
            vpn: i,
            secure: false,
            shared: false,
            data: image.then_some(0x41 + i as u8),
            image,
        })
        .expect("guest");
    }
    b.pipe("p").expect("pipe");
    b
}

/// QEMU's anonymous guest RAM, one page at vpn 0 (present or to be faulted in), as guest
/// frame 0.
fn anon_guest(present: bool, pte_write: bool, shared: bool) -> Builder {
    let mut b = Builder::new();
    let qemu = b.mm("qemu", true, None).expect("mm");
    b.map(MapSpec {
        mm: qemu,
        vpn: 0,
        backing: Backing::Anon,
        shared: false,
        writable: true,
        present,
        pte_write,
    })
    .expect("map");
    b.guest(GuestSpec {
        gfn: 0,
        mm: qemu,
        vpn: 0,
        secure: false,
        shared,
        data: None,
        image: false,
    })
    .expect("guest");
    b
}

fn store() -> ThreadOp {
    ThreadOp::GuestAccess {
        gfn: 0,
        write: Some(0x5a),
    }
}

fn load(gfn: usize) -> ThreadOp {
    ThreadOp::GuestAccess { gfn, write: None }
}

/// Steps thread `tid` alone until it finishes, blocks or ends the execution.
fn run_alone_in(ex: &mut Execution<World>, tid: usize) -> Vec<StepRecord> {
    let mut steps = Vec::new();
    for _ in 0..5_000 {
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
    steps
}

/// Steps thread `tid` alone up to and including the step named `name`.
fn run_until(ex: &mut Execution<World>, tid: usize, name: &str) -> Vec<StepRecord> {
    let mut steps = Vec::new();
    while !ex.finished(tid) && ex.enabled(tid) {
        let r = ex.step(tid);
        let hit = r.name == name;
        steps.push(r);
        if hit {
            return steps;
        }
    }
    panic!("thread {tid} never reached `{name}`");
}

fn called(steps: &[StepRecord], function: &str) -> bool {
    steps
        .iter()
        .any(|s| s.name == function || s.frames.contains(&function))
}

fn at_end(m: &KernelModel, w: &World) -> Vec<Finding> {
    let mut out = Vec::new();
    m.at_end(w, &mut out);
    out
}

/// `kvm_s390_pv_unpack` alone, per release: every page of the image goes through
/// `unpack_one` and the Unpack UVC, ends secure with the image's plaintext, and is recorded
/// as reported in place; nothing is violated at the end.
#[test]
fn unpack_secures_every_page_of_the_image_in_every_era() {
    for name in [
        "v5.7",
        "v5.16",
        "v6.1.192",
        "v6.4",
        "v6.11",
        "debian-6.12.118",
        "v6.14-rc1",
        "v6.14",
        "v6.16",
        "v7.0",
        "v7.1",
    ] {
        let m = model(
            file_guest(2, true),
            vec![(
                "vcpu",
                ops(vec![
                    ThreadOp::Unpack { gfn: 0, pages: 2 },
                    load(0),
                    load(1),
                ]),
            )],
            kernel(name),
        );
        let mut ex = Execution::start(m.instance(), true);
        let steps = run_alone_in(&mut ex, 0);
        assert!(ex.finished(0), "{name}");
        assert_eq!(findings(&steps), Vec::<&str>::new(), "{name}");
        let w = ex.with_world(|w| w.clone());
        for (gfn, byte) in [(0, 0x41u8), (1, 0x42)] {
            assert_eq!(w.uv[gfn].state, UvState::Secure { guest: 0, gfn }, "{name}");
            assert_eq!(w.pages[gfn].data, [byte; PAGE_BYTES], "{name}: decrypted");
        }
        assert_eq!(
            steps.iter().filter(|s| s.name == "uv_call(unpack)").count(),
            2,
            "{name}"
        );
        assert_eq!(
            steps.iter().filter(|s| s.name == "unpack_one: 0").count(),
            2,
            "{name}"
        );
        assert!(at_end(&m, &w).is_empty(), "{name}");
    }
}

/// v6.14-rc1 … rc7 (5cbe24350b7d, arch/s390/kvm/gmap.c: gmap_make_secure): when
/// `gfn_to_page` fails the result stays 0, so `unpack_one` reports the page done although it
/// was never unpacked: import-completeness at the end. The lookup fails here on the count
/// another import froze (the grab WARNs and fails); v6.14's `make_hva_secure` instead waits
/// for the PTE lock the other import holds.
#[test]
fn a_failed_gfn_to_page_reports_the_page_unpacked() {
    let threads = || {
        vec![
            ("vcpu", ops(vec![store()])),
            ("unpack", ops(vec![ThreadOp::Unpack { gfn: 0, pages: 1 }])),
        ]
    };
    let m = model(file_guest(1, true), threads(), kernel("v6.14-rc1"));
    let mut ex = Execution::start(m.instance(), true);
    run_until(&mut ex, 0, "page_ref_freeze");
    let steps = run_alone_in(&mut ex, 1);
    assert!(ex.finished(1), "the unpack ends while the page is frozen");
    assert!(called(&steps, "gfn_to_page"));
    assert!(
        findings(&steps).contains(&"warn"),
        "the grab on a frozen count"
    );
    assert!(!called(&steps, "uv_call(unpack)"), "no UVC for it");
    let w = ex.with_world(|w| w.clone());
    assert_eq!(w.guest[0].expect.map(|x| x.by), Some(ExpectBy::Unpack));
    assert_eq!(w.uv[P0].state, UvState::NonSecure);
    let end: Vec<_> = at_end(&m, &w).iter().map(|f| f.property).collect();
    assert!(end.contains(&"import-completeness"), "{end:?}");

    let m = model(file_guest(1, true), threads(), kernel("v6.14"));
    let mut ex = Execution::start(m.instance(), true);
    run_until(&mut ex, 0, "page_ref_freeze");
    run_alone_in(&mut ex, 1);
    assert!(!ex.finished(1), "v6.14: the unpack waits for the PTE lock");
    ex.with_world(|w| assert_eq!(w.guest[0].expect, None));
}

/// v6.14 `make_hva_secure` (d8dfda5af0be) and v7.0 `kvm_s390_pv_make_secure`: a freeze that
/// fails on a held reference is `-EBUSY`, which `s390_wiggle_split_folio` turns into
/// `-EAGAIN`: the unpack waits and retries (it does not end with an error), and completes
/// once the reference is dropped.
#[test]
fn a_held_reference_makes_the_unpack_retry_not_fail() {
    for name in ["v6.14-rc1", "v6.14", "v6.16", "v7.0", "v7.1"] {
        let m = model(
            file_guest(1, true),
            vec![
                (
                    "reader",
                    ops(vec![
                        ThreadOp::FindGetPage { file: 0, index: 0 },
                        ThreadOp::Put {},
                    ]),
                ),
                ("unpack", ops(vec![ThreadOp::Unpack { gfn: 0, pages: 1 }])),
            ],
            kernel(name),
        );
        let mut ex = Execution::start(m.instance(), true);
        run_until(&mut ex, 0, "page_ref_add_unless");
        let steps = run_alone_in(&mut ex, 1);
        assert!(
            called(&steps, "s390_wiggle_split_folio")
                || called(&steps, "kvm_s390_wiggle_split_folio"),
            "{name}"
        );
        assert!(
            !ex.finished(1),
            "{name}: the unpack waits, it does not stop"
        );
        run_alone_in(&mut ex, 0);
        let steps = run_alone_in(&mut ex, 1);
        assert!(ex.finished(1), "{name}");
        assert!(called(&steps, "uv_call(unpack)"), "{name}");
        ex.with_world(|w| assert!(matches!(w.uv[P0].state, UvState::Secure { .. })));
    }
}

/// The new gmap (e38c884df921, v7.0) has no import-side drain of its own but its wiggle
/// drains (`s390_wiggle_split_folio`: `lru_add_drain_all`, every release read up to v7.1):
/// guest RAM faulted in with its page on the per-CPU LRU batch is imported. Without the drain
/// (`wiggle_drains=false`, the linux-mm tree after v7.1) nothing drops the batch's reference
/// and the import can never freeze: a livelock.
#[test]
fn the_v7_0_wiggle_drains_the_lru_batch() {
    let m = model(
        anon_guest(false, true, false),
        vec![("vcpu", ops(vec![store()]))],
        kernel("v7.0"),
    );
    assert_eq!(violated(&explore_all(&m)), Vec::<&str>::new());
    let m = model(
        anon_guest(false, true, false),
        vec![("vcpu", ops(vec![store()]))],
        with("v7.0", &[("wiggle_drains", "false")]),
    );
    assert!(violated(&explore_all(&m)).contains(&"livelock"));
}

/// The 2026-06 fix (v7.1, arch/s390/kvm/pv.c: _kvm_s390_pv_make_secure): `try_get_locked_pte`
/// only trylocks; while another thread (here GUP's `follow_page_pte`) holds QEMU's PTE lock
/// the import gives up with `-EAGAIN` and waits. v7.0 takes no host PTE lock and imports
/// under the other thread's PTE lock. Neither reads the PTE's content.
#[test]
fn v7_1_gives_up_on_a_contended_pte_lock_v7_0_takes_none() {
    for (name, waits) in [("v7.0", false), ("v7.1", true)] {
        let m = model(
            anon_guest(true, true, false),
            vec![
                (
                    "gup",
                    ops(vec![ThreadOp::Gup {
                        mm: QEMU,
                        vpn: 0,
                        flags: GupFlags(GupFlags::FOLL_GET),
                        fast: false,
                        write: false,
                        nr_pages: 1,
                    }]),
                ),
                ("vcpu", ops(vec![store()])),
            ],
            kernel(name),
        );
        let mut ex = Execution::start(m.instance(), true);
        run_until(&mut ex, 0, "spin_lock(ptl)");
        let steps = run_alone_in(&mut ex, 1);
        assert_eq!(!ex.finished(1), waits, "{name}");
        assert_eq!(called(&steps, "spin_trylock(ptl)"), waits, "{name}");
        assert!(!called(&steps, "ptep_get"), "{name}");
        let secure = ex.with_world(|w| matches!(w.uv[P0].state, UvState::Secure { .. }));
        assert_eq!(secure, !waits, "{name}");
    }
}

/// `import-precondition`: where the import holds the PTE lock from lookup to UVC (v5.7,
/// v6.4, v6.14) or keeps invalidations out with `mmu_lock` (v7.0, v7.1), MADV_DONTNEED of
/// guest RAM and a fault that maps a new page there cannot come between the lookup and the
/// UVC; in v6.14-rc1 (5cbe24350b7d: `gfn_to_page`, no PTE lock) they can, and the UV
/// follows the PTE to a page nobody froze. Without the PTE lock (seeded defect
/// `import_holds_ptl=false`) the E1/E2 imports hold no reference to the page they looked
/// up: the zap frees it, the refault reuses the same frame, and the UVC's PTE maps another
/// allocation of it (its generation, not its frame, differs). A zap alone is benign (issue
/// 26 item 8): the UV answers rc 0x10a on the cleared PTE (`uv::import`: `NotMapped`),
/// `-ENXIO`, the caller faults the page in and the retry imports it.
#[test]
fn the_import_precondition_holds_under_its_locks_only() {
    let build = |k: Kernel, refault: bool| {
        let mut qemu = vec![ThreadOp::Zap { mm: QEMU, vpn: 0 }];
        if refault {
            // A GUP for write faults a new page in at the zapped address (the cheapest
            // refault: no 0x3d retry loop), then drops its reference.
            qemu.push(ThreadOp::Gup {
                mm: QEMU,
                vpn: 0,
                flags: GupFlags(GupFlags::FOLL_GET | GupFlags::FOLL_WRITE),
                fast: false,
                write: true,
                nr_pages: 1,
            });
            qemu.push(ThreadOp::Put {});
            // The fault's `lru_cache_add` left a reference in QEMU's per-CPU batch.
            qemu.push(ThreadOp::LruDrain {});
        }
        model(
            anon_guest(true, true, false),
            vec![("vcpu", ops(vec![store()])), ("qemu", ops(qemu))],
            k,
        )
    };
    let run = |k: Kernel, refault: bool| {
        violated(&explore_all(&build(k, refault))).contains(&"import-precondition")
    };
    // The zap alone, every interleaving: benign everywhere.
    for name in ["v5.7", "v6.4", "v6.14-rc1", "v6.14", "v7.0", "v7.1"] {
        assert!(!run(kernel(name), false), "{name}: a zap alone is benign");
    }
    // v6.14-rc1, one schedule: the vCPU's import has its `gfn_to_page` reference and the
    // page lock; QEMU zaps the PTE and faults a new page in for write; the UVC then follows
    // the PTE to that page.
    let m = build(kernel("v6.14-rc1"), true);
    let mut ex = Execution::start(m.instance(), true);
    run_until(&mut ex, 0, "trylock_page");
    run_alone_in(&mut ex, 1);
    assert!(ex.finished(1));
    let steps = run_alone_in(&mut ex, 0);
    assert!(findings(&steps).contains(&"import-precondition"));
    // v5.7 (E1) and v6.4 (E2), one schedule each (every interleaving of the zap and the
    // refault is more than 50,000 executions): the vCPU's import reads the PTE at its lookup
    // (`make_secure_pte` / `gmap_make_secure`: `ptep_get`); QEMU then zaps and refaults.
    // With the PTE lock QEMU's zap waits for it and the UVC meets the looked-up page; without
    // it (`import_holds_ptl=false`) the zap frees the page (the import holds no reference),
    // the refault reuses its frame, and the UVC meets the frame allocated anew.
    for name in ["v5.7", "v6.4"] {
        for locked in [true, false] {
            let k = with(
                name,
                &[("import_holds_ptl", if locked { "true" } else { "false" })],
            );
            let m = build(k, true);
            let mut ex = Execution::start(m.instance(), true);
            // The import's lookup (E1: `follow_page` reads the PTE first, without a lock).
            loop {
                let lookup = run_until(&mut ex, 0, "ptep_get");
                if !called(&lookup[lookup.len() - 1..], "follow_page") {
                    break;
                }
            }
            run_alone_in(&mut ex, 1);
            assert_eq!(
                ex.finished(1),
                !locked,
                "{name} locked={locked}: the zap waits"
            );
            let mut steps = run_alone_in(&mut ex, 0);
            steps.extend(run_alone_in(&mut ex, 1));
            steps.extend(run_alone_in(&mut ex, 0));
            assert_eq!(
                findings(&steps).contains(&"import-precondition"),
                !locked,
                "{name} locked={locked}"
            );
        }
    }
}

/// From d8dfda5af0be (v6.14) the PGM 0x3e handler follows the import's `-ENXIO` (a PTE that
/// is not writable: `make_hva_secure`'s `pte_write` check) with a write fault; a guest load
/// through a read-only PTE is then imported. Without it (`enxio_write_fault=false`) the guest
/// re-faults for ever: a livelock (nothing another thread does can end it).
#[test]
fn the_0x3e_handler_write_faults_on_enxio() {
    let threads = || vec![("vcpu", ops(vec![load(0)]))];
    let m = model(anon_guest(true, false, false), threads(), kernel("v6.14"));
    let mut ex = Execution::start(m.instance(), true);
    let steps = run_alone_in(&mut ex, 0);
    assert!(ex.finished(0));
    assert!(called(&steps, "vcpu_post_run_handle_fault"));
    assert_eq!(findings(&steps), Vec::<&str>::new());
    let m = model(
        anon_guest(true, false, false),
        threads(),
        with("v6.14", &[("enxio_write_fault", "false")]),
    );
    assert!(violated(&explore_all(&m)).contains(&"livelock"));
}

/// fs/splice.c: splice_from_pipe_next: splice from an empty pipe waits while another task
/// holds the pipe's write end (here: until the other thread's splice-read, after which it
/// closes it), and returns 0 when no writer is left.
#[test]
fn splice_from_an_empty_pipe_waits_for_its_writer() {
    let reader = || ops(vec![ThreadOp::SpliceToSocket { pipe: 0 }]);
    let m = model(
        file_guest(1, false),
        vec![("to-socket", reader())],
        kernel("v5.7"),
    );
    let mut ex = Execution::start(m.instance(), true);
    let steps = run_alone_in(&mut ex, 0);
    assert!(ex.finished(0), "no writer: 0 bytes, at once");
    assert!(!called(&steps, "NIC"));

    let m = model(
        file_guest(1, false),
        vec![
            ("to-socket", reader()),
            (
                "to-pipe",
                ops(vec![ThreadOp::SpliceRead {
                    file: 0,
                    index: 0,
                    pipe: 0,
                }]),
            ),
        ],
        kernel("v5.7"),
    );
    let mut ex = Execution::start(m.instance(), true);
    run_alone_in(&mut ex, 0);
    assert!(!ex.finished(0), "the reader waits for the writer");
    run_alone_in(&mut ex, 1);
    let steps = run_alone_in(&mut ex, 0);
    assert!(ex.finished(0));
    assert!(called(&steps, "NIC"), "the page went to the NIC");
    ex.with_world(|w| {
        assert!(w.pipes[0].bufs.is_empty());
        assert_eq!(w.pages[P0].refcount, w.accounted_refs(P0));
    });
    // A thread that would read its own later write is a scenario error.
    let mut b = file_guest(1, false);
    let e = b
        .thread(
            "self",
            ops(vec![
                ThreadOp::SpliceToSocket { pipe: 0 },
                ThreadOp::SpliceRead {
                    file: 0,
                    index: 0,
                    pipe: 0,
                },
            ]),
        )
        .expect_err("rejected");
    assert_eq!((e.op, e.field), (Some(0), "pipe"));
}

/// `guest-integrity` at its definition: a device write into a frame the guest shared (pinned
/// shared by the hook, `uv_pin_shared`) is what the guest then reads; into a frame it did not
/// share it is a write into the exported page, whose next import fails its integrity check
/// (-EINVAL: SIGSEGV) — never a silent guest-integrity violation.
#[test]
fn a_device_write_into_a_shared_frame_is_what_the_guest_reads() {
    let threads = || {
        vec![
            ("vcpu", ops(vec![store(), load(0)])),
            (
                "io",
                ops(vec![
                    ThreadOp::Gup {
                        mm: QEMU,
                        vpn: 0,
                        flags: GupFlags(GupFlags::FOLL_PIN | GupFlags::FOLL_WRITE),
                        fast: true,
                        write: false,
                        nr_pages: 1,
                    },
                    ThreadOp::Dma { to_device: false },
                    ThreadOp::Put {},
                ]),
            ),
        ]
    };
    let m = model(anon_guest(true, true, true), threads(), kernel("v6.5"));
    assert_eq!(violated(&explore_all(&m)), Vec::<&str>::new());
    let m = model(anon_guest(true, true, false), threads(), kernel("v6.5"));
    let v = violated(&explore_all(&m));
    assert!(v.contains(&"guest-killed"), "{v:?}");
    assert!(!v.contains(&"guest-integrity"), "{v:?}");
}

/// `KVM_PV_UNPACK` after one busy answer of the UV (v5.16 on: `__uv_call` once, -EAGAIN):
/// the retry is possible at once (the busy answer is used up), so it is no livelock; and a
/// busy answer still to come does not count as progress while a held reference makes the
/// freeze fail first (no retry-bound: the guest's re-fault loop waits for the put).
#[test]
fn busy_answers_and_held_references_are_waited_out() {
    for name in ["v5.16", "v6.4", "v7.1"] {
        let m = model(
            file_guest(1, true),
            vec![
                ("unpack", ops(vec![ThreadOp::Unpack { gfn: 0, pages: 1 }])),
                (
                    "firmware",
                    ops(vec![ThreadOp::UvBusy {
                        call: UvCalls(3),
                        count: Some(1),
                        partial: false,
                        forever: false,
                    }]),
                ),
            ],
            kernel(name),
        );
        assert_eq!(violated(&explore_all(&m)), Vec::<&str>::new(), "{name}");
        let m = model(
            file_guest(1, false),
            vec![
                ("vcpu", ops(vec![store()])),
                (
                    "host",
                    ops(vec![
                        ThreadOp::UvBusy {
                            call: UvCalls(3),
                            count: Some(1),
                            partial: false,
                            forever: false,
                        },
                        ThreadOp::FindGetPage { file: 0, index: 0 },
                        ThreadOp::Put {},
                    ]),
                ),
            ],
            kernel(name),
        );
        assert_eq!(violated(&explore_all(&m)), Vec::<&str>::new(), "{name}");
    }
    let _ = MM2;
}
