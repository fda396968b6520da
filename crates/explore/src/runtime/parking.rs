//! The bookkeeping behind [`Guard::Changed`](super::Guard::Changed): per thread and object,
//! how many writes other threads made, the baseline a parked retry waits to see passed, and
//! the path-independent bits a stateful search keys states by
//! ([`Execution::parking_state`](super::Execution::parking_state)).

use super::Tid;
use crate::access::{AccessKind, Accesses};

/// The parking counters and bits of every thread of one execution.
pub(super) struct Parking {
    /// Writes to each object by threads other than the indexed one: `foreign[t][o]`.
    foreign: Vec<Vec<u32>>,
    /// `foreign` as it was at each thread's last parked step, or at the first read or write
    /// of the object in the thread's current attempt.
    parked_at: Vec<Vec<u32>>,
    /// The attempt generation in which `parked_at[t][o]` was last recorded.
    seen: Vec<Vec<u32>>,
    /// [`Execution::parking_state`](super::Execution::parking_state) of each thread, kept up
    /// to date step by step.
    pbits: Vec<Vec<u64>>,
    /// The attempt each thread's "seen in this attempt" bits in `pbits` are for.
    pbits_attempt: Vec<u32>,
    /// Whether the counters are kept (see
    /// [`Execution::set_lean`](super::Execution::set_lean)).
    pub(super) on: bool,
}

impl Parking {
    /// Zeroed counters for `threads` threads and `objects` objects.
    pub(super) fn new(threads: usize, objects: usize) -> Self {
        Parking {
            foreign: vec![vec![0; objects]; threads],
            parked_at: vec![vec![0; objects]; threads],
            seen: vec![vec![0; objects]; threads],
            pbits: vec![vec![0; 2 * objects.div_ceil(64)]; threads],
            pbits_attempt: vec![0; threads],
            on: true,
        }
    }

    /// Zeroes the counters for a restart with `objects` objects (the same number as before);
    /// each thread's bits follow from them by [`Parking::recompute`].
    pub(super) fn clear(&mut self, objects: usize) {
        for v in self
            .foreign
            .iter_mut()
            .chain(self.parked_at.iter_mut())
            .chain(self.seen.iter_mut())
        {
            assert_eq!(v.len(), objects, "restart with another number of objects");
            v.fill(0);
        }
    }

    /// Recomputes thread `t`'s bits from the counters, for its attempt `attempt`.
    pub(super) fn recompute(&mut self, t: Tid, attempt: u32) {
        let words = self.foreign[t].len().div_ceil(64);
        let bits = &mut self.pbits[t];
        bits.fill(0);
        for (o, ((fo, pa), se)) in self.foreign[t]
            .iter()
            .zip(&self.parked_at[t])
            .zip(&self.seen[t])
            .enumerate()
        {
            bits[o / 64] |= u64::from(fo != pa) << (o % 64);
            bits[words + o / 64] |= u64::from(*se == attempt) << (o % 64);
        }
        self.pbits_attempt[t] = attempt;
    }

    /// Whether another thread wrote one of the objects `accesses` touches since thread
    /// `tid`'s baseline for it: what enables its parked step.
    pub(super) fn written_since(&self, tid: Tid, accesses: &Accesses) -> bool {
        accesses.as_slice().iter().any(|a| {
            let o = a.obj.0 as usize;
            self.foreign[tid][o] != self.parked_at[tid][o]
        })
    }

    /// Counts thread `tid`'s step (just taken) with `accesses`, a parked retry if `parked`,
    /// in its attempt `attempt`: its first read or write of an object in the attempt takes a
    /// baseline, its writes count for every other thread, and a parked step takes a new
    /// baseline of what it reads.
    pub(super) fn count(&mut self, tid: Tid, accesses: &Accesses, parked: bool, attempt: u32) {
        if attempt != self.pbits_attempt[tid] {
            self.recompute(tid, attempt);
        }
        let words = self.pbits[tid].len() / 2;
        for a in accesses.as_slice() {
            let o = a.obj.0 as usize;
            let (w, b) = (o / 64, 1u64 << (o % 64));
            let observes = matches!(a.kind, AccessKind::Read | AccessKind::Write);
            if observes && self.seen[tid][o] != attempt {
                self.seen[tid][o] = attempt;
                self.parked_at[tid][o] = self.foreign[tid][o];
                self.pbits[tid][w] &= !b;
                self.pbits[tid][words + w] |= b;
            }
            if a.kind != AccessKind::Read {
                for t in (0..self.foreign.len()).filter(|&t| t != tid) {
                    let f = self.foreign[t][o].wrapping_add(1);
                    self.foreign[t][o] = f;
                    if f != self.parked_at[t][o] {
                        self.pbits[t][w] |= b;
                    } else {
                        self.pbits[t][w] &= !b;
                    }
                }
            }
            if parked {
                self.parked_at[tid][o] = self.foreign[tid][o];
                self.pbits[tid][w] &= !b;
            }
        }
    }

    /// The attempt thread `t`'s bits are for.
    pub(super) fn attempt_of(&self, t: Tid) -> u32 {
        self.pbits_attempt[t]
    }

    /// Thread `t`'s bits word by word (all zero if it `finished`).
    pub(super) fn words(&self, t: Tid, finished: bool, mut f: impl FnMut(u64)) {
        for &w in &self.pbits[t] {
            f(if finished { 0 } else { w });
        }
    }

    /// The counters flat (`foreign`, `parked_at` and `seen` row by row, then each thread's
    /// attempt), and the bits flat (row by row): what a snapshot keeps.
    pub(super) fn save(&self) -> (Box<[u32]>, Box<[u64]>) {
        let n = self.foreign.len();
        let objects = self.foreign.first().map_or(0, Vec::len);
        let mut counters = Vec::with_capacity(3 * n * objects + n);
        for row in self.foreign.iter().chain(&self.parked_at).chain(&self.seen) {
            counters.extend_from_slice(row);
        }
        counters.extend_from_slice(&self.pbits_attempt);
        let mut pbits = Vec::with_capacity(self.pbits.first().map_or(0, Vec::len) * n);
        for row in &self.pbits {
            pbits.extend_from_slice(row);
        }
        (counters.into_boxed_slice(), pbits.into_boxed_slice())
    }

    /// Copies back what [`Parking::save`] kept.
    pub(super) fn load(&mut self, counters: &[u32], pbits: &[u64]) {
        let mut src = counters;
        for row in self
            .foreign
            .iter_mut()
            .chain(self.parked_at.iter_mut())
            .chain(self.seen.iter_mut())
            .map(Vec::as_mut_slice)
            .chain(std::iter::once(self.pbits_attempt.as_mut_slice()))
        {
            let (head, rest) = src.split_at(row.len());
            row.copy_from_slice(head);
            src = rest;
        }
        let mut src = pbits;
        for row in self.pbits.iter_mut() {
            let (head, rest) = src.split_at(row.len());
            row.copy_from_slice(head);
            src = rest;
        }
    }
}
