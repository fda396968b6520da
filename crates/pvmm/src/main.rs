//! The `pvmm` command line: parses arguments and prints; all logic lives in the library
//! crates (`explore`, `kernel`, `checker`; `report` renders, `audit` audits kernel trees).

// The one exception is `sys`, the calls into the C library.
#![deny(unsafe_code)]

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
#[allow(unsafe_code)]
mod sys;

use clap::{CommandFactory, Parser};
use cli::{Cli, Cmd};
use std::process::ExitCode;

/// The search allocates and frees small objects at a high rate (every restart of an execution
/// builds its thread futures): mimalloc's thread-local free lists make that several times
/// cheaper than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sys::default_sigpipe();
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
