//! Counting the equivalence classes of interleavings (Mazurkiewicz traces) by naive
//! enumeration, to measure how far a reduced search is from optimal.
//!
//! Two complete executions are equivalent when they consist of the same events (thread, its
//! k-th step, that step's operation) and order every pair of dependent events (the explorer's
//! own dependence relation, [`crate::access::Accesses::dependent`]) the same way. The class
//! of an execution is therefore identified by the set of ordered dependent pairs plus the
//! events: hashed order-independently (128 bits), so that any linearisation gives the same key.
//! An optimal DPOR explores exactly one execution per class: `executions ÷ classes` = 1.

use crate::access::Accesses;
use crate::runtime::{Execution, Model, Tid};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Result of [`count_classes`].
#[derive(Clone, Debug, Default)]
pub struct ClassCount {
    /// Complete executions enumerated (every interleaving).
    pub executions: u64,
    /// Distinct classes among them.
    pub classes: u64,
    /// Whether the enumeration finished within the time limit.
    pub complete: bool,
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Clone, Copy)]
struct Ev {
    tid: Tid,
    k: u32,
    name: usize,
    acc: Accesses,
}

fn ev_id(e: &Ev) -> u64 {
    let mut h = mix(e.tid as u64 ^ ((e.k as u64) << 8) ^ 0x9e37_79b9);
    h = mix(h ^ e.name as u64);
    for a in e.acc.as_slice() {
        h = mix(h ^ ((a.obj.0 as u64) << 8) ^ a.kind.code());
    }
    h
}

fn class_key(events: &[Ev]) -> u128 {
    let ids: Vec<u64> = events.iter().map(ev_id).collect();
    let (mut a, mut b) = (0u64, 0u64);
    for i in 0..events.len() {
        a = a.wrapping_add(mix(ids[i] ^ 0x51));
        b ^= mix(ids[i].rotate_left(17) ^ 0x77);
        for j in i + 1..events.len() {
            if events[i].tid != events[j].tid && events[i].acc.dependent(&events[j].acc) {
                let p = mix(ids[i] ^ mix(ids[j] ^ 0xabcdef));
                a = a.wrapping_add(p);
                b ^= mix(p ^ 0x1234_5678);
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
