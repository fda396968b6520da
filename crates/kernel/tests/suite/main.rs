//! The kernel crate's integration tests, one test binary (one link, and the explorer's
//! searches instantiated for the kernel model once instead of once per file): each module is
//! what used to be a file of its own under `tests/`.

mod common;
mod folio;
mod functions;
mod gup;
mod migrate;
mod reclaim;
mod releases;
mod swap;
mod truncate;
