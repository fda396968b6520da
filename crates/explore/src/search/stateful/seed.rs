//! Seeding the independence table by random walks before the search ("Safe steps" in the
//! module documentation).

use super::indep::Seen;
use super::StateKey;
use crate::rng::xorshift;
use crate::runtime::{Execution, Tid};
use std::time::Instant;

/// Walks in a row that add nothing to the independence table before the search stops
/// seeding it: few, so that a small search does not pay more for its table than for itself
/// (the search learns what the walks missed, at the price of starting over). Measured by
/// callgrind on the 3-thread D1 cases: 64 (the earlier figure) 22.6 M and 12.3 M
/// instructions, 32: 16.6 M and 10.0 M, 8 (with [`QUIET_AGAIN`]): 16.1 M and 8.5 M; the
/// 3-thread D3 cases cost about the same with all three.
const QUIET_FIRST: u32 = 8;
/// After a small search started over: walks until this many in a row add nothing.
const QUIET_AGAIN: u32 = 16;
/// A search that starts over after arriving at this many states is a large one: the walks
/// go on until [`QUIET_MORE`] of them in a row add nothing, so that it starts over less (on
/// `bench/scenarios/d3-sendfile-4t.toml` with the splice patch: after the third start over,
/// at 5,272 states, 53 walks become 240, and a fourth, at 79,045 states, is not needed).
const SEED_MORE_AFTER: u64 = 2_000;
const QUIET_MORE: u32 = 128;
/// Most walks in all.
const MAX_WALKS: u64 = 4096;

/// Random walks that fill the independence table (it learns the rest on the way, at the
/// price of starting over), in rounds: each round walks until a number of walks in a row
/// add nothing, or [`MAX_WALKS`] in all. Every other walk is uniform (each step a random
/// enabled thread); the others follow random thread priorities with a few random change
/// points (PCT: Burckhardt et al., ASPLOS 2010), which lets one thread run far ahead of the
/// others — schedules a uniform walk almost never takes, and where the accesses of rare paths
/// (a failed import, a retry after another thread finished) show. Any walk is sound: the
/// table only has to hold what the reduced search meets, and the search checks that. A later
/// round goes on from where the previous one stopped (the same random sequence, continued).
pub(super) struct Seeder<W: 'static> {
    rng: u64,
    walks: u64,
    steps: u64,
    /// The length of the last uniform walk: where the change points of the next walk fall.
    span: u64,
    /// The execution the walks run in (fresh for the first, restarted for each after it).
    ex: Execution<W>,
    /// Whether the one long round after a large search has been walked.
    seeded_more: bool,
}

impl<W: 'static> Seeder<W> {
    /// A seeder, and an empty table for the model's threads and objects.
    pub(super) fn new<M: StateKey<World = W>>(model: &M) -> (Self, Seen) {
        let inst = model.instance();
        let seen = Seen::new(inst.threads.len(), inst.objects);
        let seeder = Seeder {
            rng: 0x9e37_79b9_7f4a_7c15,
            walks: 0,
            steps: 0,
            span: 64,
            ex: Execution::start(inst, false),
            seeded_more: false,
        };
        (seeder, seen)
    }

    /// The first round, before any search.
    pub(super) fn seed<M: StateKey<World = W>>(
        &mut self,
        model: &M,
        max_depth: usize,
        seen: &mut Seen,
    ) {
        self.walk(model, max_depth, seen, QUIET_FIRST);
    }

    /// A round after a search that arrived at `states` states started over. What one thread
    /// missed, the others running the same code usually miss next: walk on (from where the
    /// walks stopped) before starting over, a little after a small search, and, once, much
    /// longer after a large one, where each start over costs more than walks do.
    pub(super) fn walk_on<M: StateKey<World = W>>(
        &mut self,
        model: &M,
        max_depth: usize,
        seen: &mut Seen,
        states: u64,
    ) {
        if states < SEED_MORE_AFTER {
            self.walk(model, max_depth, seen, QUIET_AGAIN);
        } else if !self.seeded_more {
            self.seeded_more = true;
            self.walk(model, max_depth, seen, QUIET_MORE);
        }
    }

    /// Walks until `quiet` walks in a row add nothing to `seen`.
    fn walk<M: StateKey<World = W>>(
        &mut self,
        model: &M,
        max_depth: usize,
        seen: &mut Seen,
        quiet: u32,
    ) {
        let round_start = Instant::now();
        let mut still = 0;
        while self.walks < MAX_WALKS && still < quiet {
            let walk = self.walks;
            self.walks += 1;
            if walk > 0 {
                self.ex.restart(model.instance());
            }
            let new = self.walk_once(walk, max_depth, seen);
            still = if new { 0 } else { still + 1 };
        }
        if std::env::var_os("PVMM_DEBUG_RERUN").is_some() {
            eprintln!(
                "seed: {} walks, {} steps, {} entries ({:.6} s in this round)",
                self.walks,
                self.steps,
                seen.len(),
                round_start.elapsed().as_secs_f64()
            );
        }
    }

    /// Walk number `walk` (odd: PCT, even: uniform), from the execution's start, of at most
    /// `max_depth` steps: records every step's accesses, the objects of every parked retry
    /// registered and every fatal operation in `seen`; true if anything was new.
    fn walk_once(&mut self, walk: u64, max_depth: usize, seen: &mut Seen) -> bool {
        let n = self.ex.threads();
        let pct = walk % 2 == 1;
        // Drawn for every walk (a uniform one ignores them), so that the random sequence
        // does not depend on which walks are which.
        let mut priorities = Priorities::new(n, walk, self.span, &mut self.rng);
        let mut new = false;
        for t in 0..n {
            new |= note_parked(seen, &self.ex, t);
        }
        let mut depth = 0u64;
        for _ in 0..max_depth {
            let rec = if pct {
                let en = self.ex.enabled_mask();
                if en == 0 {
                    break;
                }
                self.ex.step(priorities.choose(en, depth))
            } else {
                let mut r = xorshift(&mut self.rng);
                match self.ex.step_random(&mut r) {
                    Some(rec) => rec,
                    None => break,
                }
            };
            depth += 1;
            self.steps += 1;
            let tid = rec.tid;
            for a in rec.accesses.as_slice() {
                new |= seen.insert(tid, a);
            }
            new |= note_parked(seen, &self.ex, tid);
            if rec.findings.iter().any(|f| f.fatal) {
                new |= seen.insert_fatal(tid, rec.name);
                break;
            }
        }
        if !pct {
            self.span = depth;
        }
        new
    }
}

/// The thread priorities of a PCT walk: a random order of the threads (higher runs first),
/// and a few random change points, at each of which the running thread drops below all
/// others (as does a thread that keeps running 64 steps in a row while others wait: a retry
/// loop spinning).
struct Priorities {
    prio: Vec<i64>,
    /// The depths at which the running thread drops, in order.
    changes: Vec<u64>,
    /// The priority the next thread to drop gets.
    low: i64,
    /// The thread that ran last, and for how many steps in a row.
    last: usize,
    run: u32,
}

impl Priorities {
    /// Priorities of `n` threads for walk number `walk`, with its change points among the
    /// first `span` steps (0, 1, 2 or 3 of them, by the walk's number), drawn from `rng`.
    fn new(n: usize, walk: u64, span: u64, rng: &mut u64) -> Self {
        let mut prio: Vec<i64> = (1..=n as i64).collect();
        for i in (1..n).rev() {
            prio.swap(i, (xorshift(rng) % (i as u64 + 1)) as usize);
        }
        let span = span.max(1);
        let mut changes: Vec<u64> = (0..walk / 2 % 4).map(|_| xorshift(rng) % span).collect();
        changes.sort_unstable();
        Priorities {
            prio,
            changes,
            low: 0,
            last: usize::MAX,
            run: 0,
        }
    }

    /// The thread to step at `depth` among the enabled ones (`en`, not empty).
    fn choose(&mut self, en: u64, depth: u64) -> Tid {
        let n = self.prio.len();
        let first = |prio: &[i64]| {
            (0..n)
                .filter(|&t| en & (1 << t) != 0)
                .max_by_key(|&t| prio[t])
                .expect("an enabled thread")
        };
        let mut top = first(&self.prio);
        // A change point, or a thread that keeps spinning: it drops below all.
        let spinning = top == self.last && self.run >= 64;
        if self.changes.first() == Some(&depth) || spinning {
            self.changes.retain(|&c| c != depth);
            self.prio[top] = self.low;
            self.low -= 1;
            top = first(&self.prio);
        }
        self.run = if top == self.last { self.run + 1 } else { 0 };
        self.last = top;
        top
    }
}

/// Records the objects of thread `tid`'s registered operation if it waits for a write
/// ([`crate::Guard::Changed`]); true if any was new.
fn note_parked<W: 'static>(seen: &mut Seen, ex: &Execution<W>, tid: Tid) -> bool {
    let mut new = false;
    if ex.waits_for_change(tid) {
        ex.next_all(tid, |a| {
            new |= seen.insert_parked(tid, a.obj.0 as usize);
            true
        });
    }
    new
}
