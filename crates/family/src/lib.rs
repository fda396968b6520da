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

#![forbid(unsafe_code)]

use explore::search::StateKey;
use explore::{
    machine, Access, Accesses, Ctx, Finding, Instance, Machine, Model, ObjId, Op, Severity,
    StepEnv, ThreadFuture,
};
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

fn unfrozen(w: &World, _: u64) -> bool {
    w.rc != 0
}

/// A step of a family thread: what its resume point in the world says it does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    PteLock,
    Freeze,
    MakeSecure,
    Unfreeze,
    PteUnlock,
    TryGet,
    WaitUnfrozen,
    Hook,
    Io,
    Put,
}

impl Family {
    /// Thread `tid`'s next step at its resume point in `w` (`None`: it has finished).
    fn next(&self, w: &World, tid: usize) -> Option<Next> {
        let pc = w.pc[tid];
        if tid == 0 {
            return match pc {
                0 => Some(Next::PteLock),
                I_LOCKED => Some(Next::Freeze),
                I_FROZEN => Some(Next::MakeSecure),
                I_SECURE => Some(Next::Unfreeze),
                I_FAILED | I_UNFROZEN => Some(Next::PteUnlock),
                _ => None,
            };
        }
        // A round starts at the beginning, after a put, and (buggy variant) after the I/O.
        let round_start = pc == 0 || pc == T_PUT || (self.bug && pc == T_DID_IO);
        if round_start && w.round[tid] as usize == self.k {
            return None;
        }
        Some(if round_start && !self.bug || pc == T_WAITED {
            Next::TryGet
        } else if pc == T_RETRY {
            Next::WaitUnfrozen
        } else if round_start || pc == T_GOT {
            Next::Hook
        } else if pc == T_HOOKED {
            Next::Io
        } else {
            debug_assert_eq!(pc, T_DID_IO);
            Next::Put
        })
    }
}

/// One family thread (the importer is thread 0, the I/O threads the others), written as a
/// state machine over its resume point (`pc`, `round`) in the world: see
/// [`explore::Machine`].
#[derive(Clone, Copy)]
struct Thread(Family);

impl Machine<World> for Thread {
    fn op(&self, w: &World, tid: usize) -> Option<Op<World>> {
        let one = |a| Accesses::new().with(a);
        Some(match self.0.next(w, tid)? {
            Next::PteLock => Op::new("pte-lock", one(Access::acquire(LOCK))).when(lock_free, 0),
            Next::Freeze => Op::new("page_ref_freeze", one(Access::write(RC))),
            Next::MakeSecure => Op::new("make-secure", one(Access::write(SECURE))),
            Next::Unfreeze => Op::new("page_ref_unfreeze", one(Access::write(RC))),
            Next::PteUnlock => Op::new("pte-unlock", one(Access::release(LOCK))),
            // try_get_page: an atomic add-unless-frozen.
            Next::TryGet => Op::new("try_get_page", one(Access::inc_unless_zero(RC))),
            // After a failure, spin on reads of the count until it is no longer frozen: the
            // reads that see it frozen change nothing, so the step waits until it is not
            // (weak fairness), as SPIN's `(refcount != 0)` does.
            Next::WaitUnfrozen => {
                Op::new("wait-unfrozen", one(Access::read(RC))).retry_when(unfrozen, 0)
            }
            Next::Hook => Op::new("arch_make_page_accessible", one(Access::set(SECURE, 0))),
            Next::Io => Op::new("io", one(Access::read(SECURE))),
            Next::Put => Op::new("put_page", one(Access::add(RC))),
        })
    }

    fn run(&self, e: &mut StepEnv<'_, World>) {
        let tid = e.tid;
        let next = self
            .0
            .next(e.world, tid)
            .expect("a step of a finished thread");
        let mut on_secure = false;
        let w = &mut *e.world;
        w.pc[tid] = match next {
            Next::PteLock => {
                w.lock = true;
                I_LOCKED
            }
            Next::Freeze => {
                if w.rc == EXPECTED {
                    w.rc = 0;
                    I_FROZEN
                } else {
                    I_FAILED
                }
            }
            Next::MakeSecure => {
                w.secure = true;
                I_SECURE
            }
            Next::Unfreeze => {
                w.rc = EXPECTED;
                I_UNFROZEN
            }
            Next::PteUnlock => {
                w.lock = false;
                DONE
            }
            Next::TryGet => {
                if w.rc != 0 {
                    w.rc += 1;
                    T_GOT
                } else {
                    T_RETRY
                }
            }
            Next::WaitUnfrozen => {
                debug_assert_ne!(w.rc, 0, "wait-unfrozen runs once the count is not frozen");
                T_WAITED
            }
            Next::Hook => {
                w.secure = false; // export
                T_HOOKED
            }
            Next::Io => {
                on_secure = w.secure;
                if self.0.bug {
                    w.round[tid] += 1; // without put, the round ends here
                }
                T_DID_IO
            }
            Next::Put => {
                w.rc -= 1;
                w.round[tid] += 1; // the round ends here
                T_PUT
            }
        };
        if on_secure {
            e.report_fatal("io-on-secure-page", "I/O on a secure page".into());
        }
    }
}

impl Family {
    /// An instance at `world`'s resume points.
    fn instance_at(&self, world: World) -> Instance<World> {
        let threads = (0..self.n)
            .map(|tid| {
                let name = if tid == 0 {
                    "importer".to_string()
                } else {
                    format!("io{tid}")
                };
                (name, machine(Thread(*self)))
            })
            .collect();
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
        self.instance_at(World {
            lock: false,
            rc: EXPECTED,
            secure: false,
            pc: [0; MAX_THREADS],
            round: [0; MAX_THREADS],
        })
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
        Some(self.instance_at(w.clone()))
    }
    fn resume_thread(&self, _: &World, _: explore::Tid, cx: Ctx<World>) -> ThreadFuture {
        // The thread's whole state is in the world.
        machine(Thread(*self))(cx)
    }
    fn snapshot_into(&self, w: &World, into: &mut World) -> bool {
        into.clone_from(w);
        true
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
