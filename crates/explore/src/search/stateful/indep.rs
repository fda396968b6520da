//! The learned independence table behind the stateful search's persistent sets ("safe
//! steps", see the module documentation above, "Safe steps").
//!
//! For every object and thread it holds the kinds of access the thread was seen making to
//! the object. A step of thread `t` whose every access commutes with every kind any *other*
//! thread was seen making to the same object is *safe*: if the table is complete (it holds
//! everything any thread can do in any execution), no other thread can ever do anything that
//! fails to commute with it, so taking it alone is a persistent set (Godefroid 1996, ch. 4:
//! a set of transitions that nothing outside it can interfere with, however the others go
//! on). The search checks completeness as it goes: every step it executes must already be in
//! the table, and a step that is not makes it start over with the larger table
//! ([`Seen::missing`]). The table only grows, so the search ends.
//!
//! A step that ends the execution (a fatal finding: `BUG()`, a retry bound) disables every
//! other thread, whatever it touches: the table also holds, per thread, the operations seen
//! doing that, and such an operation is never safe.
//!
//! Last, per thread, the objects its parked retries ([`crate::Guard::Changed`]) were seen
//! registered on: the stateful search keeps a thread's parking bits in its key only for
//! those objects (see `search::stateful`, "Parking bits of objects nobody waits on"), and
//! checks the same way that every parked retry it meets is on objects the table holds.

use crate::access::{kinds_dependent, Access, AccessKind};

/// Kinds of access seen, as a small set: one bit per kind code below 6, and the constants of
/// stores (`Set`) in a short list.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
struct KindSet {
    mask: u8,
    sets: Vec<u16>,
}

impl KindSet {
    fn contains(&self, k: AccessKind) -> bool {
        match k {
            AccessKind::Set(v) => self.sets.contains(&v),
            _ => self.mask & (1 << k.code()) != 0,
        }
    }
    fn insert(&mut self, k: AccessKind) -> bool {
        if self.contains(k) {
            return false;
        }
        match k {
            AccessKind::Set(v) => self.sets.push(v),
            _ => self.mask |= 1 << k.code(),
        }
        true
    }
    fn union(&mut self, o: &KindSet) {
        self.mask |= o.mask;
        for &v in &o.sets {
            if !self.sets.contains(&v) {
                self.sets.push(v);
            }
        }
    }
    #[cfg(test)]
    fn kinds(&self) -> impl Iterator<Item = AccessKind> + '_ {
        PLAIN
            .into_iter()
            .filter(|k| self.mask & (1 << k.code()) != 0)
            .chain(self.sets.iter().map(|&v| AccessKind::Set(v)))
    }
}

/// What each thread was seen doing to each object.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    threads: usize,
    objects: usize,
    /// `by[obj * threads + tid]`: the kinds `tid` was seen using on `obj`.
    by: Vec<KindSet>,
    /// Per thread, the operations seen ending an execution (a fatal finding): such a step
    /// disables every other thread, so it is never safe.
    fatal: Vec<Vec<&'static str>>,
    /// Per thread, `words` words: bit `o` set when a parked retry of the thread was seen
    /// registered on object `o`.
    parked: Vec<u64>,
    /// Words per thread in `parked`: `objects.div_ceil(64)`.
    words: usize,
}

impl Seen {
    pub(super) fn new(threads: usize, objects: usize) -> Self {
        Seen {
            threads,
            objects,
            by: vec![KindSet::default(); threads * objects],
            fatal: vec![Vec::new(); threads],
            parked: vec![0; threads * objects.div_ceil(64)],
            words: objects.div_ceil(64),
        }
    }

    /// The model's threads and objects the table is for.
    pub(super) fn shape(&self) -> (usize, usize) {
        (self.threads, self.objects)
    }

    /// Records that a parked retry of `tid` was registered on object `obj`; true if that
    /// was new.
    pub(super) fn insert_parked(&mut self, tid: usize, obj: usize) -> bool {
        assert!(obj < self.objects, "object id {obj} out of range");
        let (w, b) = (tid * self.words + obj / 64, 1u64 << (obj % 64));
        let new = self.parked[w] & b == 0;
        self.parked[w] |= b;
        new
    }

    /// Whether a parked retry of `tid` was seen registered on object `obj`.
    #[cfg(test)]
    fn parks_on(&self, tid: usize, obj: usize) -> bool {
        self.parked[tid * self.words + obj / 64] & (1 << (obj % 64)) != 0
    }

    /// The objects parked retries of `tid` were seen registered on, one bit per object
    /// (`objects.div_ceil(64)` words).
    pub(super) fn parked_mask(&self, tid: usize) -> &[u64] {
        &self.parked[tid * self.words..(tid + 1) * self.words]
    }

    /// Records that operation `name` of `tid` ended an execution; true if that was new.
    pub(super) fn insert_fatal(&mut self, tid: usize, name: &'static str) -> bool {
        if self.fatal[tid].contains(&name) {
            return false;
        }
        self.fatal[tid].push(name);
        true
    }

    /// Whether operation `name` of `tid` was seen ending an execution.
    pub(super) fn seen_fatal(&self, tid: usize, name: &'static str) -> bool {
        self.fatal[tid].contains(&name)
    }

    /// Number of entries: (object, thread, kind) accesses, fatal operations and (thread,
    /// object) parked retries.
    pub(super) fn len(&self) -> usize {
        self.by
            .iter()
            .map(|k| k.mask.count_ones() as usize + k.sets.len())
            .sum::<usize>()
            + self.fatal.iter().map(Vec::len).sum::<usize>()
            + self
                .parked
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>()
    }

    /// Records that `tid` made access `a`; true if that was new.
    pub(super) fn insert(&mut self, tid: usize, a: &Access) -> bool {
        let o = a.obj.0 as usize;
        assert!(o < self.objects, "object id {o} out of range");
        self.by[o * self.threads + tid].insert(a.kind)
    }

    /// Adds everything `other` holds.
    #[cfg(test)]
    fn merge(&mut self, other: &Seen) {
        for (a, b) in self.by.iter_mut().zip(&other.by) {
            a.union(b);
        }
        for (t, names) in other.fatal.iter().enumerate() {
            for &n in names {
                self.insert_fatal(t, n);
            }
        }
        for (a, b) in self.parked.iter_mut().zip(&other.parked) {
            *a |= b;
        }
    }

    /// Gives every member of each group (threads declared interchangeable:
    /// `search::StateKey::symmetry`) everything any member was seen doing: what one member
    /// did in some reachable state, each other member does in the state with the two
    /// swapped. A symmetric table makes the search's choice of safe steps the same, up to
    /// the permutation, in states equal up to one (see `search::stateful`, "Symmetry").
    /// True if anything was added.
    pub(super) fn symmetrize(&mut self, groups: &[Vec<usize>]) -> bool {
        let before = self.len();
        for g in groups {
            for o in 0..self.objects {
                let mut all = KindSet::default();
                for &t in g {
                    all.union(&self.by[o * self.threads + t]);
                }
                for &t in g {
                    self.by[o * self.threads + t].union(&all);
                }
            }
            let names: Vec<&'static str> = g.iter().flat_map(|&t| self.fatal[t].clone()).collect();
            for &t in g {
                for &n in &names {
                    self.insert_fatal(t, n);
                }
            }
            for w in 0..self.words {
                let all = g
                    .iter()
                    .fold(0, |m, &t| m | self.parked[t * self.words + w]);
                for &t in g {
                    self.parked[t * self.words + w] = all;
                }
            }
        }
        self.len() != before
    }

    /// Whether `tid` making access `a` is not in the table yet.
    pub(super) fn missing(&self, tid: usize, a: &Access) -> bool {
        !self.by[a.obj.0 as usize * self.threads + tid].contains(a.kind)
    }

    /// Whether access `a` (of any thread) commutes with every kind of access thread `v` was
    /// seen making to its object.
    ///
    /// By bit masks: a store of a constant commutes only with stores of the same constant; a
    /// plain kind never with a store, and with the plain kinds outside its [`PLAIN_DEPENDENT`]
    /// mask (the same relation as [`kinds_dependent`], tested).
    pub(super) fn commutes_with_thread(&self, a: &Access, v: usize) -> bool {
        let ks = &self.by[a.obj.0 as usize * self.threads + v];
        match a.kind {
            AccessKind::Set(x) => ks.mask == 0 && ks.sets.iter().all(|&y| y == x),
            k => ks.sets.is_empty() && ks.mask & PLAIN_DEPENDENT[k.code() as usize] == 0,
        }
    }

    /// [`Seen::commutes_with_thread`] by its definition, kind by kind (for the test).
    #[cfg(test)]
    fn commutes_with_thread_slow(&self, a: &Access, v: usize) -> bool {
        self.by[a.obj.0 as usize * self.threads + v]
            .kinds()
            .all(|k| !kinds_dependent(a.kind, k))
    }
}

/// The kinds other than stores of a constant, in the order of [`AccessKind::code`].
const PLAIN: [AccessKind; 6] = [
    AccessKind::Read,
    AccessKind::Write,
    AccessKind::Add,
    AccessKind::IncUnlessZero,
    AccessKind::Acquire,
    AccessKind::Release,
];

/// For each plain kind (by [`AccessKind::code`]), the plain kinds it does not commute with,
/// one bit per code ([`kinds_dependent`]).
const PLAIN_DEPENDENT: [u8; 6] = {
    let mut out = [0u8; 6];
    let mut i = 0;
    while i < 6 {
        let mut j = 0;
        while j < 6 {
            if kinds_dependent(PLAIN[i], PLAIN[j]) {
                out[i] |= 1 << j;
            }
            j += 1;
        }
        i += 1;
    }
    out
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::ObjId;

    /// Whether `tid`'s access `a` commutes with everything the other threads were seen doing
    /// (what makes a step safe alone).
    fn commutes_with_others(s: &Seen, tid: usize, a: &Access) -> bool {
        (0..s.threads)
            .filter(|&v| v != tid)
            .all(|v| s.commutes_with_thread(a, v))
    }

    /// The mask version of `commutes_with_thread` against the definition, on every
    /// combination of a kind and a small set of kinds (plain ones and two store constants).
    #[test]
    fn commutes_by_masks_as_by_kinds() {
        let mut kinds = PLAIN.to_vec();
        kinds.extend([AccessKind::Set(0), AccessKind::Set(1)]);
        let o = ObjId(0);
        let mut checked = 0;
        for subset in 0u32..(1 << kinds.len()) {
            let mut s = Seen::new(2, 1);
            for (i, &k) in kinds.iter().enumerate() {
                if subset & (1 << i) != 0 {
                    s.insert(1, &Access { obj: o, kind: k });
                }
            }
            for &k in &kinds {
                let a = Access { obj: o, kind: k };
                assert_eq!(
                    s.commutes_with_thread(&a, 1),
                    s.commutes_with_thread_slow(&a, 1),
                    "{k:?} against the kinds of subset {subset:#b}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 256 * 8);
    }

    #[test]
    fn safe_only_against_what_others_do() {
        let mut s = Seen::new(3, 2);
        let (o0, o1) = (ObjId(0), ObjId(1));
        assert!(s.insert(0, &Access::read(o0)));
        assert!(!s.insert(0, &Access::read(o0)));
        assert!(s.insert(1, &Access::read(o0)));
        assert!(s.insert(1, &Access::set(o1, 1)));
        // Reads of an object the others only read commute; a write does not.
        assert!(commutes_with_others(&s, 0, &Access::read(o0)));
        assert!(!commutes_with_others(&s, 0, &Access::write(o0)));
        // A thread's own accesses do not count against it.
        assert!(commutes_with_others(&s, 1, &Access::write(o1)));
        assert!(commutes_with_others(&s, 0, &Access::set(o1, 1)));
        assert!(!commutes_with_others(&s, 0, &Access::set(o1, 2)));
        assert!(s.missing(2, &Access::read(o0)));
        assert!(!s.missing(1, &Access::set(o1, 1)));
        assert!(s.missing(1, &Access::set(o1, 2)));
        let mut t = Seen::new(3, 2);
        t.insert(2, &Access::add(o0));
        s.merge(&t);
        assert!(!commutes_with_others(&s, 0, &Access::read(o0)));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn parked_objects_per_thread() {
        let mut s = Seen::new(2, 70);
        assert!(!s.parks_on(0, 3));
        assert!(s.insert_parked(0, 3));
        assert!(!s.insert_parked(0, 3));
        assert!(s.insert_parked(1, 66));
        assert!(s.parks_on(0, 3) && !s.parks_on(1, 3));
        assert!(s.parks_on(1, 66) && !s.parks_on(0, 66));
        assert_eq!(s.parked_mask(0), &[1 << 3, 0]);
        assert_eq!(s.parked_mask(1), &[0, 1 << 2]);
        assert_eq!(s.len(), 2);
        let mut t = Seen::new(2, 70);
        t.insert_parked(0, 65);
        s.merge(&t);
        assert_eq!(s.parked_mask(0), &[1 << 3, 1 << 1]);
    }

    /// Symmetrizing gives each member of a group the union of the members' entries
    /// (accesses, fatal operations, parked objects), leaves threads outside the groups as
    /// they were, says whether it added anything, and is then a fixed point.
    #[test]
    fn symmetrize_unions_each_group() {
        let a = |o: u32, kind: AccessKind| Access {
            obj: ObjId(o),
            kind,
        };
        let mut s = Seen::new(4, 70);
        s.insert(0, &a(1, AccessKind::Read));
        s.insert(1, &a(1, AccessKind::Set(7)));
        s.insert(2, &a(3, AccessKind::Write));
        s.insert(3, &a(5, AccessKind::Read));
        s.insert_fatal(2, "bug");
        s.insert_parked(0, 69);
        let before = s.clone();
        assert!(s.symmetrize(&[vec![0, 2], vec![1]]));
        for t in [0, 2] {
            assert!(!s.missing(t, &a(1, AccessKind::Read)));
            assert!(!s.missing(t, &a(3, AccessKind::Write)));
            assert!(s.missing(t, &a(1, AccessKind::Set(7))));
            assert!(s.seen_fatal(t, "bug"));
            assert!(s.parks_on(t, 69));
        }
        for t in [1, 3] {
            // Object 1 of 4 threads: entries 4..8.
            assert_eq!(s.by[4 + t], before.by[4 + t]);
            assert!(!s.seen_fatal(t, "bug") && !s.parks_on(t, 69));
        }
        assert_eq!(s.len(), before.len() + 4);
        assert!(!s.symmetrize(&[vec![0, 2], vec![1]]));
    }
}
