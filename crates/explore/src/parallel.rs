//! Parallel stateless DPOR (see explore_parallel).
