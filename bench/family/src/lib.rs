//! The benchmark family F(n, k) as a model for pvmm's explorer.
//!
//! One importer takes the PTE lock, freezes the page's refcount at its expected value (1, the
//! mapping's reference), marks the page secure, unfreezes and unlocks; n − 1 I/O threads each
//! k times take a reference with a try-get loop (an atomic add-unless-zero that fails on a
//! frozen count and is retried), call the accessibility hook (exports a secure page), do the
//! I/O (which must not meet a secure page) and drop the reference. The buggy variant does the
//! I/O without the reference. The same protocol is written for loom (`bench/loom-family`) and
//! for SPIN (`bench/spin/family.pml`), operation for operation.
//!
//! Every thread keeps its resume point (`pc`, `round`) in the world, written by its step
//! bodies, so that the whole state can be hashed ([`explore::StateKey`]).

use explore::search::StateKey;
use explore::{Access, Accesses, Ctx, Finding, Instance, Model, ObjId, Op, Severity};
use std::hash::{Hash, Hasher};

pub const LOCK: ObjId = ObjId(0);
pub const RC: ObjId = ObjId(1);
pub const SECURE: ObjId = ObjId(2);

/// Most threads a family instance has.
pub const MAX_THREADS: usize = 16;

/// Expected refcount of the page when nobody else holds it.
pub const EXPECTED: u8 = 1;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct World {
    pub lock: bool,
    pub rc: u8,
    pub secure: bool,
    /// Resume point of each thread (inline: copying the world allocates nothing).
    pub pc: [u8; MAX_THREADS],
    /// Round of each I/O thread.
    pub round: [u8; MAX_THREADS],
}

#[derive(Clone, Copy, Debug)]
pub struct Family {
    pub n: usize,
    pub k: usize,
    /// I/O without taking a reference.
    pub bug: bool,
}

// Resume points.
const I_LOCKED: u8 = 1;
const I_FROZEN: u8 = 2;
const I_FAILED: u8 = 3;
const I_SECURE: u8 = 4;
const I_UNFROZEN: u8 = 5;
const DONE: u8 = 9;
const T_RETRY: u8 = 1;
const T_GOT: u8 = 2;
const T_HOOKED: u8 = 3;
const T_DID_IO: u8 = 4;
const T_PUT: u8 = 5;
const T_WAITED: u8 = 6;

fn lock_free(w: &World, _: u64) -> bool {
    !w.lock
}

/// The importer, from resume point `pc` (0 at the start).
async fn importer(cx: Ctx<World>, mut pc: u8) {
    loop {
        pc = match pc {
            0 => {
                cx.step(
                    Op::new("pte-lock", Accesses::new().with(Access::acquire(LOCK)))
                        .when(lock_free, 0),
                    |e| {
                        e.world.lock = true;
                        e.world.pc[e.tid] = I_LOCKED;
                        I_LOCKED
                    },
                )
                .await
            }
            I_LOCKED => {
                cx.step(
                    Op::new("page_ref_freeze", Accesses::new().with(Access::write(RC))),
                    |e| {
                        let ok = e.world.rc == EXPECTED;
                        if ok {
                            e.world.rc = 0;
                        }
                        e.world.pc[e.tid] = if ok { I_FROZEN } else { I_FAILED };
                        e.world.pc[e.tid]
                    },
                )
                .await
            }
            I_FROZEN => {
                cx.step(
                    Op::new("make-secure", Accesses::new().with(Access::write(SECURE))),
                    |e| {
                        e.world.secure = true;
                        e.world.pc[e.tid] = I_SECURE;
                        I_SECURE
                    },
                )
                .await
            }
            I_SECURE => {
                cx.step(
                    Op::new("page_ref_unfreeze", Accesses::new().with(Access::write(RC))),
                    |e| {
                        e.world.rc = EXPECTED;
                        e.world.pc[e.tid] = I_UNFROZEN;
                        I_UNFROZEN
                    },
                )
                .await
            }
            I_FAILED | I_UNFROZEN => {
                cx.step(
                    Op::new("pte-unlock", Accesses::new().with(Access::release(LOCK))),
                    |e| {
                        e.world.lock = false;
                        e.world.pc[e.tid] = DONE;
                        DONE
                    },
                )
                .await
            }
            _ => return,
        };
    }
}

/// An I/O thread, from resume point (`round`, `pc`) ((0, 0) at the start). Written as a state
/// machine over its resume points so that the search can restart it from any of them.
async fn io_thread(cx: Ctx<World>, k: usize, bug: bool, mut round: u8, mut pc: u8) {
    loop {
        let round_start = pc == 0 || pc == T_PUT || (bug && pc == T_DID_IO);
        if round_start && round as usize == k {
            return;
        }
        (round, pc) = if round_start && !bug || pc == T_WAITED {
            // try_get_page: an atomic add-unless-frozen.
            cx.step(
                Op::new(
                    "try_get_page",
                    Accesses::new().with(Access::inc_unless_zero(RC)),
                ),
                move |e| {
                    let ok = e.world.rc != 0;
                    if ok {
                        e.world.rc += 1;
                    }
                    e.world.pc[e.tid] = if ok { T_GOT } else { T_RETRY };
                    (round, e.world.pc[e.tid])
                },
            )
            .await
        } else if pc == T_RETRY {
            // After a failure, spin on reads of the count until it is no longer frozen; parked
            // until it changes (weak fairness).
            cx.step(
                Op::new("wait-unfrozen", Accesses::new().with(Access::read(RC))).parked(),
                move |e| {
                    let frozen = e.world.rc == 0;
                    e.world.pc[e.tid] = if frozen { T_RETRY } else { T_WAITED };
                    (round, e.world.pc[e.tid])
                },
            )
            .await
        } else if round_start || pc == T_GOT {
            cx.step(
                Op::new(
                    "arch_make_page_accessible",
                    Accesses::new().with(Access::set(SECURE, 0)),
                ),
                move |e| {
                    if e.world.secure {
                        e.world.secure = false; // export
                    }
                    e.world.pc[e.tid] = T_HOOKED;
                    (round, T_HOOKED)
                },
            )
            .await
        } else if pc == T_HOOKED {
            cx.step(
                Op::new("io", Accesses::new().with(Access::read(SECURE))),
                move |e| {
                    if e.world.secure {
                        e.report_fatal("io-on-secure-page", "I/O on a secure page".into());
                    }
                    e.world.pc[e.tid] = T_DID_IO;
                    let r = if bug { round + 1 } else { round }; // without put, the round ends here
                    e.world.round[e.tid] = r;
                    (r, T_DID_IO)
                },
            )
            .await
        } else {
            debug_assert_eq!(pc, T_DID_IO);
            cx.step(
                Op::new("put_page", Accesses::new().with(Access::add(RC))),
                move |e| {
                    e.world.rc -= 1;
                    e.world.pc[e.tid] = T_PUT;
                    e.world.round[e.tid] = round + 1; // the round ends here
                    (round + 1, T_PUT)
                },
            )
            .await
        };
    }
}

impl Family {
    /// An instance at `world`'s resume points; `named`: with thread names (the search's
    /// restores do not show them, and skip formatting them).
    /// `need`: the threads the caller will start (a bit set); the others get a function that
    /// captures nothing (no allocation) and is never called.
    fn instance_at(&self, world: World, named: bool, need: u64) -> Instance<World> {
        let mut threads: Vec<(String, explore::ThreadFn<World>)> = Vec::with_capacity(self.n);
        let pc0 = world.pc[0];
        let name = |s: String| if named { s } else { String::new() };
        let unused =
            || -> explore::ThreadFn<World> { Box::new(|_| Box::pin(std::future::ready(()))) };
        threads.push((
            name("importer".into()),
            if need & 1 != 0 {
                Box::new(move |cx| Box::pin(importer(cx, pc0)))
            } else {
                unused()
            },
        ));
        for i in 1..self.n {
            if need & (1 << i) == 0 {
                threads.push((String::new(), unused()));
                continue;
            }
            let (k, bug) = (self.k, self.bug);
            let (r, pc) = (world.round[i], world.pc[i]);
            threads.push((
                if named {
                    format!("io{i}")
                } else {
                    String::new()
                },
                Box::new(move |cx| Box::pin(io_thread(cx, k, bug, r, pc))),
            ));
        }
        Instance {
            world,
            objects: 3,
            threads,
        }
    }
}

impl Model for Family {
    type World = World;
    fn instance(&self) -> Instance<World> {
        assert!(
            (2..=MAX_THREADS).contains(&self.n),
            "F(n, k) needs 2 ≤ n ≤ {MAX_THREADS}"
        );
        self.instance_at(
            World {
                lock: false,
                rc: EXPECTED,
                secure: false,
                pc: [0; MAX_THREADS],
                round: [0; MAX_THREADS],
            },
            true,
            u64::MAX,
        )
    }
    fn at_end(&self, w: &World, out: &mut Vec<Finding>) {
        if w.rc != EXPECTED {
            out.push(Finding {
                property: "reference-balance",
                severity: Severity::Violation,
                message: format!("refcount {} at the end, expected {EXPECTED}", w.rc),
                fatal: false,
            });
        }
    }
    fn state_hash(&self, w: &World) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        w.hash(&mut h);
        h.finish()
    }
}

impl StateKey for Family {
    fn hash_state<H: Hasher>(&self, w: &World, h: &mut H) {
        w.hash(h);
    }
    fn resume(&self, w: &World) -> Option<Instance<World>> {
        Some(self.instance_at(w.clone(), false, u64::MAX))
    }
    fn resume_some(&self, w: &World, need: u64) -> Option<Instance<World>> {
        Some(self.instance_at(w.clone(), false, need))
    }
    fn snapshot(&self, w: &World) -> Option<World> {
        Some(w.clone())
    }
    /// The I/O threads run the same code with the same parameters, and nothing shared names
    /// one of them: they are interchangeable.
    fn symmetry(&self) -> Vec<Vec<explore::Tid>> {
        vec![(1..self.n).collect()]
    }
    fn hash_shared<H: Hasher>(&self, w: &World, h: &mut H) {
        (w.lock, w.rc, w.secure, w.pc[0]).hash(h);
    }
    fn hash_thread<H: Hasher>(&self, w: &World, tid: explore::Tid, h: &mut H) {
        (w.pc[tid], w.round[tid]).hash(h);
    }
}
