//! The machine-readable output of `pvmm … --format json`: one JSON document per run, whose
//! shape is described by `docs/json-schema/pvmm-output.v1.schema.json`.
//!
//! Versioning: `format` is the major version of this model. Adding a field is compatible
//! (consumers must ignore fields they do not know); removing or changing the meaning of one
//! bumps `format` and the schema's file name.

use explore::{Replay, Severity};
use serde::Serialize;

/// Major version of the JSON output model.
pub const FORMAT: u32 = 1;
/// The `$id` of the schema that describes [`FORMAT`].
pub const SCHEMA_ID: &str = "https://pvmm.invalid/json-schema/pvmm-output.v1.schema.json";
/// The schema itself (the file in docs/json-schema).
pub const SCHEMA: &str = include_str!("../../../docs/json-schema/pvmm-output.v1.schema.json");

/// Fields every document starts with.
#[derive(Serialize, Debug, Clone)]
pub struct Header {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub format: u32,
    /// `check`, `replay`, `list`, `matrix` or `explain`.
    pub kind: &'static str,
    pub pvmm_version: String,
}

impl Header {
    pub fn new(kind: &'static str) -> Header {
        Header {
            schema: SCHEMA_ID,
            format: FORMAT,
            kind,
            pvmm_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// `pvmm check --format json`.
#[derive(Serialize, Debug, Clone)]
pub struct CheckDoc {
    #[serde(flatten)]
    pub header: Header,
    /// What the checker assumes (`checker::SEMANTICS`).
    pub semantics: String,
    /// Switch overrides from the command line.
    pub overrides: Vec<Override>,
    pub results: Vec<CheckResult>,
    /// The memory bounds derived from the machine and where they came from.
    pub limits: LimitsOut,
    /// A SIGINT or SIGTERM stopped the run: the last result's search was interrupted and
    /// the checks in `not_run` were not started.
    pub interrupted: bool,
    /// Checks the run was asked for but did not start (after an interruption).
    pub not_run: Vec<NotRun>,
    /// Scenario files that were not checked because they are not valid (exit code 2); the
    /// others were.
    pub input_errors: Vec<InputError>,
    /// The process exit code (0 as expected, 1 violation/unexpected, 2 bad input, 3 incomplete).
    pub exit_code: u8,
}

/// The memory bounds derived from the machine (`checker::limits`).
#[derive(Serialize, Debug, Clone)]
pub struct LimitsOut {
    /// Resident memory bound of each search, in MiB (null: none known).
    pub max_memory_mib: Option<u64>,
    /// Address space bound (from RLIMIT_AS), in MiB (null: no RLIMIT_AS).
    pub max_address_space_mib: Option<u64>,
    /// Where the bounds come from.
    pub source: String,
}

/// A check or cell the run did not start.
#[derive(Serialize, Debug, Clone)]
pub struct NotRun {
    /// The scenario (check) or row (matrix).
    pub name: String,
    pub preset: String,
}

/// A file that could not be used, and where (line and column 0: the file as a whole).
#[derive(Serialize, Debug, Clone)]
pub struct InputError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// `pvmm matrix --format json`: every I/O path under every preset.
#[derive(Serialize, Debug, Clone)]
pub struct MatrixDoc {
    #[serde(flatten)]
    pub header: Header,
    pub semantics: String,
    pub presets: Vec<String>,
    /// One cell per row (I/O path and how it reaches the page) and preset, row by row.
    pub cells: Vec<MatrixCell>,
    pub limits: LimitsOut,
    /// A SIGINT or SIGTERM stopped the run: cells with `stopped_by` "interrupted …" stopped
    /// in their search, those in `not_run` were not started.
    pub interrupted: bool,
    pub not_run: Vec<NotRun>,
    pub exit_code: u8,
}

/// One cell of the matrix.
#[derive(Serialize, Debug, Clone)]
pub struct MatrixCell {
    /// The row's name, as `pvmm matrix --replay ROW …` takes it.
    pub row: String,
    /// The I/O path.
    pub path: String,
    /// How the path reaches the guest's page (own mm, second mapping, …).
    pub via: String,
    pub preset: String,
    pub verdict: checker::Verdict,
    pub violations: Vec<String>,
    pub observations: Vec<String>,
    pub executions: u64,
    pub elapsed_secs: f64,
    /// The bound that stopped the cell; null: exhaustive.
    pub stopped_by: Option<String>,
    /// States of the stateful search that finished the cell after DPOR's executions stopped
    /// at their bound; null: DPOR alone.
    pub stateful_states: Option<u64>,
    /// A trace per violation (DPOR's shortest, or the stateful search's for a property only
    /// it reached).
    pub schedules: Vec<PropertySchedule>,
}

#[derive(Serialize, Debug, Clone)]
pub struct PropertySchedule {
    pub property: String,
    pub schedule: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub switch: String,
    pub value: String,
}

/// One scenario under one kernel configuration.
#[derive(Serialize, Debug, Clone)]
pub struct CheckResult {
    pub scenario: String,
    pub scenario_path: String,
    pub preset: String,
    /// Every switch of the kernel configuration that was checked.
    pub kernel: String,
    /// `verified`, `violation` or `incomplete`.
    pub verdict: checker::Verdict,
    /// What the scenario file expects under this preset (null: no expectation).
    pub expected: Option<Expected>,
    /// Whether the verdict (and the violated properties) match `expected`.
    pub as_expected: Option<bool>,
    /// What the result means for the exit code: `as-expected` (0), `unexpected` (1: a
    /// violation, or a verdict other than the expected one), `incomplete` (3: the search
    /// stopped before the end and nothing it found contradicts the expectation).
    pub status: &'static str,
    pub strategy: explore::Strategy,
    /// `stateless`, or `stateless, then stateful` when DPOR's first executions did not finish
    /// the check and the stateful search did the rest (`stats.states`, `stats.transitions`).
    pub search: String,
    pub stats: StatsOut,
    pub bounds: BoundsOut,
    /// The bound that stopped or cut the search; null: exhaustive.
    pub stopped_by: Option<String>,
    /// Violations and observations, sorted by property.
    pub findings: Vec<FindingOut>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Expected {
    pub verdict: checker::Verdict,
    pub properties: Vec<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct StatsOut {
    pub executions: u64,
    pub pruned: u64,
    pub steps: u64,
    pub max_depth_seen: usize,
    pub elapsed_secs: f64,
    pub executions_per_sec: f64,
    /// Distinct final states reached.
    pub final_states: usize,
    /// Stateful search only (0 otherwise): distinct states stored, transitions taken.
    pub states: u64,
    pub transitions: u64,
}

#[derive(Serialize, Debug, Clone)]
pub struct BoundsOut {
    pub max_depth: usize,
    pub max_executions: Option<u64>,
    pub max_time_secs: Option<u64>,
    pub max_preemptions: Option<u32>,
    pub max_memory_mib: Option<u64>,
    pub max_address_space_mib: Option<u64>,
}

impl From<&explore::Bounds> for BoundsOut {
    fn from(b: &explore::Bounds) -> Self {
        BoundsOut {
            max_depth: b.max_depth,
            max_executions: b.max_executions,
            max_time_secs: b.max_time.map(|d| d.as_secs()),
            max_preemptions: b.max_preemptions,
            max_memory_mib: b.max_memory_mib,
            max_address_space_mib: b.max_address_space_mib,
        }
    }
}

/// One property seen, with its shortest trace.
#[derive(Serialize, Debug, Clone)]
pub struct FindingOut {
    pub property: String,
    pub severity: Severity,
    pub message: String,
    /// Thread index per step, dot-separated (`pvmm replay … --schedule`).
    pub schedule: String,
    pub steps: usize,
    pub preemptions: usize,
    /// Executions in which this property was seen.
    pub occurrences: u64,
    /// The trace file written for a violation (null for observations or when not written).
    pub trace_file: Option<String>,
    pub trace: Vec<StepOut>,
    /// Findings of the end-of-execution check of this trace.
    pub end_findings: Vec<TraceFindingOut>,
}

/// One step of a trace.
#[derive(Serialize, Debug, Clone)]
pub struct StepOut {
    pub index: usize,
    pub tid: usize,
    pub thread: String,
    /// Model call stack, outermost first (each frame named after the kernel function).
    pub frames: Vec<String>,
    pub op: String,
    /// What changed ("P0 refcount 2 -> 3"); empty when nothing visible changed.
    pub note: String,
    pub preempted: bool,
    pub findings: Vec<TraceFindingOut>,
}

#[derive(Serialize, Debug, Clone)]
pub struct TraceFindingOut {
    pub property: String,
    pub severity: Severity,
    pub message: String,
}

impl From<&explore::TraceFinding> for TraceFindingOut {
    fn from(f: &explore::TraceFinding) -> Self {
        TraceFindingOut {
            property: f.property.to_string(),
            severity: f.severity,
            message: f.message.clone(),
        }
    }
}

/// The steps of a replay.
pub fn steps(r: &Replay) -> Vec<StepOut> {
    r.steps
        .iter()
        .map(|s| StepOut {
            index: s.index,
            tid: s.tid,
            thread: s.thread.clone(),
            frames: s.frames.iter().map(|f| f.to_string()).collect(),
            op: s.op.to_string(),
            note: s.note.clone(),
            preempted: s.preempted,
            findings: s.findings.iter().map(TraceFindingOut::from).collect(),
        })
        .collect()
}

/// `pvmm replay --format json`.
#[derive(Serialize, Debug, Clone)]
pub struct ReplayDoc {
    #[serde(flatten)]
    pub header: Header,
    pub scenario: String,
    pub scenario_path: String,
    pub preset: String,
    pub kernel: String,
    pub schedule: String,
    /// The trace file replayed (null: a schedule from the command line).
    pub trace_file: Option<String>,
    /// For a trace file: the property it recorded.
    pub property: Option<String>,
    pub threads: Vec<String>,
    pub steps: Vec<StepOut>,
    pub preemptions: usize,
    /// Why the schedule no longer fits the model (null: it fits).
    pub diverged: Option<String>,
    pub end_findings: Vec<TraceFindingOut>,
    /// For a trace file: the scenario file changed since the trace was written.
    pub scenario_changed: Option<bool>,
    /// For a trace file: first differing step (1-based) with the recorded and current lines.
    pub first_difference: Option<Difference>,
    /// For a trace file: whether the recorded property happened again.
    pub reproduced: Option<bool>,
    pub exit_code: u8,
}

#[derive(Serialize, Debug, Clone)]
pub struct Difference {
    pub step: usize,
    pub recorded: String,
    pub now: String,
}

/// `pvmm list --format json`.
#[derive(Serialize, Debug, Clone)]
pub struct ListDoc {
    #[serde(flatten)]
    pub header: Header,
    pub scenarios_dir: String,
    pub scenarios: Vec<ListScenario>,
    pub presets: Vec<ListPreset>,
    pub switches: Vec<ListSwitch>,
    pub ops: Vec<ListOp>,
    pub properties: Vec<ListProperty>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ListScenario {
    pub name: String,
    pub path: String,
    pub presets: Vec<String>,
    pub description: String,
    /// The file does not parse (then the other fields are empty).
    pub error: Option<String>,
}

/// A preset, from its declaration (`kernel::vocab::presets`).
#[derive(Serialize, Debug, Clone)]
pub struct ListPreset {
    pub name: String,
    /// What it follows.
    pub text: String,
    pub base_release: Option<String>,
    pub base_preset: Option<String>,
    pub overrides: Vec<ListOverride>,
    /// Every switch's value, `[switch, value]`.
    pub values: Vec<(String, String)>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ListOverride {
    pub switch: String,
    pub value: String,
    pub why: String,
}

/// A switch, from its declaration (`kernel::vocab::switches`).
#[derive(Serialize, Debug, Clone)]
pub struct ListSwitch {
    pub name: String,
    /// The values, `a | b`.
    pub text: String,
    pub doc: String,
    pub values: Vec<ListValue>,
    pub history: Vec<ListBoundary>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ListValue {
    pub name: String,
    pub doc: String,
    /// Why the value is a seeded defect.
    pub defect: Option<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ListBoundary {
    pub from: String,
    pub value: String,
    pub commit: Option<String>,
    pub evidence: String,
    pub evidence_text: String,
}

/// A scenario operation, from its declaration (`kernel::vocab::ops`).
#[derive(Serialize, Debug, Clone)]
pub struct ListOp {
    pub name: String,
    pub doc: String,
    pub fields: Vec<ListField>,
    pub calls: String,
    pub cites: Vec<String>,
    /// `[switch, what it changes here]`.
    pub switches: Vec<(String, String)>,
    /// What it does to the thread's held references: none, acquires, uses, releases.
    pub references: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct ListField {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub default: Option<String>,
    pub doc: String,
}

/// A property, from its declaration (`kernel::vocab::properties`).
#[derive(Serialize, Debug, Clone)]
pub struct ListProperty {
    pub id: String,
    pub abbrev: String,
    pub meaning: String,
    pub severity: String,
    pub checked: String,
}

/// `pvmm explain --format json`.
#[derive(Serialize, Debug, Clone)]
pub struct ExplainDoc {
    #[serde(flatten)]
    pub header: Header,
    pub scenario: String,
    pub scenario_path: String,
    pub description: String,
    pub presets: Vec<ExplainPreset>,
    pub threads: Vec<ExplainThread>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ExplainPreset {
    pub name: String,
    pub kernel: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct ExplainThread {
    pub tid: usize,
    pub name: String,
    pub ops: Vec<ExplainOp>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ExplainOp {
    /// The scenario's operation, as written (`sendfile file=guest.img index=0 pipe=p`).
    pub op: String,
    /// The kernel call chain it stands for.
    pub calls: String,
    /// Switches that change this path, with their value per preset.
    pub switches: Vec<ExplainSwitch>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ExplainSwitch {
    pub switch: String,
    /// What the switch changes on this path.
    pub effect: String,
    /// `[preset, value]` pairs.
    pub values: Vec<(String, String)>,
    /// `[value, meaning]` of each value the presets have (the path each takes), from the
    /// switch's declaration.
    pub meanings: Vec<(String, String)>,
}

/// Serialises a document, pretty-printed, with a final newline.
pub fn to_string<T: Serialize>(doc: &T) -> String {
    serde_json::to_string_pretty(doc).expect("the output model serialises") + "\n"
}
