//! The checker's integration tests, one test binary (one link, and the explorer's searches
//! instantiated for the kernel model once instead of once per file): each module is what
//! used to be a file of its own under `tests/`.

mod checks;
mod common;
mod matrix;
mod ops;
mod reduction;
mod stateful;
mod world_clone;
mod world_constants;
