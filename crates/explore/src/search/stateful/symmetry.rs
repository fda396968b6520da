//! Symmetry reduction (see "Symmetry" in the module documentation): the groups of
//! interchangeable threads the search uses, and the canonical positions that map sleep sets
//! between states equal up to a permutation of group members.

use super::{StateKey, StatefulOptions};
use crate::hash::Hasher128;
use crate::runtime::Tid;
use std::hash::Hasher;

/// The model's symmetry groups of two or more threads, if the search uses symmetry.
pub(super) fn groups_of<M: StateKey>(model: &M, sopts: StatefulOptions) -> Vec<Vec<Tid>> {
    if !sopts.symmetry {
        return Vec::new();
    }
    let mut g = model.symmetry();
    for m in &mut g {
        m.sort_unstable();
        m.dedup();
    }
    g.retain(|m| m.len() > 1);
    g
}

/// Canonical position of each thread (see `Live::key`).
pub(super) type Perm = [u8; 64];

/// What the key computation learns about symmetric threads (entries `0..n` only: the
/// model's threads).
pub(super) struct Canon {
    /// Canonical position of each thread.
    pub(super) perm: Perm,
    /// For each thread, the first thread of its group in an identical local state (itself if
    /// none): such threads are interchangeable here, and their transitions lead to states
    /// equal up to the swap.
    pub(super) tie: Perm,
    /// The number of threads.
    n: usize,
}

impl Canon {
    pub(super) fn new() -> Self {
        Canon {
            perm: [0; 64],
            tie: [0; 64],
            n: 0,
        }
    }

    /// The identity on `n` threads (no member ranked yet).
    pub(super) fn reset(&mut self, n: usize) {
        self.n = n;
        for t in 0..n {
            self.perm[t] = t as u8;
            self.tie[t] = t as u8;
        }
    }
}

/// Ranks the members of group `g` by their local keys (`local(t)`, computed once each):
/// feeds the keys into `h` in sorted order, so that states equal up to a permutation of the
/// members hash alike, and records in `c` each member's canonical position (its rank, as a
/// position in `g`) and which members tie (identical local states: any order among them is
/// an automorphism of the state).
#[inline]
pub(super) fn rank_members(
    g: &[Tid],
    mut local: impl FnMut(Tid) -> u128,
    h: &mut Hasher128,
    c: &mut Canon,
) {
    let m = g.len();
    // Groups of up to 8 threads rank on the stack.
    let (mut keys8, mut tids8) = ([0u128; 8], [0 as Tid; 8]);
    let (mut keys_big, mut tids_big) = (Vec::new(), Vec::new());
    let (keys, tids): (&mut [u128], &mut [Tid]) = if m <= keys8.len() {
        (&mut keys8[..m], &mut tids8[..m])
    } else {
        keys_big.resize(m, 0);
        tids_big.resize(m, 0);
        (&mut keys_big, &mut tids_big)
    };
    // Each member's local key, inserted in order (members with equal keys stay in group
    // order).
    for (i, &t) in g.iter().enumerate() {
        let l = local(t);
        let mut j = i;
        while j > 0 && keys[j - 1] > l {
            keys[j] = keys[j - 1];
            tids[j] = tids[j - 1];
            j -= 1;
        }
        keys[j] = l;
        tids[j] = t;
    }
    for rank in 0..m {
        let t = tids[rank];
        h.write_u128(keys[rank]);
        c.perm[t] = g[rank] as u8;
        if rank > 0 && keys[rank - 1] == keys[rank] {
            c.tie[t] = c.tie[tids[rank - 1]];
        }
    }
}

/// A set of threads (below 64) in canonical positions.
pub(super) fn canon(set: u64, perm: &Perm) -> u64 {
    let (mut rest, mut out) = (set, 0u64);
    while rest != 0 {
        let t = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        out |= 1 << perm[t];
    }
    out
}

/// The threads whose canonical positions are in `set`.
pub(super) fn uncanon(set: u64, c: &Canon) -> u64 {
    if set == 0 {
        return 0;
    }
    let mut inv = [0u8; 64];
    for (t, &p) in c.perm[..c.n].iter().enumerate() {
        inv[p as usize] = t as u8;
    }
    canon(set, &inv)
}
