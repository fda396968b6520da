//! The bookkeeping behind [`Guard::Changed`](super::Guard::Changed): per thread and object,
//! whether another thread wrote it since the baseline a parked retry waits to see passed,
//! and whether the thread touched it in its current attempt — the path-independent bits a
//! stateful search keys states by
//! ([`Execution::parking_state`](super::Execution::parking_state)).

use super::Tid;
use crate::access::{AccessKind, Accesses};

/// The parking bits of every thread of one execution.
///
/// Per thread two bit sets over the objects ([`Execution::parking_state`]): "written by
/// another thread since the thread's baseline for the object" and "read or written by the
/// thread in its current attempt". They are all the bookkeeping there is: a baseline is
/// taken (first bit cleared) at the thread's first read or write of the object in an
/// attempt and at its parked step; another thread's write sets the first bit; a new attempt
/// (generations only grow along a path) clears the second set. (Counters of writes and
/// their baselines, compared for inequality, carry the same information and cost a copy of
/// three arrays per snapshot.)
///
/// [`Execution::parking_state`]: super::Execution::parking_state
pub(super) struct Parking {
    /// Words per bit set.
    words: usize,
    /// The model's objects.
    objects: usize,
    /// Per thread, `2 * words` words: the "written since" set, then the "seen in this
    /// attempt" set.
    pbits: Vec<u64>,
    /// The attempt each thread's "seen in this attempt" bits are for.
    pbits_attempt: Vec<u32>,
    /// Whether the bits are kept (see
    /// [`Execution::set_lean`](super::Execution::set_lean)).
    pub(super) on: bool,
}

impl Parking {
    /// The bits at the start for `threads` threads and `objects` objects (see
    /// [`Parking::clear`]).
    pub(super) fn new(threads: usize, objects: usize) -> Self {
        let words = objects.div_ceil(64);
        let mut p = Parking {
            words,
            objects,
            pbits: vec![0; 2 * words * threads],
            pbits_attempt: vec![0; threads],
            on: true,
        };
        p.clear(objects);
        p
    }

    /// The bits at the start (for a restart with `objects` objects, the same number as
    /// before): nothing written since; and every object counts as seen in attempt 0 — the
    /// first attempt's baseline is the start, not its first access (generation 0 is every
    /// object's baseline generation).
    pub(super) fn clear(&mut self, objects: usize) {
        assert_eq!(
            self.objects, objects,
            "restart with another number of objects"
        );
        let w = self.words;
        for t in 0..self.pbits_attempt.len() {
            self.pbits[2 * t * w..(2 * t + 1) * w].fill(0);
            let seen = &mut self.pbits[(2 * t + 1) * w..(2 * t + 2) * w];
            for (i, word) in seen.iter_mut().enumerate() {
                let valid = objects.saturating_sub(64 * i).min(64);
                *word = if valid == 64 {
                    u64::MAX
                } else {
                    (1u64 << valid) - 1
                };
            }
        }
        self.pbits_attempt.fill(0);
    }

    /// Thread `t` is in attempt `attempt`: a new attempt has read nothing yet.
    pub(super) fn recompute(&mut self, t: Tid, attempt: u32) {
        if attempt != self.pbits_attempt[t] {
            let w = self.words;
            self.pbits[(2 * t + 1) * w..(2 * t + 2) * w].fill(0);
            self.pbits_attempt[t] = attempt;
        }
    }

    /// Whether another thread wrote one of the objects `accesses` touches since thread
    /// `tid`'s baseline for it: what enables its parked step.
    pub(super) fn written_since(&self, tid: Tid, accesses: &Accesses) -> bool {
        let base = 2 * tid * self.words;
        accesses.as_slice().iter().any(|a| {
            let o = a.obj.0 as usize;
            self.pbits[base + o / 64] & (1 << (o % 64)) != 0
        })
    }

    /// Counts thread `tid`'s step (just taken) with `accesses`, a parked retry if `parked`,
    /// in its attempt `attempt`: its first read or write of an object in the attempt takes a
    /// baseline, its writes count for every other thread, and a parked step takes a new
    /// baseline of what it reads.
    pub(super) fn count(&mut self, tid: Tid, accesses: &Accesses, parked: bool, attempt: u32) {
        self.recompute(tid, attempt);
        let words = self.words;
        let threads = self.pbits_attempt.len();
        let (written, seen) = (2 * tid * words, (2 * tid + 1) * words);
        for a in accesses.as_slice() {
            let o = a.obj.0 as usize;
            let (w, b) = (o / 64, 1u64 << (o % 64));
            let observes = matches!(a.kind, AccessKind::Read | AccessKind::Write);
            if observes && self.pbits[seen + w] & b == 0 {
                self.pbits[seen + w] |= b;
                self.pbits[written + w] &= !b;
            }
            if a.kind != AccessKind::Read {
                for t in (0..threads).filter(|&t| t != tid) {
                    self.pbits[2 * t * words + w] |= b;
                }
            }
            if parked {
                self.pbits[written + w] &= !b;
            }
        }
    }

    /// The attempt thread `t`'s bits are for.
    pub(super) fn attempt_of(&self, t: Tid) -> u32 {
        self.pbits_attempt[t]
    }

    /// Thread `t`'s bits word by word (all zero if it `finished`).
    pub(super) fn words(&self, t: Tid, finished: bool, mut f: impl FnMut(u64)) {
        for &w in &self.pbits[2 * t * self.words..2 * (t + 1) * self.words] {
            f(if finished { 0 } else { w });
        }
    }

    /// The bits and each thread's attempt: what a snapshot keeps, copied into `into`
    /// (whose allocation is reused).
    pub(super) fn save_into(&self, into: &mut Vec<u64>) {
        into.clear();
        into.extend_from_slice(&self.pbits);
        into.extend(self.pbits_attempt.iter().map(|&a| u64::from(a)));
    }

    /// Copies back what [`Parking::save_into`] kept.
    pub(super) fn load(&mut self, saved: &[u64]) {
        let (bits, attempts) = saved.split_at(self.pbits.len());
        self.pbits.copy_from_slice(bits);
        for (a, &s) in self.pbits_attempt.iter_mut().zip(attempts) {
            *a = s as u32;
        }
    }
}
