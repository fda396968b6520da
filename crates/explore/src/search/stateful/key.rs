//! The state key: what a model hashes of its world ([`StateKey`]: the contract in the module
//! documentation above, "What a state is"), and the key the search computes from it and from
//! the runtime's part of each thread's state.

use super::live::Live;
use super::safe::thread_mask;
use super::symmetry::{rank_members, Canon};
use crate::hash::{Hasher128, Packer};
use crate::runtime::{Ctx, Instance, Model, ThreadFuture, Tid};
use std::hash::Hasher;

/// A model whose whole state can be hashed: see the module documentation for the contract
/// ("What a state is, and why the key is sound").
pub trait StateKey: Model {
    /// Feeds the world, including every thread's resume point, into `h`.
    fn hash_state<H: Hasher>(&self, world: &Self::World, h: &mut H);

    /// Optional, for cheap backtracking: an instance whose world is a copy of `world` (a state
    /// the search reached) and whose threads start at the resume points recorded in it. With
    /// it the search restores a state in O(threads) instead of replaying its path; the search
    /// checks that the restored state has the key of the original and panics otherwise (the
    /// model's `resume` is wrong) — on every restore in debug builds (and so in the tests), on
    /// the first 64 and then one in 64 in release builds (a self-check: nothing else reads
    /// that key). `None` (the default): restore by replay.
    fn resume(&self, world: &Self::World) -> Option<Instance<Self::World>> {
        let _ = world;
        None
    }

    /// With [`StateKey::resume`]: thread `tid` restarted at the resume point `world` records
    /// for it, as a future on `cx` — what a restore starts for each thread that moved since
    /// the state (the others keep their futures), after copying the state's world in place
    /// ([`StateKey::snapshot_into`]). The default takes the thread from the instance
    /// `resume` makes; a model overrides it to build the one future alone.
    fn resume_thread(&self, world: &Self::World, tid: Tid, cx: Ctx<Self::World>) -> ThreadFuture {
        let mut inst = self
            .resume(world)
            .expect("resume_thread of a model without StateKey::resume");
        (inst.threads.swap_remove(tid).1)(cx)
    }

    /// A copy of `world` for [`StateKey::resume`] to restore later (default: the world of the
    /// instance `resume` makes; override with a plain clone when the world is `Clone`).
    fn snapshot(&self, world: &Self::World) -> Option<Self::World> {
        self.resume(world).map(|i| i.world)
    }

    /// [`StateKey::snapshot`] into `into`, the world of an earlier snapshot that the search no
    /// longer needs; false (and `into` as it was) when the model keeps no snapshots. The
    /// default makes a new snapshot; a model whose world is `Clone` overrides it with
    /// `into.clone_from(world)`, which copies into the allocations `into` already has.
    fn snapshot_into(&self, world: &Self::World, into: &mut Self::World) -> bool {
        match self.snapshot(world) {
            Some(w) => {
                *into = w;
                true
            }
            None => false,
        }
    }

    /// Whether the key includes each thread's history ([`crate::Execution::history`]) — for
    /// models whose threads keep local state in `async` locals instead of resume points in the
    /// world. Such models have no `resume` (it returns `None`): they restore by fast-forward
    /// ([`StateKey::fast_forward`]) or by replay.
    fn key_includes_history(&self) -> bool {
        false
    }

    /// For history-keyed models whose world can be copied ([`StateKey::snapshot`] returns a
    /// clone): restore a state by fast-forwarding fresh thread futures through the results
    /// their steps returned on the path ([`crate::Execution::restore`]: no step bodies run)
    /// instead of replaying the path. Requires step results that are `Clone` (as [`crate::Ctx::step`]
    /// asks). Default: `false` (replay).
    fn fast_forward(&self) -> bool {
        false
    }

    /// Symmetry reduction: groups of interchangeable threads (default: none). Threads of one
    /// group run the same code with the same parameters, the model's properties do not name
    /// them, and the world splits into a shared part ([`StateKey::hash_shared`]) that holds no
    /// identity of a group member and one part per thread ([`StateKey::hash_thread`]) — so
    /// that swapping two members' parts (and their runtime state) maps every reachable state to
    /// a reachable state with the swapped future. The search then keys a state by its shared
    /// part and, per group, the *multiset* of its members' local states (see "Symmetry" in the
    /// module documentation). With groups declared, `hash_state` is not used for the key.
    fn symmetry(&self) -> Vec<Vec<Tid>> {
        Vec::new()
    }

    /// With [`StateKey::symmetry`]: the world without the parts of the threads in groups.
    fn hash_shared<H: Hasher>(&self, world: &Self::World, h: &mut H) {
        self.hash_state(world, h);
    }

    /// With [`StateKey::symmetry`]: thread `tid`'s own part of the world (its resume point and
    /// the locals it keeps there).
    fn hash_thread<H: Hasher>(&self, world: &Self::World, tid: Tid, h: &mut H) {
        let _ = (world, tid, h);
    }
}

impl<W: 'static> Live<W> {
    /// The state's key and, for sleep sets, the canonical position of each thread: the
    /// identity without symmetry; with it, members of a group are ranked by their local state.
    /// `park`: the objects whose parking bits the key keeps, per thread (all: `None`).
    pub(super) fn key<M: StateKey<World = W>>(
        &self,
        model: &M,
        groups: &[Vec<Tid>],
        park: Option<&[u64]>,
        c: &mut Canon,
    ) -> u128 {
        let n = self.ex.threads();
        let mut h = Hasher128::new(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344);
        c.reset(n);
        if groups.is_empty() {
            self.ex.with_world(|w| model.hash_state(w, &mut h));
            for t in 0..n {
                self.hash_runtime_part(model, t, park, &mut h);
            }
        } else {
            let grouped = groups.iter().flatten().fold(0u64, |m, &t| m | (1 << t));
            self.ex.with_world(|w| {
                model.hash_shared(w, &mut h);
                for t in (0..n).filter(|&t| grouped & (1 << t) == 0) {
                    self.hash_runtime_part(model, t, park, &mut h);
                }
                for g in groups {
                    // A member's local key: exact when short (a resume point and a few
                    // bits), else hashed.
                    let local = |t: Tid| {
                        let mut a = Packer::new();
                        model.hash_thread(w, t, &mut a);
                        self.hash_runtime_part(model, t, park, &mut a);
                        a.finish128()
                    };
                    rank_members(g, local, &mut h, c);
                }
            });
        }
        h.finish128()
    }

    /// The explorer's and runtime's part of thread `t`'s state: whether it finished and its
    /// registered operation, its parking bits, and (if the model asks) its history.
    pub(super) fn hash_runtime_part<M: StateKey<World = W>, H: Hasher>(
        &self,
        model: &M,
        t: Tid,
        park: Option<&[u64]>,
        h: &mut H,
    ) {
        // The registered operation's name, as 32 bits of its address and length (a cross-check
        // of what the rest of the key determines; 0: finished).
        let tag = match self.ex.next_op_name(t) {
            None => 0u32,
            Some(name) => {
                let x = name.as_ptr() as u64 ^ ((name.len() as u64) << 40);
                (x ^ (x >> 32)) as u32 | 1
            }
        };
        h.write_u32(tag);
        if model.key_includes_history() {
            debug_assert!(self.by_runtime, "history-keyed models restore by replay");
            // History-keyed: what the thread's code did so far, and the runtime's summary of
            // what its parked steps wait for (see "What a state is"). A finished thread has
            // no future: how it got there does not matter (and a restore does not rerun it).
            if tag != 0 {
                h.write_u128(self.ex.history(t));
            }
            match park {
                // Only the bits of the objects the thread's parked retries wait on.
                Some(masks) => {
                    let mask = thread_mask(masks, self.ex.threads(), t);
                    let words = mask.len();
                    let mut i = 0;
                    self.ex.parking_words(t, |c| {
                        h.write_u64(c & mask[i % words]);
                        i += 1;
                    });
                }
                None => self.ex.parking_words(t, |c| h.write_u64(c)),
            }
            return;
        }
        // A finished thread never steps again: its "written since" bits decide nothing.
        if tag != 0 {
            let bits = &self.changed[t * self.words..(t + 1) * self.words];
            match self.objects {
                // As many bytes as there are objects to a word (the others are always 0).
                0..=8 => h.write_u8(bits[0] as u8),
                9..=16 => h.write_u16(bits[0] as u16),
                17..=32 => h.write_u32(bits[0] as u32),
                _ => bits.iter().for_each(|&c| h.write_u64(c)),
            }
        }
    }
}
