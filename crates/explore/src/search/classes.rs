//! Counting the equivalence classes of interleavings (Mazurkiewicz traces), to measure how far
//! a reduced search is from optimal, three ways (the tests check that they agree):
//! * [`count_classes`]: naive enumeration of every interleaving with a canonical form of each
//!   (the definition; time grows with the number of interleavings);
//! * [`count_classes_sleep`]: a depth-first search with sleep sets that reaches exactly one
//!   complete execution per class (time grows with the number of classes);
//! * [`count_classes_memo`]: the same search, memoised over (state, sleep set) pairs for
//!   models with state keys (time grows with the number of states, so classes can be counted
//!   where they run into the billions).
//!
//! Two complete executions are equivalent when they consist of the same events (thread, its
//! k-th step, that step's operation) and order every pair of dependent events (the explorer's
//! own dependence relation, [`crate::access::Accesses::dependent`]) the same way. The class
//! of an execution is therefore identified by the set of ordered dependent pairs plus the
//! events: hashed order-independently (128 bits), so that any linearisation gives the same key.
//! An optimal DPOR explores exactly one execution per class: `executions ÷ classes` = 1.

use super::{sleep_after, StateKey};
use crate::access::Accesses;
use crate::hash::{avalanche, Hasher128};
use crate::runtime::{Execution, Model, Tid};
use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::time::{Duration, Instant};

/// Result of [`count_classes`].
#[derive(Clone, Debug, Default)]
pub struct ClassCount {
    /// Complete executions enumerated: every interleaving ([`count_classes`]), or one per
    /// class ([`count_classes_sleep`]).
    pub executions: u64,
    /// Distinct classes among them.
    pub classes: u64,
    /// Whether the enumeration finished within the time limit.
    pub complete: bool,
    /// [`count_classes_sleep`] only: paths ended because every enabled thread was asleep.
    pub sleep_blocked: u64,
    /// [`count_classes_memo`] only: distinct (state, sleep set) pairs expanded.
    pub memo_states: u64,
}

#[derive(Clone, Copy)]
struct Ev {
    tid: Tid,
    k: u32,
    name: usize,
    acc: Accesses,
}

fn ev_id(e: &Ev) -> u64 {
    let mut h = avalanche(e.tid as u64 ^ ((e.k as u64) << 8) ^ 0x9e37_79b9);
    h = avalanche(h ^ e.name as u64);
    for a in e.acc.as_slice() {
        h = avalanche(h ^ ((a.obj.0 as u64) << 8) ^ a.kind.code());
    }
    h
}

fn class_key(events: &[Ev]) -> u128 {
    let ids: Vec<u64> = events.iter().map(ev_id).collect();
    let (mut a, mut b) = (0u64, 0u64);
    for i in 0..events.len() {
        a = a.wrapping_add(avalanche(ids[i] ^ 0x51));
        b ^= avalanche(ids[i].rotate_left(17) ^ 0x77);
        for j in i + 1..events.len() {
            if events[i].tid != events[j].tid && events[i].acc.dependent(&events[j].acc) {
                let p = avalanche(ids[i] ^ avalanche(ids[j] ^ 0xabcdef));
                a = a.wrapping_add(p);
                b ^= avalanche(p ^ 0x1234_5678);
            }
        }
    }
    ((a as u128) << 64) | b as u128
}

/// Enumerates every interleaving of `model` (no reduction) and counts the classes.
pub fn count_classes<M: Model>(model: &M, limit: Option<Duration>) -> ClassCount {
    let start = Instant::now();
    let mut out = ClassCount::default();
    let mut classes: HashSet<u128> = HashSet::new();
    // Depth-first over schedules: each level holds the enabled threads still to try.
    let mut levels: Vec<(u64, Tid)> = Vec::new(); // (remaining mask, chosen)
    loop {
        let mut ex = Execution::start(model.instance(), false);
        let mut events: Vec<Ev> = Vec::new();
        let mut counts = vec![0u32; ex.threads()];
        let mut d = 0;
        loop {
            let tid = if d < levels.len() {
                levels[d].1
            } else {
                let en = ex.enabled_mask();
                if en == 0 {
                    break;
                }
                let t = en.trailing_zeros() as Tid;
                levels.push((en & !(1 << t), t));
                t
            };
            let acc = ex.next_accesses(tid).expect("enabled");
            let name = ex.next_op(tid).map_or(0, |(n, _)| n.as_ptr() as usize);
            counts[tid] += 1;
            events.push(Ev {
                tid,
                k: counts[tid],
                name,
                acc,
            });
            let rec = ex.step(tid);
            d += 1;
            if rec.findings.iter().any(|f| f.fatal) {
                break;
            }
        }
        levels.truncate(d);
        out.executions += 1;
        classes.insert(class_key(&events));
        if limit.is_some_and(|l| start.elapsed() >= l) {
            out.classes = classes.len() as u64;
            return out;
        }
        // Next schedule: deepest level with an alternative.
        loop {
            let Some(last) = levels.last_mut() else {
                out.classes = classes.len() as u64;
                out.complete = true;
                return out;
            };
            if last.0 != 0 {
                let t = last.0.trailing_zeros() as Tid;
                last.0 &= !(1 << t);
                last.1 = t;
                break;
            }
            levels.pop();
        }
    }
}

/// A state on the current path of [`count_classes_sleep`].
struct SNode {
    enabled: u64,
    /// The sleep set this state was entered with.
    sleep: u64,
    /// Threads explored from here.
    done: u64,
    /// Threads explored from here whose step ended the execution (a fatal finding).
    fatal: u64,
    /// Next operation of each thread here.
    next: Vec<Option<Accesses>>,
    /// The thread taken from here (valid for every node but the top).
    chosen: Tid,
}

fn snode<W: 'static>(ex: &Execution<W>, sleep: u64) -> SNode {
    SNode {
        enabled: ex.enabled_mask(),
        sleep,
        done: 0,
        fatal: 0,
        next: (0..ex.threads()).map(|t| ex.next_accesses(t)).collect(),
        chosen: 0,
    }
}

/// Counts the classes with a full-expansion depth-first search with sleep sets and no other
/// reduction (Godefroid 1996, "Partial-order methods for the verification of concurrent
/// systems", chapter 5): every enabled thread is explored at every state except those asleep,
/// and a thread stays asleep while the steps taken are independent of its next one. Such a
/// search reaches exactly one complete execution per Mazurkiewicz trace; every other path it
/// starts ends with all enabled threads asleep (`sleep_blocked`). Time is about
/// (classes + sleep-blocked) × depth, instead of the number of interleavings.
///
/// It counts the same classes as [`count_classes`] (the tests check it), including for the
/// three things that make executions end or wait:
/// * blocking operations (`Op::when`, lock acquisitions) and parked retries
///   (`Guard::Changed`): an execution ends when no thread is enabled, as in the naive
///   enumeration; a sleeping thread was enabled when it fell asleep and stays enabled while
///   only independent steps are taken (independent steps never disable each other);
/// * a fatal finding ends the execution at its step. Such a step cannot commute with
///   anything after it (nothing comes after it), so it disables every other thread: a thread
///   whose step was fatal is never put to sleep. (Otherwise the execution `u·f`, `f` fatal
///   and independent of `u`, would be taken for a reordering of `f·u`, which does not exist.)
pub fn count_classes_sleep<M: Model>(model: &M, limit: Option<Duration>) -> ClassCount {
    let start = Instant::now();
    let mut out = ClassCount::default();
    let mut stack: Vec<SNode> = Vec::new();
    loop {
        let mut ex = Execution::start(model.instance(), false);
        assert!(ex.threads() <= 64, "at most 64 model threads");
        if stack.is_empty() {
            stack.push(snode(&ex, 0));
        }
        for node in &stack[..stack.len() - 1] {
            ex.step(node.chosen);
        }
        // Extend the path from the top node (its choice already made when we backtracked
        // to it, or made here) until the execution ends.
        loop {
            let top = stack.last_mut().expect("non-empty path");
            if top.done == 0 {
                let todo = top.enabled & !(top.sleep | top.done);
                if todo == 0 {
                    if top.enabled == 0 {
                        out.executions += 1; // all finished, or deadlock / livelock
                    } else {
                        out.sleep_blocked += 1; // a reordering of an explored execution
                    }
                    break;
                }
                let t = todo.trailing_zeros() as Tid;
                top.done |= 1 << t;
                top.chosen = t;
            }
            let t = top.chosen;
            let rec = ex.step(t);
            if rec.findings.iter().any(|f| f.fatal) {
                top.fatal |= 1 << t;
                out.executions += 1;
                break;
            }
            let acc = top.next[t].expect("stepped thread had an operation");
            let asleep = (top.sleep | top.done) & !top.fatal & !(1 << t);
            let sleep = sleep_after(asleep, &top.next, &acc);
            stack.push(snode(&ex, sleep));
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            out.classes = out.executions;
            return out;
        }
        // Backtrack to the deepest state with an enabled thread neither explored nor asleep.
        loop {
            let Some(top) = stack.last_mut() else {
                out.classes = out.executions;
                out.complete = true;
                return out;
            };
            let todo = top.enabled & !(top.sleep | top.done);
            if todo != 0 {
                let t = todo.trailing_zeros() as Tid;
                top.done |= 1 << t;
                top.chosen = t;
                break;
            }
            stack.pop();
        }
    }
}

/// A state on the current path of [`count_classes_memo`].
struct MNode {
    /// The state's key (see [`state_key`]).
    key: u128,
    sleep: u64,
    enabled: u64,
    next: Vec<Option<Accesses>>,
    done: u64,
    fatal: u64,
    chosen: Tid,
    /// Classes counted below this state so far.
    count: u64,
}

/// The key of the state an execution is in: the model's hash of the world, and per thread its
/// registered operation, its history if the model's key includes it, and the runtime's summary
/// of what its parked steps wait for — what the stateful search keys states by (see
/// [`super::stateful`]): under the [`StateKey`] contract, equal keys have equal futures.
fn state_key<M: StateKey>(model: &M, ex: &Execution<M::World>) -> u128 {
    let mut h = Hasher128::new(0x3c6e_f372_fe94_f82b, 0xa54f_f53a_5f1d_36f1);
    ex.with_world(|w| model.hash_state(w, &mut h));
    for t in 0..ex.threads() {
        let tag = match ex.next_op_name(t) {
            None => 0u64,
            Some(name) => name.as_ptr() as u64 ^ ((name.len() as u64) << 48) ^ 1,
        };
        h.write_u64(tag);
        if model.key_includes_history() {
            h.write_u128(ex.history(t));
        }
        for c in ex.parking_state(t) {
            h.write_u64(c);
        }
    }
    h.finish128()
}

/// Counts the classes as [`count_classes_sleep`] does, remembering the count below each
/// (state, sleep set) pair, for models whose states can be keyed ([`StateKey`]).
///
/// The sleep-set search below a state `s` entered with sleep set `Z` counts the Mazurkiewicz
/// traces of the maximal executions from `s` none of whose first steps (the events without a
/// dependent predecessor) belongs to a thread in `Z`: a number that depends on `s` and `Z`
/// only, not on the path to `s` nor on the order in which threads are tried. Each pair is
/// therefore expanded once, and time and memory grow with the number of distinct pairs
/// (`memo_states`) instead of the number of classes — the way to count classes where they
/// run into the billions. Going back up re-runs the path from a fresh instance.
pub fn count_classes_memo<M: StateKey>(model: &M, limit: Option<Duration>) -> ClassCount {
    let start = Instant::now();
    let mut out = ClassCount::default();
    let mut memo: HashMap<(u128, u64), u64> = HashMap::new();
    let mut stack: Vec<MNode> = Vec::new();
    let mut ex = Execution::start(model.instance(), false);
    assert!(ex.threads() <= 64, "at most 64 model threads");
    // `Some(sleep)`: `ex` has just entered a new state with that sleep set.
    let mut entering: Option<u64> = Some(0);
    // Whether `ex` is past the top node's state (and must be re-run to it).
    let mut moved = false;
    loop {
        if let Some(sleep) = entering.take() {
            let key = state_key(model, &ex);
            let enabled = ex.enabled_mask();
            let known = if enabled == 0 {
                Some(1) // all finished, or deadlock / livelock
            } else if enabled & !sleep == 0 {
                Some(0) // sleep-set blocked
            } else {
                memo.get(&(key, sleep)).copied()
            };
            match known {
                Some(v) => match stack.last_mut() {
                    Some(parent) => {
                        parent.count = parent.count.saturating_add(v);
                        moved = true;
                    }
                    None => {
                        out.classes = v;
                        break;
                    }
                },
                None => {
                    stack.push(MNode {
                        key,
                        sleep,
                        enabled,
                        next: (0..ex.threads()).map(|t| ex.next_accesses(t)).collect(),
                        done: 0,
                        fatal: 0,
                        chosen: 0,
                        count: 0,
                    });
                    moved = false;
                }
            }
        }
        if limit.is_some_and(|l| start.elapsed() >= l) {
            out.classes = stack.first().map_or(out.classes, |n| n.count);
            out.executions = out.classes;
            out.memo_states = memo.len() as u64;
            return out;
        }
        let Some(top) = stack.last_mut() else {
            break;
        };
        let todo = top.enabled & !(top.sleep | top.done);
        if todo == 0 {
            let (key, sleep, count) = (top.key, top.sleep, top.count);
            memo.insert((key, sleep), count);
            stack.pop();
            match stack.last_mut() {
                Some(parent) => {
                    parent.count = parent.count.saturating_add(count);
                    moved = true;
                    continue;
                }
                None => {
                    out.classes = count;
                    break;
                }
            }
        }
        if moved {
            ex = Execution::start(model.instance(), false);
            for node in &stack[..stack.len() - 1] {
                ex.step(node.chosen);
            }
            moved = false;
        }
        let top = stack.last_mut().expect("non-empty path");
        let t = todo.trailing_zeros() as Tid;
        top.done |= 1 << t;
        top.chosen = t;
        let rec = ex.step(t);
        if rec.findings.iter().any(|f| f.fatal) {
            top.fatal |= 1 << t;
            top.count = top.count.saturating_add(1);
            moved = true;
            continue;
        }
        let acc = top.next[t].expect("stepped thread had an operation");
        let asleep = (top.sleep | top.done) & !top.fatal & !(1 << t);
        entering = Some(sleep_after(asleep, &top.next, &acc));
    }
    out.executions = out.classes;
    out.memo_states = memo.len() as u64;
    out.complete = true;
    out
}
