//! Small programs over a few shared variables and locks, hand-written or generated at random:
//! reads, writes, blind adds, locks, try-locks, checks, parked waits, compare-and-swap retry
//! loops (attempts) and fatal findings.

use explore::{Access, Accesses, Ctx, Instance, Model, ObjId, Op, Severity};
use std::hash::{Hash, Hasher};

#[derive(Clone, Copy, Debug)]
pub enum Ins {
    /// local = var
    Read(u8),
    /// var = local + c
    Write(u8, i8),
    /// var += c (blind)
    Add(u8, i8),
    Lock(u8),
    Unlock(u8),
    /// local = trylock(l) as i64 (and must unlock later if got)
    TryLock(u8),
    /// finding if var == c
    Check(u8, i8),
    /// retry until var != 0, parking between attempts (bounded)
    AwaitNonZero(u8),
    /// A fatal finding (the execution ends) if var == c.
    Fatal(u8, i8),
    /// A fatal step that touches nothing (like `BUG()`), taken if local == c.
    BugIfLocal(i8),
    /// Increment var by compare-and-swap in a retry loop: each attempt (`attempt_begin`)
    /// reads var, then swaps it for the value read + 1 if it still holds that value; a failed
    /// attempt parks until var changes. After 2 failed attempts: a fatal `retry-bound` step
    /// that touches nothing.
    CasInc(u8),
}

#[derive(Clone, Hash)]
pub struct World {
    pub vars: Vec<i64>,
    pub locks: Vec<bool>,
    pub outs: Vec<i64>,
}

pub struct Prog {
    pub nvars: usize,
    pub nlocks: usize,
    pub threads: Vec<Vec<Ins>>,
}

fn var(v: u8) -> ObjId {
    ObjId(v as u32)
}

impl Prog {
    fn out(&self, t: usize) -> ObjId {
        ObjId((self.nvars + self.nlocks + t) as u32)
    }
}

fn lock_free(w: &World, l: u64) -> bool {
    !w.locks[l as usize]
}

/// A thread running `code`: its instructions, then the release of the locks it still holds,
/// then a step that writes its local value to its output variable `out`.
async fn run(cx: Ctx<World>, code: Vec<Ins>, lock_base: u32, out: ObjId) {
    let mut local: i64 = 0;
    let mut held: Vec<u8> = Vec::new();
    let _f = cx.enter("thread");
    for ins in code {
        match ins {
            Ins::Lock(l) | Ins::Unlock(l) | Ins::TryLock(l) => {
                let o = ObjId(lock_base + l as u32);
                lock_ins(&cx, ins, o, &mut local, &mut held).await;
            }
            _ => var_ins(&cx, ins, &mut local).await,
        }
    }
    for l in held {
        let o = ObjId(lock_base + l as u32);
        cx.step(
            Op::new("unlock", Accesses::new().with(Access::release(o))),
            |e| e.world.locks[l as usize] = false,
        )
        .await;
    }
    cx.step(
        Op::new("out", Accesses::new().with(Access::write(out))),
        |e| e.world.outs[e.tid] = local,
    )
    .await;
}

/// An instruction on lock `o` (`Lock`, `Unlock`, `TryLock`); `held`: the locks the thread
/// holds (a lock it holds is not taken again, one it does not hold is not released).
async fn lock_ins(cx: &Ctx<World>, ins: Ins, o: ObjId, local: &mut i64, held: &mut Vec<u8>) {
    match ins {
        Ins::Lock(l) => {
            if held.contains(&l) {
                return;
            }
            cx.step(
                Op::new("lock", Accesses::new().with(Access::acquire(o))).when(lock_free, l as u64),
                |e| e.world.locks[l as usize] = true,
            )
            .await;
            held.push(l);
        }
        Ins::Unlock(l) => {
            if let Some(i) = held.iter().position(|&h| h == l) {
                held.remove(i);
                cx.step(
                    Op::new("unlock", Accesses::new().with(Access::release(o))),
                    |e| e.world.locks[l as usize] = false,
                )
                .await;
            }
        }
        Ins::TryLock(l) => {
            if held.contains(&l) {
                return;
            }
            let got = cx
                .step(
                    Op::new("trylock", Accesses::new().with(Access::write(o))),
                    |e| {
                        let free = !e.world.locks[l as usize];
                        if free {
                            e.world.locks[l as usize] = true;
                        }
                        free
                    },
                )
                .await;
            *local = got as i64;
            if got {
                held.push(l);
            }
        }
        _ => unreachable!("not a lock instruction: {ins:?}"),
    }
}

/// An instruction on a variable, or on the thread's local value alone (`BugIfLocal`).
async fn var_ins(cx: &Ctx<World>, ins: Ins, local: &mut i64) {
    match ins {
        Ins::Read(v) => {
            *local = cx
                .step(
                    Op::new("read", Accesses::new().with(Access::read(var(v)))),
                    |e| e.world.vars[v as usize],
                )
                .await;
        }
        Ins::Write(v, c) => {
            let value = *local + c as i64;
            cx.step(
                Op::new("write", Accesses::new().with(Access::write(var(v)))),
                |e| {
                    e.world.vars[v as usize] = value;
                },
            )
            .await;
        }
        Ins::Add(v, c) => {
            cx.step(
                Op::new("add", Accesses::new().with(Access::add(var(v)))),
                |e| {
                    e.world.vars[v as usize] += c as i64;
                },
            )
            .await;
        }
        Ins::Check(v, c) => {
            cx.step(
                Op::new("check", Accesses::new().with(Access::read(var(v)))),
                |e| {
                    if e.world.vars[v as usize] == c as i64 {
                        e.report("bad-value", Severity::Violation, format!("var {v} == {c}"));
                    }
                },
            )
            .await;
        }
        Ins::AwaitNonZero(v) => {
            // A function with a loop, summarised in the history by its result (none).
            cx.call("await_non_zero", async {
                let acc = Accesses::new().with(Access::read(var(v)));
                let mut first = true;
                loop {
                    let op = if first {
                        Op::new("await", acc)
                    } else {
                        Op::new("await", acc).parked()
                    };
                    first = false;
                    let x = cx.step(op, |e| e.world.vars[v as usize]).await;
                    if x != 0 {
                        break;
                    }
                }
            })
            .await;
        }
        Ins::Fatal(v, c) => {
            cx.step(
                Op::new("assert", Accesses::new().with(Access::read(var(v)))),
                |e| {
                    if e.world.vars[v as usize] == c as i64 {
                        e.report_fatal("fatal-value", format!("var {v} == {c}"));
                    }
                },
            )
            .await;
        }
        Ins::BugIfLocal(c) => {
            if *local == c as i64 {
                cx.step(Op::new("BUG", Accesses::new()), |e| {
                    e.report_fatal("bug", "BUG()".into())
                })
                .await;
            }
        }
        Ins::CasInc(v) => {
            // The retry loop as a function that returns the value it swapped (a path with
            // one failed attempt and one without leave the thread in the same state).
            let swapped = cx.call("cas_inc", cas_inc(cx, v)).await;
            if let Some(seen) = swapped {
                *local = seen;
            }
        }
        Ins::Lock(_) | Ins::Unlock(_) | Ins::TryLock(_) => {
            unreachable!("a lock instruction: {ins:?}")
        }
    }
}

async fn cas_inc(cx: &Ctx<World>, v: u8) -> Option<i64> {
    let acc = Accesses::new().with(Access::read(var(v)));
    for round in 0..2 {
        cx.attempt_begin();
        let seen = cx
            .step(Op::new("cas-read", acc), |e| e.world.vars[v as usize])
            .await;
        let ok = cx
            .step(
                Op::new("cas", Accesses::new().with(Access::write(var(v)))),
                |e| {
                    let ok = e.world.vars[v as usize] == seen;
                    if ok {
                        e.world.vars[v as usize] = seen + 1;
                    }
                    ok
                },
            )
            .await;
        if ok {
            return Some(seen);
        }
        if round == 0 {
            cx.step(Op::new("cas-retry", acc).parked(), |_| ()).await;
        }
    }
    cx.step(Op::new("retry-bound", Accesses::new()), |e| {
        e.report_fatal("retry-bound", "CAS retried its bound".into())
    })
    .await;
    None
}

impl Model for Prog {
    type World = World;
    fn instance(&self) -> Instance<World> {
        let lock_base = self.nvars as u32;
        Instance {
            world: World {
                vars: vec![0; self.nvars],
                locks: vec![false; self.nlocks],
                outs: vec![0; self.threads.len()],
            },
            objects: self.nvars + self.nlocks + self.threads.len(),
            threads: self
                .threads
                .iter()
                .enumerate()
                .map(|(t, code)| {
                    let code = code.clone();
                    let out = self.out(t);
                    let f: explore::ThreadFn<World> =
                        Box::new(move |cx| Box::pin(run(cx, code, lock_base, out)));
                    (format!("T{t}"), f)
                })
                .collect(),
        }
    }
    fn at_end(&self, w: &World, out: &mut Vec<explore::Finding>) {
        if w.vars.first() == Some(&1) && w.vars.get(1) == Some(&1) {
            out.push(explore::Finding {
                property: "end-both-one",
                severity: Severity::Violation,
                message: "v0 == v1 == 1 at the end".into(),
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

/// xorshift: deterministic pseudo-random programs.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Which instructions a random program draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// Reads, writes, adds, locks, try-locks, checks and parked waits.
    Basic,
    /// `Basic` plus fatal findings (conditional on a variable or on a local value) and
    /// compare-and-swap retry loops with attempts and a fatal retry bound.
    Extended,
}

/// A random program of 2 to `max_threads` threads of 1 to `max_len` instructions over two
/// variables and two locks. `random_prog(seed, 3, 4, Mix::Basic)` is the distribution the
/// reduction has always been tested on.
pub fn random_prog(seed: u64, max_threads: u64, max_len: u64, mix: Mix) -> Prog {
    let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let nthreads = 2 + r.below(max_threads - 1) as usize;
    let nvars = 2;
    let nlocks = 2;
    let threads = (0..nthreads)
        .map(|_| {
            let len = 1 + r.below(max_len);
            (0..len)
                .map(|_| {
                    let v = r.below(nvars as u64) as u8;
                    let l = r.below(nlocks as u64) as u8;
                    let c = r.below(3) as i8 - 1;
                    let kinds = if mix == Mix::Basic { 9 } else { 12 };
                    match r.below(kinds) {
                        0 | 1 => Ins::Read(v),
                        2 => Ins::Write(v, c),
                        3 => Ins::Add(v, c),
                        4 => Ins::Lock(l),
                        5 => Ins::Unlock(l),
                        6 => Ins::TryLock(l),
                        7 => Ins::Check(v, c),
                        8 => Ins::AwaitNonZero(v),
                        9 => Ins::Fatal(v, c),
                        10 => Ins::BugIfLocal(c),
                        _ => Ins::CasInc(v),
                    }
                })
                .collect()
        })
        .collect();
    Prog {
        nvars,
        nlocks,
        threads,
    }
}

/// States keyed by the shared variables and the threads' histories (their locals are
/// functions of what their steps returned): for the stateful search and the memoised class
/// count.
impl explore::search::StateKey for Prog {
    fn hash_state<H: Hasher>(&self, w: &World, h: &mut H) {
        w.hash(h);
    }
    fn key_includes_history(&self) -> bool {
        true
    }
}
