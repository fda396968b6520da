//! The explorer's integration tests, one test binary (one link, and the searches
//! instantiated for the test models once instead of once per file): each module is what used
//! to be a file of its own under `tests/`.

mod classes;
mod common;
mod fast_forward;
mod lasso;
mod parking_key;
mod resume_moved;
mod stateful;
mod toy;
