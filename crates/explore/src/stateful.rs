//! Stateful search: a visited set over whole states, combined with sleep sets, on one or
//! several cores.
//!
//! # What a state is, and why the key is sound
//!
//! A model thread is an `async fn` future: its local state (program counter, live locals) is
//! hidden in the future and can be neither hashed nor cloned. A model that wants its states
//! remembered implements [`StateKey`] and keeps every thread's *resume point* in its world:
//! each step body that changes what the thread will do next writes it there (a label and the
//! few live locals, e.g. `world.pc[tid] = AFTER_GET; world.round[tid] = i`). The contract is:
//!
//! > after every step, a thread's remaining behaviour (the operations it will register and what
//! > their bodies do) is a deterministic function of the world, and in particular of the part
//! > of it that [`StateKey::hash_state`] hashes.
//!
//! Under that contract the key below determines everything the rest of the search can observe:
//! * the world (hashed by the model: shared state and resume points);
//! * for each thread: whether it finished, and the name of its registered operation (a cheap
//!   cross-check of the resume point);
//! * the explorer's own part of the state that steps' enabledness depends on: a parked retry
//!   ([`crate::Guard::Changed`]) is enabled once another thread wrote an object it reads since
//!   this thread's previous parked step. The runtime keeps counters for that; counters differ
//!   between paths that converge, so the key holds instead, per thread and object, the single
//!   bit "written by another thread since this thread's last parked step on it" — exactly
//!   what enabledness reads, and it evolves deterministically with the steps (a write sets the
//!   bit of every other thread, a parked step clears the stepping thread's bits). A finished
//!   thread's bits are left out: it never steps again, so they decide nothing.
//!
//! Two paths that reach equal keys therefore have equal futures (same enabled steps, same
//! findings, same final states): exploring from one of them is enough. Keys are 128-bit
//! (two independently seeded hashes); a collision would wrongly prune, with probability about
//! `states² / 2¹²⁹` — below 10⁻²⁵ for 10⁸ states.
//!
//! These bits follow the runtime's rule for [`crate::Op::parked`] steps of models that do not
//! use [`crate::Ctx::attempt_begin`]; a model that does must be history-keyed (below). A
//! [`crate::Op::retry_when`] wait needs no bits: its predicate reads the world.
//!
//! ## History-keyed models (threads that keep their state in `async` locals)
//!
//! A model whose threads keep their local state in `async` locals (the kernel model) cannot
//! write resume points. It declares [`StateKey::key_includes_history`] and keeps the contract
//! of the runtime's module documentation instead: a thread's local state is a deterministic
//! function of the values its step bodies returned (`Ctx::step` requires `R: Hash`), of its
//! start, and of constants (`Ctx::with_const` reads only set-up data); a body hands nothing to
//! its thread by any other channel. The runtime chains, per thread, each operation's name and
//! the hash of its result into a 128-bit history ([`Execution::history`]), so equal histories
//! mean equal local states. For such a model the key is:
//! * the world ([`StateKey::hash_state`]: shared state, including thread-private bookkeeping
//!   kept there; nothing of a thread's locals);
//! * for each thread: whether it finished and the name of its registered operation, and its
//!   history;
//! * for each thread, the runtime's summary of what its parked steps wait for
//!   ([`Execution::parking_state`]): per object, "written by another thread since this
//!   thread's baseline" and "already observed in the current attempt" — the two bits that
//!   decide [`crate::Guard::Changed`] with attempts, whose counters differ between converging
//!   paths while the bits evolve deterministically with the steps (with the learned table of
//!   "Safe steps", only the bits of objects the thread's parked retries wait on: see "Parking
//!   bits of objects nobody waits on"). Enabledness is then the
//!   runtime's own ([`Execution::enabled`], which also evaluates `retry_when` predicates on the
//!   world); the search restores such states by replay, so the runtime's counters are exact.
//!
//! The world, the histories and this summary determine every thread's registered operation,
//! its enabledness and what the rest of each thread's code does; equal keys have equal futures
//! as above. Histories never converge, so only interleavings in which every thread saw the
//! same results merge (the usual case: independent steps in different orders). A reported
//! property's trace is the best of the paths the search happened to take to it (a state is
//! expanded once, from the first path that reached it), not necessarily the shortest; it
//! replays like any schedule (the search's enabledness is the runtime's).
//!
//! # Sleep sets with state caching
//!
//! Plain state caching explores every transition of every reachable state. Sleep sets
//! (Godefroid, *Partial-Order Methods for the Verification of Concurrent Systems*, 1996,
//! ch. 5) avoid transitions that only lead to a state through an order already covered: after
//! exploring `t` from `s`, `t` sleeps in the states reached from `s` by transitions
//! independent of `t` until a dependent transition wakes it. Combining them with a visited set
//! needs care — a state first reached with sleep set `Z₁` was only expanded by the transitions
//! not in `Z₁`; reached again with `Z₂`, the transitions of `Z₁ \ Z₂` are still owed. The visited
//! set therefore stores with each state the sleep set it was expanded with; a revisit with `Z`
//! explores `stored \ Z` (if any) and stores `stored ∩ Z` (Godefroid's algorithm, fig. 5.3). Every
//! reachable state is visited and every step finding is seen (a slept transition meets, in the
//! order that covers it, the same values of the objects it touches). The random-program tests
//! (`tests/stateful.rs`) check this against a plain visited-set search and against naive
//! enumeration: same set of reachable states, final states and properties.
//!
//! # Safe steps (persistent sets from a learned independence table)
//!
//! Sleep sets prune transitions, not states: every state reachable in the full state space is
//! still visited. For history-keyed models (whose states merge only when every thread saw the
//! same results) that leaves many states that differ only by which of several independent
//! steps were taken so far. A *persistent set* (Godefroid 1996, ch. 4) cuts them: if nothing
//! any other thread can ever do interferes with thread `t`'s next step, taking that step
//! alone from the state loses no maximal trace, since in any execution from the state that
//! step is either taken later (and commutes back to the front) or never, and then the others
//! can go the same way after it.
//!
//! "Anything any other thread can ever do" is not known in advance; the search learns it
//! ([`crate::indep`]). Random walks fill a table of the access kinds each thread was seen
//! making to each object (and the operations seen ending an execution). A step is *safe* when
//! it is not a parked retry, was never seen ending an execution, and each of its accesses
//! commutes with every kind the other (unfinished) threads were seen making to that object;
//! such a thread is expanded alone. More generally a set of enabled threads whose next steps
//! are such steps, and commute with everything the threads *outside* the set were seen doing,
//! is persistent; the search takes the smallest closure of one thread under "may interfere"
//! (`safe_set`), first in canonical order among equals, when it is smaller than the enabled
//! threads. The choice is a function of the state, so a revisit owes only the sleep-set part
//! that choice left out; persistent sets combine with sleep sets and a visited set as in
//! Godefroid ch. 6 (the state spaces of history-keyed models are acyclic, so there is no
//! ignoring problem).
//!
//! The table is an assumption, and the search checks it: at every state it reaches, every
//! thread's registered operation, and every step it takes (its accesses, and whether it was
//! fatal), must already be in the table. Anything new stops the search; it starts over with
//! the larger table (`Stats::reruns`), which only grows, so this ends. The check is
//! complete: if some reachable state had a registered operation outside the table, the
//! reduced search reaches a state with one too — by induction over the (finite, acyclic)
//! state space: from a state expanded by the set `T`, a sequence of table steps that reaches
//! such an operation either contains a step of `T` (the first one commutes to the front: the
//! steps before it are of threads outside `T`) or not (then any step of `T` followed by the
//! sequence also reaches it: it changes no other thread's local state, and the registered
//! operations of `T`'s threads, which the sequence does not move, are checked where they are). The verdicts, final
//! states and properties therefore equal those without safe steps: `tests/toy.rs` compares the
//! search with and without them against naive enumeration on random programs, and the kernel's
//! `crates/checker/tests/stateful.rs` compares it with DPOR on every built-in scenario and
//! matrix cell. Off with [`StatefulOptions::safe_steps`] `= false`.
//!
//! ## Parking bits of objects nobody waits on
//!
//! The parking summary has two bits per thread and object, but a thread's bits of object
//! `o` decide only the enabledness of its parked retries ([`crate::Guard::Changed`]) that
//! access `o`; `retry_when` waits and plain steps never read them. Kept for every object,
//! they split states that no thread can tell apart: in the sendfile scenarios a vCPU that
//! read the refcount in its import attempt before or after the other vCPU's unfreeze is in
//! two states, though on that path it never parks (its wait is a `retry_when` predicate;
//! only the sendfile thread's `find_get_page` parks). So with the learned
//! table (history-keyed models with safe steps), the key holds a thread's bits only for the
//! objects the table saw its parked retries registered on (or any member's of its symmetry
//! group); the search checks that every parked retry it meets registered is on objects
//! the table holds — a miss makes it start over, like a missing access.
//!
//! Sound: the bits of one object evolve by the accesses to that object alone (and the
//! thread's `attempt_begin`), so the bits the key keeps evolve deterministically by
//! themselves. Take two states with equal keys, `s` explored and `s'` pruned. Along any
//! sequence of steps from `s'`, up to the first registration of a parked retry on an
//! object outside its thread's mask, every step's enabledness reads only the world, the
//! registered operations and bits inside the masks — equal at `s` and, step by step, along
//! the same sequence from `s`: the sequence runs from `s` alike, with the same results. So
//! a miss reachable from a pruned state is reachable from an explored one and the search
//! meets it (the completeness argument of "Safe steps" covers the rest), and with no miss
//! reachable, the states the key merges have the same futures. `tests/parking_key.rs`
//! has two paths that meet in states told apart only by such a bit, with a seeded table and
//! with one learned from nothing (`StatefulOptions::seed_table = false`).
//!
//! # Symmetry
//!
//! Threads that run the same code with the same parameters (n − 1 identical I/O threads, two
//! vCPUs doing the same access) make states that differ only by which of them is where. A
//! model declares such groups ([`StateKey::symmetry`]) and splits its world into a shared
//! part and one part per thread ([`StateKey::hash_shared`], [`StateKey::hash_thread`]). The key
//! is then the shared part, the non-grouped threads in order, and for each group the *sorted*
//! list of its members' local keys (world part, registered operation, parking bits): states
//! equal up to a permutation of group members get one key (Emerson–Sistla / Ip–Dill symmetry
//! reduction). The search itself stays concrete — it steps real threads along real paths, so
//! every reported schedule replays as it is; only the visited set works up to symmetry.
//!
//! Sleep sets name threads, so the visited set stores them in canonical positions (each
//! member's rank in its group's sorted order) and maps them back at a revisit: the state
//! reached is the image of the stored one under the permutation, and so are its transitions;
//! Godefroid's argument carries over through that bijection. Members in identical local
//! states are interchangeable in the state itself: of their transitions only one is taken (the
//! others lead to the same state up to the swap, with a sleep set that, up to the swap, holds
//! at least what the taken one's holds, so arriving there would owe nothing).
//! `tests/stateful.rs` checks, on random programs with a group of identical threads, that the
//! properties and final states (up to permuting the group) equal those of the search without
//! symmetry, with one and two workers, and that every violation's schedule replays.
//!
//! A history-keyed model's members' local keys hold their histories (equal when the members
//! did the same steps and saw the same results). With safe steps, two more things make the
//! combination sound. The choice of a persistent set must map with the state: at a state
//! and at its image under a permutation, the images of one set (else a revisit, which owes
//! only what the choice at the first visit left out, could miss transitions of the set the
//! other choice would take). `safe_set` tries threads in canonical order, and the table it
//! reads is made the same for every member of a group (`Seen::symmetrize`: whatever one
//! member was seen doing, the others do in the state with the two swapped). And the table's
//! completeness check ("Safe steps") runs on the states the search reaches, which are now
//! one per class of symmetric states: a step outside the table that only the image of a
//! reached state would register is missing for one member exactly when it is missing for
//! the member it maps to, since their entries are equal, so the check still meets it. (The
//! table is symmetrized object by object: members must not have objects of their own that
//! other threads touch.) `tests/toy.rs` compares this configuration with naive enumeration on
//! random history-keyed programs with a group of identical threads; the kernel's
//! `crates/checker/tests/stateful.rs` compares it with the search without symmetry on every
//! scenario with identical threads.
//!
//! # Restoring a state
//!
//! Futures cannot be cloned. A model that can restart its threads from the resume points in
//! its world implements [`StateKey::resume`]: the search keeps, for each open state with
//! children left, a copy of its world (and, on a stack that grows and shrinks with the path,
//! its parking bits and the threads' position stamps: no allocation per state), and restores
//! the state from it in O(threads): the world is copied back in place, a thread that did not
//! move since keeps its future, a thread written as a [`crate::Machine`] is rewound (it
//! registers the operation the restored world gives), and any other thread restarts at its
//! resume point ([`StateKey::resume_thread`]). The search checks that the restored state has
//! the original key on the first 64 restores and one in 64 after them (every one in debug
//! builds).
//! A history-keyed model whose world can be copied declares [`StateKey::fast_forward`]: the
//! search keeps a [`crate::runtime::Snapshot`] (a copy of the world and of the runtime's
//! bookkeeping, with each thread's registered operation) and restores by restarting each
//! moved thread's future and completing its steps at once with the results they returned on
//! the path, without running step bodies ([`Execution::restore`]; threads that did not move
//! since keep their futures). The restart waits until the thread is stepped: after a restore
//! the search often steps one thread, meets a state it has seen and goes back again, and the
//! other moved threads were then never started (on `bench/scenarios/d3-sendfile-3t.toml`,
//! v5.7+splice-patch: 64,036 starts instead of 100,973). The worlds
//! of snapshots no longer needed are kept, and later snapshots are copied into them
//! ([`StateKey::snapshot_into`]): once the spare worlds have grown to the sizes the search
//! meets, the copy of the world allocates nothing (the runtime's bookkeeping in a snapshot
//! still takes four small allocations). Otherwise
//! going back re-runs the model from a fresh instance along the path (one poll per step, no OS
//! thread switch). Depth-first order keeps restores rare: a new state is expanded on the spot;
//! only going back up costs a restore.
//!
//! Parked retries are judged by the search's own "written since" bits (see "Parking bits of
//! objects nobody waits on" above), not by the runtime's counters, which a lean execution
//! does not keep ([`crate::runtime::Execution::set_lean`]) and a restore does not bring
//! back; the bits follow the runtime's rule, so both agree on a replayed execution.
//!
//! # Several cores
//!
//! Workers share the visited set (one table, slots claimed by compare-and-swap: see
//! `visited.rs`) and a queue of tasks; a task is
//! "arrive at the state reached by this path, with this sleep set". A worker that sees idle
//! workers and an empty queue hands over the unexplored children of its shallowest open state.
//! The store-and-compare of sleep sets is atomic per state (one `fetch_and`), so the
//! argument above does not depend on which worker gets where first: every state is expanded
//! by every transition not in the intersection of the sleep sets it was reached with. The
//! same states, final states and properties are found with any number of workers (tested).

use super::{
    check_limits, end_of_execution, finalize, offer, report_of, Bound, Candidate, Options, Outcome,
    PropertyReport, Stats, Strategy,
};
use crate::access::Access;
use crate::indep::Seen;
use crate::runtime::{Execution, Model, Tid};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use visited::{Handle, Visit, Visited};

#[path = "visited.rs"]
mod visited;

/// A model whose whole state can be hashed: see the module documentation for the contract.
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
    fn resume(&self, world: &Self::World) -> Option<crate::runtime::Instance<Self::World>> {
        let _ = world;
        None
    }

    /// With [`StateKey::resume`]: thread `tid` restarted at the resume point `world` records
    /// for it, as a future on `cx` — what a restore starts for each thread that moved since
    /// the state (the others keep their futures), after copying the state's world in place
    /// ([`StateKey::snapshot_into`]). The default takes the thread from the instance
    /// `resume` makes; a model overrides it to build the one future alone.
    fn resume_thread(
        &self,
        world: &Self::World,
        tid: Tid,
        cx: crate::runtime::Ctx<Self::World>,
    ) -> crate::runtime::ThreadFuture {
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

    /// Whether the key includes each thread's history ([`Execution::history`]) — for models
    /// whose threads keep local state in `async` locals instead of resume points in the world.
    /// Such models restore by replay (`resume` returns `None`).
    fn key_includes_history(&self) -> bool {
        false
    }

    /// For history-keyed models whose world can be copied ([`StateKey::snapshot`] returns a
    /// clone): restore a state by fast-forwarding fresh thread futures through the results
    /// their steps returned on the path ([`Execution::restore`]: no step bodies run) instead
    /// of replaying the path. Requires step results that are `Clone` (as [`crate::Ctx::step`]
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

pub use crate::hash::Hasher128;
use crate::hash::Packer;

/// Options of the stateful search beyond [`Options`].
#[derive(Copy, Clone, Debug)]
pub struct StatefulOptions {
    /// Worker threads (1: the calling thread only).
    pub jobs: usize,
    /// Use sleep sets (partial-order reduction of transitions); `false` explores every
    /// transition of every reachable state (the reference the tests compare against).
    pub sleep_sets: bool,
    /// Keep the keys of all visited states in the outcome (for tests). Where the search keys
    /// states by fewer parking bits than all (history-keyed models with safe steps: see
    /// "Parking bits of objects nobody waits on"), the keys kept are the full ones, with
    /// every bit, of every state it arrived at, so that they compare with a search without
    /// safe steps.
    pub keep_keys: bool,
    /// Use the model's thread symmetry ([`StateKey::symmetry`]) if it declares any.
    pub symmetry: bool,
    /// For history-keyed models: expand a state by a persistent set of its enabled threads
    /// (one *safe step* alone, or the smallest closure of threads that may interfere only
    /// with each other) where there is one smaller than all, from the learned independence
    /// table (see "Safe steps"). The key's parking bits are cut to the objects parked retries
    /// wait on only with the table ("Parking bits of objects nobody waits on"): `false` turns
    /// both off.
    pub safe_steps: bool,
    /// With `safe_steps`: fill the independence table by random walks before the search
    /// (see "Safe steps"); `false` starts from an empty table, so that the search learns
    /// every entry by starting over (tests of the table's checks).
    pub seed_table: bool,
    /// Key every thread's parking bits of every object, as without the table (for tests
    /// and measurements of "Parking bits of objects nobody waits on").
    pub all_parking_bits: bool,
}

impl Default for StatefulOptions {
    fn default() -> Self {
        StatefulOptions {
            jobs: 1,
            sleep_sets: true,
            keep_keys: false,
            symmetry: true,
            safe_steps: true,
            seed_table: true,
            all_parking_bits: false,
        }
    }
}

/// The result of a stateful search: the usual outcome plus, when asked, the visited keys.
pub struct StatefulOutcome {
    pub outcome: Outcome,
    pub keys: BTreeSet<u128>,
}

/// Stateful search on the calling thread (see the module documentation).
pub fn explore_stateful<M: StateKey + Sync>(model: &M, opts: Options<'_>) -> Outcome {
    explore_stateful_with(model, opts, StatefulOptions::default()).outcome
}

/// Stateful search on `jobs` cores: same states, final states and properties as with one.
pub fn explore_stateful_parallel<M: StateKey + Sync>(
    model: &M,
    opts: Options<'_>,
    jobs: usize,
) -> Outcome {
    explore_stateful_with(
        model,
        opts,
        StatefulOptions {
            jobs,
            ..StatefulOptions::default()
        },
    )
    .outcome
}

struct Task {
    path: Vec<Tid>,
    sleep: u64,
}

struct SharedState<'m, M> {
    model: &'m M,
    /// Groups of interchangeable threads (empty: no symmetry reduction).
    groups: Vec<Vec<Tid>>,
    bounds: super::Bounds,
    sleep_sets: bool,
    jobs: usize,
    visited: Visited,
    queue: Mutex<VecDeque<Task>>,
    cv: Condvar,
    /// Workers waiting for a task.
    idle: AtomicUsize,
    stop: AtomicBool,
    stopped_by: Mutex<Option<Bound>>,
    cut: Mutex<Option<Bound>>,
    start: Instant,
    /// Executions of all workers (for the limits; the visited set counts the states).
    executions: AtomicU64,
    /// The learned independence table this search relies on (safe steps), if any.
    seen: Option<Seen>,
    /// Steps not in `seen`: the search stops and starts over with them.
    learned: Mutex<Vec<Learned>>,
    /// With `seen` (history-keyed models): per thread, the objects whose parking bits the
    /// key holds, `words` words each — the objects the table saw the thread's parked retries
    /// registered on, or any member's of its symmetry group (see "Parking bits of objects
    /// nobody waits on").
    park_masks: Option<Vec<u64>>,
    /// With `keep_keys` and `park_masks`: the full keys of the states arrived at.
    full_keys: Mutex<BTreeSet<u128>>,
    keep_keys: bool,
}

/// What a worker found: its counters, the best trace of each property, the final states.
#[derive(Default)]
struct WorkerOut {
    stats: Stats,
    cands: BTreeMap<&'static str, Candidate>,
    final_states: BTreeSet<u64>,
}

/// Stateful search with explicit options.
pub fn explore_stateful_with<M: StateKey + Sync>(
    model: &M,
    mut opts: Options<'_>,
    sopts: StatefulOptions,
) -> StatefulOutcome {
    let start = Instant::now();
    let mut progress = opts.progress.take();
    let mut visited = Visited::new(sopts.jobs);
    visited.set_limits(&opts.bounds);
    if !(sopts.safe_steps && model.key_includes_history()) {
        return search_once(model, &opts, progress, sopts, None, start, visited).0;
    }
    let (mut seeder, mut seen) = Seeder::new(model);
    if sopts.seed_table {
        seeder.walk(model, opts.bounds.max_depth, &mut seen, QUIET_FIRST);
    }
    let mut reruns = 0;
    let mut seeded_more = false;
    let groups = groups_of(model, sopts);
    loop {
        // Members of a symmetry group get one another's entries (see `Seen::symmetrize`).
        seen.symmetrize(&groups);
        let (mut out, learned, used, limited) = search_once(
            model,
            &opts,
            progress.as_deref_mut(),
            sopts,
            Some(&seen),
            start,
            visited,
        );
        // A search halted to learn starts over, even if it had cut states at the depth
        // bound (its outcome would name that bound but miss what the halt left out); one a
        // limit stopped (time, states, executions) is incomplete either way and ends here.
        if learned.is_empty() || limited {
            out.outcome.stats.reruns = reruns;
            out.outcome.stats.table_entries = seen.len() as u64;
            return out;
        }
        for l in &learned {
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
        reruns += 1;
        if std::env::var_os("PVMM_DEBUG_RERUN").is_some() {
            eprintln!(
                "rerun {reruns} at {:.6} s: table {} entries, learned {}, {} states dropped",
                start.elapsed().as_secs_f64(),
                seen.len(),
                learned.len(),
                out.outcome.stats.states
            );
        }
        // What one thread missed, the others running the same code usually miss next: walk
        // on (from where the walks stopped) before starting over, a little after a small
        // search, and, once, much longer after a large one, where each start over costs more
        // than walks do.
        if sopts.seed_table {
            if out.outcome.stats.states < SEED_MORE_AFTER {
                seeder.walk(model, opts.bounds.max_depth, &mut seen, QUIET_AGAIN);
            } else if !seeded_more {
                seeded_more = true;
                seeder.walk(model, opts.bounds.max_depth, &mut seen, QUIET_MORE);
            }
        }
        // The next search starts from an empty visited set, in the table this one grew
        // (clearing keeps its size: no regrowing, no fresh pages to fault in).
        visited = used;
        visited.reset(sopts.jobs);
    }
}

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
struct Seeder<W: 'static> {
    rng: u64,
    walks: u64,
    steps: u64,
    /// The length of the last uniform walk: where the change points of the next walk fall.
    span: u64,
    /// The execution the walks run in (fresh for the first, restarted for each after it).
    ex: Execution<W>,
}

impl<W: 'static> Seeder<W> {
    /// A seeder, and an empty table for the model's threads and objects.
    fn new<M: StateKey<World = W>>(model: &M) -> (Self, Seen) {
        let inst = model.instance();
        let seen = Seen::new(inst.threads.len(), inst.objects);
        let seeder = Seeder {
            rng: 0x9e37_79b9_7f4a_7c15,
            walks: 0,
            steps: 0,
            span: 64,
            ex: Execution::start(inst, false),
        };
        (seeder, seen)
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
        let n = self.ex.threads();
        let mut still = 0;
        while self.walks < MAX_WALKS && still < quiet {
            let walk = self.walks;
            self.walks += 1;
            if walk > 0 {
                self.ex.restart(model.instance());
            }
            let (ex, rng) = (&mut self.ex, &mut self.rng);
            let mut next = || {
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                *rng
            };
            let pct = walk % 2 == 1;
            // Priorities: a random order of the threads (higher runs first).
            let mut prio: Vec<i64> = (1..=n as i64).collect();
            for i in (1..n).rev() {
                prio.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let span = self.span.max(1);
            let mut changes: Vec<u64> = (0..walk / 2 % 4).map(|_| next() % span).collect();
            changes.sort_unstable();
            let mut low = 0i64;
            let (mut last, mut run) = (usize::MAX, 0u32);
            let mut new = false;
            for t in 0..n {
                new |= note_parked(seen, ex, t);
            }
            let mut depth = 0u64;
            for _ in 0..max_depth {
                let rec = if pct {
                    let en = ex.enabled_mask();
                    if en == 0 {
                        break;
                    }
                    let first = |prio: &[i64]| {
                        (0..n)
                            .filter(|&t| en & (1 << t) != 0)
                            .max_by_key(|&t| prio[t])
                            .expect("an enabled thread")
                    };
                    let mut top = first(&prio);
                    // A change point, or a thread that keeps spinning: it drops below all.
                    let spinning = top == last && run >= 64;
                    if changes.first() == Some(&depth) || spinning {
                        changes.retain(|&c| c != depth);
                        prio[top] = low;
                        low -= 1;
                        top = first(&prio);
                    }
                    run = if top == last { run + 1 } else { 0 };
                    last = top;
                    ex.step(top)
                } else {
                    let mut r = next();
                    match ex.step_random(&mut r) {
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
                new |= note_parked(seen, ex, tid);
                if rec.findings.iter().any(|f| f.fatal) {
                    new |= seen.insert_fatal(tid, rec.name);
                    break;
                }
            }
            if !pct {
                self.span = depth;
            }
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

/// Something a step did that the independence table did not hold.
enum Learned {
    Access(Tid, Access),
    Fatal(Tid, &'static str),
    /// A parked retry of the thread registered on the object.
    Parked(Tid, usize),
}

/// [`SharedState::park_masks`] from the table: each thread's parked objects, or-ed over its
/// symmetry group (members run the same code; the union keeps their local keys comparable).
fn park_masks(seen: &Seen, groups: &[Vec<Tid>], threads: usize, objects: usize) -> Vec<u64> {
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
fn thread_mask(masks: &[u64], threads: usize, t: Tid) -> &[u64] {
    let words = masks.len() / threads;
    &masks[t * words..(t + 1) * words]
}

/// The model's symmetry groups of two or more threads, if the search uses symmetry.
fn groups_of<M: StateKey>(model: &M, sopts: StatefulOptions) -> Vec<Vec<Tid>> {
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

/// One search with a fixed independence table (or none); returns the steps it met that the
/// table did not hold (then its outcome is not to be used), the visited set's tables, and
/// whether a limit stopped it (the depth bound's cuts do not count).
fn search_once<M: StateKey + Sync>(
    model: &M,
    opts: &Options<'_>,
    progress: Option<&mut (dyn FnMut(&super::Progress) + '_)>,
    sopts: StatefulOptions,
    seen: Option<&Seen>,
    start: Instant,
    visited: Visited,
) -> (StatefulOutcome, Vec<Learned>, Visited, bool) {
    let jobs = sopts.jobs.max(1);
    let groups = groups_of(model, sopts);
    let shared = SharedState {
        model,
        bounds: opts.bounds.clone(),
        sleep_sets: sopts.sleep_sets,
        jobs,
        visited,
        queue: Mutex::new(VecDeque::from([Task {
            path: Vec::new(),
            sleep: 0,
        }])),
        cv: Condvar::new(),
        idle: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        stopped_by: Mutex::new(None),
        cut: Mutex::new(None),
        start,
        executions: AtomicU64::new(0),
        seen: seen.cloned(),
        learned: Mutex::new(Vec::new()),
        park_masks: seen.filter(|_| !sopts.all_parking_bits).map(|seen| {
            let (threads, objects) = seen.shape();
            park_masks(seen, &groups, threads, objects)
        }),
        groups,
        full_keys: Mutex::new(BTreeSet::new()),
        keep_keys: sopts.keep_keys,
    };
    let outs: Vec<WorkerOut> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..jobs)
            .map(|me| {
                let shared = &shared;
                s.spawn(move || worker(shared, me, None))
            })
            .collect();
        let mut outs = vec![worker(&shared, 0, progress)];
        for h in handles {
            outs.push(h.join().expect("worker panicked"));
        }
        outs
    });
    let mut stats = Stats::default();
    let mut cands: BTreeMap<&'static str, Candidate> = BTreeMap::new();
    let mut final_states = BTreeSet::new();
    for o in outs {
        if std::env::var_os("PVMM_DEBUG_WORKERS").is_some() {
            eprintln!(
                "worker: steps {} transitions {} tasks {}",
                o.stats.steps, o.stats.transitions, o.stats.max_depth_seen
            );
        }
        stats.executions += o.stats.executions;
        stats.pruned += o.stats.pruned;
        stats.steps += o.stats.steps;
        stats.transitions += o.stats.transitions;
        stats.restores += o.stats.restores;
        stats.safe_steps += o.stats.safe_steps;
        stats.max_depth_seen = stats.max_depth_seen.max(o.stats.max_depth_seen);
        final_states.extend(o.final_states);
        for (_, c) in o.cands {
            let occ = c.report.occurrences;
            let prop = c.report.property;
            offer(&mut cands, c.report, c.full, c.at_end);
            // `offer` counted one occurrence; add the rest.
            if let Some(m) = cands.get_mut(prop) {
                m.report.occurrences += occ - 1;
            }
        }
    }
    let mut keys = BTreeSet::new();
    let entries = shared.visited.len();
    let bytes = shared.visited.bytes();
    if sopts.keep_keys && shared.park_masks.is_none() {
        keys.extend(shared.visited.keys());
    }
    if sopts.keep_keys && shared.park_masks.is_some() {
        keys = std::mem::take(&mut *shared.full_keys.lock().expect("keys"));
    }
    stats.states = entries as u64;
    stats.visited_mib = bytes as f64 / (1024.0 * 1024.0);
    stats.elapsed_secs = shared.start.elapsed().as_secs_f64();
    let mut reports: Vec<PropertyReport> =
        cands.into_values().map(|c| finalize(model, c)).collect();
    reports.sort_by(|a, b| a.property.cmp(b.property));
    let stopped_by = shared.stopped_by.lock().expect("lock").clone();
    let cut = shared.cut.lock().expect("lock").clone();
    let learned = std::mem::take(&mut *shared.learned.lock().expect("lock"));
    let limited = stopped_by.is_some();
    (
        StatefulOutcome {
            outcome: Outcome {
                strategy: Strategy::Dpor,
                stats,
                reports,
                stopped_by: stopped_by.or(cut),
                final_states,
            },
            keys,
        },
        learned,
        shared.visited,
        limited,
    )
}

/// Checks the step just taken against the independence table; a step it does not hold
/// stops this search (it starts over with the step added).
fn check_table<M>(sh: &SharedState<'_, M>, tid: Tid, rec: &crate::runtime::StepRecord) {
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
fn check_registered<M: StateKey + Sync>(
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

/// Takes a task, or `None` when the search is over (every worker idle, queue empty).
fn next_task<M>(sh: &SharedState<'_, M>) -> Option<Task> {
    let mut q = sh.queue.lock().expect("queue");
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            sh.cv.notify_all();
            return None;
        }
        if let Some(t) = q.pop_front() {
            return Some(t);
        }
        let idle = sh.idle.fetch_add(1, Ordering::SeqCst) + 1;
        if idle == sh.jobs {
            // Nobody is working and nothing is queued: done.
            sh.stop.store(true, Ordering::SeqCst);
            sh.cv.notify_all();
            return None;
        }
        q = sh.cv.wait(q).expect("queue");
        sh.idle.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One open state on a worker's path.
struct Frame {
    /// Path length at this state.
    depth: usize,
    /// Its children (thread, and the sleep set of the child) are `Stack::kids[kids..kids +
    /// len]`; those from `next` on are still to explore.
    kids: usize,
    len: usize,
    next: usize,
    /// Where this frame's words start in `Stack::words` (a [`Saved::Resume`]'s parking bits
    /// and position stamps).
    words: usize,
}

/// What the open frames of a worker's path keep besides themselves, in stacks that grow and
/// shrink with the path (frames are pushed and popped in order): no allocation per state
/// once they have grown to the search's depth, and a frame itself is a few words (its
/// snapshot, with a copy of the world in it, is written once in place; `saved` moves the
/// snapshots only when it grows).
struct Stack<W> {
    kids: Vec<(Tid, u64)>,
    words: Vec<u64>,
    /// Per frame, a copy of its state to restore it from, with its key (for the check).
    saved: Vec<Option<(Saved<W>, u128)>>,
}

impl<W> Stack<W> {
    fn new() -> Self {
        Stack {
            kids: Vec::new(),
            words: Vec::new(),
            saved: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.kids.clear();
        self.words.clear();
        self.saved.clear();
    }

    /// Drops what the frame popped kept; a resume snapshot's world goes to `live`'s spares.
    fn pop(&mut self, f: &Frame, live: &Live<W>) {
        self.kids.truncate(f.kids);
        self.words.truncate(f.words);
        if let Some(Some((Saved::Resume(w), _))) = self.saved.pop() {
            live.recycle(w);
        }
    }
}

/// How a frame's state is restored without replaying its path.
enum Saved<W> {
    /// [`StateKey::resume`]: a copy of the world (resume points in it); the parking bits and
    /// the threads' position stamps (threads that did not move since keep their futures)
    /// follow each other in the frame's words.
    Resume(W),
    /// [`StateKey::fast_forward`]: the execution's snapshot.
    Exec(crate::runtime::Snapshot<W>),
}

/// A worker's live execution and the explorer-side state it tracks.
struct Live<W: 'static> {
    ex: Execution<W>,
    /// Per thread, per object: written since the thread last accessed it.
    changed: Vec<u64>,
    words: usize,
    /// The model's objects (`words` 64-bit words of bits each).
    objects: usize,
    /// A history-keyed model ([`StateKey::key_includes_history`]), always replayed from its
    /// start: parked steps are judged, and keyed, by the runtime's own bookkeeping
    /// ([`Execution::parking_state`]), which also follows attempts and `retry_when`.
    by_runtime: bool,
    /// Worlds of snapshots the search no longer needs, for the next ones to be copied into
    /// ([`StateKey::snapshot_into`]): the world's copy then reuses their allocations.
    spare: RefCell<Vec<W>>,
}

/// How many spare worlds a worker keeps.
const SPARE_WORLDS: usize = 64;

impl<W: 'static> Live<W> {
    fn start<M: StateKey<World = W>>(model: &M) -> Self {
        let mut live = Self::from_instance(model.instance(), None, model.fast_forward());
        live.by_runtime = model.key_includes_history();
        if !live.by_runtime && !model.fast_forward() {
            // Keyed by the world's resume points, parked steps judged by `changed`: the
            // runtime's histories and parking counters would be read by nobody.
            live.ex.set_lean();
        }
        live
    }

    /// Starts from an instance; `changed` carries the parking bits of a resumed state;
    /// `record`: record results and calls for fast-forward restores.
    fn from_instance(
        inst: crate::runtime::Instance<W>,
        changed: Option<&[u64]>,
        record: bool,
    ) -> Self {
        let objects = inst.objects;
        let words = objects.div_ceil(64).max(1);
        let ex = if record {
            Execution::start_recording(inst)
        } else {
            Execution::start(inst, false)
        };
        let n = ex.threads();
        assert!(n <= 64, "at most 64 model threads");
        Live {
            ex,
            changed: changed.map_or_else(|| vec![0; n * words], <[u64]>::to_vec),
            words,
            objects,
            by_runtime: false,
            spare: RefCell::new(Vec::new()),
        }
    }

    /// A snapshot copy of `world` ([`StateKey::snapshot`]), copied into a spare world if
    /// there is one.
    fn copy_world<M: StateKey<World = W>>(&self, model: &M, world: &W) -> Option<W> {
        let spare = self.spare.borrow_mut().pop();
        match spare {
            Some(mut into) => model.snapshot_into(world, &mut into).then_some(into),
            None => model.snapshot(world),
        }
    }

    /// Keeps a world no longer needed for a later [`Live::copy_world`].
    fn recycle(&self, world: W) {
        let mut spare = self.spare.borrow_mut();
        if spare.len() < SPARE_WORLDS {
            spare.push(world);
        }
    }

    /// Restarts from an instance of the same model, reusing the allocations
    /// ([`Execution::restart`]); `changed`: the parking bits of a resumed state (none: a fresh
    /// start).
    fn restart(&mut self, inst: crate::runtime::Instance<W>, changed: Option<&[u64]>) {
        self.ex.restart(inst);
        match changed {
            Some(c) => self.changed.copy_from_slice(c),
            None => self.changed.fill(0),
        }
    }

    /// Restores a resumed state from its world `saved` and `words` (its parking bits, then
    /// the threads' position stamps): the world is copied in place, threads that moved since
    /// restart at their resume points ([`Execution::resume_moved`], [`StateKey::resume_thread`]).
    fn resume_moved<M: StateKey<World = W>>(&mut self, model: &M, saved: &W, words: &[u64]) {
        let (changed, marks) = words.split_at(self.changed.len());
        self.ex.resume_moved(
            &marks[..self.ex.threads()],
            |w| {
                let copied = model.snapshot_into(saved, w);
                assert!(copied, "StateKey::snapshot_into of a model that resumes");
            },
            |w, t, cx| model.resume_thread(w, t, cx),
        );
        self.changed.copy_from_slice(changed);
    }

    /// The threads that can step. Without the runtime's bookkeeping (`by_runtime` false), a
    /// parked retry is judged by the bits kept here (not by the runtime's counters, which a
    /// lean or resumed execution does not keep); they follow the runtime's rule exactly, so
    /// in a replayed execution both agree.
    fn enabled_mask(&self) -> u64 {
        if self.by_runtime {
            return self.ex.enabled_mask();
        }
        self.ex.enabled_mask_parked_by(|t, acc| {
            acc.as_slice().iter().any(|a| {
                let o = a.obj.0 as usize;
                self.changed[t * self.words + o / 64] & (1 << (o % 64)) != 0
            })
        })
    }

    /// Steps `tid`, keeping the "written since" bits in step with the runtime's rule: a
    /// write sets the bit of every other thread; a parked step clears the stepping thread's
    /// bits of the objects it reads.
    fn step(&mut self, tid: Tid) -> crate::runtime::StepRecord {
        let parked = self.ex.waits_for_change(tid);
        let rec = self.ex.step(tid);
        let n = self.ex.threads();
        for a in rec.accesses.as_slice() {
            let o = a.obj.0 as usize;
            // The bits of objects at or past the declared count are not in the key: a model
            // that declares too few objects would be judged by bits the key leaves out.
            assert!(
                o < self.objects,
                "{}: object id {o} at or past the model's {} declared objects",
                rec.name,
                self.objects
            );
            let (w, b) = (o / 64, 1u64 << (o % 64));
            if a.kind != crate::access::AccessKind::Read {
                for t in (0..n).filter(|&t| t != tid) {
                    self.changed[t * self.words + w] |= b;
                }
            }
            if parked {
                self.changed[tid * self.words + w] &= !b;
            }
        }
        rec
    }

    /// The state's key and, for sleep sets, the canonical position of each thread: the
    /// identity without symmetry; with it, members of a group are ranked by their local state.
    fn key<M: StateKey<World = W>>(
        &self,
        model: &M,
        groups: &[Vec<Tid>],
        park: Option<&[u64]>,
        c: &mut Canon,
    ) -> u128 {
        let n = self.ex.threads();
        let mut h = Hasher128::new(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344);
        c.n = n;
        for t in 0..n {
            c.perm[t] = t as u8;
            c.tie[t] = t as u8;
        }
        if groups.is_empty() {
            self.ex.with_world(|w| model.hash_state(w, &mut h));
            for t in 0..n {
                self.hash_runtime_part(model, t, park, &mut h);
            }
        } else {
            let mut grouped = 0u64;
            for g in groups {
                for &t in g {
                    grouped |= 1 << t;
                }
            }
            self.ex.with_world(|w| {
                model.hash_shared(w, &mut h);
                for t in (0..n).filter(|&t| grouped & (1 << t) == 0) {
                    self.hash_runtime_part(model, t, park, &mut h);
                }
                // Groups of up to 8 threads (all the families here) rank on the stack.
                let (mut keys8, mut tids8) = ([0u128; 8], [0 as Tid; 8]);
                let (mut keys_big, mut tids_big) = (Vec::new(), Vec::new());
                for g in groups {
                    let m = g.len();
                    let (keys, tids): (&mut [u128], &mut [Tid]) = if m <= keys8.len() {
                        (&mut keys8[..m], &mut tids8[..m])
                    } else {
                        keys_big.resize(m, 0);
                        tids_big.resize(m, 0);
                        (&mut keys_big, &mut tids_big)
                    };
                    // Each member's local key, inserted in order (members with equal keys
                    // stay in group order).
                    for (i, &t) in g.iter().enumerate() {
                        // Exact when short (a resume point and a few bits), else hashed.
                        let mut a = Packer::new();
                        model.hash_thread(w, t, &mut a);
                        self.hash_runtime_part(model, t, park, &mut a);
                        let l = a.finish128();
                        let mut j = i;
                        while j > 0 && keys[j - 1] > l {
                            keys[j] = keys[j - 1];
                            tids[j] = tids[j - 1];
                            j -= 1;
                        }
                        keys[j] = l;
                        tids[j] = t;
                    }
                    // Ties are threads in identical local states: any order among them is
                    // an automorphism of the state.
                    for rank in 0..m {
                        let t = tids[rank];
                        h.write_u128(keys[rank]);
                        c.perm[t] = g[rank] as u8;
                        if rank > 0 && keys[rank - 1] == keys[rank] {
                            c.tie[t] = c.tie[tids[rank - 1]];
                        }
                    }
                }
            });
        }
        h.finish128()
    }

    /// The explorer's and runtime's part of thread `t`'s state: whether it finished and its
    /// registered operation, its parking bits, and (if the model asks) its history.
    fn hash_runtime_part<M: StateKey<World = W>, H: Hasher>(
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

/// Canonical position of each thread (see [`Live::key`]).
type Perm = [u8; 64];

/// What the key computation learns about symmetric threads (entries `0..n` only: the
/// model's threads).
struct Canon {
    /// Canonical position of each thread.
    perm: Perm,
    /// For each thread, the first thread of its group in an identical local state (itself if
    /// none): such threads are interchangeable here, and their transitions lead to states
    /// equal up to the swap.
    tie: Perm,
    /// The number of threads.
    n: usize,
}

impl Canon {
    fn new() -> Self {
        Canon {
            perm: [0; 64],
            tie: [0; 64],
            n: 0,
        }
    }
}

/// A set of threads (below 64) in canonical positions.
fn canon(set: u64, perm: &Perm) -> u64 {
    let (mut rest, mut out) = (set, 0u64);
    while rest != 0 {
        let t = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        out |= 1 << perm[t];
    }
    out
}

/// The threads whose canonical positions are in `set`.
fn uncanon(set: u64, c: &Canon) -> u64 {
    if set == 0 {
        return 0;
    }
    let mut inv = [0u8; 64];
    for (t, &p) in c.perm[..c.n].iter().enumerate() {
        inv[p as usize] = t as u8;
    }
    canon(set, &inv)
}

fn worker<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    me: usize,
    mut progress: Option<&mut (dyn FnMut(&super::Progress) + '_)>,
) -> WorkerOut {
    let model = sh.model;
    let mut out = WorkerOut::default();
    let mut last_progress = Instant::now();
    let mut checks = 0u32;
    let mut rss = super::RssGauge::default();
    let mut stack = Stack::new();
    let mut vis = sh.visited.handle(me);
    while let Some(task) = next_task(sh) {
        let mut path = task.path;
        // Arrive at the task's state: replay the path to its parent state, then take the
        // task's transition like any other (its findings are reported here, and a fatal one
        // ends the execution: the owner handed it over without taking it).
        let mut live = Live::start(model);
        let mut frames: Vec<Frame> = Vec::new();
        stack.clear();
        let mut at_state = true;
        if let Some((_, parent)) = path.split_last() {
            for &t in parent {
                live.step(t);
                out.stats.steps += 1;
            }
            if take(sh, &mut live, &path, &mut out) {
                continue;
            }
        }
        if let Some(f) = arrive(sh, &mut vis, &live, &path, task.sleep, &mut stack, &mut out) {
            frames.push(f);
        }
        while let Some(top) = frames.last_mut() {
            if sh.stop.load(Ordering::Relaxed) {
                break;
            }
            if top.next == top.len {
                stack.pop(top, &live);
                frames.pop();
                at_state = false;
                continue;
            }
            let (tid, sleep) = stack.kids[top.kids + top.next];
            top.next += 1;
            let depth = top.depth;
            // Hand work over to idle workers.
            if sh.jobs > 1 && sh.idle.load(Ordering::Relaxed) > 0 {
                share(sh, &mut frames, &stack, &path);
            }
            if !at_state {
                let top = frames.last_mut().expect("top frame");
                let last = top.next == top.len;
                let saved = stack.saved.last_mut().expect("a frame's snapshot slot");
                let restored = match saved {
                    Some((Saved::Resume(w), key)) => {
                        live.resume_moved(model, w, &stack.words[top.words..]);
                        Some(*key)
                    }
                    // The last child: the snapshot is not needed again, its world is moved
                    // in instead of copied.
                    Some((Saved::Exec(snap), key)) if last => {
                        let old = live.ex.restore_owned(snap, |t| model.thread(t));
                        live.recycle(old);
                        Some(*key)
                    }
                    Some((Saved::Exec(snap), key)) => {
                        live.copy_world(model, snap.world()).map(|w| {
                            let old = live.ex.restore(snap, w, |t| model.thread(t));
                            live.recycle(old);
                            *key
                        })
                    }
                    None => None,
                };
                if let Some(key) = restored {
                    out.stats.restores += 1;
                    // The model's `resume` (or its world copy, for a fast-forward restore)
                    // is checked on the first 64 restores and one in 64 after them (and on
                    // every one in debug builds, as the tests run): a wrong one shows at
                    // once, without a key per restore (a key costs as much as the rest of a
                    // resume-point restore). A fast-forwarded thread's
                    // own state is checked when it is started again (`Execution::materialize`
                    // asserts it reaches the restored operation, attempt and history).
                    if out.stats.restores <= 64
                        || out.stats.restores.is_multiple_of(64)
                        || cfg!(debug_assertions)
                    {
                        let again = live.key(
                            model,
                            &sh.groups,
                            sh.park_masks.as_deref(),
                            &mut Canon::new(),
                        );
                        assert_eq!(
                            again, key,
                            "the restore did not bring back the state it was given \
                             (StateKey::resume or StateKey::snapshot_into)"
                        );
                    }
                    if top.next == top.len {
                        if let Some((Saved::Resume(w), _)) = saved.take() {
                            live.recycle(w);
                        }
                    }
                } else {
                    live.restart(model.instance(), None);
                    for &t in &path[..depth] {
                        live.step(t);
                        out.stats.steps += 1;
                    }
                }
            }
            path.truncate(depth);
            path.push(tid);
            out.stats.max_depth_seen = out.stats.max_depth_seen.max(path.len());
            at_state = false;
            if take(sh, &mut live, &path, &mut out) {
                continue;
            }
            if let Some(f) = arrive(sh, &mut vis, &live, &path, sleep, &mut stack, &mut out) {
                frames.push(f);
                at_state = true;
            }
            if let Some(limit) = sh.visited.refused() {
                stop_with(sh, limit);
                break;
            }
            checks = checks.wrapping_add(1);
            if checks.is_multiple_of(256) {
                let global = Stats {
                    executions: sh.executions.load(Ordering::Relaxed),
                    steps: out.stats.steps * sh.jobs as u64,
                    ..Stats::default()
                };
                if let Some(limit) = check_limits(&sh.bounds, &global, sh.start, &mut rss) {
                    stop_with(sh, limit);
                    break;
                }
                if let Some(cb) = progress.as_deref_mut() {
                    if last_progress.elapsed() >= Duration::from_millis(100) {
                        last_progress = Instant::now();
                        let mut shown = out.stats.clone();
                        shown.elapsed_secs = sh.start.elapsed().as_secs_f64();
                        shown.states = vis.states();
                        let found = super::violated(&out.cands);
                        cb(&super::Progress {
                            stats: &shown,
                            depth: path.len(),
                            found: &found,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Takes the transition `path` ends with (the live execution is at the state before it):
/// counts it, checks it against the independence table and reports its findings; true when
/// one of them is fatal, which ends the execution there.
fn take<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    live: &mut Live<M::World>,
    path: &[Tid],
    out: &mut WorkerOut,
) -> bool {
    let WorkerOut {
        stats,
        cands,
        final_states,
    } = out;
    let tid = *path.last().expect("a transition to take");
    let rec = live.step(tid);
    stats.steps += 1;
    stats.transitions += 1;
    check_table(sh, tid, &rec);
    for f in &rec.findings {
        offer(cands, report_of(f, path), path.to_vec(), false);
    }
    if rec.findings.iter().any(|f| f.fatal) {
        stats.executions += 1;
        sh.executions.fetch_add(1, Ordering::Relaxed);
        final_states.insert(live.ex.with_world(|w| sh.model.state_hash(w)) ^ 0xfa7a1);
        return true;
    }
    false
}

fn stop_with<M>(sh: &SharedState<'_, M>, b: Bound) {
    sh.stopped_by.lock().expect("lock").get_or_insert(b);
    halt(sh);
}

/// Stops every worker (waking those waiting for a task).
fn halt<M>(sh: &SharedState<'_, M>) {
    sh.stop.store(true, Ordering::SeqCst);
    let _q = sh.queue.lock().expect("queue");
    sh.cv.notify_all();
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
fn safe_set<M: StateKey + Sync>(
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
    let member = |t: Tid| {
        enabled & (1 << t) != 0
            && !live.ex.is_parked(t)
            && live
                .ex
                .next_op_name(t)
                .is_some_and(|name| !seen.seen_fatal(t, name))
    };
    let live_threads = (0..n)
        .filter(|&t| !live.ex.finished(t))
        .fold(0u64, |m, t| m | (1 << t));
    let mut best: Option<u64> = None;
    'seed: for &t in &by_rank[..n] {
        let t = t as Tid;
        if !member(t) {
            continue;
        }
        let mut set = 1u64 << t;
        let mut todo = set;
        while todo != 0 {
            let x = todo.trailing_zeros() as Tid;
            todo &= todo - 1;
            let mut outside = live_threads & !set;
            while outside != 0 {
                let v = outside.trailing_zeros() as Tid;
                outside &= outside - 1;
                if !live.ex.next_all(x, |a| seen.commutes_with_thread(a, v)) {
                    if !member(v) {
                        continue 'seed;
                    }
                    set |= 1 << v;
                    todo |= 1 << v;
                }
            }
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

/// Gives the unexplored children of the shallowest open state with any to the queue.
fn share<M, W>(sh: &SharedState<'_, M>, frames: &mut [Frame], stack: &Stack<W>, path: &[Tid]) {
    let Some(f) = frames.iter_mut().find(|f| f.next < f.len) else {
        return;
    };
    let mut q = sh.queue.lock().expect("queue");
    if !q.is_empty() {
        return;
    }
    for &(t, sleep) in &stack.kids[f.kids + f.next..f.kids + f.len] {
        let mut p = path[..f.depth].to_vec();
        p.push(t);
        q.push_back(Task { path: p, sleep });
    }
    f.next = f.len;
    sh.cv.notify_all();
}

/// The search arrives at the live execution's state with sleep set `sleep`: records it, and
/// returns the frame of transitions to explore from it (if any).
fn arrive<M: StateKey + Sync>(
    sh: &SharedState<'_, M>,
    vis: &mut Handle<'_>,
    live: &Live<M::World>,
    path: &[Tid],
    sleep: u64,
    stack: &mut Stack<M::World>,
    out: &mut WorkerOut,
) -> Option<Frame> {
    let WorkerOut {
        stats,
        cands,
        final_states,
    } = out;
    let model = sh.model;
    check_registered(sh, live, path.last().copied());
    let mut canon_ = Canon::new();
    let key = live.key(model, &sh.groups, sh.park_masks.as_deref(), &mut canon_);
    let perm = canon_.perm;
    if sh.keep_keys && sh.park_masks.is_some() {
        let full = live.key(model, &sh.groups, None, &mut Canon::new());
        sh.full_keys.lock().expect("keys").insert(full);
    }
    let sleep = if sh.sleep_sets { sleep } else { 0 };
    // The enabled threads are computed only for a state that is new or owed transitions:
    // a revisit's stored sleep set is within the state's enabled threads (it was stored
    // masked by them, and equal keys have equal enabled threads, up to the symmetry's
    // permutation), so masking the sleep set by them first changes nothing there.
    let csleep = canon(sleep, &perm);
    let mut new_enabled = 0;
    let mut init = || {
        new_enabled = live.enabled_mask();
        canon(sleep & new_enabled, &perm)
    };
    let (enabled, todo, base) = match vis.visit(key, csleep, &mut init) {
        Visit::New => {
            stats.states += 1; // this worker's
            let sleep = sleep & new_enabled;
            (new_enabled, new_enabled & !sleep, sleep)
        }
        Visit::Seen(old) => {
            // Stored in canonical positions (the same state may be reached with its
            // symmetric threads permuted).
            let owed = uncanon(old & !csleep, &canon_);
            if owed == 0 {
                stats.pruned += 1;
                return None;
            }
            let enabled = live.enabled_mask();
            debug_assert_eq!(owed & !enabled, 0, "a stored sleep set beyond the enabled");
            (enabled, owed, sleep & uncanon(old & csleep, &canon_))
        }
    };
    // Safe steps: a set of threads whose next steps commute with everything the threads
    // outside it were seen doing is persistent (see "Safe steps"). Which one is a function
    // of the state (`safe_set`), so a revisit owes only what that choice left out.
    let todo = match safe_set(sh, live, enabled, &perm) {
        Some(set) => {
            stats.safe_steps += 1;
            todo & set
        }
        None => todo,
    };
    if todo == 0 && enabled != 0 {
        stats.pruned += 1;
        return None;
    }
    if enabled == 0 {
        // Terminal: every thread finished, or deadlock / livelock. Reached once per key.
        stats.executions += 1;
        sh.executions.fetch_add(1, Ordering::Relaxed);
        end_of_execution(model, &live.ex, path, cands, final_states);
        return None;
    }
    if path.len() >= sh.bounds.max_depth {
        sh.cut
            .lock()
            .expect("lock")
            .get_or_insert(Bound::MaxDepth(sh.bounds.max_depth));
        stats.executions += 1;
        return None;
    }
    let n = live.ex.threads();
    let mut acc = base;
    let kids = stack.kids.len();
    // Prefer the thread that just ran (fewer context switches in reported traces).
    let prev = path.last().copied();
    let first = prev.filter(|&p| todo & (1 << p) != 0);
    let order = first
        .into_iter()
        .chain((0..n).filter(|&t| todo & (1 << t) != 0 && Some(t) != prev));
    // Of threads in identical local states (symmetry), one transition is enough: the others
    // lead to the same state up to the swap, reached with a sleep set that is no smaller (it
    // holds what this one's holds, up to the swap), so arriving there would owe nothing.
    let mut classes_done = 0u64;
    for t in order {
        let class = canon_.tie[t];
        if classes_done & (1 << class) != 0 {
            stats.pruned += 1;
            continue;
        }
        classes_done |= 1 << class;
        let child_sleep = if sh.sleep_sets {
            live.ex.independent_of(t, acc)
        } else {
            0
        };
        stack.kids.push((t, child_sleep));
        acc |= 1 << t;
    }
    let len = stack.kids.len() - kids;
    let words = stack.words.len();
    let snapshot = if len > 1 {
        live.ex.with_world(|w| live.copy_world(model, w)).map(|w| {
            if model.fast_forward() {
                (Saved::Exec(live.ex.snapshot(w)), key)
            } else {
                stack.words.extend_from_slice(&live.changed);
                stack.words.extend_from_slice(live.ex.marks());
                (Saved::Resume(w), key)
            }
        })
    } else {
        None
    };
    stack.saved.push(snapshot);
    Some(Frame {
        depth: path.len(),
        kids,
        len,
        next: 0,
        words,
    })
}
