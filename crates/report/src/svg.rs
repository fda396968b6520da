//! A trace as a swimlane diagram (SVG): time runs left to right, one column per step; one
//! lane per thread, its kernel call stack drawn as an icicle (a frame that stays on the stack
//! over several steps is one bar); arrows for lock hand-overs and for steps that touched a
//! frozen refcount; the pages' state (refcount, flags, Ultravisor state) as a strip under the
//! lanes; the violating step marked and explained in one sentence.
//!
//! The output is plain SVG 1.1 with no scripts, fonts or external references: it can be
//! embedded in a page or opened on its own.

use crate::state::StateTrack;
use explore::{Replay, TraceStep};
use std::fmt::Write as _;

/// The step that breaks the property.
#[derive(Clone, Debug)]
pub struct Mark {
    /// The step (1-based); None: at the end of the execution (end-of-execution check).
    pub step: Option<usize>,
    pub property: String,
    /// One sentence: what happened at that step and why it violates the property.
    pub sentence: String,
}

/// Everything one diagram shows.
pub struct Diagram<'a> {
    pub title: String,
    pub replay: &'a Replay,
    pub track: &'a StateTrack,
    pub mark: Option<Mark>,
    /// A diagram on its own (title, explanation and legend inside the SVG); false when a page
    /// around it shows them (see [`Diagram::render_labels`]).
    pub standalone: bool,
}

/// Width of the lane-label column (an HTML page can pin it while the steps scroll).
pub const LABEL_W: f64 = 178.0;
const STEP_W: f64 = 74.0;
const HEADER_H: f64 = 26.0;
const ROW_H: f64 = 15.0;
const OP_H: f64 = 28.0;
const LANE_PAD: f64 = 7.0;
const STRIP_ROW_H: f64 = 18.0;
const CHAR_W: f64 = 6.0;
/// A bar longer than this many steps repeats its label.
const REPEAT: usize = 8;
const SMALL_CHAR_W: f64 = 5.45;

const LANE_COLOURS: &[&str] = &[
    "#2f6db5", "#c2571a", "#2e8b57", "#8e44ad", "#b0306a", "#1f8a9a", "#7a6a12", "#555555",
];
const DEPTH_FILLS: &[&str] = &["#e4ecf7", "#d7e3f3", "#cadaef", "#bdd1eb", "#b0c8e7"];

/// Escapes text for XML content and attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Cuts `s` to fit `width` pixels at `cw` pixels per character.
fn fit(s: &str, width: f64, cw: f64) -> String {
    let n = ((width - 6.0) / cw).floor().max(1.0) as usize;
    if s.chars().count() <= n {
        s.to_string()
    } else if n <= 1 {
        "…".to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Splits an operation name into at most two lines of `n` characters, at `_`, ` ` or `(`.
fn two_lines(s: &str, n: usize) -> (String, Option<String>) {
    if s.chars().count() <= n {
        return (s.to_string(), None);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut cut = None;
    for i in (1..=n.min(chars.len() - 1)).rev() {
        if matches!(chars[i], '_' | ' ' | '(' | '>') {
            cut = Some(if chars[i] == ' ' {
                i
            } else {
                i + usize::from(chars[i] == '_')
            });
            break;
        }
    }
    let cut = cut.unwrap_or(n);
    let a: String = chars[..cut]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_string();
    let b: String = chars[cut..]
        .iter()
        .collect::<String>()
        .trim_start()
        .to_string();
    let b = if b.chars().count() > n {
        let mut t: String = b.chars().take(n - 1).collect();
        t.push('…');
        t
    } else {
        b
    };
    (a, Some(b))
}

/// Wraps a sentence into lines of at most `n` characters.
fn wrap(s: &str, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in s.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > n {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn step_title(s: &TraceStep) -> String {
    let mut t = format!("step {} · T{} {}\n", s.index, s.tid, s.thread);
    if !s.frames.is_empty() {
        t.push_str(&s.frames.join(" > "));
        t.push_str(" > ");
    }
    t.push_str(s.op);
    if !s.note.is_empty() {
        let _ = write!(t, "\n[{}]", s.note);
    }
    if s.preempted {
        t.push_str("\n(preemption)");
    }
    for f in &s.findings {
        let _ = write!(t, "\n!! {}: {}", f.property, f.message);
    }
    t
}

struct Geometry {
    lane_top: Vec<f64>,
    lane_h: Vec<f64>,
    /// Top of the op box of each step (by index - 1).
    op_y: Vec<f64>,
    strip_top: f64,
    columns: usize,
    width: f64,
    height: f64,
}

impl Diagram<'_> {
    fn has_end_column(&self) -> bool {
        !self.replay.end_findings.is_empty() || self.mark.as_ref().is_some_and(|m| m.step.is_none())
    }

    /// x of the left edge of column `c` (0: the initial state, i: step i).
    fn x(c: usize) -> f64 {
        LABEL_W + c as f64 * STEP_W
    }

    fn top_h(&self) -> f64 {
        if self.standalone {
            64.0
        } else {
            24.0
        }
    }

    fn geometry(&self) -> Geometry {
        let top_h = self.top_h();
        let r = self.replay;
        let n = r.threads.len().max(1);
        let mut depth = vec![0usize; n];
        for s in &r.steps {
            if s.tid < n {
                depth[s.tid] = depth[s.tid].max(s.frames.len());
            }
        }
        let mut lane_top = Vec::new();
        let mut lane_h = Vec::new();
        let mut y = top_h + HEADER_H;
        for d in &depth {
            let h = LANE_PAD * 2.0 + *d as f64 * ROW_H + OP_H;
            lane_top.push(y);
            lane_h.push(h);
            y += h;
        }
        let op_y = r
            .steps
            .iter()
            .map(|s| lane_top[s.tid.min(n - 1)] + LANE_PAD + s.frames.len() as f64 * ROW_H)
            .collect();
        let strip_top = y + 14.0;
        let strip_h = 20.0 + self.track.pages.len() as f64 * (3.0 * STRIP_ROW_H + 8.0);
        let columns = r.steps.len() + 1 + usize::from(self.has_end_column());
        let width = (Self::x(columns) + 16.0).max(760.0);
        let height = strip_top + strip_h + if self.standalone { 58.0 } else { 30.0 };
        Geometry {
            lane_top,
            lane_h,
            op_y,
            strip_top,
            columns,
            width,
            height,
        }
    }

    /// Renders the diagram.
    pub fn render(&self) -> String {
        let r = self.replay;
        let g = self.geometry();
        let top_h = self.top_h();
        let n_steps = r.steps.len();
        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="pvmm-trace" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, Liberation Mono, monospace" font-size="10" role="img" aria-label="{title}">"#,
            w = g.width,
            h = g.height,
            title = esc(&self.title)
        );
        o.push_str(concat!(
            "<defs>",
            r##"<marker id="ah-lock" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7b3fb5"/></marker>"##,
            r##"<marker id="ah-freeze" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1769aa"/></marker>"##,
            r##"<pattern id="frozen" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#d8ecfb"/><line x1="0" y1="0" x2="0" y2="6" stroke="#7fb6e0" stroke-width="2"/></pattern>"##,
            "</defs>\n"
        ));
        let _ = writeln!(
            o,
            r##"<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##,
            g.width, g.height
        );
        // Title and the one-sentence explanation.
        if self.standalone {
            let _ = writeln!(
                o,
                r##"<text x="10" y="20" font-size="14" font-weight="bold" fill="#222">{}</text>"##,
                esc(&self.title)
            );
            if let Some(m) = &self.mark {
                let lines = wrap(&m.sentence, ((g.width - 20.0) / 6.6) as usize);
                let _ = write!(
                    o,
                    r##"<text class="explanation" x="10" y="38" font-size="11" fill="#a01010">"##
                );
                for (i, l) in lines.iter().take(2).enumerate() {
                    let _ = write!(
                        o,
                        r#"<tspan x="10" dy="{}">{}</tspan>"#,
                        if i == 0 { 0.0 } else { 13.0 },
                        esc(l)
                    );
                }
                o.push_str("</text>\n");
            }
        }
        let lanes_bottom = g.lane_top.last().copied().unwrap_or(top_h + HEADER_H)
            + g.lane_h.last().copied().unwrap_or(0.0);
        // Column stripes and step numbers.
        for c in 0..g.columns {
            let x = Self::x(c);
            if c % 2 == 1 {
                let _ = writeln!(
                    o,
                    r##"<rect x="{x}" y="{}" width="{STEP_W}" height="{}" fill="#f6f7f9"/>"##,
                    top_h,
                    g.height - top_h - if self.standalone { 40.0 } else { 12.0 }
                );
            }
            let label = if c == 0 {
                "start".to_string()
            } else if c <= n_steps {
                c.to_string()
            } else {
                "end".to_string()
            };
            let _ = writeln!(
                o,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#444" font-weight="bold">{}</text>"##,
                x + STEP_W / 2.0,
                top_h + 16.0,
                label
            );
            if c >= 1 && c <= n_steps && r.steps[c - 1].preempted {
                let _ = writeln!(
                    o,
                    r##"<path class="preemption" d="M{} {} l6 -8 l-12 0 z" fill="#e08a00"><title>preemption: step {} switches away from a thread that could go on</title></path>"##,
                    x + 4.0,
                    top_h + 20.0,
                    c
                );
            }
        }
        // Lanes.
        for (t, name) in r.threads.iter().enumerate() {
            let (top, h) = (g.lane_top[t], g.lane_h[t]);
            let col = LANE_COLOURS[t % LANE_COLOURS.len()];
            let _ = writeln!(
                o,
                r##"<g class="lane" data-thread="{t}" data-name="{}"><line x1="0" y1="{top}" x2="{w}" y2="{top}" stroke="#c8ccd2"/><rect x="0" y="{top}" width="6" height="{h}" fill="{col}"/><text x="12" y="{}" font-size="12" font-weight="bold" fill="{col}">T{t} {}</text><text x="12" y="{}" fill="#666">{} steps</text></g>"##,
                esc(name),
                top + 18.0,
                esc(name),
                top + 32.0,
                r.steps.iter().filter(|s| s.tid == t).count(),
                w = g.width,
            );
        }
        let _ = writeln!(
            o,
            r##"<line x1="0" y1="{lanes_bottom}" x2="{}" y2="{lanes_bottom}" stroke="#c8ccd2"/>"##,
            g.width
        );
        // Call stacks as icicles: merge runs of consecutive steps of one thread that share
        // the frame and everything above it.
        for (i, s) in r.steps.iter().enumerate() {
            let t = s.tid;
            for d in 0..s.frames.len() {
                let same = |j: usize| {
                    r.steps.get(j).is_some_and(|p| {
                        p.tid == t && p.frames.len() > d && p.frames[..=d] == s.frames[..=d]
                    })
                };
                if i > 0 && same(i - 1) {
                    continue;
                }
                let mut end = i;
                while same(end + 1) {
                    end += 1;
                }
                let x = Self::x(i + 1) + 1.0;
                let w = (end - i + 1) as f64 * STEP_W - 2.0;
                let y = g.lane_top[t] + LANE_PAD + d as f64 * ROW_H;
                let _ = writeln!(
                    o,
                    r##"<g class="frame"><title>{}</title><rect x="{x}" y="{y}" width="{w}" height="{}" rx="2" fill="{}" stroke="#9fb3cf" stroke-width="0.5"/><text x="{}" y="{}" fill="#1d2d44">{}</text></g>"##,
                    esc(&s.frames[..=d].join(" > ")),
                    ROW_H - 2.0,
                    DEPTH_FILLS[d % DEPTH_FILLS.len()],
                    x + 3.0,
                    y + 10.5,
                    esc(&fit(s.frames[d], w, CHAR_W))
                );
                // Long bars repeat their name, so that it stays in view while scrolling.
                let mut k = i + REPEAT;
                while k + 2 <= end {
                    let _ = writeln!(
                        o,
                        r##"<text x="{}" y="{}" fill="#1d2d44" fill-opacity="0.75">{}</text>"##,
                        Self::x(k + 1) + 4.0,
                        y + 10.5,
                        esc(&fit(s.frames[d], (end - k + 1) as f64 * STEP_W, CHAR_W))
                    );
                    k += REPEAT;
                }
                // The thread was preempted inside this frame and resumes in it later.
                if let Some(k) = (end + 1..r.steps.len()).find(|&k| r.steps[k].tid == t) {
                    let q = &r.steps[k];
                    if k > end + 1 && q.frames.len() > d && q.frames[..=d] == s.frames[..=d] {
                        let _ = writeln!(
                            o,
                            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#9fb3cf" stroke-dasharray="3 3"/>"##,
                            x + w,
                            y + ROW_H / 2.0,
                            Self::x(k + 1) + 1.0,
                            y + ROW_H / 2.0
                        );
                    }
                }
            }
        }
        // The operations.
        let marked = self.mark.as_ref().and_then(|m| m.step);
        for (i, s) in r.steps.iter().enumerate() {
            let x = Self::x(i + 1) + 2.0;
            let y = g.op_y[i];
            let w = STEP_W - 4.0;
            let col = LANE_COLOURS[s.tid % LANE_COLOURS.len()];
            let violating = marked == Some(s.index);
            let bad = s
                .findings
                .iter()
                .any(|f| f.severity == explore::Severity::Violation);
            let (fill, stroke, cls) = if violating {
                ("#f8d0d0", "#c00000", "op op-violation")
            } else if bad {
                ("#fbe3e3", "#c04040", "op op-finding")
            } else if !s.note.is_empty() {
                ("#fff7e0", col, "op")
            } else {
                ("#ffffff", col, "op")
            };
            let (a, b) = two_lines(s.op, ((w - 4.0) / SMALL_CHAR_W) as usize);
            let _ = write!(
                o,
                r##"<g class="{cls}" data-step="{}" data-thread="{}"><title>{}</title><rect x="{x}" y="{y}" width="{w}" height="{}" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="{}"/>"##,
                s.index,
                s.tid,
                esc(&step_title(s)),
                OP_H - 3.0,
                if violating { 2.0 } else { 1.0 }
            );
            let ty = if b.is_some() { y + 11.0 } else { y + 16.0 };
            let _ = write!(
                o,
                r##"<text x="{}" y="{ty}" font-size="9" fill="#111">{}</text>"##,
                x + 3.0,
                esc(&a)
            );
            if let Some(b) = b {
                let _ = write!(
                    o,
                    r##"<text x="{}" y="{}" font-size="9" fill="#111">{}</text>"##,
                    x + 3.0,
                    ty + 10.0,
                    esc(&b)
                );
            }
            o.push_str("</g>\n");
        }
        // The marked step: a band over its column, and the property above it.
        if let Some(m) = &self.mark {
            let c = m.step.unwrap_or(n_steps + 1);
            let x = Self::x(c);
            let _ = writeln!(
                o,
                r##"<g class="violation-mark" data-step="{}" data-property="{}"><rect x="{}" y="{}" width="{}" height="{}" fill="#ff0000" fill-opacity="0.07" stroke="#c00000" stroke-width="2" stroke-dasharray="6 3"/><text x="{}" y="{}" text-anchor="end" font-weight="bold" fill="#c00000">✖ {} at {}</text></g>"##,
                c,
                esc(&m.property),
                x + 0.5,
                top_h + 20.0,
                STEP_W - 1.0,
                g.height - top_h - if self.standalone { 60.0 } else { 32.0 },
                x + STEP_W - 2.0,
                top_h - 2.0,
                esc(&m.property),
                if m.step.is_some() {
                    format!("step {c}")
                } else {
                    "the end".into()
                }
            );
            if m.step.is_none() {
                for f in &r.end_findings {
                    let _ = writeln!(
                        o,
                        r##"<g class="op op-violation" data-step="end"><title>at the end: {}: {}</title><rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="#f8d0d0" stroke="#c00000" stroke-width="2"/><text x="{}" y="{}" font-size="9">{}</text></g>"##,
                        esc(f.property),
                        esc(&f.message),
                        x + 2.0,
                        top_h + HEADER_H + 6.0,
                        STEP_W - 4.0,
                        OP_H - 3.0,
                        x + 5.0,
                        top_h + HEADER_H + 22.0,
                        esc(&fit(f.property, STEP_W - 4.0, SMALL_CHAR_W))
                    );
                }
            }
        }
        // Arrows: lock hand-overs and steps that touched a frozen refcount.
        let op_mid = |step: usize| -> (f64, f64) {
            let i = step - 1;
            (Self::x(step) + STEP_W / 2.0, g.op_y[i] + (OP_H - 3.0) / 2.0)
        };
        for h in &self.track.handovers {
            if h.from_step == 0 || h.to_step > n_steps || h.from_step > n_steps {
                continue;
            }
            let (x1, y1) = op_mid(h.from_step);
            let (x2, y2) = op_mid(h.to_step);
            let (y1, y2) = if y2 > y1 {
                (y1 + OP_H / 2.0 - 2.0, y2 - OP_H / 2.0 + 1.0)
            } else {
                (y1 - OP_H / 2.0 + 1.0, y2 + OP_H / 2.0 - 2.0)
            };
            let _ = writeln!(
                o,
                r##"<g class="arrow handover"><title>{} handed over: released by T{} at step {}, taken by T{} at step {}</title><path d="M{x1} {y1} C{x1} {} {x2} {} {x2} {y2}" fill="none" stroke="#7b3fb5" stroke-width="1.6" marker-end="url(#ah-lock)"/><text x="{}" y="{}" font-size="9" fill="#7b3fb5" text-anchor="middle">{}</text></g>"##,
                esc(&h.lock),
                h.from_tid,
                h.from_step,
                h.to_tid,
                h.to_step,
                (y1 + y2) / 2.0,
                (y1 + y2) / 2.0,
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0 - 3.0,
                esc(&h.lock)
            );
        }
        for f in &self.track.freezes {
            for &(step, tid) in &f.touched_by {
                if f.from_step == 0 || step > n_steps {
                    continue;
                }
                let (x1, y1) = op_mid(f.from_step);
                let (x2, y2) = op_mid(step);
                let _ = writeln!(
                    o,
                    r##"<g class="arrow freeze"><title>P{} frozen by T{} at step {}; T{} touches its refcount at step {}</title><path d="M{x1} {y1} C{} {y1} {} {y2} {x2} {y2}" fill="none" stroke="#1769aa" stroke-width="1.6" stroke-dasharray="5 3" marker-end="url(#ah-freeze)"/><text x="{}" y="{}" font-size="9" fill="#1769aa" text-anchor="middle">refcount frozen</text></g>"##,
                    f.page,
                    f.tid,
                    f.from_step,
                    tid,
                    step,
                    (x1 + x2) / 2.0,
                    (x1 + x2) / 2.0,
                    (x1 + x2) / 2.0,
                    (y1 + y2) / 2.0 - 4.0
                );
            }
        }
        self.render_strip(&mut o, &g);
        // Legend.
        if self.standalone {
            let ly = g.height - 16.0;
            let _ = writeln!(
                o,
                r##"<g class="legend" font-size="10" fill="#444"><path d="M10 {ly} h26" stroke="#7b3fb5" stroke-width="1.6" marker-end="url(#ah-lock)"/><text x="42" y="{}">lock hand-over</text><path d="M150 {ly} h26" stroke="#1769aa" stroke-width="1.6" stroke-dasharray="5 3" marker-end="url(#ah-freeze)"/><text x="182" y="{}">step on a frozen refcount</text><rect x="350" y="{}" width="22" height="10" fill="url(#frozen)" stroke="#7fb6e0"/><text x="378" y="{}">frozen (page_ref_freeze)</text><path d="M530 {} l6 -8 l-12 0 z" fill="#e08a00"/><text x="540" y="{}">preemption</text><rect x="620" y="{}" width="22" height="10" fill="#f8d0d0" stroke="#c00000"/><text x="648" y="{}">violating step</text><text x="760" y="{}">flags: L:Tn PG_locked by Tn, WB PG_writeback, A1 PG_arch_1 · hover for call stacks and notes</text></g>"##,
                ly + 4.0,
                ly + 4.0,
                ly - 6.0,
                ly + 3.0,
                ly + 5.0,
                ly + 4.0,
                ly - 6.0,
                ly + 3.0,
                ly + 4.0,
            );
        }
        o.push_str("</svg>\n");
        o
    }

    /// The lane-label column alone (thread names, page-strip row names), as tall as the
    /// diagram: an HTML page pins it on the left while the steps scroll.
    pub fn render_labels(&self) -> String {
        let g = self.geometry();
        let r = self.replay;
        let mut o = String::new();
        let _ = writeln!(
            o,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="pvmm-labels" width="{LABEL_W}" height="{h}" viewBox="0 0 {LABEL_W} {h}" font-family="DejaVu Sans Mono, Liberation Mono, monospace" font-size="10"><rect x="0" y="0" width="{LABEL_W}" height="{h}" fill="#ffffff"/>"##,
            h = g.height
        );
        let _ = writeln!(
            o,
            r##"<text x="10" y="{}" fill="#444" font-weight="bold">step</text>"##,
            self.top_h() + 16.0
        );
        for (t, name) in r.threads.iter().enumerate() {
            let (top, h) = (g.lane_top[t], g.lane_h[t]);
            let col = LANE_COLOURS[t % LANE_COLOURS.len()];
            let _ = writeln!(
                o,
                r##"<line x1="0" y1="{top}" x2="{LABEL_W}" y2="{top}" stroke="#c8ccd2"/><rect x="0" y="{top}" width="6" height="{h}" fill="{col}"/><text x="12" y="{}" font-size="12" font-weight="bold" fill="{col}">T{t} {}</text><text x="12" y="{}" fill="#666">{} steps</text>"##,
                top + 18.0,
                esc(&fit(name, LABEL_W - 40.0, 7.2)),
                top + 32.0,
                r.steps.iter().filter(|s| s.tid == t).count(),
            );
        }
        let lanes_bottom =
            g.lane_top.last().copied().unwrap_or(0.0) + g.lane_h.last().copied().unwrap_or(0.0);
        let _ = writeln!(
            o,
            r##"<line x1="0" y1="{lanes_bottom}" x2="{LABEL_W}" y2="{lanes_bottom}" stroke="#c8ccd2"/><text x="10" y="{}" font-size="12" font-weight="bold" fill="#333">page state</text>"##,
            g.strip_top + 10.0
        );
        let mut y = g.strip_top + 20.0;
        for &p in &self.track.pages {
            for (ri, name) in ["refcount", "flags", "UV state"].iter().enumerate() {
                let _ = writeln!(
                    o,
                    r##"<text x="12" y="{}" fill="#333"><tspan font-weight="bold">P{p}</tspan> {name}</text>"##,
                    y + ri as f64 * STRIP_ROW_H + 12.0
                );
            }
            y += 3.0 * STRIP_ROW_H + 8.0;
        }
        let _ = writeln!(
            o,
            r##"<line x1="{w}" y1="0" x2="{w}" y2="{}" stroke="#c8ccd2"/></svg>"##,
            g.height,
            w = LABEL_W - 0.5
        );
        o
    }

    fn render_strip(&self, o: &mut String, g: &Geometry) {
        let st = self.track;
        let n_state_cols = st.states.len();
        let top = g.strip_top;
        let _ = writeln!(
            o,
            r##"<g class="page-strip"><text x="10" y="{}" font-size="12" font-weight="bold" fill="#333">page state after each step</text>"##,
            top + 10.0
        );
        let mut y = top + 20.0;
        for (k, &p) in st.pages.iter().enumerate() {
            let _ = writeln!(
                o,
                r##"<line x1="0" y1="{}" x2="{}" y2="{}" stroke="#e0e3e8"/>"##,
                y - 3.0,
                g.width,
                y - 3.0
            );
            let rows = ["refcount", "flags", "UV state"];
            for (ri, name) in rows.iter().enumerate() {
                let _ = writeln!(
                    o,
                    r##"<text x="12" y="{}" fill="#333"><tspan font-weight="bold">P{p}</tspan> {name}</text>"##,
                    y + ri as f64 * STRIP_ROW_H + 12.0
                );
            }
            // Refcount: every column, changes highlighted, frozen hatched.
            // The end column (end-of-execution findings) shows the final state.
            for c in 0..g.columns {
                let s = st.at(c, k);
                let changed = c > 0 && st.at(c - 1, k).refcount != s.refcount;
                let x = Self::x(c) + 1.0;
                let fill = if s.frozen {
                    "url(#frozen)"
                } else if changed {
                    "#fff1b8"
                } else {
                    "none"
                };
                let text = if s.free {
                    "free".to_string()
                } else if s.frozen {
                    "0 frozen".to_string()
                } else {
                    s.refcount.to_string()
                };
                let _ = writeln!(
                    o,
                    r##"<g class="ref{}"><title>P{p} after {}: refcount {}, mapcount {}</title><rect x="{x}" y="{y}" width="{}" height="{}" fill="{fill}"/><text x="{}" y="{}" text-anchor="middle" font-weight="{}">{}</text></g>"##,
                    if s.frozen { " frozen" } else { "" },
                    if c == 0 {
                        "start".to_string()
                    } else if c >= n_state_cols {
                        "the end".to_string()
                    } else {
                        format!("step {c}")
                    },
                    s.refcount,
                    s.mapcount,
                    STEP_W - 2.0,
                    STRIP_ROW_H - 2.0,
                    x + STEP_W / 2.0 - 1.0,
                    y + 12.0,
                    if changed { "bold" } else { "normal" },
                    text
                );
            }
            // Flags and UV state: runs of equal values as one bar.
            for (ri, kind) in [(1usize, "flags"), (2, "uv")] {
                let val = |c: usize| {
                    let s = st.at(c, k);
                    if kind == "flags" {
                        s.flags()
                    } else {
                        s.uv.to_string()
                    }
                };
                let cols = g.columns;
                let mut c = 0;
                while c < cols {
                    let v = val(c);
                    let mut e = c;
                    while e + 1 < cols && val(e + 1) == v {
                        e += 1;
                    }
                    let x = Self::x(c) + 1.0;
                    let w = (e - c + 1) as f64 * STEP_W - 2.0;
                    let yy = y + ri as f64 * STRIP_ROW_H;
                    let (fill, label) = if kind == "uv" {
                        match v.as_str() {
                            "secure" => ("#f2b8b8", "secure (guest-owned, host access faults)"),
                            "shared-pinned" => ("#f5e6a8", "shared, pinned"),
                            _ => ("#cfe9cf", "non-secure (host-accessible)"),
                        }
                    } else if v.is_empty() {
                        ("none", "")
                    } else {
                        ("#e9e2f5", v.as_str())
                    };
                    let _ = writeln!(
                        o,
                        r##"<g class="{kind}"><title>P{p} {} from {} to {}: {}</title><rect x="{x}" y="{yy}" width="{w}" height="{}" rx="2" fill="{fill}"/><text x="{}" y="{}" fill="#222">{}</text></g>"##,
                        if kind == "uv" { "UV state" } else { "flags" },
                        if c == 0 {
                            "start".to_string()
                        } else {
                            format!("step {c}")
                        },
                        if e == 0 {
                            "start".to_string()
                        } else {
                            format!("step {e}")
                        },
                        esc(if v.is_empty() { "none" } else { &v }),
                        STRIP_ROW_H - 2.0,
                        x + 4.0,
                        yy + 12.0,
                        esc(&fit(label, w, CHAR_W))
                    );
                    let mut r = c + REPEAT;
                    while r + 2 <= e {
                        let _ = writeln!(
                            o,
                            r##"<text x="{}" y="{}" fill="#222" fill-opacity="0.75">{}</text>"##,
                            Self::x(r) + 4.0,
                            yy + 12.0,
                            esc(&fit(label, (e - r + 1) as f64 * STEP_W, CHAR_W))
                        );
                        r += REPEAT;
                    }
                    c = e + 1;
                }
            }
            y += 3.0 * STRIP_ROW_H + 8.0;
        }
        o.push_str("</g>\n");
    }
}

/// Renders a diagram (see [`Diagram`]).
pub fn render(d: &Diagram<'_>) -> String {
    d.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fitting() {
        assert_eq!(fit("abcdef", 100.0, 6.0), "abcdef");
        assert_eq!(fit("abcdefghijklmnopqrstuvwxyz", 60.0, 6.0), "abcdefgh…");
        assert_eq!(
            two_lines("page_ref_unfreeze", 12),
            ("page_ref_".to_string(), Some("unfreeze".to_string()))
        );
        assert_eq!(two_lines("get_page", 12), ("get_page".to_string(), None));
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
