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
//! the hash of its result into a 128-bit history ([`crate::Execution::history`]), so equal histories
//! mean equal local states. For such a model the key is:
//! * the world ([`StateKey::hash_state`]: shared state, including thread-private bookkeeping
//!   kept there; nothing of a thread's locals);
//! * for each thread: whether it finished and the name of its registered operation, and its
//!   history;
//! * for each thread, the runtime's summary of what its parked steps wait for
//!   ([`crate::Execution::parking_state`]): per object, "written by another thread since this
//!   thread's baseline" and "already observed in the current attempt" — the two bits that
//!   decide [`crate::Guard::Changed`] with attempts, whose counters differ between converging
//!   paths while the bits evolve deterministically with the steps (with the learned table of
//!   "Safe steps", only the bits of objects the thread's parked retries wait on: see "Parking
//!   bits of objects nobody waits on"). Enabledness is then the
//!   runtime's own ([`crate::Execution::enabled`], which also evaluates `retry_when` predicates on the
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
//! (`tests/suite/stateful.rs`) check this against a plain visited-set search and against naive
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
//! (`indep.rs`). Random walks fill a table of the access kinds each thread was seen
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
//! states and properties therefore equal those without safe steps: `tests/suite/toy.rs` compares the
//! search with and without them against naive enumeration on random programs, and the kernel's
//! `crates/checker/tests/suite/stateful.rs` compares it with DPOR on every built-in scenario and
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
//! reachable, the states the key merges have the same futures. `tests/suite/parking_key.rs`
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
//! `tests/suite/stateful.rs` checks, on random programs with a group of identical threads, that the
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
//! other threads touch.) `tests/suite/toy.rs` compares this configuration with naive enumeration on
//! random history-keyed programs with a group of identical threads; the kernel's
//! `crates/checker/tests/suite/stateful.rs` compares it with the search without symmetry on every
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
//! the path, without running step bodies ([`crate::Execution::restore`]; threads that did not move
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
//!
//! # Where the parts are
//!
//! `key.rs`: [`StateKey`] and the key the search computes for a state; `symmetry.rs`: the
//! groups of interchangeable threads and the canonical positions of their members;
//! `indep.rs`: the learned independence table; `seed.rs`: the random walks that seed it;
//! `safe.rs`: safe steps and the checks that the table holds what the search meets;
//! `live.rs`: a worker's execution, its path's open states and the copies they are restored
//! from; `worker.rs`: the workers (arriving at a state, going back up, handing work over);
//! `visited.rs`: the visited set they share. The driver below starts the search over when
//! the table missed something.

mod indep;
mod key;
mod live;
mod safe;
mod seed;
mod symmetry;
// The crate's only unsafe code: the visited set allocates its table from zeroed memory (a slot
// is three `AtomicU64`s, valid when all-zero; SAFETY argument at the `unsafe` block), which
// saves building millions of slots one by one (see `visited.rs`).
#[allow(unsafe_code)]
mod visited;
mod worker;

pub use key::StateKey;

use super::{Options, Outcome};
use safe::learn_all;
use seed::Seeder;
use std::collections::BTreeSet;
use std::time::Instant;
use symmetry::groups_of;
use visited::Visited;
use worker::search_once;

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
    /// What the search found.
    pub outcome: Outcome,
    /// With [`StatefulOptions::keep_keys`]: the keys of the states visited (else empty).
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

/// Stateful search with explicit options.
///
/// For a history-keyed model with safe steps, the search relies on an independence table
/// seeded by random walks, and starts over (`Stats::reruns`) with the larger table whenever
/// it meets something the table did not hold (see "Safe steps").
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
    let max_depth = opts.bounds.max_depth;
    let (mut seeder, mut seen) = Seeder::new(model);
    if sopts.seed_table {
        seeder.seed(model, max_depth, &mut seen);
    }
    let mut reruns = 0;
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
        learn_all(&mut seen, &learned);
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
        if sopts.seed_table {
            seeder.walk_on(model, max_depth, &mut seen, out.outcome.stats.states);
        }
        // The next search starts from an empty visited set, in the table this one grew
        // (clearing keeps its size: no regrowing, no fresh pages to fault in).
        visited = used;
        visited.reset(sopts.jobs);
    }
}
