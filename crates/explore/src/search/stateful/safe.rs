//! Safe steps (see "Safe steps" and "Parking bits of objects nobody waits on" in the module
//! documentation): the persistent set a state is expanded by, chosen from the learned
//! independence table, and the checks that the table holds what the search meets (what it
//! misses makes the search start over).

use super::indep::Seen;
use super::live::Live;
use super::symmetry::Perm;
use super::worker::{halt, SharedState};
use super::StateKey;
use crate::access::Access;
use crate::runtime::{StepRecord, Tid};

/// Something a step did that the independence table did not hold.
pub(super) enum Learned {
    Access(Tid, Access),
    Fatal(Tid, &'static str),
    /// A parked retry of the thread registered on the object.
    Parked(Tid, usize),
}

/// Adds what a search met that the table did not hold (`learned`) to the table.
pub(super) fn learn_all(seen: &mut Seen, learned: &[Learned]) {
    for l in learned {
        if std::env::var_os("PVMM_DEBUG_RERUN").is_some() {
            match l {
                Learned::Access(t, a) => eprintln!("  learned: thread {t} {a:?}"),
                Learned::Fatal(t, n) => eprintln!("  learned: thread {t} fatal {n}"),
                Learned::Parked(t, o) => eprintln!("  learned: thread {t} parks on {o}"),
            }
        }
        match l {
            Learned::Access(t, a) => seen.insert(*t, a),
            Learned::Fatal(t, name) => seen.insert_fatal(*t, name),
            Learned::Parked(t, o) => seen.insert_parked(*t, *o),
        };
    }
}

/// [`SharedState::park_masks`] from the table: each thread's parked objects, or-ed over its
/// symmetry group (members run the same code; the union keeps their local keys comparable).
pub(super) fn park_masks(
    seen: &Seen,
    groups: &[Vec<Tid>],
    threads: usize,
    objects: usize,
) -> Vec<u64> {
    let words = objects.div_ceil(64);
    let mut out = Vec::with_capacity(threads * words);
    for t in 0..threads {
        out.extend_from_slice(seen.parked_mask(t));
    }
    for g in groups {
        let mut union = vec![0u64; words];
        for &t in g {
            for (u, m) in union.iter_mut().zip(seen.parked_mask(t)) {
                *u |= m;
            }
        }
        for &t in g {
            for (o, u) in out[t * words..(t + 1) * words].iter_mut().zip(&union) {
                *o |= u;
            }
        }
    }
    out
}

/// Thread `t`'s part of [`SharedState::park_masks`] (of a model with `threads` threads).
pub(super) fn thread_mask(masks: &[u64], threads: usize, t: Tid) -> &[u64] {
    let words = masks.len() / threads;
    &masks[t * words..(t + 1) * words]
}

/// Checks the step just taken against the independence table; a step it does not hold
/// stops this search (it starts over with the step added).
pub(super) fn check_table<M>(sh: &SharedState<'_, M>, tid: Tid, rec: &StepRecord) {
    let Some(seen) = &sh.seen else { return };
    let mut new: Vec<Learned> = rec
        .accesses
        .as_slice()
        .iter()
        .filter(|a| seen.missing(tid, a))
        .map(|a| Learned::Access(tid, *a))
        .collect();
    if rec.findings.iter().any(|f| f.fatal) && !seen.seen_fatal(tid, rec.name) {
        new.push(Learned::Fatal(tid, rec.name));
    }
    learn(sh, new);
}

/// Checks every thread's registered operation at a state the search reached against the
/// independence table: an access it does not hold, or a parked retry on an object outside
/// the thread's parking mask (see "Parking bits of objects nobody waits on"), stops this
/// search (it starts over with the access or the object added). Checking registered operations, not only the steps taken, is what makes
/// the table's completeness checkable (see "Safe steps": a step a safe step would skip is
/// registered at some state the search reaches).
///
/// Only the thread that took the last step (`last`; every thread at the initial state) has a
/// new registered operation: the others' are those of the parent state, checked when the
/// search arrived there (a restore brings back a state it arrived at before).
pub(super) fn check_registered<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    live: &Live<M::World>,
    last: Option<Tid>,
) {
    let Some(seen) = &sh.seen else { return };
    let mut new = Vec::new();
    let threads = match last {
        Some(t) => t..t + 1,
        None => 0..live.ex.threads(),
    };
    let n = live.ex.threads();
    for t in threads {
        // Against the mask the key uses (the thread's group's union).
        let mask = sh
            .park_masks
            .as_deref()
            .filter(|_| live.ex.waits_for_change(t))
            .map(|m| thread_mask(m, n, t));
        live.ex.next_all(t, |a| {
            if seen.missing(t, a) {
                new.push(Learned::Access(t, *a));
            }
            let o = a.obj.0 as usize;
            if mask.is_some_and(|m| m[o / 64] & (1 << (o % 64)) == 0) {
                new.push(Learned::Parked(t, o));
            }
            true
        });
    }
    learn(sh, new);
}

/// Hands what the table missed to the driver and stops this search (nothing if `new` is
/// empty).
fn learn<M>(sh: &SharedState<'_, M>, new: Vec<Learned>) {
    if !new.is_empty() {
        sh.learned.lock().expect("lock").extend(new);
        halt(sh);
    }
}

/// The persistent set the state is expanded by, as a thread mask (see "Safe steps"), if one
/// smaller than the enabled threads exists: for each enabled thread in canonical order, the
/// closure of `{t}` under "may interfere" — a thread `v` outside the set joins it when some
/// access of a member's next step fails to commute with a kind `v` was seen making to that
/// object. The closure is persistent when every member is enabled, not a parked retry and
/// not seen ending an execution (then nothing the threads outside it can ever do interferes
/// with a member's next step: Godefroid 1996, Def. 4.1, thread-based as in his Alg. 4.3).
/// Finished threads have no future and never join. The smallest closure wins (the first in
/// canonical order among equals), so the choice is a function of the state.
pub(super) fn safe_set<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    live: &Live<M::World>,
    enabled: u64,
    perm: &Perm,
) -> Option<u64> {
    let seen = sh.seen.as_ref()?;
    let n = live.ex.threads();
    let mut by_rank = [0u8; 64];
    for t in 0..n {
        by_rank[perm[t] as usize] = t as u8;
    }
    // The threads that may be in a persistent set, and, per thread whose next step the
    // closures reach, the live threads that may interfere with it: each computed once per
    // state, whatever seeds the closures start from.
    let mut members = 0u64;
    let mut live_threads = 0u64;
    for t in 0..n {
        if live.ex.finished(t) {
            continue;
        }
        live_threads |= 1 << t;
        if enabled & (1 << t) != 0
            && !live.ex.is_parked(t)
            && live
                .ex
                .next_op_name(t)
                .is_some_and(|name| !seen.seen_fatal(t, name))
        {
            members |= 1 << t;
        }
    }
    let mut interferes = [0u64; 64];
    let mut known = 0u64;
    let mut interfering = |x: Tid| {
        if known & (1 << x) == 0 {
            known |= 1 << x;
            let mut rest = live_threads & !(1 << x);
            let mut m = 0u64;
            while rest != 0 {
                let v = rest.trailing_zeros() as Tid;
                rest &= rest - 1;
                if !live.ex.next_all(x, |a| seen.commutes_with_thread(a, v)) {
                    m |= 1 << v;
                }
            }
            interferes[x] = m;
        }
        interferes[x]
    };
    let mut best: Option<u64> = None;
    'seed: for &t in &by_rank[..n] {
        let t = t as Tid;
        if members & (1 << t) == 0 {
            continue;
        }
        let mut set = 1u64 << t;
        let mut todo = set;
        while todo != 0 {
            let x = todo.trailing_zeros() as Tid;
            todo &= todo - 1;
            let join = interfering(x) & !set;
            if join & !members != 0 {
                continue 'seed;
            }
            set |= join;
            todo |= join;
        }
        if set == enabled {
            continue;
        }
        if best.is_none_or(|b| set.count_ones() < b.count_ones()) {
            best = Some(set);
            if set.count_ones() == 1 {
                break;
            }
        }
    }
    best
}
