//! The visited set of the stateful search: the 128-bit keys of the states arrived at, each
//! with the sleep set it was last stored with, shared by all workers.
//!
//! One open-addressing table with linear probing. A slot is three words: the key's high
//! and low words and the sleep set. A worker claims an empty slot by a compare-and-swap of
//! the high word, then stores the sleep set and, last, the low word; a worker that meets a
//! claimed slot with its key's high word waits for the low word before it compares (a few
//! instructions: the claimer stores it next). A word that is zero in a key is stored as 1
//! (zero marks a free slot or a low word not yet stored): two keys that differ only there
//! are taken for one, with a chance of 2^-64 per key, far below the chance that two states
//! share a 128-bit key at all. A sleep set already stored is narrowed by one `fetch_and`, so
//! the store-and-compare of a state's sleep set is atomic, as the search needs ("Several
//! cores" in the module above).
//!
//! Why not a locked map per shard, as before: every arrival took a shard's lock and wrote
//! its table's header (length, room left), and with the keys spread at random about half of
//! those cache lines were last written by the other core, whatever the number of shards.
//! Here an arrival writes only its own slot's line (and its worker's gate, below), which the
//! other core has almost never touched; a lookup reads one line where the map read two (its
//! control bytes and its bucket). Measured in the note of issue 5.
//!
//! Growth: the table doubles when its entries would pass [`MAX_LOAD`] of its slots. Workers
//! count their own inserts and add them to a shared count every [`FLUSH`] inserts, or every
//! eighth of the table's slots shared among the workers if that is fewer (a shared counter
//! written on every insert would bring back the shared line). A worker holds its
//! own gate (a lock no other worker takes, except to grow) while it looks up or inserts; to
//! grow, a worker takes every gate, in order, moves the entries into a table twice the size
//! and publishes it; each worker picks the new table up at its next arrival (a generation
//! number says when). So no worker writes to a table being moved. The count lags the table
//! by at most an eighth of its slots, and the table grows when the count plus that lag would
//! pass 5/8 of them: no probe ever meets a full table. The first table is small (1,024
//! slots, 24 KiB): a search of a few hundred states takes well under a millisecond, and
//! zeroing (and faulting in) a larger one is a good part of that — fastest of 7 on F(3,1),
//! 128 states: 0.09 ms from 1,024 slots, 0.18 ms from 4,096; and growing from 256 slots
//! cost more than it saved (F(3,2), 408 states: 0.39 ms against 0.27 ms).

use crate::search::limits::{memory_bound, memory_mib};
use crate::search::{Bound, Bounds};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Inserts a worker makes before it adds them to the shared count.
const FLUSH: usize = 256;
/// Largest share of slots in use, as a fraction (numerator, denominator) before the table
/// doubles: linear probing's misses (every new state is one) probe about 4 slots at 5/8.
const MAX_LOAD: (usize, usize) = (5, 8);
/// Slots in the first table.
const MIN_SLOTS: usize = 1 << 10;
/// Slots of a table from which a doubling moves the entries on as many threads as there are
/// workers (below it, spawning them would cost more than the move).
const PARALLEL_MOVE: usize = 1 << 16;

#[derive(Default)]
struct Slot {
    hi: AtomicU64,
    lo: AtomicU64,
    sleep: AtomicU64,
}

struct Table {
    slots: Box<[Slot]>,
}

impl Table {
    /// A table of `len` free slots, from zeroed memory: the allocator hands large blocks
    /// over as fresh zero pages, where building the slots one by one wrote every byte (the
    /// last doubling on F(11,2), 4 Mi slots: 212 of its 223 ms, while every other worker
    /// waited at its gate).
    fn new(len: usize) -> Table {
        debug_assert!(len.is_power_of_two());
        let zeroed = Box::<[Slot]>::new_zeroed_slice(len);
        // SAFETY: a `Slot` is three `AtomicU64`s, which have the in-memory representation
        // of `u64` (std's documentation of `AtomicU64`), so all-zero bytes are a valid
        // slot: the free slot `Slot::default()` makes.
        let slots = unsafe { zeroed.assume_init() };
        Table { slots }
    }

    /// A table of `len` free slots, or None when the allocator has no block that large
    /// (where [`Table::new`] would abort the process: a doubling of a large table asks for
    /// hundreds of MiB at once).
    fn try_new(len: usize) -> Option<Table> {
        debug_assert!(len.is_power_of_two());
        let layout = std::alloc::Layout::array::<Slot>(len).ok()?;
        // SAFETY: the layout has a non-zero size (`len` is a power of two, a slot 24 bytes).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Slot>();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the block was allocated by the global allocator with the layout of
        // `[Slot; len]`, which is what a `Box<[Slot]>` of `len` slots frees; all-zero bytes
        // are valid free slots (see `Table::new`).
        let slots = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) };
        Some(Table { slots })
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding (hi, lo), or the free slot where it goes, from the start of its
    /// probe sequence; claims a free slot for it (storing the sleep set `init` gives) unless
    /// another worker claims it first. Ok: inserted; Err: the slot that holds the key.
    fn visit(&self, hi: u64, lo: u64, init: &mut dyn FnMut() -> u64) -> Result<(), &Slot> {
        let mask = self.mask();
        let mut i = lo as usize & mask;
        for _ in 0..=mask {
            let s = &self.slots[i];
            let mut h = s.hi.load(Ordering::Acquire);
            if h == 0 {
                match s
                    .hi
                    .compare_exchange(0, hi, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        s.sleep.store(init(), Ordering::Relaxed);
                        s.lo.store(lo, Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => h = now,
                }
            }
            if h == hi && wait_lo(s) == lo {
                return Err(s);
            }
            i = (i + 1) & mask;
        }
        panic!(
            "the visited set has no free slot among {} (it grows long before that)",
            mask + 1
        );
    }

    /// Moves an entry in (the table is not shared yet).
    fn put(&mut self, hi: u64, lo: u64, sleep: u64) {
        let mask = self.mask();
        let mut i = lo as usize & mask;
        while *self.slots[i].hi.get_mut() != 0 {
            i = (i + 1) & mask;
        }
        let s = &mut self.slots[i];
        *s.hi.get_mut() = hi;
        *s.lo.get_mut() = lo;
        *s.sleep.get_mut() = sleep;
    }
}

/// The entries (high word, low word, sleep set) of the claimed slots among `slots` (of a
/// table no worker inserts into meanwhile).
fn entries(slots: &[Slot]) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
    slots.iter().filter_map(|s| {
        let hi = s.hi.load(Ordering::Relaxed);
        (hi != 0).then(|| {
            (
                hi,
                s.lo.load(Ordering::Relaxed),
                s.sleep.load(Ordering::Relaxed),
            )
        })
    })
}

/// The low word of a claimed slot, once its claimer has stored it.
fn wait_lo(s: &Slot) -> u64 {
    let mut spins = 0u32;
    loop {
        let l = s.lo.load(Ordering::Acquire);
        if l != 0 {
            return l;
        }
        spins += 1;
        if spins < 1024 {
            std::hint::spin_loop();
        } else {
            // The claimer was descheduled between its two stores (more workers than cores).
            std::thread::yield_now();
        }
    }
}

/// A key as the two words the table stores (zero words stored as 1: see the module doc).
fn words(key: u128) -> (u64, u64) {
    (((key >> 64) as u64).max(1), (key as u64).max(1))
}

/// A value alone on its cache lines (a worker's gate, a shared counter).
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

/// The shared visited set (see the module documentation).
pub(super) struct Visited {
    current: Mutex<Arc<Table>>,
    /// Bumped each time the table grows.
    generation: Padded<AtomicU64>,
    /// Entries inserted, as far as the workers have told.
    flushed: Padded<AtomicUsize>,
    /// Each worker's gate.
    gates: Box<[Padded<Mutex<()>>]>,
    /// The memory limits a doubling must stay within (`max_memory_mib`,
    /// `max_address_space_mib`).
    limits: Bounds,
    /// A doubling was refused (it would pass a memory limit, or the allocator had no block
    /// that large): the bound to stop the search with. The table is not grown again.
    refused: Mutex<Option<Bound>>,
    /// `refused` is set (read on every arrival).
    is_refused: AtomicBool,
}

/// What a search arrival found.
pub(super) enum Visit {
    /// The key is new: it was stored with the sleep set the `init` closure gave.
    New,
    /// The key was there with sleep set `.0`; it is now narrowed to `.0 & sleep`.
    Seen(u64),
}

impl Visited {
    /// An empty set for `jobs` workers.
    pub(super) fn new(jobs: usize) -> Visited {
        let jobs = jobs.max(1);
        Visited {
            current: Mutex::new(Arc::new(Table::new(MIN_SLOTS))),
            generation: Padded::default(),
            flushed: Padded::default(),
            gates: (0..jobs).map(|_| Padded::default()).collect(),
            limits: Bounds::default(),
            refused: Mutex::new(None),
            is_refused: AtomicBool::new(false),
        }
    }

    /// Sets the memory limits a doubling must stay within (those of `b`).
    pub(super) fn set_limits(&mut self, b: &Bounds) {
        self.limits = Bounds {
            max_memory_mib: b.max_memory_mib,
            max_address_space_mib: b.max_address_space_mib,
            ..Bounds::default()
        };
    }

    /// The bound a refused doubling stops the search with, if a doubling was refused.
    pub(super) fn refused(&self) -> Option<Bound> {
        if !self.is_refused.load(Ordering::Relaxed) {
            return None;
        }
        self.refused.lock().expect("visited set").clone()
    }

    /// Empties the set for a new search by `jobs` workers, keeping its table (no regrowing,
    /// no fresh pages to fault in).
    pub(super) fn reset(&mut self, jobs: usize) {
        let jobs = jobs.max(1);
        let current = self.current.get_mut().expect("visited set");
        match Arc::get_mut(current) {
            Some(t) => {
                for s in t.slots.iter_mut() {
                    *s = Slot::default();
                }
            }
            None => *current = Arc::new(Table::new(MIN_SLOTS)),
        }
        *self.flushed.0.get_mut() = 0;
        self.gates = (0..jobs).map(|_| Padded::default()).collect();
        *self.refused.get_mut().expect("visited set") = None;
        *self.is_refused.get_mut() = false;
    }

    /// Worker `me`'s handle on the set.
    pub(super) fn handle(&self, me: usize) -> Handle<'_> {
        assert!(me < self.gates.len(), "worker {me} of {}", self.gates.len());
        Handle {
            vis: self,
            me,
            table: self.current.lock().expect("visited set").clone(),
            generation: self.generation.0.load(Ordering::Acquire),
            unflushed: 0,
        }
    }

    fn table(&self) -> Arc<Table> {
        self.current.lock().expect("visited set").clone()
    }

    /// The entries (after the search: no worker inserting).
    pub(super) fn len(&self) -> usize {
        let t = self.table();
        t.slots
            .iter()
            .filter(|s| s.hi.load(Ordering::Relaxed) != 0)
            .count()
    }

    /// The bytes the table takes.
    pub(super) fn bytes(&self) -> usize {
        self.table().slots.len() * std::mem::size_of::<Slot>()
    }

    /// The keys stored (after the search), as the table holds them.
    pub(super) fn keys(&self) -> impl Iterator<Item = u128> {
        let t = self.table();
        (0..t.slots.len()).filter_map(move |i| {
            let s = &t.slots[i];
            let hi = s.hi.load(Ordering::Relaxed);
            (hi != 0).then(|| ((hi as u128) << 64) | s.lo.load(Ordering::Relaxed) as u128)
        })
    }

    /// Doubles the table `of` (the caller's, which its count found full), unless another
    /// worker already did. The caller holds no gate. A doubling that would pass a memory
    /// limit, or that the allocator cannot serve, is refused instead ([`Visited::refused`]):
    /// the search then stops, long before the table is full (it is at 5/8 of its slots).
    fn grow(&self, of: &Arc<Table>) {
        if self.is_refused.load(Ordering::Relaxed) {
            return;
        }
        let _gates: Vec<_> = self
            .gates
            .iter()
            .map(|g| g.0.lock().expect("gate"))
            .collect();
        let mut current = self.current.lock().expect("visited set");
        if !Arc::ptr_eq(&current, of) {
            return; // grown by another worker meanwhile
        }
        let len = current.slots.len() * 2;
        let bytes = (len * std::mem::size_of::<Slot>()) as u64;
        let table = match memory_bound(&self.limits, bytes) {
            Some(b) => Err(b),
            None => Table::try_new(len).ok_or_else(|| {
                let limit = self.limits.max_address_space_mib;
                Bound::MaxAddressSpaceMib(limit.or(memory_mib().map(|m| m.size)).unwrap_or(0))
            }),
        };
        let mut bigger = match table {
            Ok(t) => t,
            Err(b) => {
                *self.refused.lock().expect("visited set") = Some(b);
                self.is_refused.store(true, Ordering::Relaxed);
                return;
            }
        };
        let movers = self.gates.len();
        if movers > 1 && current.slots.len() >= PARALLEL_MOVE {
            // The other workers wait at their gates: their cores move a share each. Most of
            // a move is faulting in the new table's fresh pages (the last doubling on
            // F(11,2), 4 Mi slots: about 200 ms on one core), which cores do side by side.
            let shares = current.slots.chunks(current.slots.len().div_ceil(movers));
            let bigger = &bigger;
            std::thread::scope(|s| {
                for share in shares {
                    s.spawn(move || {
                        for (hi, lo, sleep) in entries(share) {
                            let moved = bigger.visit(hi, lo, &mut || sleep);
                            assert!(moved.is_ok(), "a key twice in the visited set");
                        }
                    });
                }
            });
        } else {
            for (hi, lo, sleep) in entries(&current.slots) {
                bigger.put(hi, lo, sleep);
            }
        }
        *current = Arc::new(bigger);
        self.generation.0.fetch_add(1, Ordering::Release);
    }
}

/// A worker's access to the visited set.
pub(super) struct Handle<'v> {
    vis: &'v Visited,
    me: usize,
    table: Arc<Table>,
    generation: u64,
    unflushed: usize,
}

impl Handle<'_> {
    /// The states inserted so far: all workers' counted inserts and this one's uncounted
    /// ones (exact with one worker; for the progress line).
    pub(super) fn states(&self) -> u64 {
        (self.vis.flushed.0.load(Ordering::Relaxed) + self.unflushed) as u64
    }

    /// Arrives at `key` with sleep set `sleep`: stores it with the sleep set `init` gives
    /// if it is new, otherwise narrows its stored sleep set to the intersection with `sleep`
    /// and returns the one stored before.
    pub(super) fn visit(&mut self, key: u128, sleep: u64, init: &mut dyn FnMut() -> u64) -> Visit {
        let (hi, lo) = words(key);
        let found = {
            let _gate = self.vis.gates[self.me].0.lock().expect("gate");
            let generation = self.vis.generation.0.load(Ordering::Acquire);
            if generation != self.generation {
                self.table = self.vis.table();
                self.generation = generation;
            }
            match self.table.visit(hi, lo, init) {
                Ok(()) => None,
                Err(slot) => Some(slot.sleep.fetch_and(sleep, Ordering::AcqRel)),
            }
        };
        match found {
            Some(old) => Visit::Seen(old),
            None => {
                self.unflushed += 1;
                let slots = self.table.slots.len();
                let jobs = self.vis.gates.len();
                // Every worker's uncounted inserts together: at most an eighth of the slots.
                let every = (slots / (8 * jobs)).clamp(1, FLUSH);
                if self.unflushed >= every {
                    let n = self
                        .vis
                        .flushed
                        .0
                        .fetch_add(self.unflushed, Ordering::Relaxed)
                        + self.unflushed;
                    self.unflushed = 0;
                    if n + jobs * every > slots * MAX_LOAD.0 / MAX_LOAD.1 {
                        self.vis.grow(&self.table);
                    }
                }
                Visit::New
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys spread like hashes (and a few with zero words).
    fn key(i: u64) -> u128 {
        match i {
            0 => 0,
            1 => 7,
            2 => 7 << 64,
            _ => {
                let a = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let b = (i ^ 0x5555).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
                ((a as u128) << 64) | b as u128
            }
        }
    }

    /// Workers inserting the same keys in different orders, while the table grows from its
    /// first size many times over: each key is new to exactly one of them, every sleep set
    /// ends as the intersection of all the sets it was reached with, and the keys read back
    /// are the keys put in.
    #[test]
    fn concurrent_inserts_and_growth() {
        const KEYS: u64 = 60_000;
        for jobs in [1, 2, 4] {
            let vis = Visited::new(jobs);
            let news: Vec<u64> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..jobs)
                    .map(|me| {
                        let vis = &vis;
                        s.spawn(move || {
                            let mut h = vis.handle(me);
                            let mut new = 0;
                            for j in 0..KEYS {
                                // Worker `me` walks the keys from its own start, in its own
                                // direction.
                                let i = if me % 2 == 0 {
                                    (j + me as u64 * 997) % KEYS
                                } else {
                                    (KEYS - 1 - j + me as u64 * 991) % KEYS
                                };
                                let mut init = || !0;
                                match h.visit(key(i), !(1 << me), &mut init) {
                                    Visit::New => new += 1,
                                    Visit::Seen(old) => assert_ne!(old, 0),
                                }
                            }
                            new
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(news.iter().sum::<u64>(), KEYS, "jobs {jobs}: {news:?}");
            assert_eq!(vis.len(), KEYS as usize);
            assert!(vis.bytes() >= KEYS as usize * 8 / 5 * std::mem::size_of::<Slot>());
            let mut h = vis.handle(0);
            for i in 0..KEYS {
                let mut init = || panic!("key {i} lost");
                let Visit::Seen(old) = h.visit(key(i), !0, &mut init) else {
                    unreachable!()
                };
                // Of the `jobs` bits, the inserter's is set (it stored !0); the others'
                // were cleared by their arrivals.
                let low = old & ((1 << jobs) - 1);
                assert_eq!(low.count_ones(), 1, "key {i}: {old:b}");
                assert_eq!(old >> jobs, !0u64 >> jobs);
            }
            let mut keys: Vec<u128> = vis.keys().collect();
            keys.sort_unstable();
            let mut want: Vec<u128> = (0..KEYS)
                .map(|i| {
                    let (hi, lo) = words(key(i));
                    ((hi as u128) << 64) | lo as u128
                })
                .collect();
            want.sort_unstable();
            assert_eq!(keys, want);
        }
    }
}
