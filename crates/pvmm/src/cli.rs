//! The command line's shape (clap): subcommands, options, help texts with examples.

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A value parser that takes any text (the subcommand checks it and names what is wrong)
/// and offers the kernel model's declared names to shell completions: the presets for
/// `--kernel`, every `SWITCH=VALUE` for `--set`.
#[derive(Clone, Copy)]
pub struct Declared(pub fn() -> &'static [&'static str]);

impl TypedValueParser for Declared {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new((self.0)().iter().map(|v| PossibleValue::new(*v))))
    }
}

/// The preset names (`kernel::vocab::presets`).
pub fn preset_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| kernel::config::PRESETS.iter().map(|p| p.name).collect())
}

/// Every `SWITCH=VALUE` (`kernel::vocab::switches`), made once per process.
fn switch_values() -> &'static [&'static str] {
    static PAIRS: OnceLock<Vec<&'static str>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        kernel::config::SWITCHES
            .iter()
            .flat_map(|s| s.values().iter().map(move |v| (s.name(), v.name)))
            .map(|(s, v)| &*Box::leak(format!("{s}={v}").into_boxed_str()))
            .collect()
    })
}

#[derive(Parser)]
#[command(
    name = "pvmm",
    version,
    about = "Exhaustive checker for the s390 Protected Virtualization host protocol",
    long_about = "Explores every interleaving of a scenario's kernel threads (DPOR with sleep sets) \
against a faithful model of the host kernel, version by version, and prints a verdict: \
verified, violation (with the shortest trace and a replayable schedule) or incomplete.\n\n\
Exit codes: 0 as expected (or verified, where nothing is expected); 1 a violation or a verdict \
other than the expected one; 2 bad input; 3 incomplete (a bound or an interruption stopped a \
search before the end and nothing it found contradicts the expectation). A run of several \
checks exits with the worst: 2, then 1, then 3, then 0. `replay` exits 0 when it reproduces \
what the trace file recorded. SIGINT/SIGTERM stop the search at its next step (exit 3, what \
was found so far printed and written); a second one ends the process at once.\n\
Colours only on a terminal, never with NO_COLOR set.",
    after_help = "Examples:
  pvmm check --all                                        every scenario × preset → verdict table
  pvmm check scenarios/d3-sendfile.toml --kernel v5.7 --report d3.html
  pvmm replay target/pvmm-traces/d3-sendfile.v5.7.io-on-secure-page.json --svg d3.svg
  pvmm explain scenarios/d3-sendfile.toml
  pvmm list --format json
  pvmm completions bash > ~/.local/share/bash-completion/completions/pvmm"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Check scenarios against kernel presets.
    #[command(after_help = "Examples:
  pvmm check --all
  pvmm check scenarios/d3-sendfile.toml --kernel v5.7
  pvmm check scenarios/d3-sendfile.toml --report target/d3.html     (swimlane diagrams, open in a browser)
  pvmm check scenarios/d2-direct-io-foll-pin.toml --set hook_on_foll_pin=false
  pvmm check --all --format json > verdicts.json                    (schema: docs/json-schema/)
  pvmm check scenarios/d4-reference-then-import.toml --max-time 10  (incomplete if the bound stops it)
  pvmm check --all --checkpoint ck.json   (Ctrl-C keeps the finished checks; then:)
  pvmm check --all --resume ck.json
  pvmm check bench/scenarios/d3-sendfile-3t.toml --kernel v5.7+splice-patch --stateful --jobs 2
  pvmm check scenarios/d3-sendfile.toml --stateless                 (DPOR to the end: the shortest traces)

By default a check runs DPOR with sleep sets; if 2,000 executions do not finish it, the stateful
search finishes it (its states are shown as `N st`). --max-executions, --max-preemptions, --naive,
--stateless and --stateful each choose one search alone.

Bounds: every check ends. Unless told otherwise a check stops after 3600 s (or its scenario's
max_time_secs) and when the process's memory reaches 75% of MemAvailable (less under a memory
cgroup's limit; the address space under RLIMIT_AS, e.g. `ulimit -v`), and the result is then
`incomplete (time)` or `incomplete (memory)`, exit 3. The bounds are printed with every result.

Exit codes: 0 as expected, 1 violation or unexpected verdict, 2 bad input, 3 incomplete.")]
    Check(CheckArgs),
    /// Replay one interleaving with its full trace, from a schedule or a trace file.
    #[command(after_help = "Examples:
  pvmm replay target/pvmm-traces/d3-sendfile.v5.7.io-on-secure-page.json
  pvmm replay scenarios/d3-sendfile.toml --kernel v5.7 --schedule 0.0.1.1
  pvmm replay target/pvmm-traces/d3-sendfile.v5.7.io-on-secure-page.json --svg d3.svg --report d3.html
  pvmm replay scenarios/d3-sendfile.toml --kernel v5.7 --schedule 0.1 --format json")]
    Replay(ReplayArgs),
    /// List the built-in scenarios, the kernel presets and the switches.
    #[command(after_help = "Examples:
  pvmm list
  pvmm list --dir my-scenarios --format json")]
    List(ListArgs),
    /// Show what a scenario's threads will do — kernel calls and the switches that change them — without checking.
    #[command(after_help = "Examples:
  pvmm explain scenarios/d3-sendfile.toml
  pvmm explain scenarios/d1-same-mm-foll-pin.toml --kernel v5.15 --set hook_on_foll_pin=false
  pvmm explain scenarios/d3-sendfile.toml --format json")]
    Explain(ExplainArgs),
    /// Every I/O path against every kernel preset: a table of verdicts computed by the checker.
    #[command(after_help = "Examples:
  pvmm matrix --jobs 2 --out docs/matrix.md --html target/matrix/matrix.html
  pvmm matrix --kernel v5.7 --kernel v6.15.3
  pvmm matrix --replay sendfile v5.7 io-on-secure-page
  pvmm matrix --kernel v5.7 --format json > matrix.json")]
    Matrix(crate::matrix::MatrixArgs),
    /// Audit a real kernel tree for paths that hand a guest page to I/O without the accessibility hook.
    #[command(after_help = "Examples:
  pvmm audit ~/src/linux
  pvmm audit ~/src/linux-6.12 --base ~/src/linux-6.1 --format sarif > audit.sarif
  (see docs/audit.md)")]
    Audit(audit::cli::AuditArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  pvmm completions bash > ~/.local/share/bash-completion/completions/pvmm
  pvmm completions zsh > ~/.zfunc/_pvmm
  pvmm completions fish > ~/.config/fish/completions/pvmm.fish")]
    Completions(CompletionsArgs),
}

/// Output format of a command.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document on stdout (schema: docs/json-schema/pvmm-output.v1.schema.json).
    Json,
}

#[derive(Args)]
pub struct Common {
    /// Kernel preset(s) or release(s) to check, e.g. v6.14-rc3, 6.1.192 (default: the
    /// scenario's `presets`; `pvmm list` shows the presets and the releases the model covers).
    #[arg(long = "kernel", value_name = "PRESET|RELEASE", value_parser = Declared(preset_names), hide_possible_values = true)]
    pub kernels: Vec<String>,
    /// Override a switch of the preset, e.g. --set splice_confirm_hook=true (`pvmm list`
    /// shows every switch, its values and its history).
    #[arg(long = "set", value_name = "SWITCH=VALUE", value_parser = Declared(switch_values), hide_possible_values = true)]
    pub sets: Vec<String>,
    /// The bounded-waiting bound: busy answers of the Ultravisor a `uv_call` may spin
    /// through while it holds a spinlock or a frozen refcount (default: the scenario's
    /// `[bounds] max_spins`, else 2).
    #[arg(long, value_name = "N")]
    pub max_spins: Option<u32>,
    /// The retry bound: rounds a kernel retry loop may go round without the lasso check
    /// seeing a state repeat before the execution is cut and the check's result becomes
    /// incomplete (default: the scenario's `[bounds] max_retries`, else 32). A loop that can
    /// go round for ever is a `livelock` long before (its cycle repeats a state).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_retries: Option<u32>,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Scenario files.
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub scenarios: Vec<PathBuf>,
    /// Check every scenario in the scenarios directory.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub common: Common,
    /// Explore every interleaving without reduction (slow; for cross-checking).
    #[arg(long, conflicts_with = "stateful")]
    pub naive: bool,
    /// DPOR alone, to the end: no stateful search after DPOR's first 2,000 executions (by
    /// default a check that DPOR does not finish within them is finished by the stateful
    /// search). Every trace is then the shortest of all executions, at the price of time.
    #[arg(long, conflicts_with_all = ["stateful", "naive"])]
    pub stateless: bool,
    /// Stateful search: remember visited states (world, each thread's history of results,
    /// retry-loop bookkeeping) and explore each once, with sleep sets. Finishes scenarios
    /// whose interleavings mostly reach the same states; traces replay but are not
    /// necessarily the shortest. No --max-preemptions.
    #[arg(long)]
    pub stateful: bool,
    /// Worker threads of the stateful search (at most four per CPU).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "stateful")]
    pub jobs: usize,
    /// Stop each check after this many seconds (the result is then incomplete); default 3600,
    /// or the scenario's max_time_secs; 0: no time bound.
    #[arg(long, value_name = "SECS")]
    pub max_time: Option<u64>,
    /// Stop each check when the process's resident memory reaches this many MiB (default: 75%
    /// of MemAvailable, less under a memory cgroup's limit).
    #[arg(long, value_name = "MIB")]
    pub max_memory: Option<u64>,
    /// Stop each check after this many executions.
    #[arg(long, value_name = "N")]
    pub max_executions: Option<u64>,
    /// Bound the preemptions per execution (the result is then incomplete).
    #[arg(long, value_name = "N")]
    pub max_preemptions: Option<u32>,
    /// Where to write trace files of violations [default: target/pvmm-traces]. A directory
    /// that cannot be written is an error (exit 2).
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub trace_dir: Option<PathBuf>,
    /// Write the finished checks to FILE as each finishes (atomically): after an
    /// interruption, --resume FILE runs only the rest.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub checkpoint: Option<PathBuf>,
    /// Resume the run whose checkpoint is FILE (same scenarios and options): its finished
    /// checks are kept, the others run; the output is that of an uninterrupted run. Keeps
    /// writing FILE unless --checkpoint names another.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub resume: Option<PathBuf>,
    /// Write a self-contained HTML report: a swimlane diagram per violation, a summary card per
    /// verified check.
    #[arg(long, value_name = "FILE.html", value_hint = clap::ValueHint::FilePath)]
    pub report: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print the traces of every violation (default when checking a single scenario).
    #[arg(long, short)]
    pub verbose: bool,
    /// No progress line (it is only shown on a terminal, for checks longer than a second).
    #[arg(long, short)]
    pub quiet: bool,
    /// Progress: auto (a line on a terminal), lines (a line per second on stderr, also when
    /// it is not a terminal), off.
    #[arg(long, value_enum, default_value_t = crate::progress::Mode::Auto)]
    pub progress: crate::progress::Mode,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// A scenario file (with --schedule) or a trace file (.json).
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub input: PathBuf,
    /// The schedule: thread index per step, dot-separated (e.g. 0.0.1.1.0.2).
    #[arg(long)]
    pub schedule: Option<String>,
    /// For a trace file: the scenario file, if it moved.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Write the trace as a swimlane diagram (SVG).
    #[arg(long, value_name = "FILE.svg", value_hint = clap::ValueHint::FilePath)]
    pub svg: Option<PathBuf>,
    /// Write a self-contained HTML page with the diagram and the trace.
    #[arg(long, value_name = "FILE.html", value_hint = clap::ValueHint::FilePath)]
    pub report: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args)]
pub struct ListArgs {
    /// Scenarios directory (default: ./scenarios, or the repository's).
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// The scenario file.
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub scenario: PathBuf,
    #[command(flatten)]
    pub common: Common,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
