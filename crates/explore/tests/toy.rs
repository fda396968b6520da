//! The explorer against small hand-made and randomly generated programs: the reduced
//! search must find exactly the final states and properties that naive enumeration finds.

use explore::{
    explore, replay, Access, Accesses, Ctx, Instance, Model, ObjId, Op, Options, Severity, Strategy,
};
use std::hash::{Hash, Hasher};

#[derive(Clone, Copy, Debug)]
enum Ins {
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
}

#[derive(Hash)]
struct World {
    vars: Vec<i64>,
    locks: Vec<bool>,
    outs: Vec<i64>,
}

struct Prog {
    nvars: usize,
    nlocks: usize,
    threads: Vec<Vec<Ins>>,
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

async fn run(cx: Ctx<World>, code: Vec<Ins>, lock_base: u32, out: ObjId) {
    let mut local: i64 = 0;
    let mut held: Vec<u8> = Vec::new();
    let _f = cx.enter("thread");
    for ins in code {
        match ins {
            Ins::Read(v) => {
                local = cx
                    .step(
                        Op::new("read", Accesses::new().with(Access::read(var(v)))),
                        |e| e.world.vars[v as usize],
                    )
                    .await;
            }
            Ins::Write(v, c) => {
                cx.step(
                    Op::new("write", Accesses::new().with(Access::write(var(v)))),
                    |e| {
                        e.world.vars[v as usize] = local + c as i64;
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
            Ins::Lock(l) => {
                if held.contains(&l) {
                    continue;
                }
                let o = ObjId(lock_base + l as u32);
                cx.step(
                    Op::new("lock", Accesses::new().with(Access::acquire(o)))
                        .when(lock_free, l as u64),
                    |e| e.world.locks[l as usize] = true,
                )
                .await;
                held.push(l);
            }
            Ins::Unlock(l) => {
                if let Some(i) = held.iter().position(|&h| h == l) {
                    held.remove(i);
                    let o = ObjId(lock_base + l as u32);
                    cx.step(
                        Op::new("unlock", Accesses::new().with(Access::release(o))),
                        |e| e.world.locks[l as usize] = false,
                    )
                    .await;
                }
            }
            Ins::TryLock(l) => {
                if held.contains(&l) {
                    continue;
                }
                let o = ObjId(lock_base + l as u32);
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
                local = got as i64;
                if got {
                    held.push(l);
                }
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
            }
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

fn both(p: &Prog) -> (explore::Outcome, explore::Outcome) {
    let d = explore(p, Options::default());
    let n = explore(
        p,
        Options {
            strategy: Strategy::Naive,
            ..Options::default()
        },
    );
    (d, n)
}

fn props(o: &explore::Outcome) -> Vec<&'static str> {
    o.reports.iter().map(|r| r.property).collect()
}

#[test]
fn lost_update_is_found_and_replays() {
    use Ins::*;
    let p = Prog {
        nvars: 2,
        nlocks: 1,
        threads: vec![
            vec![Read(0), Write(0, 1)],
            vec![Read(0), Write(0, 1)],
            vec![Check(0, 1)],
        ],
    };
    let (d, n) = both(&p);
    assert_eq!(d.final_states, n.final_states);
    assert_eq!(props(&d), props(&n));
    assert!(
        d.stats.executions < n.stats.executions,
        "{} vs {}",
        d.stats.executions,
        n.stats.executions
    );
    let r = d
        .reports
        .iter()
        .find(|r| r.property == "bad-value")
        .expect("check fires");
    let rep = replay(&p, &r.schedule);
    assert!(rep.diverged.is_none());
    assert_eq!(rep.steps.last().unwrap().findings[0].property, "bad-value");
    // shortest: one write after a read of 0, then the check
    assert_eq!(r.steps, 3, "{:?}", r.schedule);
}

#[test]
fn deadlock_and_lock_order() {
    use Ins::*;
    let p = Prog {
        nvars: 1,
        nlocks: 2,
        threads: vec![
            vec![Lock(0), Lock(1), Unlock(1), Unlock(0)],
            vec![Lock(1), Lock(0), Unlock(0), Unlock(1)],
        ],
    };
    let (d, n) = both(&p);
    assert!(props(&d).contains(&"deadlock"));
    assert_eq!(props(&d), props(&n));
    assert_eq!(d.final_states, n.final_states);
}

#[test]
fn parked_retry_is_fair_and_livelock_is_found() {
    use Ins::*;
    let ok = Prog {
        nvars: 1,
        nlocks: 0,
        threads: vec![vec![AwaitNonZero(0)], vec![Add(0, 1)]],
    };
    let (d, n) = both(&ok);
    assert!(d.reports.is_empty(), "{:?}", d.reports);
    assert_eq!(d.final_states, n.final_states);
    let stuck = Prog {
        nvars: 1,
        nlocks: 0,
        threads: vec![vec![AwaitNonZero(0)], vec![Add(0, 0)]],
    };
    let (d, _) = both(&stuck);
    assert_eq!(props(&d), vec!["livelock"]);
}

/// xorshift: deterministic pseudo-random programs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_prog(seed: u64) -> Prog {
    let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let nthreads = 2 + r.below(2) as usize;
    let nvars = 2;
    let nlocks = 2;
    let threads = (0..nthreads)
        .map(|_| {
            let len = 1 + r.below(4);
            (0..len)
                .map(|_| {
                    let v = r.below(nvars as u64) as u8;
                    let l = r.below(nlocks as u64) as u8;
                    let c = r.below(3) as i8 - 1;
                    match r.below(9) {
                        0 | 1 => Ins::Read(v),
                        2 => Ins::Write(v, c),
                        3 => Ins::Add(v, c),
                        4 => Ins::Lock(l),
                        5 => Ins::Unlock(l),
                        6 => Ins::TryLock(l),
                        7 => Ins::Check(v, c),
                        _ => Ins::AwaitNonZero(v),
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

#[test]
fn reduced_equals_naive_on_random_programs() {
    let mut reduced = 0u64;
    let mut naive = 0u64;
    for seed in 1..=400 {
        let p = random_prog(seed);
        let (d, n) = both(&p);
        assert!(d.exhaustive() && n.exhaustive());
        assert_eq!(
            d.final_states, n.final_states,
            "seed {seed}: {:?}",
            p.threads
        );
        assert_eq!(props(&d), props(&n), "seed {seed}: {:?}", p.threads);
        reduced += d.stats.executions + d.stats.pruned;
        naive += n.stats.executions;
    }
    assert!(
        reduced < naive,
        "reduction explored {reduced} vs naive {naive}"
    );
}
