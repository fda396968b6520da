//! Stand-alone `pvmm-audit` (same as `pvmm audit`).

#![forbid(unsafe_code)]

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "pvmm-audit",
    version,
    about = "Audit a kernel tree for guest pages handed to I/O without the accessibility hook"
)]
struct Cli {
    #[command(flatten)]
    args: audit::cli::AuditArgs,
}

fn main() {
    let cli = Cli::parse();
    std::process::exit(audit::cli::run(&cli.args));
}
