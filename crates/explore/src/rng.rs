//! The explorer's pseudo-random sequence: random walks (the independence table's seeding,
//! [`crate::Execution::step_random`]) choose threads with it, so that every walk is
//! reproducible from its seed.

/// Advances the xorshift64 state `state` (Marsaglia 2003: shifts 13, 7, 17; a non-zero state
/// never becomes zero) and returns the new state.
#[inline]
pub(crate) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
