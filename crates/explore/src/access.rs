//! What a visible operation touches, and when two operations commute.
//!
//! Every scheduling point declares a small list of [`Access`]es: an object id chosen by the
//! model (one id per independently-changing piece of shared state: a page's refcount, one of
//! its flag bits, a PTE, a lock …) and the kind of access. Two operations are *dependent*
//! when they touch a common object with kinds that do not commute (see [`AccessKind`]).
//! The whole partial-order reduction rests on this relation, so it is deliberately small and
//! is checked against naive enumeration by the test suite.

/// An object of the model's shared state. The model numbers its objects densely from 0.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjId(pub u32);

/// How an operation touches an object.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// Reads the value; changes nothing.
    Read,
    /// Any change, possibly reading the old value (compare-and-exchange, test-and-set, store).
    Write,
    /// A blind commutative update whose result nobody reads (`atomic_inc`, `atomic_add`):
    /// two adds commute; an add does not commute with a read or a write.
    Add,
    /// An increment unless the value is zero, whose only result is whether it happened
    /// (`atomic_add_unless(v, 1, 0)`, `get_page_unless_zero`, a try-get that fails on a frozen
    /// refcount): two of them commute (on zero both fail, otherwise both succeed, in either
    /// order); it does not commute with a read, a write or an add (which may reach zero).
    IncUnlessZero,
    /// A blind store of the constant given (a flag set or cleared whatever its old value):
    /// two stores of the same constant commute; anything else does not.
    Set(u16),
    /// A blocking lock acquisition: enabled only while the lock is free.
    Acquire,
    /// A lock release by the holder.
    Release,
}

/// One object touched in one way.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// The object touched.
    pub obj: ObjId,
    /// How it is touched.
    pub kind: AccessKind,
}

impl Access {
    /// A read of `obj` ([`AccessKind::Read`]).
    pub fn read(obj: ObjId) -> Self {
        Access {
            obj,
            kind: AccessKind::Read,
        }
    }
    /// A change of `obj`, possibly reading it first ([`AccessKind::Write`]).
    pub fn write(obj: ObjId) -> Self {
        Access {
            obj,
            kind: AccessKind::Write,
        }
    }
    /// A blind commutative update of `obj` ([`AccessKind::Add`]).
    pub fn add(obj: ObjId) -> Self {
        Access {
            obj,
            kind: AccessKind::Add,
        }
    }
    /// An increment of `obj` unless it is zero ([`AccessKind::IncUnlessZero`]).
    pub fn inc_unless_zero(obj: ObjId) -> Self {
        Access {
            obj,
            kind: AccessKind::IncUnlessZero,
        }
    }
    /// A blind store of the constant `value` into `obj` ([`AccessKind::Set`]).
    pub fn set(obj: ObjId, value: u16) -> Self {
        Access {
            obj,
            kind: AccessKind::Set(value),
        }
    }
    /// A blocking acquisition of the lock `obj` ([`AccessKind::Acquire`]).
    pub fn acquire(obj: ObjId) -> Self {
        Access {
            obj,
            kind: AccessKind::Acquire,
        }
    }
    /// A release of the lock `obj` by its holder ([`AccessKind::Release`]).
    pub fn release(obj: ObjId) -> Self {
        Access {
            obj,
            kind: AccessKind::Release,
        }
    }
}

impl AccessKind {
    /// A number identifying the kind (and a store's constant), for hashing.
    pub fn code(self) -> u64 {
        match self {
            AccessKind::Read => 0,
            AccessKind::Write => 1,
            AccessKind::Add => 2,
            AccessKind::IncUnlessZero => 3,
            AccessKind::Acquire => 4,
            AccessKind::Release => 5,
            AccessKind::Set(v) => 6 | ((v as u64) << 8),
        }
    }
}

/// Whether two kinds of access to the same object fail to commute.
///
/// * read / read, add / add, increment-unless-zero / increment-unless-zero and two stores of
///   the same constant commute;
/// * a release and a blocking acquire of the same lock are never enabled together (the
///   acquirer waits while the lock is held, and only the holder releases), so by the standard
///   co-enabledness argument they are independent; two releases likewise. Races between two
///   acquisitions are still seen directly, which is what the search must reverse.
/// * everything else is dependent.
pub const fn kinds_dependent(a: AccessKind, b: AccessKind) -> bool {
    use AccessKind::*;
    match (a, b) {
        (Set(x), Set(y)) => x != y,
        _ => !matches!(
            (a, b),
            (Read, Read)
                | (Add, Add)
                | (IncUnlessZero, IncUnlessZero)
                | (Release, Acquire)
                | (Acquire, Release)
                | (Release, Release)
        ),
    }
}

/// Like [`kinds_dependent`], but a release *does* order a later acquire: used to compute the
/// causal past of a step (what must have happened for it to be enabled), not races.
pub fn kinds_causal(a: AccessKind, b: AccessKind) -> bool {
    use AccessKind::*;
    match (a, b) {
        (Set(x), Set(y)) => x != y,
        _ => !matches!(
            (a, b),
            (Read, Read) | (Add, Add) | (IncUnlessZero, IncUnlessZero)
        ),
    }
}

/// The accesses of one operation: at most [`Accesses::CAP`], stored inline (no allocation on
/// the hot path).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Accesses {
    len: u8,
    items: [Access; Accesses::CAP],
}

impl Default for Accesses {
    fn default() -> Self {
        Accesses {
            len: 0,
            items: [Access::read(ObjId(0)); Accesses::CAP],
        }
    }
}

impl Accesses {
    /// The most accesses one operation can declare (stored inline: a step copies them
    /// without allocating).
    pub const CAP: usize = 24;

    /// No accesses.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one access. Panics if a model operation declares more than [`Accesses::CAP`]:
    /// that is a bug in the model, not in its input.
    pub fn push(&mut self, a: Access) {
        assert!(
            (self.len as usize) < Self::CAP,
            "a model operation declared more than {} accesses",
            Self::CAP
        );
        self.items[self.len as usize] = a;
        self.len += 1;
    }

    /// The accesses of `list`, copied at once (what a model step declares). Panics if it
    /// holds more than [`Accesses::CAP`].
    #[inline]
    pub fn from_slice(list: &[Access]) -> Self {
        assert!(
            list.len() <= Self::CAP,
            "a model operation declared more than {} accesses",
            Self::CAP
        );
        let mut acc = Accesses::default();
        acc.items[..list.len()].copy_from_slice(list);
        acc.len = list.len() as u8;
        acc
    }

    /// These accesses and `a` (see [`Accesses::push`]).
    pub fn with(mut self, a: Access) -> Self {
        self.push(a);
        self
    }

    /// The accesses, in the order they were declared.
    pub fn as_slice(&self) -> &[Access] {
        &self.items[..self.len as usize]
    }

    /// Whether the operation touches nothing shared.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some pair of accesses fails to commute.
    pub fn dependent(&self, other: &Accesses) -> bool {
        self.as_slice().iter().any(|a| {
            other
                .as_slice()
                .iter()
                .any(|b| a.obj == b.obj && kinds_dependent(a.kind, b.kind))
        })
    }

    /// Whether `self` (earlier) must precede `other` (later) for `other` to happen as it did.
    pub fn causally_before(&self, other: &Accesses) -> bool {
        self.as_slice().iter().any(|a| {
            other
                .as_slice()
                .iter()
                .any(|b| a.obj == b.obj && kinds_causal(a.kind, b.kind))
        })
    }
}

impl FromIterator<Access> for Accesses {
    fn from_iter<I: IntoIterator<Item = Access>>(iter: I) -> Self {
        let mut acc = Accesses::new();
        for a in iter {
            acc.push(a);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependence_table() {
        use AccessKind::*;
        assert!(!kinds_dependent(Read, Read));
        assert!(!kinds_dependent(Add, Add));
        assert!(kinds_dependent(Add, Read));
        assert!(kinds_dependent(Write, Write));
        assert!(kinds_dependent(Acquire, Acquire));
        assert!(!kinds_dependent(Release, Acquire));
        assert!(kinds_causal(Release, Acquire));
        assert!(!kinds_dependent(IncUnlessZero, IncUnlessZero));
        assert!(kinds_dependent(IncUnlessZero, Add));
        assert!(kinds_dependent(IncUnlessZero, Read));
        assert!(kinds_dependent(IncUnlessZero, Write));
        assert!(!kinds_dependent(Set(0), Set(0)));
        assert!(kinds_dependent(Set(0), Set(1)));
        assert!(kinds_dependent(Set(0), Read));
        assert!(kinds_causal(Set(1), Set(0)));
        assert!(!kinds_causal(IncUnlessZero, IncUnlessZero));
        let a = Accesses::new().with(Access::add(ObjId(1)));
        let b = Accesses::new()
            .with(Access::add(ObjId(1)))
            .with(Access::read(ObjId(2)));
        let c = Accesses::new().with(Access::write(ObjId(2)));
        assert!(!a.dependent(&b));
        assert!(b.dependent(&c));
        assert!(!a.dependent(&c));
    }
}
