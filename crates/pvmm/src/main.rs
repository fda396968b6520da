//! The `pvmm` command line: parses arguments and prints; all logic lives in the library
//! crates (`explore`, `kernel`, `checker`; `report` renders, `audit` audits kernel trees).

mod check;
mod checkpoint;
mod cli;
mod common;
mod explain;
mod interrupt;
mod list;
mod matrix;
mod progress;
mod replay;
mod style;

use clap::{CommandFactory, Parser};
use cli::{Cli, Cmd};
use std::process::ExitCode;

/// The search allocates and frees small objects at a high rate (every restart of an execution
/// builds its thread futures): mimalloc's thread-local free lists make that several times
/// cheaper than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `pvmm check --all | head` ends quietly, like other Unix tools, instead of panicking on a
/// closed stdout: restore the default action of SIGPIPE (Rust ignores it).
#[cfg(unix)]
fn default_sigpipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: setting a signal's disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

#[cfg(not(unix))]
fn default_sigpipe() {}

fn main() -> ExitCode {
    default_sigpipe();
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Check(a) => check::run(a),
        Cmd::Replay(a) => replay::run(a),
        Cmd::List(a) => list::run(a),
        Cmd::Explain(a) => explain::run(a),
        Cmd::Matrix(a) => matrix::run(a),
        Cmd::Audit(a) => {
            let c = audit::cli::run(&a);
            u8::try_from(c).unwrap_or(common::EXIT_BAD_INPUT)
        }
        Cmd::Completions(a) => {
            let mut cmd = Cli::command();
            clap_complete::generate(a.shell, &mut cmd, "pvmm", &mut std::io::stdout());
            common::EXIT_OK
        }
    };
    ExitCode::from(code)
}
