//! Scenario files (TOML): the memory set-up, the threads, the presets, the bounds and the
//! expected verdicts. Every error names the file, line and field.

use kernel::actor::ThreadOp;
use kernel::config::{self, Kernel};
use kernel::uv::{self, UvFrame, UvKeys, UvState};
use kernel::world::{
    File, GuestFrame, Mm, Objs, Page, Pipe, Pte, Vma, World, PAGE_BYTES, PAGE_PARTS, PTRS_PER_PTE,
};
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // The file as a whole (it could not be read).
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
    file: Vec<RawFile>,
    #[serde(default)]
    mm: Vec<RawMm>,
    #[serde(default)]
    map: Vec<Spanned<RawMap>>,
    #[serde(default)]
    guest: Vec<Spanned<RawGuest>>,
    #[serde(default)]
    pipe: Vec<RawPipe>,
    thread: Spanned<Vec<RawThread>>,
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
    pte_write: Option<bool>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    op: Spanned<String>,
    gfn: Option<usize>,
    write: Option<toml::Value>,
    mm: Option<Spanned<String>>,
    vpn: Option<usize>,
    flags: Option<Spanned<String>>,
    fast: Option<bool>,
    file: Option<Spanned<String>>,
    index: Option<usize>,
    pipe: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    to_device: Option<bool>,
    to_memory: Option<bool>,
    count: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBounds {
    max_depth: Option<usize>,
    max_executions: Option<u64>,
    max_time_secs: Option<u64>,
    max_preemptions: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    verdict: Spanned<String>,
    #[serde(default)]
    properties: Vec<String>,
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
    source: Rc<Setup>,
}

/// The set-up, resolved, independent of the kernel preset.
#[derive(Debug)]
struct Setup {
    files: Vec<(String, usize)>,
    mms: Vec<(String, bool, u32)>,
    maps: Vec<Map>,
    guest: Vec<GuestSpec>,
    pipes: Vec<String>,
    threads: Vec<(String, Vec<ThreadOp>)>,
}

#[derive(Debug)]
struct Map {
    mm: usize,
    vpn: usize,
    /// Backing file page, or None for anonymous memory.
    file: Option<(usize, usize)>,
    shared: bool,
    writable: bool,
    present: bool,
    pte_write: bool,
}

#[derive(Debug)]
struct GuestSpec {
    gfn: usize,
    mm: usize,
    vpn: usize,
    secure: bool,
    shared: bool,
    data: Option<u8>,
    image: bool,
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
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

    if raw.presets.get_ref().is_empty() {
        return Err(cx.err(
            raw.presets.span(),
            "field `presets`: list at least one kernel preset",
        ));
    }
    let mut presets = Vec::new();
    for p in raw.presets.get_ref() {
        if config::preset(p.get_ref()).is_none() {
            return Err(cx.err(
                p.span(),
                format!(
                    "field `presets`: unknown kernel preset `{}` (known: {})",
                    p.get_ref(),
                    preset_names()
                ),
            ));
        }
        presets.push(p.get_ref().clone());
    }
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

    let files: Vec<(String, usize)> = raw.file.iter().map(|f| (f.name.clone(), f.pages)).collect();
    let mms: Vec<(String, bool, u32)> = raw
        .mm
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.protected,
                m.protected_vms.unwrap_or(u32::from(m.protected)),
            )
        })
        .collect();
    let pipes: Vec<String> = raw.pipe.iter().map(|p| p.name.clone()).collect();
    let find = |list: &[String], s: &Spanned<String>, field: &str, what: &str| {
        list.iter().position(|n| n == s.get_ref()).ok_or_else(|| {
            cx.err(
                s.span(),
                format!(
                    "field `{field}`: no {what} named `{}` (defined: {})",
                    s.get_ref(),
                    if list.is_empty() {
                        "none".to_string()
                    } else {
                        list.join(", ")
                    }
                ),
            )
        })
    };
    let file_names: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let mm_names: Vec<String> = mms.iter().map(|m| m.0.clone()).collect();

    let mut maps = Vec::new();
    for m in &raw.map {
        let r = m.get_ref();
        let mm = find(&mm_names, &r.mm, "mm", "mm")?;
        let file = match (&r.file, r.index, r.anon) {
            (Some(f), Some(index), false) => {
                let file = find(&file_names, f, "file", "file")?;
                if index >= files[file].1 {
                    return Err(cx.err(
                        m.span(),
                        format!(
                            "field `index`: file `{}` has pages 0..{}, not {}",
                            files[file].0, files[file].1, index
                        ),
                    ));
                }
                Some((file, index))
            }
            (None, None, true) => None,
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
        if maps.iter().any(|x: &Map| x.mm == mm && x.vpn == r.vpn) {
            return Err(cx.err(
                m.span(),
                format!(
                    "field `vpn`: {} already mapped in `{}`",
                    r.vpn, mm_names[mm]
                ),
            ));
        }
        maps.push(Map {
            mm,
            vpn: r.vpn,
            file,
            shared: r.shared,
            writable: r.writable,
            present: r.present,
            pte_write: r.pte_write.unwrap_or(r.writable) && r.writable,
        });
    }
    let frames = files.iter().map(|f| f.1).sum::<usize>()
        + maps
            .iter()
            .filter(|m| m.file.is_none() && m.present)
            .count()
        + SPARE_FRAMES;
    if frames > MAX_FRAMES {
        return Err(cx.err(
            0..0,
            format!("the set-up has {frames} page frames; at most {MAX_FRAMES} are supported"),
        ));
    }
    let mut guest = Vec::new();
    for g in &raw.guest {
        let r = g.get_ref();
        let mm = find(&mm_names, &r.mm, "mm", "mm")?;
        if !maps.iter().any(|m| m.mm == mm && m.vpn == r.vpn) {
            return Err(cx.err(
                g.span(),
                format!("field `vpn`: guest frame {} is backed by vpn {} of `{}`, which no [[map]] maps", r.gfn, r.vpn, mm_names[mm]),
            ));
        }
        if r.data.is_some() && !(r.secure || r.image) {
            return Err(cx.err(
                g.span(),
                "field `data`: only a secure frame or an unpack image holds guest data",
            ));
        }
        guest.push(GuestSpec {
            gfn: r.gfn,
            mm,
            vpn: r.vpn,
            secure: r.secure,
            shared: r.shared,
            data: r.data,
            image: r.image,
        });
    }

    if raw.thread.get_ref().is_empty() {
        return Err(cx.err(
            raw.thread.span(),
            "field `thread`: a scenario needs at least one thread",
        ));
    }
    if raw.thread.get_ref().len() > 64 {
        return Err(cx.err(raw.thread.span(), "field `thread`: at most 64 threads"));
    }
    let mut threads = Vec::new();
    for t in raw.thread.get_ref() {
        let mut ops = Vec::new();
        for op in &t.ops {
            ops.push(resolve_op(
                &cx,
                op,
                &file_names,
                &mm_names,
                &pipes,
                &maps,
                &guest,
            )?);
        }
        threads.push((t.name.clone(), ops));
    }

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
        let mut properties = r.properties.clone();
        properties.sort();
        expect.insert(
            preset.clone(),
            Expect {
                verdict,
                properties,
            },
        );
    }

    let d = explore::Bounds::default();
    let bounds = explore::Bounds {
        max_depth: raw.bounds.max_depth.unwrap_or(d.max_depth),
        max_executions: raw.bounds.max_executions,
        max_time: raw.bounds.max_time_secs.map(std::time::Duration::from_secs),
        // Memory bounds come from the machine (`crate::limits`), set by the command line.
        max_preemptions: raw.bounds.max_preemptions,
        ..d
    };
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
        source: Rc::new(Setup {
            files,
            mms,
            maps,
            guest,
            pipes,
            threads,
        }),
    })
}

pub fn preset_names() -> String {
    config::PRESETS
        .iter()
        .map(|p| p.0)
        .collect::<Vec<_>>()
        .join(", ")
}

fn resolve_op(
    cx: &Ctx,
    op: &Spanned<RawOp>,
    files: &[String],
    mms: &[String],
    pipes: &[String],
    maps: &[Map],
    guest: &[GuestSpec],
) -> Result<ThreadOp, ScenarioError> {
    let r = op.get_ref();
    let name = r.op.get_ref().as_str();
    let need = |v: Option<usize>, field: &str| {
        v.ok_or_else(|| cx.err(op.span(), format!("op `{name}`: missing field `{field}`")))
    };
    let named = |v: &Option<Spanned<String>>, field: &str, list: &[String], what: &str| {
        let s = v
            .as_ref()
            .ok_or_else(|| cx.err(op.span(), format!("op `{name}`: missing field `{field}`")))?;
        list.iter().position(|n| n == s.get_ref()).ok_or_else(|| {
            cx.err(
                s.span(),
                format!(
                    "op `{name}`: field `{field}`: no {what} named `{}`",
                    s.get_ref()
                ),
            )
        })
    };
    let mapped = |mm: usize, vpn: usize| {
        if maps.iter().any(|m| m.mm == mm && m.vpn == vpn) {
            Ok(())
        } else {
            Err(cx.err(
                op.span(),
                format!(
                    "op `{name}`: field `vpn`: `{}` has no mapping at vpn {vpn}",
                    mms[mm]
                ),
            ))
        }
    };
    let gfn_ok = |gfn: usize| {
        if guest.iter().any(|g| g.gfn == gfn) {
            Ok(gfn)
        } else {
            Err(cx.err(
                op.span(),
                format!("op `{name}`: field `gfn`: no [[guest]] frame {gfn}"),
            ))
        }
    };
    let write_bool = || match &r.write {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(_) => Err(cx.err(
            op.span(),
            format!("op `{name}`: field `write` is true or false here"),
        )),
    };
    Ok(match name {
        "guest-access" => {
            let gfn = gfn_ok(need(r.gfn, "gfn")?)?;
            let write = match &r.write {
                None => None,
                Some(toml::Value::Integer(v)) if (1..=255).contains(v) => Some(*v as u8),
                Some(_) => {
                    return Err(cx.err(
                        op.span(),
                        "op `guest-access`: field `write` is the byte value to store (1..=255)",
                    ))
                }
            };
            ThreadOp::GuestAccess { gfn, write }
        }
        "unpack" => ThreadOp::Unpack {
            gfn: gfn_ok(need(r.gfn, "gfn")?)?,
        },
        "gup" => {
            let mm = named(&r.mm, "mm", mms, "mm")?;
            let vpn = need(r.vpn, "vpn")?;
            mapped(mm, vpn)?;
            let flags = r.flags.as_ref().ok_or_else(|| {
                cx.err(
                    op.span(),
                    "op `gup`: missing field `flags` (FOLL_GET or FOLL_PIN)",
                )
            })?;
            let pin = match flags.get_ref().as_str() {
                "FOLL_GET" => false,
                "FOLL_PIN" => true,
                other => {
                    return Err(cx.err(
                        flags.span(),
                        format!("op `gup`: field `flags`: `{other}` is not FOLL_GET or FOLL_PIN"),
                    ))
                }
            };
            ThreadOp::Gup {
                mm,
                vpn,
                pin,
                fast: r.fast.unwrap_or(false),
                write: write_bool()?,
            }
        }
        "dma" => ThreadOp::Dma {
            to_device: r.to_device.unwrap_or(true),
        },
        "put" => ThreadOp::Put,
        "hook" => ThreadOp::Hook,
        "find-get-page" | "splice-read" | "sendfile" | "writeback" | "kernel-read" | "lru-add" => {
            let file = named(&r.file, "file", files, "file")?;
            let index = need(r.index, "index")?;
            match name {
                "find-get-page" => ThreadOp::FindGetPage { file, index },
                "writeback" => ThreadOp::Writeback { file, index },
                "kernel-read" => ThreadOp::KernelRead { file, index },
                "lru-add" => ThreadOp::LruAdd { file, index },
                _ => {
                    let pipe = named(&r.pipe, "pipe", pipes, "pipe")?;
                    if name == "sendfile" {
                        ThreadOp::Sendfile { file, index, pipe }
                    } else {
                        ThreadOp::SpliceRead { file, index, pipe }
                    }
                }
            }
        }
        "splice-to-socket" => ThreadOp::SpliceToSocket {
            pipe: named(&r.pipe, "pipe", pipes, "pipe")?,
        },
        "pipe-release" => ThreadOp::PipeRelease {
            pipe: named(&r.pipe, "pipe", pipes, "pipe")?,
        },
        "tee" => ThreadOp::Tee {
            from: named(&r.from, "from", pipes, "pipe")?,
            to: named(&r.to, "to", pipes, "pipe")?,
        },
        "user-access" | "zap" => {
            let mm = named(&r.mm, "mm", mms, "mm")?;
            let vpn = need(r.vpn, "vpn")?;
            mapped(mm, vpn)?;
            if name == "zap" {
                ThreadOp::Zap { mm, vpn }
            } else {
                ThreadOp::UserAccess {
                    mm,
                    vpn,
                    write: write_bool()?,
                }
            }
        }
        "lru-drain" => ThreadOp::LruDrain,
        "direct-io" | "zerocopy-send" => {
            let mm = named(&r.mm, "mm", mms, "mm")?;
            let vpn = need(r.vpn, "vpn")?;
            mapped(mm, vpn)?;
            if name == "direct-io" {
                ThreadOp::DirectIo {
                    mm,
                    vpn,
                    to_memory: r.to_memory.unwrap_or(true),
                }
            } else {
                ThreadOp::ZerocopySend { mm, vpn }
            }
        }
        "uv-busy" => ThreadOp::UvBusy {
            count: r.count.unwrap_or(1),
        },
        other => {
            return Err(cx.err(
                r.op.span(),
                format!(
                    "field `op`: unknown operation `{other}` (known: {})",
                    OPS.join(", ")
                ),
            ))
        }
    })
}

/// The operation names a scenario thread can use.
pub const OPS: &[&str] = &[
    "guest-access",
    "unpack",
    "gup",
    "dma",
    "put",
    "hook",
    "find-get-page",
    "splice-read",
    "splice-to-socket",
    "sendfile",
    "tee",
    "pipe-release",
    "writeback",
    "kernel-read",
    "user-access",
    "zap",
    "lru-add",
    "lru-drain",
    "direct-io",
    "zerocopy-send",
    "uv-busy",
];

/// Spare free frames the allocator can hand out during an execution.
const SPARE_FRAMES: usize = 1;
/// Frames a scenario may have: an allocation declares every frame's refcount and lifetime.
const MAX_FRAMES: usize = (explore::Accesses::CAP - 1) / 2;

impl Scenario {
    /// The kernel configuration for `preset` with the scenario's and the caller's overrides.
    pub fn kernel(&self, preset: &str, extra: &[(String, String)]) -> Result<Kernel, String> {
        let mut k = config::preset(preset).ok_or_else(|| {
            format!(
                "unknown kernel preset `{preset}` (known: {})",
                preset_names()
            )
        })?;
        for (s, v) in self.overrides.iter().chain(extra) {
            k.set(s, v).map_err(|e| e.to_string())?;
        }
        Ok(k)
    }

    /// Thread names, in order.
    pub fn thread_names(&self) -> Vec<String> {
        self.source.threads.iter().map(|t| t.0.clone()).collect()
    }

    /// The threads' operations.
    pub fn thread_ops(&self) -> &[(String, Vec<ThreadOp>)] {
        &self.source.threads
    }

    /// Builds the model for one kernel configuration.
    pub fn model(&self, kernel: Kernel) -> KernelModel {
        let s = &self.source;
        // Pages: one per cached file page, then spare frames.
        let mut pages: Vec<Page> = Vec::new();
        let mut files: Vec<File> = Vec::new();
        for (name, n) in &s.files {
            let mut cache = Vec::new();
            for _ in 0..*n {
                cache.push(Some(pages.len()));
                pages.push(Page::new());
            }
            files.push(File {
                name: name.clone(),
                cache,
            });
        }
        let anon_first = pages.len();
        let anon_count = s
            .maps
            .iter()
            .filter(|m| m.file.is_none() && m.present)
            .count();
        let nframes = pages.len() + anon_count + SPARE_FRAMES;
        pages.resize(nframes, Page::new());
        for (fi, f) in files.iter().enumerate() {
            for (idx, p) in f.cache.iter().enumerate() {
                let p = p.expect("cache filled above");
                let pg = &mut pages[p];
                pg.free = false;
                pg.refcount = 1;
                pg.mapping = Some((fi, idx));
            }
        }
        let mut mms: Vec<Mm> = s
            .mms
            .iter()
            .map(|(name, protected, count)| Mm {
                name: name.clone(),
                protected: *protected,
                protected_count: *count,
                vmas: Vec::new(),
                ptes: Vec::new(),
                ptl_held: Vec::new(),
                mmap_readers: 0,
                mmap_writer: false,
            })
            .collect();
        let mut next_anon = anon_first;
        let mut map_pages: Vec<Option<usize>> = Vec::new();
        for m in &s.maps {
            mms[m.mm].vmas.push(Vma {
                vpn: m.vpn,
                file: m.file,
                shared: m.shared,
                writable: m.writable,
            });
            let p = match m.file {
                Some((f, i)) => files[f].cache[i].expect("validated index"),
                None if m.present => {
                    let p = next_anon;
                    next_anon += 1;
                    pages[p].free = false;
                    p
                }
                None => {
                    map_pages.push(None);
                    continue;
                }
            };
            map_pages.push(Some(p));
            if m.present {
                mms[m.mm].set_pte(
                    m.vpn,
                    Pte {
                        present: true,
                        invalid: false,
                        write: m.pte_write,
                        page: Some(p),
                    },
                );
                pages[p].mapcount += 1;
                pages[p].refcount += 1;
            }
        }
        let keys = UvKeys::new(1);
        let mut uvs = vec![UvFrame::default(); nframes];
        let mut guest = Vec::new();
        for g in &s.guest {
            let mi = s
                .maps
                .iter()
                .position(|m| m.mm == g.mm && m.vpn == g.vpn)
                .expect("validated guest mapping");
            let Some(p) = map_pages[mi] else {
                guest.push(GuestFrame {
                    gfn: g.gfn,
                    mm: g.mm,
                    vpn: g.vpn,
                    shared: g.shared,
                    written: None,
                });
                continue;
            };
            let data = g.data.map(|v| [v; PAGE_BYTES]);
            uvs[p].shared = g.shared;
            if g.secure {
                uvs[p].state = UvState::Secure {
                    guest: 0,
                    gfn: g.gfn,
                };
                pages[p].arch1 = true;
                pages[p].data = data.unwrap_or([0; PAGE_BYTES]);
            } else if g.image {
                // The host placed the guest's encrypted image here for unpack: seal it.
                let mut frame = UvFrame {
                    state: UvState::Secure {
                        guest: 0,
                        gfn: g.gfn,
                    },
                    ..UvFrame::default()
                };
                let mut d = data.unwrap_or([0; PAGE_BYTES]);
                uv::export(&keys, &mut frame, &mut d);
                frame.shared = g.shared;
                uvs[p] = frame;
                pages[p].data = d;
            }
            guest.push(GuestFrame {
                gfn: g.gfn,
                mm: g.mm,
                vpn: g.vpn,
                shared: g.shared,
                written: data,
            });
        }
        // Object ids.
        let per_page = PAGE_PARTS;
        let page_base = 0u32;
        let pte_index: Vec<(usize, usize)> = s.maps.iter().map(|m| (m.mm, m.vpn)).collect();
        let mut ptl_index: Vec<(usize, usize)> = Vec::new();
        for m in &s.maps {
            let k = (m.mm, m.vpn / PTRS_PER_PTE);
            if !ptl_index.contains(&k) {
                ptl_index.push(k);
            }
        }
        let mut slot_index = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            for idx in 0..f.cache.len() {
                slot_index.push((fi, idx));
            }
        }
        let pte_base = page_base + (nframes * per_page) as u32;
        let ptl_base = pte_base + pte_index.len() as u32;
        let mmap_base = ptl_base + ptl_index.len() as u32;
        let slot_base = mmap_base + mms.len() as u32;
        let pipe_base = slot_base + slot_index.len() as u32;
        let lru = pipe_base + s.pipes.len() as u32;
        let uv_busy = lru + 1;
        let alloc = lru + 2;
        let objs = Objs {
            per_page,
            page_base,
            pte_base,
            ptl_base,
            mmap_base,
            slot_base,
            pipe_base,
            lru,
            uv_busy,
            alloc,
            total: alloc as usize + 1,
            pte_index,
            ptl_index,
            slot_index,
        };
        let world = World {
            cfg: std::sync::Arc::new(kernel),
            objs: std::sync::Arc::new(objs),
            keys: std::sync::Arc::new(keys),
            pages,
            uv: uvs,
            mms,
            files,
            pipes: s
                .pipes
                .iter()
                .map(|n| Pipe {
                    name: n.clone(),
                    bufs: Vec::new(),
                })
                .collect(),
            lru_batch: Vec::new(),
            uv_busy: 0,
            guest,
            held: vec![Vec::new(); s.threads.len()],
        };
        KernelModel::new(world, s.threads.clone())
    }
}
