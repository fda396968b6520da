//! A trace as a swimlane diagram (SVG): time runs left to right, one column per step; one
//! lane per thread, its kernel call stack drawn as an icicle (a frame that stays on the stack
//! over several steps is one bar); arrows for lock hand-overs and for steps that touched a
//! frozen refcount; the pages' state (refcount, mapcount, flags, Ultravisor state) as a strip
//! under the lanes; the violating step marked and explained in one sentence.
//!
//! Nothing is cut, scrolled away or shown only on hover:
//! * the timeline is folded into bands of [`BAND_COLUMNS`] columns stacked top to bottom
//!   (each band repeats the lane names), so the diagram is never wider than a page and a
//!   screenshot or a print shows every step;
//! * every label is wrapped onto as many lines as it needs ([`wrap_label`]): rows grow, a
//!   function name is never shortened;
//! * the `<title>` tooltips only repeat what is drawn; a standalone diagram also lists every
//!   step (call stack, operation, what changed, findings) as text under the picture, and an
//!   HTML page shows that list as a table.
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
    /// A diagram on its own (title, explanation, legend and the steps as text inside the
    /// SVG); false when a page around it shows them.
    pub standalone: bool,
}

/// Width of the lane-label column on the left of each band.
pub const LABEL_W: f64 = 178.0;
/// Columns per band (the initial state, the steps, and an end column when the end of the
/// execution has findings): 12 keeps a band 1,076 px wide, which a page scales to print.
pub const BAND_COLUMNS: usize = 12;
const STEP_W: f64 = 74.0;
const BAND_HEAD_H: f64 = 34.0;
const BAND_GAP: f64 = 18.0;
/// One line of a frame label (10 px monospace) and of an operation label (9 px).
const LINE_H: f64 = 11.0;
const OP_LINE_H: f64 = 10.0;
const MIN_ROW_H: f64 = 15.0;
const MIN_OP_H: f64 = 25.0;
const LANE_PAD: f64 = 7.0;
const STRIP_ROW_H: f64 = 18.0;
const STRIP_ROWS: [&str; 4] = ["refcount", "mapcount", "flags", "UV state"];
const CHAR_W: f64 = 6.0;
const SMALL_CHAR_W: f64 = 5.45;
const NAME_CHAR_W: f64 = 7.3;
/// One line of the step list under a standalone diagram.
const LIST_LINE_H: f64 = 13.0;

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

/// Splits a label into lines of at most `n` characters without leaving anything out: after
/// `_`, `>`, `,`, `)`, `|`, `/` or `-`, before `(`, or at a space where it can; where a word
/// has no such place, in the middle of it. Only the spaces at a break are dropped.
pub fn wrap_label(s: &str, n: usize) -> Vec<String> {
    let n = n.max(1);
    let mut lines = Vec::new();
    let mut rest: Vec<char> = s.trim().chars().collect();
    while rest.len() > n {
        let mut cut = None;
        for i in (1..=n).rev() {
            let (before, at) = (rest[i - 1], rest[i]);
            if matches!(before, '_' | '>' | ',' | ')' | '|' | '/' | '-') || at == ' ' || at == '(' {
                cut = Some(i);
                break;
            }
        }
        let cut = cut.unwrap_or(n);
        let line: String = rest[..cut].iter().collect();
        lines.push(line.trim_end().to_string());
        rest = rest[cut..].to_vec();
        while rest.first() == Some(&' ') {
            rest.remove(0);
        }
    }
    if !rest.is_empty() || lines.is_empty() {
        lines.push(rest.into_iter().collect());
    }
    lines
}

/// The lines an operation's box shows (its name, wrapped to the box).
pub fn op_label_lines(op: &str) -> Vec<String> {
    wrap_label(op, chars_in(STEP_W - 4.0, SMALL_CHAR_W))
}

/// How many characters fit in `width` pixels at `cw` pixels per character.
fn chars_in(width: f64, cw: f64) -> usize {
    ((width - 6.0) / cw).floor().max(1.0) as usize
}

/// Wraps a sentence into lines of at most `n` characters, at spaces (a longer word is split
/// by [`wrap_label`]).
fn wrap(s: &str, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in s.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > n {
            lines.push(std::mem::take(&mut cur));
        }
        if w.chars().count() > n {
            let mut parts = wrap_label(w, n);
            let last = parts.pop().unwrap_or_default();
            lines.extend(parts);
            cur = last;
            continue;
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

/// Writes `lines` as one `<text>` element with a `<tspan>` per line.
fn text_lines(o: &mut String, x: f64, y: f64, line_h: f64, attrs: &str, lines: &[String]) {
    let _ = write!(o, r#"<text x="{x}" y="{y}" {attrs}>"#);
    for (i, l) in lines.iter().enumerate() {
        let dy = if i == 0 { 0.0 } else { line_h };
        let _ = write!(o, r#"<tspan x="{x}" dy="{dy}">{}</tspan>"#, esc(l));
    }
    o.push_str("</text>");
}

/// The step as one line of text: thread, call stack, operation, what changed, findings.
pub fn step_text(s: &TraceStep) -> String {
    let mut t = format!("{:>3} T{} {}: ", s.index, s.tid, s.thread);
    for f in &s.frames {
        t.push_str(f);
        t.push_str(" > ");
    }
    t.push_str(s.op);
    if s.preempted {
        t.push_str(" (preemption)");
    }
    if !s.note.is_empty() {
        let _ = write!(t, " [{}]", s.note);
    }
    for f in &s.findings {
        let _ = write!(t, " !! {}: {}", f.property, f.message);
    }
    t
}

/// A piece of an icicle bar: frame `depth` of thread `tid` over steps `first..=last`
/// (0-based indices into the steps, within one band).
struct Segment {
    tid: usize,
    depth: usize,
    first: usize,
    last: usize,
    lines: Vec<String>,
    /// The stack down to this frame (for the tooltip).
    path: String,
    /// The thread resumes in this frame at this step (0-based) after other threads ran.
    resumes_at: Option<usize>,
}

/// Sizes and positions, computed once per diagram.
struct Layout {
    columns: usize,
    bands: usize,
    top_h: f64,
    band_h: f64,
    width: f64,
    height: f64,
    title_lines: Vec<String>,
    segments: Vec<Segment>,
    /// Per thread, per depth: the height of that row of the icicle.
    row_h: Vec<Vec<f64>>,
    /// Per step: the operation's label lines and box height.
    op_lines: Vec<Vec<String>>,
    op_h: Vec<f64>,
    /// Per thread: the name's lines in the label column and the lane's height.
    name_lines: Vec<Vec<String>>,
    lane_h: Vec<f64>,
    lanes_h: f64,
    list_lines: Vec<String>,
    legend_lines: Vec<String>,
}

impl Layout {
    fn band(c: usize) -> usize {
        c / BAND_COLUMNS
    }

    /// x of the left edge of column `c` (0: the initial state, i: step i) in its band.
    fn x(c: usize) -> f64 {
        LABEL_W + (c % BAND_COLUMNS) as f64 * STEP_W
    }

    fn band_top(&self, b: usize) -> f64 {
        self.top_h + b as f64 * (self.band_h + BAND_GAP)
    }

    fn lane_top(&self, b: usize, t: usize) -> f64 {
        self.band_top(b) + BAND_HEAD_H + self.lane_h[..t].iter().sum::<f64>()
    }

    /// y of the top of depth `d`'s row in thread `t`'s lane, relative to the lane's top.
    fn depth_y(&self, t: usize, d: usize) -> f64 {
        LANE_PAD + self.row_h[t].iter().take(d).sum::<f64>()
    }

    fn strip_top(&self, b: usize) -> f64 {
        self.band_top(b) + BAND_HEAD_H + self.lanes_h + 14.0
    }

    /// Columns `first..end` of band `b`.
    fn band_columns(&self, b: usize) -> std::ops::Range<usize> {
        b * BAND_COLUMNS..((b + 1) * BAND_COLUMNS).min(self.columns)
    }
}

impl Diagram<'_> {
    fn has_end_column(&self) -> bool {
        !self.replay.end_findings.is_empty() || self.mark.as_ref().is_some_and(|m| m.step.is_none())
    }

    /// The icicle's bars: runs of consecutive steps of one thread that share a frame and
    /// everything above it, cut where a band ends.
    fn segments(&self) -> Vec<Segment> {
        let r = self.replay;
        let mut v = Vec::new();
        for (i, s) in r.steps.iter().enumerate() {
            for d in 0..s.frames.len() {
                let same = |j: usize| {
                    r.steps.get(j).is_some_and(|p| {
                        p.tid == s.tid && p.frames.len() > d && p.frames[..=d] == s.frames[..=d]
                    })
                };
                if i > 0 && same(i - 1) && Layout::band(i) == Layout::band(i + 1) {
                    continue;
                }
                let mut last = i;
                while same(last + 1) && Layout::band(last + 2) == Layout::band(i + 1) {
                    last += 1;
                }
                let width = (last - i + 1) as f64 * STEP_W - 2.0;
                let resumes_at = (last + 1..r.steps.len())
                    .find(|&k| r.steps[k].tid == s.tid)
                    .filter(|&k| k > last + 1 && same(k));
                v.push(Segment {
                    tid: s.tid,
                    depth: d,
                    first: i,
                    last,
                    lines: wrap_label(s.frames[d], chars_in(width, CHAR_W)),
                    path: s.frames[..=d].join(" > "),
                    resumes_at,
                });
            }
        }
        v
    }

    fn layout(&self) -> Layout {
        let r = self.replay;
        let n = r.threads.len().max(1);
        let columns = r.steps.len() + 1 + usize::from(self.has_end_column());
        let bands = columns.div_ceil(BAND_COLUMNS);
        let width = LABEL_W + columns.min(BAND_COLUMNS) as f64 * STEP_W + 10.0;
        let segments = self.segments();
        let mut row_h = vec![Vec::<f64>::new(); n];
        for s in &segments {
            let rows = &mut row_h[s.tid.min(n - 1)];
            if rows.len() <= s.depth {
                rows.resize(s.depth + 1, MIN_ROW_H);
            }
            rows[s.depth] = rows[s.depth].max(s.lines.len() as f64 * LINE_H + 4.0);
        }
        let op_lines: Vec<Vec<String>> = r.steps.iter().map(|s| op_label_lines(s.op)).collect();
        let op_h: Vec<f64> = op_lines
            .iter()
            .map(|l| (l.len() as f64 * OP_LINE_H + 6.0).max(MIN_OP_H))
            .collect();
        let name_lines: Vec<Vec<String>> = (0..n)
            .map(|t| {
                let name = r.threads.get(t).map(String::as_str).unwrap_or("");
                wrap_label(
                    &format!("T{t} {name}"),
                    chars_in(LABEL_W - 12.0, NAME_CHAR_W),
                )
            })
            .collect();
        let mut lane_h = Vec::new();
        for t in 0..n {
            let pad: f64 = LANE_PAD;
            let prefix = |d: usize| pad + row_h[t].iter().take(d).sum::<f64>();
            let inner = r
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.tid == t)
                .map(|(i, s)| prefix(s.frames.len()) + op_h[i])
                .fold(pad + MIN_OP_H, f64::max);
            let label = 18.0 + 15.0 * name_lines[t].len() as f64;
            lane_h.push((inner + LANE_PAD).max(label));
        }
        let lanes_h: f64 = lane_h.iter().sum();
        let strip_h =
            20.0 + self.track.pages.len() as f64 * (STRIP_ROWS.len() as f64 * STRIP_ROW_H + 8.0);
        let band_h = BAND_HEAD_H + lanes_h + 14.0 + strip_h + 6.0;
        let chars = chars_in(width - 14.0, 6.6);
        let (title_lines, list_lines, legend_lines) = if self.standalone {
            let mut title = wrap(&self.title, chars_in(width - 14.0, 8.6));
            if let Some(m) = &self.mark {
                title.extend(wrap(&m.sentence, chars));
            }
            let mut list = Vec::new();
            for s in &r.steps {
                list.extend(wrap(&step_text(s), chars));
            }
            for f in &r.end_findings {
                list.extend(wrap(
                    &format!("end !! {}: {}", f.property, f.message),
                    chars,
                ));
            }
            (title, list, wrap(LEGEND_TEXT, chars))
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        let top_h = if self.standalone {
            14.0 + title_lines.len() as f64 * 14.0
        } else {
            4.0
        };
        let bottom = if self.standalone {
            30.0 + (legend_lines.len() + 2 + list_lines.len()) as f64 * LIST_LINE_H
        } else {
            4.0
        };
        let height = top_h + bands as f64 * band_h + (bands - 1) as f64 * BAND_GAP + bottom;
        Layout {
            columns,
            bands,
            top_h,
            band_h,
            width,
            height,
            title_lines,
            segments,
            row_h,
            op_lines,
            op_h,
            name_lines,
            lane_h,
            lanes_h,
            list_lines,
            legend_lines,
        }
    }

    /// Renders the diagram.
    pub fn render(&self) -> String {
        let l = self.layout();
        let mut o = String::new();
        let _ = writeln!(
            o,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="pvmm-trace" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, Liberation Mono, monospace" font-size="10" role="img" aria-label="{title}" data-bands="{}">"##,
            l.bands,
            w = l.width,
            h = l.height,
            title = esc(&self.title)
        );
        o.push_str(DEFS);
        let _ = writeln!(
            o,
            r##"<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##,
            l.width, l.height
        );
        if self.standalone {
            self.render_title(&mut o, &l);
        }
        for b in 0..l.bands {
            self.render_band(&mut o, &l, b);
            self.render_strip(&mut o, &l, b);
        }
        self.render_frames(&mut o, &l);
        self.render_ops(&mut o, &l);
        self.render_mark(&mut o, &l);
        self.render_arrows(&mut o, &l);
        if self.standalone {
            self.render_legend_and_list(&mut o, &l);
        }
        o.push_str("</svg>\n");
        o
    }

    fn render_title(&self, o: &mut String, l: &Layout) {
        for (i, line) in l.title_lines.iter().enumerate() {
            let title_line = i < wrap(&self.title, chars_in(l.width - 14.0, 8.6)).len();
            let _ = writeln!(
                o,
                r##"<text {}x="10" y="{}" font-size="{}" {}>{}</text>"##,
                if title_line {
                    ""
                } else {
                    "class=\"explanation\" "
                },
                18.0 + i as f64 * 14.0,
                if title_line { 14 } else { 11 },
                if title_line {
                    r##"font-weight="bold" fill="#222""##
                } else {
                    r##"fill="#a01010""##
                },
                esc(line)
            );
        }
    }

    /// A band's background: column stripes, step numbers, preemption marks, the lanes' lines
    /// and labels, the strip's row names.
    fn render_band(&self, o: &mut String, l: &Layout, b: usize) {
        let r = self.replay;
        let n_steps = r.steps.len();
        let top = l.band_top(b);
        let cols = l.band_columns(b);
        let _ = writeln!(
            o,
            r##"<g class="band" data-band="{b}" data-first-column="{}" data-last-column="{}"><rect x="0.5" y="{}" width="{}" height="{}" fill="none" stroke="#d0d7de"/>"##,
            cols.start,
            cols.end - 1,
            top + 0.5,
            l.width - 1.0,
            l.band_h - 1.0
        );
        let _ = writeln!(
            o,
            r##"<text x="10" y="{}" fill="#444" font-weight="bold">{}</text>"##,
            top + 28.0,
            if cols.start == 0 {
                "step".to_string()
            } else {
                format!("step (cont. {})", b + 1)
            }
        );
        for c in cols {
            let x = Layout::x(c);
            if c % 2 == 1 {
                let _ = writeln!(
                    o,
                    r##"<rect x="{x}" y="{}" width="{STEP_W}" height="{}" fill="#f6f7f9"/>"##,
                    top + 14.0,
                    l.band_h - 15.0
                );
            }
            let label = match c {
                0 => "start".to_string(),
                c if c <= n_steps => c.to_string(),
                _ => "end".to_string(),
            };
            let _ = writeln!(
                o,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#444" font-weight="bold">{label}</text>"##,
                x + STEP_W / 2.0,
                top + 28.0
            );
            if c >= 1 && c <= n_steps && r.steps[c - 1].preempted {
                let _ = writeln!(
                    o,
                    r##"<path class="preemption" d="M{} {} l6 -8 l-12 0 z" fill="#e08a00"><title>preemption: step {c} switches away from a thread that could go on</title></path>"##,
                    x + 8.0,
                    top + 31.0
                );
            }
        }
        for (t, name) in r.threads.iter().enumerate() {
            let lt = l.lane_top(b, t);
            let col = LANE_COLOURS[t % LANE_COLOURS.len()];
            let _ = write!(
                o,
                r##"<g class="{}" data-thread="{t}" data-name="{}"><line x1="0" y1="{lt}" x2="{w}" y2="{lt}" stroke="#c8ccd2"/><rect x="0" y="{lt}" width="6" height="{h}" fill="{col}"/>"##,
                if b == 0 { "lane" } else { "lane-repeat" },
                esc(name),
                w = l.width,
                h = l.lane_h[t],
            );
            let attrs = format!(r##"font-size="12" font-weight="bold" fill="{col}""##);
            text_lines(o, 12.0, lt + 18.0, 15.0, &attrs, &l.name_lines[t]);
            let _ = writeln!(
                o,
                r##"<text x="12" y="{}" fill="#666">{} steps</text></g>"##,
                lt + 18.0 + 15.0 * l.name_lines[t].len() as f64,
                r.steps.iter().filter(|s| s.tid == t).count()
            );
        }
        let bottom = l.band_top(b) + BAND_HEAD_H + l.lanes_h;
        let _ = writeln!(
            o,
            r##"<line x1="0" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#c8ccd2"/></g>"##,
            l.width
        );
    }

    /// The call stacks as icicles, and dashed lines where a thread resumes inside a frame.
    fn render_frames(&self, o: &mut String, l: &Layout) {
        for s in &l.segments {
            let b = Layout::band(s.first + 1);
            let x = Layout::x(s.first + 1) + 1.0;
            let w = (s.last - s.first + 1) as f64 * STEP_W - 2.0;
            let y = l.lane_top(b, s.tid) + l.depth_y(s.tid, s.depth);
            let h = l.row_h[s.tid][s.depth] - 2.0;
            let _ = write!(
                o,
                r##"<g class="frame"><title>{}</title><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="2" fill="{}" stroke="#9fb3cf" stroke-width="0.5"/>"##,
                esc(&s.path),
                DEPTH_FILLS[s.depth % DEPTH_FILLS.len()],
            );
            text_lines(
                o,
                x + 3.0,
                y + 10.0,
                LINE_H,
                r##"fill="#1d2d44""##,
                &s.lines,
            );
            o.push_str("</g>\n");
            if let Some(k) = s.resumes_at {
                let yy = y + h / 2.0;
                let end = if Layout::band(k + 1) == b {
                    Layout::x(k + 1) + 1.0
                } else {
                    l.width - 4.0
                };
                let _ = writeln!(
                    o,
                    r##"<line x1="{}" y1="{yy}" x2="{end}" y2="{yy}" stroke="#9fb3cf" stroke-dasharray="3 3"/>"##,
                    x + w
                );
            }
        }
    }

    /// The operations: one box per step, its name wrapped in full.
    fn render_ops(&self, o: &mut String, l: &Layout) {
        let r = self.replay;
        let marked = self.mark.as_ref().and_then(|m| m.step);
        for (i, s) in r.steps.iter().enumerate() {
            let b = Layout::band(i + 1);
            let x = Layout::x(i + 1) + 2.0;
            let y = l.lane_top(b, s.tid) + l.depth_y(s.tid, s.frames.len());
            let (w, h) = (STEP_W - 4.0, l.op_h[i]);
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
            let _ = write!(
                o,
                r##"<g class="{cls}" data-step="{}" data-thread="{}"><title>{}</title><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="{}"/>"##,
                s.index,
                s.tid,
                esc(&step_text(s)),
                if violating { 2.0 } else { 1.0 }
            );
            let lines = &l.op_lines[i];
            let ty = y + (h - lines.len() as f64 * OP_LINE_H) / 2.0 + 8.0;
            text_lines(
                o,
                x + 3.0,
                ty,
                OP_LINE_H,
                r##"font-size="9" fill="#111""##,
                lines,
            );
            o.push_str("</g>\n");
        }
    }

    /// The marked step: a band over its column, the property above it, and the findings of
    /// the end of the execution in the end column.
    fn render_mark(&self, o: &mut String, l: &Layout) {
        let Some(m) = &self.mark else { return };
        let n_steps = self.replay.steps.len();
        let c = m.step.unwrap_or(n_steps + 1);
        let (b, x) = (Layout::band(c), Layout::x(c));
        let top = l.band_top(b);
        let _ = writeln!(
            o,
            r##"<g class="violation-mark" data-step="{c}" data-property="{}"><rect x="{}" y="{}" width="{}" height="{}" fill="#ff0000" fill-opacity="0.07" stroke="#c00000" stroke-width="2" stroke-dasharray="6 3"/><text x="{}" y="{}" text-anchor="end" font-weight="bold" fill="#c00000">✖ {} at {}</text></g>"##,
            esc(&m.property),
            x + 0.5,
            top + 14.0,
            STEP_W - 1.0,
            l.band_h - 16.0,
            x + STEP_W - 2.0,
            top + 11.0,
            esc(&m.property),
            if m.step.is_some() {
                format!("step {c}")
            } else {
                "the end".into()
            }
        );
        if m.step.is_some() {
            return;
        }
        let mut y = top + BAND_HEAD_H + 6.0;
        for f in &self.replay.end_findings {
            let lines = wrap_label(f.property, chars_in(STEP_W - 4.0, SMALL_CHAR_W));
            let h = lines.len() as f64 * OP_LINE_H + 8.0;
            let _ = write!(
                o,
                r##"<g class="op op-violation" data-step="end"><title>at the end: {}: {}</title><rect x="{}" y="{y}" width="{}" height="{h}" rx="3" fill="#f8d0d0" stroke="#c00000" stroke-width="2"/>"##,
                esc(f.property),
                esc(&f.message),
                x + 2.0,
                STEP_W - 4.0,
            );
            text_lines(o, x + 5.0, y + 12.0, OP_LINE_H, r#"font-size="9""#, &lines);
            o.push_str("</g>\n");
            y += h + 3.0;
        }
    }

    /// Lock hand-overs and steps that touched a frozen refcount. An arrow between two bands
    /// is drawn as two halves: out to the end of the first band, in from the start of the
    /// second, each labelled with the other end's step.
    fn render_arrows(&self, o: &mut String, l: &Layout) {
        let r = self.replay;
        let n_steps = r.steps.len();
        let op_mid = |step: usize| -> (usize, f64, f64) {
            let i = step - 1;
            let s = &r.steps[i];
            let b = Layout::band(step);
            let y = l.lane_top(b, s.tid) + l.depth_y(s.tid, s.frames.len()) + l.op_h[i] / 2.0;
            (b, Layout::x(step) + STEP_W / 2.0, y)
        };
        for h in &self.track.handovers {
            if h.from_step == 0 || h.to_step > n_steps || h.from_step > n_steps {
                continue;
            }
            let title = format!(
                "{} handed over: released by T{} at step {}, taken by T{} at step {}",
                h.lock, h.from_tid, h.from_step, h.to_tid, h.to_step
            );
            let style = ArrowStyle {
                class: "arrow handover",
                colour: "#7b3fb5",
                dash: "",
                marker: "ah-lock",
            };
            arrow(
                o,
                l,
                &style,
                &title,
                op_mid(h.from_step),
                op_mid(h.to_step),
                &h.lock,
                (h.from_step, h.to_step),
            );
        }
        for f in &self.track.freezes {
            for &(step, tid) in &f.touched_by {
                if f.from_step == 0 || step > n_steps {
                    continue;
                }
                let title = format!(
                    "P{} frozen by T{} at step {}; T{tid} touches its refcount at step {step}",
                    f.page, f.tid, f.from_step
                );
                let style = ArrowStyle {
                    class: "arrow freeze",
                    colour: "#1769aa",
                    dash: r#" stroke-dasharray="5 3""#,
                    marker: "ah-freeze",
                };
                arrow(
                    o,
                    l,
                    &style,
                    &title,
                    op_mid(f.from_step),
                    op_mid(step),
                    "refcount frozen",
                    (f.from_step, step),
                );
            }
        }
    }

    /// The page-state strip of band `b`: refcount and mapcount per column (changes
    /// highlighted, a frozen refcount hatched), flags and UV state as runs of equal values.
    fn render_strip(&self, o: &mut String, l: &Layout, b: usize) {
        let st = self.track;
        let top = l.strip_top(b);
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
                l.width,
                y - 3.0
            );
            for (ri, name) in STRIP_ROWS.iter().enumerate() {
                let _ = writeln!(
                    o,
                    r##"<text x="12" y="{}" fill="#333"><tspan font-weight="bold">P{p}</tspan> {name}</text>"##,
                    y + ri as f64 * STRIP_ROW_H + 12.0
                );
            }
            for c in l.band_columns(b) {
                self.strip_counts(o, c, k, y);
            }
            for (ri, kind) in [(2usize, "flags"), (3, "uv")] {
                self.strip_runs(o, l, b, k, kind, y + ri as f64 * STRIP_ROW_H);
            }
            y += STRIP_ROWS.len() as f64 * STRIP_ROW_H + 8.0;
        }
        o.push_str("</g>\n");
    }

    /// Refcount and mapcount of shown page `k` in column `c`.
    fn strip_counts(&self, o: &mut String, c: usize, k: usize, y: f64) {
        let st = self.track;
        let p = st.pages[k];
        let s = st.at(c, k);
        let prev = (c > 0).then(|| st.at(c - 1, k));
        let x = Layout::x(c) + 1.0;
        let ref_changed = prev.is_some_and(|q| q.refcount != s.refcount);
        let map_changed = prev.is_some_and(|q| q.mapcount != s.mapcount);
        let fill = if s.frozen {
            "url(#frozen)"
        } else if ref_changed {
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
            r##"<g class="ref{}" data-page="{p}" data-column="{c}"><rect x="{x}" y="{y}" width="{}" height="{}" fill="{fill}"/><text x="{}" y="{}" text-anchor="middle" font-weight="{}">{text}</text></g>"##,
            if s.frozen { " frozen" } else { "" },
            STEP_W - 2.0,
            STRIP_ROW_H - 2.0,
            x + STEP_W / 2.0 - 1.0,
            y + 12.0,
            if ref_changed { "bold" } else { "normal" },
        );
        let _ = writeln!(
            o,
            r##"<g class="map"><rect x="{x}" y="{}" width="{}" height="{}" fill="{}"/><text x="{}" y="{}" text-anchor="middle" font-weight="{}">{}</text></g>"##,
            y + STRIP_ROW_H,
            STEP_W - 2.0,
            STRIP_ROW_H - 2.0,
            if map_changed { "#fff1b8" } else { "none" },
            x + STEP_W / 2.0 - 1.0,
            y + STRIP_ROW_H + 12.0,
            if map_changed { "bold" } else { "normal" },
            s.mapcount
        );
    }

    /// Flags or UV state of shown page `k` in band `b`: runs of equal values as one bar.
    fn strip_runs(&self, o: &mut String, l: &Layout, b: usize, k: usize, kind: &str, yy: f64) {
        let st = self.track;
        let p = st.pages[k];
        let val = |c: usize| {
            let s = st.at(c, k);
            if kind == "flags" {
                s.flags()
            } else {
                s.uv.to_string()
            }
        };
        let cols = l.band_columns(b);
        let mut c = cols.start;
        while c < cols.end {
            let v = val(c);
            let mut e = c;
            while e + 1 < cols.end && val(e + 1) == v {
                e += 1;
            }
            let x = Layout::x(c) + 1.0;
            let w = (e - c + 1) as f64 * STEP_W - 2.0;
            let (fill, long, short) = if kind == "uv" {
                match v.as_str() {
                    "secure" => (
                        "#f2b8b8",
                        "secure (guest-owned, host access faults)",
                        "secure",
                    ),
                    "shared-pinned" => ("#f5e6a8", "shared, pinned", "shared,\u{a0}pinned"),
                    _ => ("#cfe9cf", "non-secure (host-accessible)", "non-secure"),
                }
            } else if v.is_empty() {
                ("none", "", "")
            } else {
                ("#e9e2f5", v.as_str(), v.as_str())
            };
            // The long form where it fits; else the short one, wrapped if it must be.
            let n = chars_in(w, CHAR_W);
            let lines = if long.chars().count() <= n {
                vec![long.to_string()]
            } else {
                wrap_label(short, n)
            };
            let _ = write!(
                o,
                r##"<g class="{kind}" data-page="{p}"><title>P{p} {} from {} to {}: {}</title><rect x="{x}" y="{yy}" width="{w}" height="{}" rx="2" fill="{fill}"/>"##,
                if kind == "uv" { "UV state" } else { "flags" },
                column_name(c, self.replay.steps.len()),
                column_name(e, self.replay.steps.len()),
                esc(if v.is_empty() { "none" } else { &v }),
                STRIP_ROW_H - 2.0,
            );
            let fs = if lines.len() > 1 { 8.0 } else { 10.0 };
            text_lines(
                o,
                x + 4.0,
                yy + if lines.len() > 1 { 7.5 } else { 12.0 },
                fs,
                &format!(r##"fill="#222" font-size="{fs}""##),
                &lines,
            );
            o.push_str("</g>\n");
            c = e + 1;
        }
    }

    /// Under a standalone diagram: the legend, then every step as text.
    fn render_legend_and_list(&self, o: &mut String, l: &Layout) {
        let mut y =
            l.height - (l.legend_lines.len() + 2 + l.list_lines.len()) as f64 * LIST_LINE_H - 10.0;
        let ly = y - 4.0;
        let _ = writeln!(
            o,
            r##"<g class="legend" font-size="10" fill="#444"><path d="M10 {ly} h26" stroke="#7b3fb5" stroke-width="1.6" marker-end="url(#ah-lock)"/><path d="M50 {ly} h26" stroke="#1769aa" stroke-width="1.6" stroke-dasharray="5 3" marker-end="url(#ah-freeze)"/><rect x="90" y="{}" width="22" height="10" fill="url(#frozen)" stroke="#7fb6e0"/><path d="M130 {} l6 -8 l-12 0 z" fill="#e08a00"/><rect x="150" y="{}" width="22" height="10" fill="#f8d0d0" stroke="#c00000"/>"##,
            ly - 6.0,
            ly + 4.0,
            ly - 6.0,
        );
        y += LIST_LINE_H;
        text_lines(o, 10.0, y, LIST_LINE_H, r##"fill="#444""##, &l.legend_lines);
        o.push_str("</g>\n");
        y += (l.legend_lines.len() + 1) as f64 * LIST_LINE_H;
        let _ = write!(o, r##"<g class="step-list" font-size="10" fill="#222">"##);
        text_lines(o, 10.0, y, LIST_LINE_H, "", &l.list_lines);
        o.push_str("</g>\n");
    }
}

fn column_name(c: usize, n_steps: usize) -> String {
    match c {
        0 => "start".to_string(),
        c if c <= n_steps => format!("step {c}"),
        _ => "the end".to_string(),
    }
}

/// The legend under a standalone diagram (the swatches are drawn before it, in its order).
const LEGEND_TEXT: &str = "Legend (swatches above, left to right): lock hand-over · step on a frozen refcount · refcount frozen (page_ref_freeze) · preemption (the step switches away from a thread that could go on) · violating step. Flags: L:Tn PG_locked by Tn, WB PG_writeback, A1 PG_arch_1. UV state: secure = guest-owned, a host access faults; non-secure = host-accessible. Steps (thread: call stack > operation [what changed] !! findings):";

const DEFS: &str = concat!(
    "<defs>",
    r##"<marker id="ah-lock" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7b3fb5"/></marker>"##,
    r##"<marker id="ah-freeze" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1769aa"/></marker>"##,
    r##"<pattern id="frozen" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#d8ecfb"/><line x1="0" y1="0" x2="0" y2="6" stroke="#7fb6e0" stroke-width="2"/></pattern>"##,
    "</defs>\n"
);

struct ArrowStyle {
    class: &'static str,
    colour: &'static str,
    dash: &'static str,
    marker: &'static str,
}

/// One arrow from `a` to `b` (band, x, y), or two halves when they are in different bands.
#[allow(clippy::too_many_arguments)]
fn arrow(
    o: &mut String,
    l: &Layout,
    s: &ArrowStyle,
    title: &str,
    a: (usize, f64, f64),
    b: (usize, f64, f64),
    label: &str,
    steps: (usize, usize),
) {
    let path = |o: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), text: &str| {
        let _ = write!(
            o,
            r##"<path d="M{x1} {y1} C{} {y1} {} {y2} {x2} {y2}" fill="none" stroke="{c}" stroke-width="1.6"{} marker-end="url(#{})"/><text x="{}" y="{}" font-size="9" fill="{c}" text-anchor="middle">{}</text>"##,
            (x1 + x2) / 2.0,
            (x1 + x2) / 2.0,
            s.dash,
            s.marker,
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0 - 4.0,
            esc(text),
            c = s.colour,
        );
    };
    let _ = write!(
        o,
        r##"<g class="{}"><title>{}</title>"##,
        s.class,
        esc(title)
    );
    if a.0 == b.0 {
        path(o, (a.1, a.2), (b.1, b.2), label);
    } else {
        let right = l.width - 6.0;
        path(
            o,
            (a.1, a.2),
            (right, a.2),
            &format!("{label} → step {}", steps.1),
        );
        path(
            o,
            (LABEL_W - 4.0, b.2),
            (b.1, b.2),
            &format!("{label} from step {}", steps.0),
        );
    }
    o.push_str("</g>\n");
}

/// Renders a diagram (see [`Diagram`]).
pub fn render(d: &Diagram<'_>) -> String {
    d.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_wrap_without_losing_a_character() {
        for (s, n) in [
            ("page_cache_pipe_buf_confirm", 11),
            ("try_grab_page(FOLL_PIN)", 12),
            ("arch_make_page_accessible", 11),
            ("averyveryverylongidentifierwithoutbreaks", 7),
            ("gmap_make_secure > make_secure_pte", 12),
            ("x", 1),
        ] {
            let lines = wrap_label(s, n);
            assert!(lines.iter().all(|l| l.chars().count() <= n), "{lines:?}");
            assert!(lines.iter().all(|l| !l.contains('…')), "{lines:?}");
            let joined: String = lines.concat().split_whitespace().collect();
            let orig: String = s.split_whitespace().collect();
            assert_eq!(joined, orig, "{lines:?}");
        }
        assert_eq!(
            wrap_label("page_cache_pipe_buf_confirm", 11),
            vec!["page_cache_", "pipe_buf_", "confirm"]
        );
        assert_eq!(
            wrap_label("try_grab_page(FOLL_PIN)", 12),
            vec!["try_grab_", "page(FOLL_", "PIN)"]
        );
        assert_eq!(wrap_label("get_page", 12), vec!["get_page"]);
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
