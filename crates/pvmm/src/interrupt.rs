//! SIGINT and SIGTERM: the first one stops the running searches at their next step and the
//! command ends cleanly (`incomplete (interrupted)`, what was found so far, exit 3); a
//! second one ends the process at once (exit 130 for SIGINT, 143 for SIGTERM, as a shell
//! reports a process killed by the signal).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Installs the handlers; the flag they set goes into the searches' bounds
/// (`explore::Bounds::interrupt`).
pub fn install() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it runs first: on the second signal the flag is already set.
        let hard = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flag.clone());
        let soft = signal_hook::flag::register(sig, flag.clone());
        if let Err(e) = hard.and(soft) {
            eprintln!("warning: cannot handle signal {sig}: {e} (an interrupt kills the run)");
        }
    }
    flag
}

/// Whether an interrupt arrived.
pub fn requested(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}
