//! Scenario files (TOML): the memory set-up, the threads, the presets, the bounds and the
//! expected verdicts. Every error names the file, line and field.

use kernel::build::{Backing, BuildError, Builder, GuestSpec, MapSpec};
use kernel::config::{self, Kernel};
use kernel::vocab::ops::{self, Arg, FieldSpec, Kind, OpCall};
use kernel::KernelModel;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use toml::Spanned;

/// A scenario error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    /// `FILE:LINE:COL: MESSAGE`, or `FILE: MESSAGE` when there is no position (line 0: the
    /// file could not be read).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    description: Option<String>,
    presets: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    set: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    file: Vec<Spanned<RawFile>>,
    #[serde(default)]
    mm: Vec<Spanned<RawMm>>,
    #[serde(default)]
    map: Vec<Spanned<RawMap>>,
    #[serde(default)]
    guest: Vec<Spanned<RawGuest>>,
    #[serde(default)]
    pipe: Vec<Spanned<RawPipe>>,
    thread: Spanned<Vec<Spanned<RawThread>>>,
    /// Free frames the page allocator has at the start (default `build::SPARE_FRAMES`).
    spare_frames: Option<Spanned<usize>>,
    #[serde(default)]
    bounds: RawBounds,
    #[serde(default)]
    expect: BTreeMap<String, Spanned<RawExpect>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    /// Pages 0..pages are in the page cache at the start.
    pages: usize,
    /// A memfd (shmem): no writeback.
    #[serde(default)]
    shmem: bool,
    /// The page cache holds folios of this order (1..=3): large folios.
    folio_order: Option<u8>,
    /// The file system keeps private data on its large folios and refuses to release it
    /// while a folio is dirty (iomap: XFS, zonefs, erofs): `split_folio` fails on a dirty one.
    #[serde(default)]
    private: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMm {
    name: String,
    #[serde(default)]
    protected: bool,
    /// Protected VMs in this mm (for export-before-import).
    protected_vms: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    mm: Spanned<String>,
    vpn: usize,
    /// Backing file and page; omit both for anonymous memory (`anon = true`).
    file: Option<Spanned<String>>,
    index: Option<usize>,
    #[serde(default)]
    anon: bool,
    #[serde(default = "yes")]
    shared: bool,
    #[serde(default = "yes")]
    writable: bool,
    /// The PTE is populated at the start.
    #[serde(default = "yes")]
    present: bool,
    /// The PTE is writable at the start (defaults to `writable`).
    pte_write: Option<Spanned<bool>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGuest {
    gfn: usize,
    mm: Spanned<String>,
    vpn: usize,
    /// The frame starts as a secure page of the guest.
    #[serde(default)]
    secure: bool,
    /// The guest shared the frame with the host.
    #[serde(default)]
    shared: bool,
    /// What the guest wrote to the frame before the scenario starts (needs `secure` or
    /// `image`).
    data: Option<u8>,
    /// The frame holds an encrypted image of `data` for `KVM_PV_UNPACK`.
    #[serde(default)]
    image: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipe {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThread {
    name: String,
    ops: Vec<Spanned<RawOp>>,
}

/// One op as written: its keys (with their spans) and values. What keys an op takes comes
/// from its declaration ([`kernel::vocab::ops::OPS`]).
type RawOp = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBounds {
    max_depth: Option<Spanned<usize>>,
    max_executions: Option<Spanned<u64>>,
    max_time_secs: Option<Spanned<u64>>,
    max_preemptions: Option<u32>,
    /// The bounded-waiting bound (busy answers a `uv_call` may spin through while it holds a
    /// spinlock or a frozen refcount).
    max_spins: Option<u32>,
    /// The retry bound (rounds a retry loop may go before the execution is cut).
    max_retries: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    verdict: Spanned<String>,
    #[serde(default)]
    properties: Vec<Spanned<String>>,
}

/// The verdict a scenario expects under one preset.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Expect {
    pub verdict: crate::Verdict,
    /// Exactly the violated properties (for a violation).
    pub properties: Vec<String>,
}

/// A parsed scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub presets: Vec<String>,
    pub overrides: Vec<(String, String)>,
    pub bounds: explore::Bounds,
    pub expect: BTreeMap<String, Expect>,
    /// SHA-256 of the file's bytes.
    pub hash: String,
    /// The set-up and the threads, ready to build a model for any kernel.
    builder: Rc<Builder>,
    /// The bounded-waiting bound given on the command line, if any.
    max_spins_override: Option<u32>,
    /// The retry bound given on the command line, if any.
    max_retries_override: Option<u32>,
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    /// Where `field` is written inside the table at `span` (the value after `field =` on a
    /// line of its own), or the table's start when it is not written there.
    fn field_in(&self, span: std::ops::Range<usize>, field: &str) -> std::ops::Range<usize> {
        let end = span.end.min(self.text.len());
        let start = span.start.min(end);
        let mut at = start;
        for line in self.text[start..end].split_inclusive('\n') {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix(field) {
                let r = rest.trim_start();
                if let Some(v) = r.strip_prefix('=') {
                    let pos = at + (line.len() - v.trim_start().len());
                    return pos..pos;
                }
            }
            at += line.len();
        }
        span
    }

    fn err(&self, span: std::ops::Range<usize>, msg: impl Into<String>) -> ScenarioError {
        let upto = &self.text[..span.start.min(self.text.len())];
        let line = upto.matches('\n').count() + 1;
        let column = upto.len() - upto.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        ScenarioError {
            file: self.path.to_path_buf(),
            line,
            column,
            message: msg.into(),
        }
    }
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    // A regular file of at most MAX_SCENARIO_BYTES (not /dev/zero, not a FIFO).
    let text = crate::input::read_text(path, "scenario file", crate::input::MAX_SCENARIO_BYTES)
        .map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: e.message,
        })?;
    parse(path, &text)
}

/// Parses scenario text (`path` is only used in messages and for the name).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let cx = Ctx { path, text };
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = text[start..]
            .find('\n')
            .map(|i| start + i)
            .unwrap_or(text.len());
        let line = text[line_start..line_end].trim();
        let msg = e.message().trim().replace('\n', " ");
        if line.is_empty() {
            cx.err(span, msg)
        } else {
            cx.err(span, format!("{msg} (in `{line}`)"))
        }
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());

    let presets = parse_presets(&cx, &raw)?;
    let overrides = parse_overrides(&cx, &raw)?;
    let mut builder = set_up(&cx, &raw)?;
    let expect = parse_expect(&cx, &raw, &presets)?;
    let (bounds, max_spins) = parse_bounds(&cx, &raw.bounds)?;
    if let Some(n) = max_spins {
        builder.set_spin_bound(n);
    }
    if let Some(n) = &raw.bounds.max_retries {
        if *n.get_ref() == 0 {
            return Err(cx.err(
                n.span(),
                "table `bounds`: field `max_retries`: at least 1 (0 would cut every retry \
                 loop before its first round)",
            ));
        }
        builder.set_retry_bound(*n.get_ref());
    }
    use sha2::Digest;
    let hash = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
    Ok(Scenario {
        name,
        path: path.to_path_buf(),
        description: raw.description.unwrap_or_default().trim().to_string(),
        presets,
        overrides,
        bounds,
        expect,
        hash,
        builder: Rc::new(builder),
        max_spins_override: None,
        max_retries_override: None,
    })
}

/// `presets`: at least one, none twice, each a preset or a release.
fn parse_presets(cx: &Ctx, raw: &Raw) -> Result<Vec<String>, ScenarioError> {
    if raw.presets.get_ref().is_empty() {
        return Err(cx.err(
            raw.presets.span(),
            "field `presets`: list at least one kernel preset",
        ));
    }
    let mut presets = Vec::new();
    for p in raw.presets.get_ref() {
        if presets.contains(p.get_ref()) {
            return Err(cx.err(
                p.span(),
                format!("field `presets`: `{}` is listed twice", p.get_ref()),
            ));
        }
        if let Err(e) = kernel::vocab::presets::resolve(p.get_ref()) {
            return Err(cx.err(p.span(), format!("field `presets`: {e}")));
        }
        presets.push(p.get_ref().clone());
    }
    Ok(presets)
}

/// `[set]`: each switch and value checked against the switch declarations.
fn parse_overrides(cx: &Ctx, raw: &Raw) -> Result<Vec<(String, String)>, ScenarioError> {
    let mut overrides = Vec::new();
    for (k, v) in &raw.set {
        let val = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut probe = config::preset("v5.7").expect("v5.7 preset exists");
        probe
            .set(k, &val)
            .map_err(|e| cx.err(v.span(), format!("table `set`: {e}")))?;
        overrides.push((k.clone(), val));
    }
    Ok(overrides)
}

/// `[expect."PRESET"]`: a verdict per listed preset, a violation with exactly its violated
/// properties (known, violations not observations, none twice).
fn parse_expect(
    cx: &Ctx,
    raw: &Raw,
    presets: &[String],
) -> Result<BTreeMap<String, Expect>, ScenarioError> {
    let mut expect = BTreeMap::new();
    for (preset, e) in &raw.expect {
        if !presets.contains(preset) {
            return Err(cx.err(
                e.span(),
                format!("table `expect.\"{preset}\"`: `{preset}` is not in `presets`"),
            ));
        }
        let r = e.get_ref();
        let verdict = match r.verdict.get_ref().as_str() {
            "verified" => crate::Verdict::Verified,
            "violation" => crate::Verdict::Violation,
            "incomplete" => crate::Verdict::Incomplete,
            other => {
                return Err(cx.err(
                    r.verdict.span(),
                    format!(
                        "field `verdict`: `{other}` is not one of verified, violation, incomplete"
                    ),
                ))
            }
        };
        let mut properties: Vec<String> = Vec::new();
        for p in &r.properties {
            if properties.contains(p.get_ref()) {
                return Err(cx.err(
                    p.span(),
                    format!("field `properties`: `{}` is listed twice", p.get_ref()),
                ));
            }
            let spec = kernel::vocab::properties::by_id(p.get_ref()).ok_or_else(|| {
                cx.err(
                    p.span(),
                    format!(
                        "field `properties`: `{}` is not a property (known: {})",
                        p.get_ref(),
                        kernel::vocab::PROPERTIES
                            .iter()
                            .map(|p| p.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            if spec.severity != explore::Severity::Violation {
                return Err(cx.err(
                    p.span(),
                    format!(
                        "field `properties`: `{}` is an observation; `properties` lists the violated properties",
                        spec.id
                    ),
                ));
            }
            properties.push(p.get_ref().clone());
        }
        // `properties` are exactly the violated properties: only a violation has them, and
        // it has at least one (Check::matches compares them for a violation only).
        match (verdict, properties.is_empty()) {
            (crate::Verdict::Violation, true) => {
                return Err(cx.err(
                    r.verdict.span(),
                    format!(
                        "table `expect.\"{preset}\"`: a violation names its violated properties \
                         (`properties = [...]`)"
                    ),
                ))
            }
            (crate::Verdict::Verified | crate::Verdict::Incomplete, false) => {
                return Err(cx.err(
                    r.properties[0].span(),
                    format!(
                        "table `expect.\"{preset}\"`: field `properties`: a verdict `{}` has no \
                         violated properties (only `violation` lists them)",
                        r.verdict.get_ref()
                    ),
                ))
            }
            _ => {}
        }
        properties.sort();
        expect.insert(
            preset.clone(),
            Expect {
                verdict,
                properties,
            },
        );
    }
    Ok(expect)
}

/// `[bounds]`: a bound of 0 explores nothing (never a verdict); a depth above `MAX_DEPTH` is
/// more than the model represents (its counts). With the search's bounds, the model's
/// bounded-waiting bound (`max_spins`, if given).
fn parse_bounds(cx: &Ctx, b: &RawBounds) -> Result<(explore::Bounds, Option<u32>), ScenarioError> {
    let d = explore::Bounds::default();
    // A bound of 0 explores nothing (never a verdict); a depth above MAX_DEPTH is more
    // than the model represents (its counts).
    let at_least_one = |v: &Option<Spanned<u64>>, field: &str| match v {
        Some(x) if *x.get_ref() == 0 => Err(cx.err(
            x.span(),
            format!("table `bounds`: field `{field}`: at least 1 (0 would explore nothing)"),
        )),
        _ => Ok(v.as_ref().map(|x| *x.get_ref())),
    };
    let max_depth = match &b.max_depth {
        Some(x) if !(1..=kernel::build::MAX_DEPTH).contains(x.get_ref()) => {
            return Err(cx.err(
                x.span(),
                format!(
                    "table `bounds`: field `max_depth`: 1..={} steps per execution, not {} \
                     (the model's counts are sized for at most that many)",
                    kernel::build::MAX_DEPTH,
                    x.get_ref()
                ),
            ))
        }
        Some(x) => *x.get_ref(),
        None => d.max_depth,
    };
    let max_executions = at_least_one(&b.max_executions, "max_executions")?;
    let max_time_secs = at_least_one(&b.max_time_secs, "max_time_secs")?;
    let bounds = explore::Bounds {
        max_depth,
        max_executions,
        max_time: max_time_secs.map(std::time::Duration::from_secs),
        // Memory bounds come from the machine (`crate::limits`), set by the command line.
        max_preemptions: b.max_preemptions,
        ..d
    };
    Ok((bounds, b.max_spins))
}

/// The set-up and the threads as [`Builder`] calls; every error at the table or field it
/// concerns.
fn set_up(cx: &Ctx, raw: &Raw) -> Result<Builder, ScenarioError> {
    let mut b = Builder::new();
    if let Some(n) = &raw.spare_frames {
        b.spare_frames(*n.get_ref())
            .map_err(|e| cx.err(n.span(), format!("field `{}`: {}", e.field, e.message)))?;
    }
    let at = |span: std::ops::Range<usize>| {
        move |e: BuildError| {
            cx.err(
                cx.field_in(span.clone(), e.field),
                format!("field `{}`: {}", e.field, e.message),
            )
        }
    };
    for f in &raw.file {
        let r = f.get_ref();
        let id = if r.shmem {
            b.memfd(&r.name, r.pages).map_err(at(f.span()))?
        } else {
            b.file(&r.name, r.pages).map_err(at(f.span()))?
        };
        if let Some(order) = r.folio_order {
            b.file_folio_order(id, order).map_err(at(f.span()))?;
        }
        if r.private {
            b.file_private(id).map_err(at(f.span()))?;
        }
    }
    for m in &raw.mm {
        let r = m.get_ref();
        b.mm(&r.name, r.protected, r.protected_vms)
            .map_err(at(m.span()))?;
    }
    for p in &raw.pipe {
        b.pipe(&p.get_ref().name).map_err(at(p.span()))?;
    }
    let name = |b: &Builder, kind: Kind, s: &Spanned<String>, field: &str| {
        b.resolve(kind, s.get_ref())
            .map_err(|e| cx.err(s.span(), format!("field `{field}`: {e}")))
    };
    for m in &raw.map {
        let r = m.get_ref();
        let mm = name(&b, Kind::Mm, &r.mm, "mm")?;
        let backing = match (&r.file, r.index, r.anon) {
            (Some(f), Some(index), false) => Backing::File {
                file: name(&b, Kind::File, f, "file")?,
                index,
            },
            (None, None, true) => Backing::Anon,
            (_, _, true) => {
                return Err(cx.err(
                    m.span(),
                    "field `anon`: an anonymous mapping has no `file` or `index`",
                ))
            }
            (None, _, false) => {
                return Err(cx.err(m.span(), "field `file`: missing (or set `anon = true`)"))
            }
            (Some(_), None, false) => return Err(cx.err(m.span(), "field `index`: missing")),
        };
        if let Some(w) = r.pte_write.as_ref().filter(|w| *w.get_ref()) {
            let why = if !r.writable {
                Some("the mapping is not `writable`")
            } else if !r.present {
                Some("the PTE is not `present`")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(cx.err(
                    w.span(),
                    format!("field `pte_write`: a writable PTE, but {why}"),
                ));
            }
        }
        b.map(MapSpec {
            mm,
            vpn: r.vpn,
            backing,
            shared: r.shared,
            writable: r.writable,
            present: r.present,
            pte_write: r.pte_write.as_ref().map_or(r.writable, |w| *w.get_ref()),
        })
        .map_err(at(m.span()))?;
    }
    for g in &raw.guest {
        let r = g.get_ref();
        let spec = GuestSpec {
            gfn: r.gfn,
            mm: name(&b, Kind::Mm, &r.mm, "mm")?,
            vpn: r.vpn,
            secure: r.secure,
            shared: r.shared,
            data: r.data,
            image: r.image,
        };
        b.guest(spec).map_err(at(g.span()))?;
    }
    if raw.thread.get_ref().is_empty() {
        return Err(cx.err(
            raw.thread.span(),
            "field `thread`: a scenario needs at least one thread",
        ));
    }
    for ts in raw.thread.get_ref() {
        let t = ts.get_ref();
        let mut ops = Vec::new();
        for op in &t.ops {
            ops.push(parse_op(cx, &b, op)?);
        }
        b.thread(&t.name, ops).map_err(|e| {
            let span =
                e.op.and_then(|i| t.ops.get(i))
                    .map_or(ts.span(), |o| field_span(o, e.field));
            let span = if e.op.is_none() {
                cx.field_in(span, e.field)
            } else {
                span
            };
            cx.err(span, format!("field `{}`: {}", e.field, e.message))
        })?;
    }
    Ok(b)
}

/// Where field `field` of an op is written (the op's table when it is not).
fn field_span(op: &Spanned<RawOp>, field: &str) -> std::ops::Range<usize> {
    op.get_ref().get(field).map_or(op.span(), |v| v.span())
}

/// One op: its declaration ([`ops::op_spec`]) says which keys it takes (and `frame`, which
/// every op takes); each value is parsed by its field's kind, names resolved, and the op
/// built and checked against the set-up ([`Builder::check_op`]).
fn parse_op(cx: &Ctx, b: &Builder, op: &Spanned<RawOp>) -> Result<OpCall, ScenarioError> {
    let t = op.get_ref();
    let name = match t.get("op").map(|v| (v.get_ref(), v.span())) {
        None => return Err(cx.err(op.span(), "field `op`: missing (the operation's name)")),
        Some((toml::Value::String(s), span)) => {
            if ops::op_spec(s).is_none() {
                return Err(cx.err(
                    span,
                    format!(
                        "field `op`: unknown operation `{s}` (known: {})",
                        ops::op_names()
                    ),
                ));
            }
            s.as_str()
        }
        Some((_, span)) => return Err(cx.err(span, "field `op`: the operation's name, a string")),
    };
    let spec = ops::op_spec(name).expect("checked above");
    let mut keys: Vec<(&Spanned<String>, &Spanned<toml::Value>)> = t.iter().collect();
    keys.sort_by_key(|(k, _)| k.span().start);
    let mut args: Vec<(&'static str, Arg)> = Vec::new();
    let mut frames = Vec::new();
    for (k, v) in keys {
        match k.get_ref().as_str() {
            "op" => {}
            "frame" => {
                let toml::Value::String(text) = v.get_ref() else {
                    return Err(cx.err(v.span(), format!("op `{name}`: field `frame`: the caller frames as a string, e.g. \"io_uring_register > io_sqe_buffer_register\"")));
                };
                frames = ops::parse_frames(text)
                    .map_err(|e| cx.err(v.span(), format!("op `{name}`: field `frame`: {e}")))?;
            }
            key => {
                let Some(f) = spec.field(key) else {
                    let known: Vec<&str> = spec
                        .fields
                        .iter()
                        .map(|f| f.name)
                        .chain(["frame"])
                        .collect();
                    return Err(cx.err(
                        k.span(),
                        format!(
                            "op `{name}`: field `{key}`: `{name}` has no such field (its fields: {})",
                            known.join(", ")
                        ),
                    ));
                };
                let a = parse_arg(b, f, v.get_ref())
                    .map_err(|e| cx.err(v.span(), format!("op `{name}`: field `{key}`: {e}")))?;
                args.push((f.name, a));
            }
        }
    }
    let get = |f: &str| args.iter().find(|(n, _)| *n == f).map(|(_, a)| *a);
    let built = kernel::vocab::ThreadOp::build(name, &get)
        .map_err(|e| cx.err(field_span(op, e.field), format!("op `{name}`: {e}")))?;
    b.check_op(&built).map_err(|e| {
        cx.err(
            field_span(op, e.field),
            format!("op `{name}`: field `{}`: {}", e.field, e.message),
        )
    })?;
    Ok(OpCall { op: built, frames })
}

/// A field's value by its kind.
fn parse_arg(b: &Builder, f: &FieldSpec, v: &toml::Value) -> Result<Arg, String> {
    // Every number within what the model represents (`Kind::range`).
    let int = || {
        let (lo, hi, what) = f.kind.range().expect("a numeric kind");
        match v {
            toml::Value::Integer(n) if (lo..=hi).contains(n) => Ok(*n),
            _ => Err(format!("expected {what}, not `{v}`")),
        }
    };
    Ok(match f.kind {
        Kind::Mm | Kind::File | Kind::Pipe => match v {
            toml::Value::String(s) => Arg::Id(b.resolve(f.kind, s)?),
            _ => return Err(format!("expected a name, not `{v}`")),
        },
        Kind::Gfn | Kind::Vpn | Kind::Index | Kind::Count | Kind::Code => Arg::Num(int()? as usize),
        Kind::Byte => Arg::Byte(int()? as u8),
        Kind::Bool => match v {
            toml::Value::Boolean(x) => Arg::Bool(*x),
            _ => return Err(format!("expected true or false, not `{v}`")),
        },
        Kind::Flags(known) => {
            let toml::Value::String(s) = v else {
                return Err(format!(
                    "expected flags as a string (e.g. \"FOLL_PIN|FOLL_WRITE\"), not `{v}`"
                ));
            };
            let mut bits = 0;
            for part in s.split('|').map(str::trim) {
                let flag = known.iter().find(|k| k.name == part).ok_or_else(|| {
                    format!(
                        "`{part}` is not one of {}",
                        known.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                    )
                })?;
                bits |= flag.bit;
            }
            Arg::Flags(bits)
        }
    })
}

pub fn preset_names() -> String {
    kernel::vocab::presets::names()
}

impl Scenario {
    /// The kernel configuration for `preset` (a preset or a release,
    /// [`kernel::vocab::presets::resolve`]) with the scenario's and the caller's overrides.
    pub fn kernel(&self, preset: &str, extra: &[(String, String)]) -> Result<Kernel, String> {
        let mut k = kernel::vocab::presets::resolve(preset)?;
        for (s, v) in self.overrides.iter().chain(extra) {
            k.set(s, v).map_err(|e| e.to_string())?;
        }
        Ok(k)
    }

    /// Thread names, in order.
    pub fn thread_names(&self) -> Vec<String> {
        self.builder.threads().iter().map(|t| t.0.clone()).collect()
    }

    /// The threads' operations.
    pub fn thread_ops(&self) -> &[(String, Vec<OpCall>)] {
        self.builder.threads()
    }

    /// The set-up (for names of mms, files and pipes).
    pub fn builder(&self) -> &Builder {
        &self.builder
    }

    /// Builds the model for one kernel configuration.
    pub fn model(&self, kernel: Kernel) -> KernelModel {
        self.builder.model(kernel)
    }

    /// The bounded-waiting bound (the scenario's `[bounds] max_spins`, or the default).
    pub fn max_spins(&self) -> u32 {
        self.builder.spin_bound()
    }

    /// Sets the bounded-waiting bound (`--max-spins`), for every model built after.
    pub fn set_max_spins(&mut self, n: u32) {
        Rc::make_mut(&mut self.builder).set_spin_bound(n);
        self.max_spins_override = Some(n);
    }

    /// The bound [`Scenario::set_max_spins`] set, if it did (a trace file records it).
    pub fn max_spins_override(&self) -> Option<u32> {
        self.max_spins_override
    }

    /// The retry bound (the scenario's `[bounds] max_retries`, or the default): rounds a
    /// retry loop may go before the execution is cut (kernel `retry.rs`).
    pub fn max_retries(&self) -> u32 {
        self.builder.retry_bound()
    }

    /// Sets the retry bound (`--max-retries`), for every model built after.
    pub fn set_max_retries(&mut self, n: u32) {
        Rc::make_mut(&mut self.builder).set_retry_bound(n);
        self.max_retries_override = Some(n);
    }

    /// The bound [`Scenario::set_max_retries`] set, if it did (a trace file records it).
    pub fn max_retries_override(&self) -> Option<u32> {
        self.max_retries_override
    }
}
