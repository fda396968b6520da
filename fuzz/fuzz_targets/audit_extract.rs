//! The audit's C extraction (`audit::extract::normalise_kernel_c` and `summarise`, a
//! tree-sitter parse of one file) on any bytes: a summary or none, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = audit::extract::normalise_kernel_c(data);
    let _ = audit::extract::summarise(data);
});
