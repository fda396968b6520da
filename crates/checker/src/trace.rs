//! Traces in kernel terms, and versioned trace files that replay a violation.

use crate::scenario::Scenario;
use explore::{format_schedule, replay, Replay, Tid};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// Version of the trace-file format.
pub const TRACE_FORMAT: u32 = 1;

/// A replayable record of one violation.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TraceFile {
    pub format: u32,
    pub pvmm_version: String,
    pub scenario: String,
    /// Path of the scenario file when the trace was written.
    pub scenario_path: String,
    /// SHA-256 of the scenario file's bytes.
    pub scenario_sha256: String,
    pub preset: String,
    /// Switch overrides given on the command line (the scenario's own are in the file).
    pub overrides: Vec<(String, String)>,
    /// The bounded-waiting bound when the command line gave one (`--max-spins`; the
    /// scenario's own is in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spins: Option<u32>,
    pub property: String,
    pub schedule: String,
    /// The trace as printed, one line per step: replay compares against it.
    pub steps: Vec<String>,
}

/// One line per step: thread, call stack, operation, what changed.
pub fn step_line(r: &Replay, i: usize) -> String {
    let s = &r.steps[i];
    let stack = if s.frames.is_empty() {
        String::new()
    } else {
        format!("{} > ", s.frames.join(" > "))
    };
    let mut line = format!(
        "{:>3} T{} {:<8} {}{}",
        s.index, s.tid, s.thread, stack, s.op
    );
    if !s.note.is_empty() {
        let _ = write!(line, "   [{}]", s.note);
    }
    if s.preempted {
        line.push_str("   (preemption)");
    }
    for f in &s.findings {
        let _ = write!(line, "\n      !! {}: {}", f.property, f.message);
    }
    line
}

/// The whole trace as text.
pub fn render(r: &Replay) -> String {
    let mut out = String::new();
    for i in 0..r.steps.len() {
        out.push_str(&step_line(r, i));
        out.push('\n');
    }
    if let Some(d) = &r.diverged {
        let _ = writeln!(out, "  replay diverged: {d}");
    }
    for f in &r.end_findings {
        let _ = writeln!(out, "  at the end: !! {}: {}", f.property, f.message);
    }
    out
}

/// Builds the trace file of a schedule.
pub fn trace_file(
    sc: &Scenario,
    preset: &str,
    overrides: &[(String, String)],
    property: &str,
    schedule: &[Tid],
    r: &Replay,
) -> TraceFile {
    TraceFile {
        format: TRACE_FORMAT,
        pvmm_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: sc.name.clone(),
        scenario_path: sc.path.display().to_string(),
        scenario_sha256: sc.hash.clone(),
        preset: preset.to_string(),
        overrides: overrides.to_vec(),
        max_spins: sc.max_spins_override(),
        property: property.to_string(),
        schedule: format_schedule(schedule),
        steps: (0..r.steps.len()).map(|i| step_line(r, i)).collect(),
    }
}

/// Result of replaying a trace file.
pub struct ReplayCheck {
    pub replay: Replay,
    /// The scenario file changed since the trace was written.
    pub scenario_changed: bool,
    /// First step (1-based) whose line differs from the recorded one, with both lines.
    pub first_difference: Option<(usize, String, String)>,
    /// Whether the recorded property was reproduced.
    pub reproduced: bool,
}

impl ReplayCheck {
    pub fn identical(&self) -> bool {
        !self.scenario_changed
            && self.first_difference.is_none()
            && self.replay.diverged.is_none()
            && self.reproduced
    }
}

/// Replays a trace file against a scenario and compares step by step.
pub fn replay_file(
    sc: &Scenario,
    tf: &TraceFile,
    model: &kernel::KernelModel,
) -> Result<ReplayCheck, String> {
    let schedule = explore::parse_schedule(&tf.schedule)?;
    let r = replay(model, &schedule);
    let now: Vec<String> = (0..r.steps.len()).map(|i| step_line(&r, i)).collect();
    let mut first_difference = None;
    for i in 0..tf.steps.len().max(now.len()) {
        let a = tf.steps.get(i).cloned().unwrap_or_default();
        let b = now.get(i).cloned().unwrap_or_default();
        if a != b {
            first_difference = Some((i + 1, a, b));
            break;
        }
    }
    let reproduced = r.findings().any(|f| f.property == tf.property);
    Ok(ReplayCheck {
        scenario_changed: sc.hash != tf.scenario_sha256,
        first_difference,
        reproduced,
        replay: r,
    })
}

pub fn write_trace_file(path: &Path, tf: &TraceFile) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(tf).map_err(std::io::Error::other)?;
    std::fs::write(path, json + "\n")
}

pub fn read_trace_file(path: &Path) -> Result<TraceFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let tf: TraceFile = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not a pvmm trace file: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    if tf.format != TRACE_FORMAT {
        return Err(format!(
            "{}: trace format {} is not supported (this pvmm reads format {TRACE_FORMAT})",
            path.display(),
            tf.format
        ));
    }
    Ok(tf)
}
