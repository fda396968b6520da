//! Traces in kernel terms, and versioned trace files that replay a violation.

use crate::scenario::Scenario;
use crate::text::escape;
use explore::{format_schedule, replay, Divergence, Replay, Tid};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// Version of the trace-file format.
pub const TRACE_FORMAT: u32 = 1;

/// A replayable record of one violation.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TraceFile {
    pub format: u32,
    pub pvmm_version: String,
    pub scenario: String,
    /// Path of the scenario file when the trace was written: absolute (trace files written
    /// before pvmm 0.1.1 hold the path as given, relative to the directory pvmm ran in).
    pub scenario_path: String,
    /// The scenario file's path relative to the trace file's directory (absent in older
    /// trace files): replay finds the scenario from there first, so that a tree moved or
    /// cloned elsewhere with its traces still replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_path_from_trace: Option<String>,
    /// SHA-256 of the scenario file's bytes.
    pub scenario_sha256: String,
    pub preset: String,
    /// Switch overrides given on the command line (the scenario's own are in the file).
    pub overrides: Vec<(String, String)>,
    /// The bounded-waiting bound when the command line gave one (`--max-spins`; the
    /// scenario's own is in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spins: Option<u32>,
    /// The retry bound when the command line gave one (`--max-retries`; the scenario's own
    /// is in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
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
        s.index,
        s.tid,
        escape(&s.thread),
        stack,
        s.op
    );
    if !s.note.is_empty() {
        let _ = write!(line, "   [{}]", escape(&s.note));
    }
    if s.preempted {
        line.push_str("   (preemption)");
    }
    for f in &s.findings {
        let _ = write!(line, "\n      !! {}: {}", f.property, escape(&f.message));
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
        let _ = writeln!(out, "  replay diverged: {}", escape(&d.to_string()));
    }
    for f in &r.end_findings {
        let _ = writeln!(
            out,
            "  at the end: !! {}: {}",
            f.property,
            escape(&f.message)
        );
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
        // A scenario built into the binary (no file) keeps its name, `scenarios/NAME.toml`.
        scenario_path: if sc.path.exists() {
            absolute(&sc.path)
        } else {
            sc.path.clone()
        }
        .display()
        .to_string(),
        scenario_path_from_trace: None,
        scenario_sha256: sc.hash.clone(),
        preset: preset.to_string(),
        overrides: overrides.to_vec(),
        max_spins: sc.max_spins_override(),
        max_retries: sc.max_retries_override(),
        property: property.to_string(),
        schedule: format_schedule(schedule),
        steps: (0..r.steps.len()).map(|i| step_line(r, i)).collect(),
    }
}

/// `path` made absolute (symbolic links resolved where the file exists).
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// `path` relative to the directory `base` (both absolute), e.g. `../../scenarios/x.toml`.
pub fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    if !path.is_absolute() || !base.is_absolute() {
        return None;
    }
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for c in &b[common..] {
        if !matches!(c, Component::Normal(_)) {
            return None;
        }
        rel.push("..");
    }
    rel.extend(&p[common..]);
    Some(rel)
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

/// What a replay of a trace file found, in one word for people and CI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// The same steps and the property, from the same scenario text.
    Identical,
    /// The same steps and the property; the scenario's text changed (e.g. a comment, or a
    /// value the recorded steps do not show).
    SameStepsScenarioChanged,
    /// The property happened again, but the steps differ from the recording.
    ReproducedDifferently,
    /// The property did not happen (the steps differ, or the schedule no longer fits).
    NotReproduced,
}

impl ReplayCheck {
    pub fn identical(&self) -> bool {
        self.verdict() == ReplayVerdict::Identical
    }

    pub fn verdict(&self) -> ReplayVerdict {
        let same_steps = self.first_difference.is_none() && self.replay.diverged.is_none();
        match (self.reproduced, same_steps, self.scenario_changed) {
            (true, true, false) => ReplayVerdict::Identical,
            (true, true, true) => ReplayVerdict::SameStepsScenarioChanged,
            (true, false, _) => ReplayVerdict::ReproducedDifferently,
            (false, _, _) => ReplayVerdict::NotReproduced,
        }
    }

    /// One line saying what the replay found, naming the first differing step where the
    /// steps differ.
    pub fn summary(&self, tf: &TraceFile) -> String {
        let p = &tf.property;
        let changed = if self.scenario_changed {
            "; the scenario text changed since the trace was written (its sha256 differs)"
        } else {
            "; the scenario text is unchanged"
        };
        let at = match (&self.replay.diverged, &self.first_difference) {
            (Some(d), _) => format!(
                "the recorded schedule no longer fits at {}",
                escape(&d.to_string())
            ),
            (None, Some((step, _, _))) => {
                format!("the steps differ from the recording from step {step} on")
            }
            (None, None) => String::new(),
        };
        match self.verdict() {
            ReplayVerdict::Identical => {
                format!("identical to the recorded trace; {p} reproduced")
            }
            ReplayVerdict::SameStepsScenarioChanged => format!(
                "{p} reproduced: same steps, scenario text changed (its sha256 differs from the recording's)"
            ),
            ReplayVerdict::ReproducedDifferently => {
                format!("{p} reproduced, but {at}{changed}")
            }
            ReplayVerdict::NotReproduced => format!("{p} NOT reproduced: {at}{changed}"),
        }
    }
}

/// A schedule names a thread the scenario does not have: bad input, named by its position
/// in the schedule (the replay stopped there).
pub fn schedule_error(r: &Replay) -> Option<String> {
    match &r.diverged {
        Some(Divergence::NoSuchThread { step, tid }) => Some(format!(
            "schedule element {step} is thread {tid}, but the scenario has {} thread{} ({})",
            r.threads.len(),
            if r.threads.len() == 1 { "" } else { "s" },
            match r.threads.len() {
                0 => "none".to_string(),
                1 => "thread 0".to_string(),
                n => format!("threads 0 to {}", n - 1),
            }
        )),
        _ => None,
    }
}

/// Replays a trace file against a scenario and compares step by step. A schedule that names
/// a thread the scenario does not have is an error (see [`schedule_error`]).
pub fn replay_file(
    sc: &Scenario,
    tf: &TraceFile,
    model: &kernel::KernelModel,
) -> Result<ReplayCheck, String> {
    let schedule = explore::parse_schedule(&tf.schedule)?;
    let r = replay(model, &schedule);
    if let Some(e) = schedule_error(&r) {
        return Err(e);
    }
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

/// Writes a trace file at `path`, recording the scenario's path relative to it as well.
pub fn write_trace_file(path: &Path, tf: &TraceFile) -> Result<(), String> {
    let mut tf = tf.clone();
    let dir = absolute(path.parent().unwrap_or(Path::new(".")));
    tf.scenario_path_from_trace =
        relative_to(Path::new(&tf.scenario_path), &dir).map(|p| p.display().to_string());
    let json = serde_json::to_string_pretty(&tf)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    crate::input::write_atomic(path, &(json + "\n"))
}

/// Reads a trace file (a regular file of at most [`crate::input::MAX_TRACE_BYTES`]).
pub fn read_trace_file(path: &Path) -> Result<TraceFile, String> {
    read_trace(path).map(|(tf, _)| tf)
}

/// [`read_trace_file`], with the file's text (for [`check_trace_against`]'s positions).
pub fn read_trace(path: &Path) -> Result<(TraceFile, String), String> {
    let text = crate::input::read_text(path, "trace file", crate::input::MAX_TRACE_BYTES)
        .map_err(String::from)?;
    let tf = parse_trace(path, &text)?;
    Ok((tf, text))
}

/// Parses and checks the text of a trace file (`path` names it in messages): the JSON, then
/// every field against what pvmm writes and can replay — the format, a SHA-256 in hex, a
/// known preset, switch overrides that exist, a declared violation, a schedule of thread
/// indices below [`MAX_THREADS`](kernel::build::MAX_THREADS) and at most
/// [`MAX_DEPTH`](kernel::build::MAX_DEPTH) long, at most as many recorded steps. Errors are
/// `FILE:LINE:COL: field `F`: …` at the field's value. [`check_trace_against`] checks the
/// schedule against the scenario's threads.
pub fn parse_trace(path: &Path, text: &str) -> Result<TraceFile, String> {
    let tf: TraceFile = serde_json::from_str(text).map_err(|e| {
        format!(
            "{}:{}:{}: not a pvmm trace file: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    let at = Located::new(path, text);
    if tf.format != TRACE_FORMAT {
        return Err(at.err(
            "format",
            format!(
                "trace format {} is not supported (this pvmm reads format {TRACE_FORMAT})",
                tf.format
            ),
        ));
    }
    for (field, value) in [
        ("pvmm_version", &tf.pvmm_version),
        ("scenario", &tf.scenario),
        ("scenario_path", &tf.scenario_path),
        ("preset", &tf.preset),
        ("property", &tf.property),
    ] {
        if value.trim().is_empty() {
            return Err(at.err(field, "empty".into()));
        }
    }
    let sha = &tf.scenario_sha256;
    if sha.len() != 64
        || !sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(at.err(
            "scenario_sha256",
            format!("`{sha}` is not a SHA-256 (64 lowercase hexadecimal digits)"),
        ));
    }
    let mut kernel =
        kernel::vocab::presets::resolve(&tf.preset).map_err(|e| at.err("preset", e))?;
    for (i, (switch, value)) in tf.overrides.iter().enumerate() {
        kernel
            .set(switch, value)
            .map_err(|e| at.err_in("overrides", i, format!("{e}")))?;
    }
    match kernel::vocab::properties::by_id(&tf.property) {
        Some(p) if p.severity == explore::Severity::Violation => {}
        Some(_) => {
            return Err(at.err(
                "property",
                format!(
                    "`{}` is an observation; a trace file records a violation",
                    tf.property
                ),
            ))
        }
        None => {
            return Err(at.err(
                "property",
                format!(
                    "`{}` is not a property (known: {})",
                    tf.property,
                    kernel::vocab::PROPERTIES
                        .iter()
                        .map(|p| p.id)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }
    let schedule = explore::parse_schedule(&tf.schedule).map_err(|e| at.err("schedule", e))?;
    let max = kernel::build::MAX_DEPTH;
    if schedule.len() > max {
        return Err(at.err(
            "schedule",
            format!("{} steps; at most {max} (MAX_DEPTH)", schedule.len()),
        ));
    }
    if let Some((i, t)) = schedule
        .iter()
        .enumerate()
        .find(|(_, &t)| t >= kernel::build::MAX_THREADS)
    {
        return Err(at.err_schedule(
            &tf.schedule,
            i,
            format!(
                "element {} is thread {t}; a model has at most {} threads",
                i + 1,
                kernel::build::MAX_THREADS
            ),
        ));
    }
    if tf.steps.len() > schedule.len() {
        return Err(at.err(
            "steps",
            format!(
                "{} recorded steps for a schedule of {}",
                tf.steps.len(),
                schedule.len()
            ),
        ));
    }
    Ok(tf)
}

/// Finds the scenario file of the trace file at `trace_path`: where the trace says it is
/// relative to itself, then at its recorded path (absolute; relative to the current
/// directory in older trace files). Among those that exist, one whose SHA-256 matches the
/// recording wins. None exists: an error naming every path tried, with the way out.
pub fn find_scenario(trace_path: &Path, tf: &TraceFile) -> Result<PathBuf, String> {
    let dir = trace_path.parent().unwrap_or(Path::new("."));
    let mut tried: Vec<PathBuf> = Vec::new();
    if let Some(rel) = &tf.scenario_path_from_trace {
        tried.push(dir.join(rel));
    }
    tried.push(PathBuf::from(&tf.scenario_path));
    tried.dedup();
    let existing: Vec<&PathBuf> = tried.iter().filter(|p| p.is_file()).collect();
    let matching = existing.iter().find(|p| {
        crate::input::read_text(p, "scenario file", crate::input::MAX_SCENARIO_BYTES)
            .map(|t| {
                use sha2::Digest;
                format!("{:x}", sha2::Sha256::digest(t.as_bytes())) == tf.scenario_sha256
            })
            .unwrap_or(false)
    });
    match matching.or(existing.first()) {
        Some(p) => Ok((*p).clone()),
        None => Err(format!(
            "{}: the trace's scenario file ({}) was not found; tried {}; give it with --scenario FILE",
            trace_path.display(),
            tf.scenario,
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}

/// Checks a trace file's schedule against the scenario it replays: every thread index names
/// one of its threads (`FILE:LINE:COL` of the element in the trace file at `path`).
pub fn check_trace_against(
    path: &Path,
    text: &str,
    tf: &TraceFile,
    sc: &Scenario,
) -> Result<(), String> {
    let threads = sc.thread_names().len();
    let schedule = explore::parse_schedule(&tf.schedule).unwrap_or_default();
    if let Some((i, t)) = schedule.iter().enumerate().find(|(_, &t)| t >= threads) {
        return Err(Located::new(path, text).err_schedule(
            &tf.schedule,
            i,
            format!(
                "element {} is thread {t}, but scenario `{}` has {threads} thread{} (0..{})",
                i + 1,
                sc.name,
                if threads == 1 { "" } else { "s" },
                threads.saturating_sub(1)
            ),
        ));
    }
    Ok(())
}

/// Positions of a trace file's top-level fields, for messages.
struct Located<'a> {
    path: &'a Path,
    text: &'a str,
    fields: Vec<(String, usize)>,
}

impl<'a> Located<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
        Located {
            path,
            text,
            fields: top_level_fields(text),
        }
    }

    /// The byte offset of `field`'s value (0 when the field is not found).
    fn offset(&self, field: &str) -> usize {
        self.fields
            .iter()
            .find(|(k, _)| k == field)
            .map_or(0, |(_, o)| *o)
    }

    fn at(&self, offset: usize, msg: String) -> String {
        let upto = &self.text[..offset.min(self.text.len())];
        let line = upto.matches('\n').count() + 1;
        let column =
            upto.chars().count() - upto.rfind('\n').map_or(0, |i| upto[..=i].chars().count()) + 1;
        format!("{}:{line}:{column}: {msg}", self.path.display())
    }

    fn err(&self, field: &str, msg: String) -> String {
        self.at(self.offset(field), format!("field `{field}`: {msg}"))
    }

    /// At element `i` of the array `field`.
    fn err_in(&self, field: &str, i: usize, msg: String) -> String {
        let start = self.offset(field);
        let off = element_offsets(&self.text[start..])
            .get(i)
            .map_or(start, |o| start + o);
        self.at(off, format!("field `{field}`: element {}: {msg}", i + 1))
    }

    /// At element `i` (0-based) of the schedule string `schedule` (as written, no escapes).
    fn err_schedule(&self, schedule: &str, i: usize, msg: String) -> String {
        let start = self.offset("schedule");
        let within: usize = schedule.split('.').take(i).map(|p| p.len() + 1).sum();
        let quote = usize::from(self.text[start..].starts_with('"'));
        self.at(start + quote + within, format!("field `schedule`: {msg}"))
    }
}

/// The top-level keys of a JSON object with the byte offset of each value (the text is
/// valid JSON: serde_json parsed it).
fn top_level_fields(text: &str) -> Vec<(String, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut key: Option<String> = None;
    let mut expect_key = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                i = skip_string(b, i);
                if depth == 1 && expect_key {
                    key = Some(text[start..i - 1].to_string());
                    expect_key = false;
                }
                continue;
            }
            b'{' | b'[' => {
                if depth == 1 {
                    if let Some(k) = key.take() {
                        out.push((k, i));
                    }
                }
                depth += 1;
                if depth == 1 {
                    expect_key = true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_key = true,
            b':' if depth == 1 => {
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if let Some(k) = key.take() {
                    if b.get(j) != Some(&b'{') && b.get(j) != Some(&b'[') {
                        out.push((k, j));
                    } else {
                        key = Some(k);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The byte offsets of the elements of the JSON array at the start of `text`.
fn element_offsets(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut want = false;
    while i < b.len() {
        let c = b[i];
        if want && !c.is_ascii_whitespace() && c != b']' {
            out.push(i);
            want = false;
        }
        match c {
            b'"' => {
                i = skip_string(b, i);
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth == 1 {
                    want = true;
                }
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => want = true,
            _ => {}
        }
        i += 1;
    }
    out
}

/// The index after the JSON string that starts at `b[i]` (a `"`).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}
