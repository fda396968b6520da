//! `audit`: whole-tree audit of a Linux kernel source tree for paths that hand a guest page to I/O
//! (DMA, another context) without the s390 Protected Virtualization accessibility hook
//! `arch_make_page_accessible()` / `arch_make_folio_accessible()`.
//!
//! Pipeline: `scan` (cheap multi-pattern prefilter, parallel tree-sitter parse, cache, widening) →
//! `extract` (per-file summaries) → `analysis` (index, ops tables, interprocedural summaries to a
//! fixed point, findings) → `report` (text, JSON, SARIF). Rules are data: `rules/audit.toml`.

#![forbid(unsafe_code)]

pub mod analysis;
pub mod cli;
pub mod extract;
pub mod infer;
pub mod model;
pub mod patch;
pub mod report;
pub mod rules;
pub mod scan;
