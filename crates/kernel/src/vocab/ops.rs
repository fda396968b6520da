//! The operations of a scenario thread, each declared once ([`ops!`]): its name, what it
//! does, its fields (kind, required or default, doc), the kernel call chain it follows with
//! `file: function, release` citations, the switches that change it, and what it does to the
//! references the thread holds ([`Batch`]). The declaration generates [`ThreadOp`], the
//! table [`OPS`], [`ThreadOp::build`] (from parsed field values) and [`ThreadOp::args`]; the
//! scenario parser, `pvmm explain`, `pvmm list`, the completions and `docs/scenarios.md`'s
//! op table read it.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// A flag of a flag-set field.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FlagSpec {
    pub name: &'static str,
    pub bit: u32,
    pub doc: &'static str,
}

/// What a field names or holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An mm, by the name of its `[[mm]]` table.
    Mm,
    /// A file, by the name of its `[[file]]` table.
    File,
    /// A pipe, by the name of its `[[pipe]]` table.
    Pipe,
    /// A guest frame number a `[[guest]]` table declares.
    Gfn,
    /// A virtual page number a `[[map]]` maps in the op's `mm`.
    Vpn,
    /// A page index within the op's `file`.
    Index,
    /// A count, at least 1.
    Count,
    /// `true` or `false`.
    Bool,
    /// A byte value, 1..=255.
    Byte,
    /// An Ultravisor return code, 1..=0xffff (TOML writes it `0x107`).
    Code,
    /// A set of flags, written `A|B`.
    Flags(&'static [FlagSpec]),
}

impl Kind {
    /// The integers a field of this kind accepts, with how they are described in an error:
    /// what the model can represent (a vpn of s390 user space, a 52-bit gfn, …). Whether
    /// the number names something (a mapped vpn, a declared gfn, a page of the file) is
    /// checked against the set-up ([`crate::build::Builder::check_op`]). `None` for kinds
    /// that are not numbers.
    pub fn range(&self) -> Option<(i64, i64, String)> {
        use crate::world::{MAX_GFN, MAX_VPN};
        let max_index = crate::build::MAX_FRAMES as i64;
        Some(match self {
            Kind::Gfn => (
                0,
                MAX_GFN as i64,
                format!("a guest frame number 0..={MAX_GFN}"),
            ),
            Kind::Vpn => (
                0,
                MAX_VPN as i64,
                format!("a vpn 0..={MAX_VPN} (s390's last user page: TASK_SIZE_MAX is -PAGE_SIZE)"),
            ),
            Kind::Index => (0, max_index, format!("a page index 0..={max_index}")),
            Kind::Count => (1, i64::from(u32::MAX), format!("a count 1..={}", u32::MAX)),
            Kind::Byte => (1, 255, "the byte value to store (1..=255)".into()),
            Kind::Code => (
                1,
                0xffff,
                "a UV return code (0x1..=0xffff, e.g. 0x107)".into(),
            ),
            _ => return None,
        })
    }

    /// How the kind is written, for documents.
    pub fn describe(&self) -> String {
        match self {
            Kind::Mm => "mm name".into(),
            Kind::File => "file name".into(),
            Kind::Pipe => "pipe name".into(),
            Kind::Gfn => "guest frame number".into(),
            Kind::Vpn => "vpn mapped in `mm`".into(),
            Kind::Index => "page index of `file`".into(),
            Kind::Count => "count ≥ 1".into(),
            Kind::Bool => "bool".into(),
            Kind::Byte => "byte 1..=255".into(),
            Kind::Code => "UV return code 0x1..=0xffff".into(),
            Kind::Flags(f) => format!(
                "flags: {}",
                f.iter().map(|f| f.name).collect::<Vec<_>>().join("|")
            ),
        }
    }
}

/// A field's value once parsed (names resolved to ids).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// An mm, file or pipe.
    Id(usize),
    /// A gfn, vpn, index or count.
    Num(usize),
    Bool(bool),
    Byte(u8),
    Flags(u32),
}

/// Whether a field must be given.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    Required,
    /// May be left out (the op then does something else, its doc says what).
    Optional,
    /// Left out, it has this value.
    Default(Arg),
}

/// One field of an op.
#[derive(Copy, Clone, Debug)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub presence: Presence,
    pub doc: &'static str,
}

impl FieldSpec {
    /// The field's default as a scenario writes it (a flag set as `A|B`), if it has one.
    pub fn default_text(&self) -> Option<String> {
        match (self.presence, self.kind) {
            (Presence::Default(Arg::Bool(b)), _) => Some(b.to_string()),
            (Presence::Default(Arg::Num(n) | Arg::Id(n)), _) => Some(n.to_string()),
            (Presence::Default(Arg::Byte(b)), _) => Some(format!("{b:#x}")),
            (Presence::Default(Arg::Flags(bits)), Kind::Flags(known)) => Some(
                known
                    .iter()
                    .filter(|f| bits & f.bit != 0)
                    .map(|f| f.name)
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            (Presence::Default(a), _) => Some(format!("{a:?}")),
            (Presence::Required | Presence::Optional, _) => None,
        }
    }
}

/// What an op does to the references (batches of pages) the thread holds: an op that uses
/// or releases a batch needs one (checked when a thread is built, [`crate::build`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Batch {
    /// Leaves them as they are.
    None,
    /// On success the thread holds one more batch (on failure the thread gives up: the
    /// I/O that needed it does not happen).
    Acquires,
    /// Acts on the newest batch.
    Uses,
    /// Drops the newest batch.
    Releases,
}

impl Batch {
    pub fn describe(&self) -> &'static str {
        match self {
            Batch::None => "",
            Batch::Acquires => "acquires a batch",
            Batch::Uses => "uses the newest batch",
            Batch::Releases => "releases the newest batch",
        }
    }
}

/// One op's declaration.
#[derive(Copy, Clone, Debug)]
pub struct OpSpec {
    /// As a scenario writes it (`op = "guest-access"`).
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [FieldSpec],
    /// The kernel call chain it follows (`a > b > c`, alternatives in parentheses).
    pub calls: &'static str,
    /// `file: function, release` of each modelled function on the chain.
    pub cites: &'static [&'static str],
    /// The switches that change this path, with what each changes here.
    pub switches: &'static [(&'static str, &'static str)],
    pub batch: Batch,
}

impl OpSpec {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// An error building an op: the field it concerns (or `op` for the op as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

/// A Rust type a field's value converts to.
pub trait FieldType: Sized {
    fn from_arg(a: Option<Arg>) -> Result<Self, String>;
    /// The value as an argument (`None`: an optional field left out).
    fn to_arg(&self) -> Option<Arg>;
}

impl FieldType for usize {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        match a {
            Some(Arg::Id(n) | Arg::Num(n)) => Ok(n),
            other => Err(format!("expected a number or a name, not {other:?}")),
        }
    }
    fn to_arg(&self) -> Option<Arg> {
        Some(Arg::Num(*self))
    }
}

impl FieldType for u32 {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        match a {
            Some(Arg::Num(n)) => u32::try_from(n).map_err(|_| format!("{n} is too large")),
            other => Err(format!("expected a count, not {other:?}")),
        }
    }
    fn to_arg(&self) -> Option<Arg> {
        Some(Arg::Num(*self as usize))
    }
}

impl FieldType for bool {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        match a {
            Some(Arg::Bool(b)) => Ok(b),
            other => Err(format!("expected true or false, not {other:?}")),
        }
    }
    fn to_arg(&self) -> Option<Arg> {
        Some(Arg::Bool(*self))
    }
}

impl FieldType for u16 {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        match a {
            Some(Arg::Num(n)) => u16::try_from(n).map_err(|_| format!("{n:#x} is too large")),
            other => Err(format!("expected a return code, not {other:?}")),
        }
    }
    fn to_arg(&self) -> Option<Arg> {
        Some(Arg::Num(usize::from(*self)))
    }
}

impl FieldType for Option<u16> {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        a.map(|a| u16::from_arg(Some(a))).transpose()
    }
    fn to_arg(&self) -> Option<Arg> {
        self.map(|c| Arg::Num(usize::from(c)))
    }
}

impl FieldType for Option<u32> {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        a.map(|a| u32::from_arg(Some(a))).transpose()
    }
    fn to_arg(&self) -> Option<Arg> {
        self.map(|c| Arg::Num(c as usize))
    }
}

impl FieldType for Option<u8> {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        match a {
            None => Ok(None),
            Some(Arg::Byte(b)) => Ok(Some(b)),
            other => Err(format!("expected a byte, not {other:?}")),
        }
    }
    fn to_arg(&self) -> Option<Arg> {
        self.map(Arg::Byte)
    }
}

/// A set of GUP flags (`include/linux/mm.h`: `FOLL_*`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct GupFlags(pub u32);

impl GupFlags {
    pub const FOLL_WRITE: u32 = 1;
    pub const FOLL_GET: u32 = 2;
    pub const FOLL_PIN: u32 = 4;
    pub const FOLL_LONGTERM: u32 = 8;

    /// FOLL_PIN (else FOLL_GET).
    pub fn pin(self) -> bool {
        self.0 & Self::FOLL_PIN != 0
    }
    pub fn write(self) -> bool {
        self.0 & Self::FOLL_WRITE != 0
    }
    pub fn longterm(self) -> bool {
        self.0 & Self::FOLL_LONGTERM != 0
    }
}

/// The flags a `gup` op takes.
pub const GUP_FLAGS: &[FlagSpec] = &[
    FlagSpec {
        name: "FOLL_GET",
        bit: GupFlags::FOLL_GET,
        doc: "a reference (get_user_pages*)",
    },
    FlagSpec {
        name: "FOLL_PIN",
        bit: GupFlags::FOLL_PIN,
        doc: "a pin of GUP_PIN_COUNTING_BIAS, with the hook (pin_user_pages*)",
    },
    FlagSpec {
        name: "FOLL_LONGTERM",
        bit: GupFlags::FOLL_LONGTERM,
        doc: "a long-term pin (with FOLL_PIN): __gup_longterm_locked, check_and_migrate_movable_pages",
    },
    FlagSpec {
        name: "FOLL_WRITE",
        bit: GupFlags::FOLL_WRITE,
        doc: "the caller will write: the PTE must be writable (same as `write = true`)",
    },
];

impl FieldType for GupFlags {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        let Some(Arg::Flags(bits)) = a else {
            return Err(format!("expected flags, not {a:?}"));
        };
        let f = GupFlags(bits);
        let kinds = bits & (Self::FOLL_GET | Self::FOLL_PIN);
        if kinds == 0 {
            return Err("name FOLL_GET or FOLL_PIN".into());
        }
        if f.longterm() && !f.pin() {
            return Err(
                "FOLL_LONGTERM needs FOLL_PIN (get_user_pages rejects it: mm/gup.c: \
                 is_valid_gup_flags, 6.1.192; the FOLL_GET long-term pins of older releases \
                 are not modelled)"
                    .into(),
            );
        }
        if kinds == Self::FOLL_GET | Self::FOLL_PIN {
            return Err("FOLL_GET and FOLL_PIN are mutually exclusive \
                 (mm/gup.c: pin_user_pages rejects FOLL_GET, 6.1.192)"
                .into());
        }
        Ok(f)
    }
    fn to_arg(&self) -> Option<Arg> {
        Some(Arg::Flags(self.0))
    }
}

/// A set of Ultravisor calls (a set of [`crate::uv::UvCall::bit`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct UvCalls(pub u32);

/// The calls a firmware op names.
pub const UV_CALL_FLAGS: &[FlagSpec] = &[
    FlagSpec {
        name: "import",
        bit: 1 << crate::uv::UvCall::Import as u32,
        doc: "Convert-To-Secure-Storage: the import of a touched page (gmap_make_secure)",
    },
    FlagSpec {
        name: "unpack",
        bit: 1 << crate::uv::UvCall::Unpack as u32,
        doc: "Unpack-Image: the import of an image page (KVM_PV_UNPACK)",
    },
    FlagSpec {
        name: "export",
        bit: 1 << crate::uv::UvCall::Export as u32,
        doc: "Convert-From-Secure-Storage: every export (the hook, the 0x3d handler, the PTE-clear helpers, export before import, s390_reset_acc)",
    },
    FlagSpec {
        name: "pin-shared",
        bit: 1 << crate::uv::UvCall::PinShared as u32,
        doc: "Pin-Page-Shared (the hook, for a page the guest shared)",
    },
    FlagSpec {
        name: "destroy",
        bit: 1 << crate::uv::UvCall::Destroy as u32,
        doc: "Destroy-Secure-Storage of a page (the teardown)",
    },
    FlagSpec {
        name: "destroy-sec-conf",
        bit: 1 << crate::uv::UvCall::DestroySecConf as u32,
        doc: "Destroy-Secure-Configuration (the teardown)",
    },
    FlagSpec {
        name: "destroy-sec-conf-fast",
        bit: 1 << crate::uv::UvCall::DestroySecConfFast as u32,
        doc: "Destroy-Secure-Configuration-Fast (the asynchronous teardown's set-aside)",
    },
];

impl FieldType for UvCalls {
    fn from_arg(a: Option<Arg>) -> Result<Self, String> {
        match a {
            Some(Arg::Flags(bits)) if bits != 0 => Ok(UvCalls(bits)),
            other => Err(format!("expected UV calls, not {other:?}")),
        }
    }
    fn to_arg(&self) -> Option<Arg> {
        Some(Arg::Flags(self.0))
    }
}

/// A scenario's caller frames of an op (`frame = "io_uring_register > io_sqe_buffer_register"`):
/// the kernel functions above the op's entry point, shown in its trace.
pub type Frames = Vec<&'static str>;

/// Parses `a > b > c` into interned function names: identifiers (letters, digits, `_`, not
/// starting with a digit) separated by `>`.
pub fn parse_frames(text: &str) -> Result<Frames, String> {
    let mut out = Vec::new();
    for part in text.split('>') {
        let f = part.trim();
        let ok = f
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!(
                "`{f}` is not a kernel function name (write identifiers separated by `>`, \
                 e.g. \"io_uring_register > io_sqe_buffer_register\")"
            ));
        }
        out.push(intern(f));
    }
    Ok(out)
}

/// The one `&'static str` of a frame name (the trace's frames are static strings): each
/// distinct name is allocated once per process.
fn intern(s: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(s) {
        return n;
    }
    let n: &'static str = Box::leak(s.to_string().into_boxed_str());
    names.insert(n);
    n
}

/// One operation of a thread, with the caller frames its scenario wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpCall {
    pub op: ThreadOp,
    pub frames: Frames,
}

impl From<ThreadOp> for OpCall {
    fn from(op: ThreadOp) -> Self {
        OpCall {
            op,
            frames: Vec::new(),
        }
    }
}

/// Declares the ops: [`ThreadOp`] (one variant per op, its fields typed), [`OPS`], and
/// the conversions from and to parsed field values.
macro_rules! ops {
    (
        $(
            $v:ident {
                name: $name:literal,
                doc: $doc:literal,
                fields: [ $(
                    $f:ident : $t:ty = ($kind:expr, $presence:expr, $fdoc:literal)
                ),* $(,)? ],
                calls: $calls:literal,
                cites: $cites:expr,
                switches: $switches:expr,
                batch: $batch:expr $(,)?
            }
        ),+ $(,)?
    ) => {
        /// One operation of a scenario thread: a kernel entry point (a system call, a device
        /// completion, a guest access) run as model code.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum ThreadOp {
            $( #[doc = $doc] $v { $( #[doc = $fdoc] $f: $t ),* }, )+
        }

        /// Every op, in declaration order.
        pub const OPS: &[OpSpec] = &[$(OpSpec {
            name: $name,
            doc: $doc,
            fields: &[$(FieldSpec {
                name: stringify!($f),
                kind: $kind,
                presence: $presence,
                doc: $fdoc,
            }),*],
            calls: $calls,
            cites: $cites,
            switches: $switches,
            batch: $batch,
        }),+];

        impl ThreadOp {
            /// The op's declaration.
            pub fn spec(&self) -> &'static OpSpec {
                let name = match self { $( ThreadOp::$v { .. } => $name, )+ };
                op_spec(name).expect("every variant is declared")
            }

            /// Builds op `name` from its fields' values (`get(field)`; a missing field has its
            /// declared default). Checks each value's type, not what it names (see
            /// [`crate::build::Builder::check_op`]).
            pub fn build(
                name: &str,
                get: &dyn Fn(&str) -> Option<Arg>,
            ) -> Result<ThreadOp, FieldError> {
                match name {
                    $( $name => Ok(ThreadOp::$v { $(
                        $f: {
                            let presence: Presence = $presence;
                            let a = get(stringify!($f)).or(match presence {
                                Presence::Default(d) => Some(d),
                                _ => None,
                            });
                            if a.is_none() && presence == Presence::Required {
                                return Err(FieldError {
                                    field: stringify!($f),
                                    message: "missing".into(),
                                });
                            }
                            <$t as FieldType>::from_arg(a).map_err(|message| FieldError {
                                field: stringify!($f),
                                message,
                            })?
                        },
                    )* }), )+
                    other => Err(FieldError {
                        field: "op",
                        message: format!("unknown operation `{other}` (known: {})", op_names()),
                    }),
                }
            }

            /// The op's fields with their values (optional fields left out are absent).
            pub fn args(&self) -> Vec<(&'static FieldSpec, Arg)> {
                let spec = self.spec();
                let mut out = Vec::new();
                match self {
                    $( #[allow(unused_variables)] ThreadOp::$v { $($f),* } => {
                        $(
                            if let Some(a) = FieldType::to_arg($f) {
                                out.push((spec.field(stringify!($f)).expect("declared"), a));
                            }
                        )*
                    } )+
                }
                out
            }
        }
    };
}

/// The declaration of op `name`.
pub fn op_spec(name: &str) -> Option<&'static OpSpec> {
    OPS.iter().find(|o| o.name == name)
}

/// The op names, comma-separated (for messages).
pub fn op_names() -> String {
    OPS.iter().map(|o| o.name).collect::<Vec<_>>().join(", ")
}

const REQ: Presence = Presence::Required;
const OPT: Presence = Presence::Optional;
const fn dflt_bool(b: bool) -> Presence {
    Presence::Default(Arg::Bool(b))
}

/// The import's switches, for the ops that import (`guest-access`, `unpack`).
const IMPORT_SWITCHES: &[(&str, &str)] = &[
    (
        "import_flow",
        "the shape of gmap_make_secure: lookup, page lock, PTE lock, reference",
    ),
    (
        "import_single_uv_call",
        "one __uv_call (busy → -EAGAIN) instead of uv_call looping while busy",
    ),
    (
        "freeze_plus_one",
        "the import freezes at expected_folio_refs + 1: the importer holds one reference",
    ),
    (
        "writeback_ebusy",
        "writeback during the import answers -EBUSY rather than -EAGAIN",
    ),
    (
        "wiggle_drains",
        "s390_wiggle_split_folio drains the LRU on all CPUs",
    ),
    (
        "import_holds_ptl",
        "gmap_make_secure holds the PTE lock across freeze and UVC",
    ),
    (
        "import_freezes",
        "make_secure_pte freezes the refcount at expected_page_refs (the lock-out)",
    ),
    (
        "wiggle_split_eagain",
        "a successful split in s390_wiggle_split_folio becomes -EAGAIN (else the page is skipped)",
    ),
    (
        "split_dirty_writeback",
        "s390_wiggle_split_folio writes back a dirty folio whose split failed and tries again",
    ),
    (
        "enxio_write_fault",
        "PGM 0x3e: the import's -ENXIO is followed by a write fault (the unpack faults in from v6.14-rc1 on)",
    ),
    (
        "export_before_import",
        "export before import when the mm runs more than one protected VM",
    ),
    (
        "debug_vm",
        "VM_BUG_ON in page_ref_unfreeze is live (CONFIG_DEBUG_VM)",
    ),
];

const GUP_SWITCHES: &[(&str, &str)] = &[
    (
        "slow_grab",
        "how try_grab_page takes its reference: check-then-add (WARN, separate add) or one add-unless-zero",
    ),
    (
        "fast_pin_grab",
        "how the fast path adds GUP_PIN_COUNTING_BIAS (FOLL_PIN)",
    ),
    (
        "hook_on_foll_pin",
        "follow_page_pte / gup_pte_range call the hook for FOLL_PIN",
    ),
    (
        "longterm_file_write_denied",
        "FOLL_LONGTERM | FOLL_WRITE on a shared file mapping fails with -EFAULT",
    ),
    (
        "gup_fast_hook_fail_stops",
        "a failed FOLL_PIN hook ends the fast walk (else the walk goes on in the next PMD range, and the fallback resumes at start + nr_pinned)",
    ),
    (
        "gup_fast_grab_checked",
        "a failed speculative grab ends the fast walk (seeded defect: the page is recorded without a marker)",
    ),
];

const SPLICE_CONFIRM: (&str, &str) = (
    "splice_confirm_hook",
    "page_cache_pipe_buf_confirm calls arch_make_page_accessible (the 2020 patch)",
);

ops! {
    GuestAccess {
        name: "guest-access",
        doc: "The guest touches guest frame `gfn` under SIE (a store of `write` when given, else a load); a non-secure page raises PGM 0x3e and the host imports it, then the guest retries.",
        fields: [
            gfn: usize = (Kind::Gfn, REQ, "the guest frame"),
            write: Option<u8> = (Kind::Byte, OPT, "the byte the guest stores; a load when left out"),
        ],
        calls: "sie64a > guest access > PGM 0x3e > do_non_secure_storage_access > gmap_convert_to_secure > gmap_make_secure (per import_flow: lookup, page lock, PTE lock; make_secure_pte: page_ref_freeze > UVC convert-to-secure > page_ref_unfreeze) > re-enter SIE",
        cites: &[
            "arch/s390/mm/fault.c: do_non_secure_storage_access, v5.7",
            "arch/s390/kernel/uv.c: gmap_convert_to_secure, v5.7",
            "arch/s390/kernel/uv.c: gmap_make_secure, v5.7",
            "arch/s390/kernel/uv.c: make_secure_pte, v5.7",
            "arch/s390/kvm/kvm-s390.c: vcpu_post_run_handle_fault, 6.12.118",
        ],
        switches: IMPORT_SWITCHES,
        batch: Batch::None,
    },
    Unpack {
        name: "unpack",
        doc: "`KVM_PV_UNPACK` of an image of `pages` pages from guest frame `gfn` on: per page `unpack_one` (`gmap_make_secure` with the Unpack UVC), -EAGAIN retried, another error ends the ioctl, 0 moves on (the page is then reported in place).",
        fields: [
            gfn: usize = (Kind::Gfn, REQ, "the image's first guest frame"),
            pages: usize = (Kind::Count, Presence::Default(Arg::Num(1)), "pages of the image: guest frames gfn, gfn+1, …, each declared"),
        ],
        calls: "kvm_s390_pv_unpack > unpack_one > gmap_make_secure(UNPACK) (per import_flow) > UVC unpack; -ENXIO (v6.14-rc1 on): fixup_user_fault | kvm_s390_faultin_gfn_simple, -EAGAIN; -EAGAIN: cond_resched (≤ v6.19), retry; 0: next page",
        cites: &[
            "arch/s390/kvm/pv.c: kvm_s390_pv_unpack, v5.7",
            "arch/s390/kvm/pv.c: unpack_one, v5.7",
            "arch/s390/kernel/uv.c: gmap_make_secure, v5.7",
            "arch/s390/kvm/pv.c: unpack_one, 6.12.118",
            "arch/s390/kvm/pv.c: kvm_s390_pv_unpack, v7.1",
        ],
        switches: IMPORT_SWITCHES,
        batch: Batch::None,
    },
    Gup {
        name: "gup",
        doc: "GUP of `nr_pages` user pages from `vpn` on: FOLL_GET (`get_user_pages*`) or FOLL_PIN (`pin_user_pages*`), slow or fast (the fast walk over the PTEs of each page table, falling back to the slow path where it stopped). On a positive count the thread holds those pages as one batch; a call that returns nothing (or an error) ends the thread.",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space"),
            vpn: usize = (Kind::Vpn, REQ, "the first virtual page"),
            flags: GupFlags = (Kind::Flags(GUP_FLAGS), REQ, "FOLL_GET or FOLL_PIN; FOLL_LONGTERM (with FOLL_PIN), FOLL_WRITE"),
            fast: bool = (Kind::Bool, dflt_bool(false), "get_user_pages_fast / pin_user_pages_fast (falls back to the slow path)"),
            write: bool = (Kind::Bool, dflt_bool(false), "FOLL_WRITE: the PTE must be writable"),
            nr_pages: usize = (Kind::Count, Presence::Default(Arg::Num(1)), "pages from `vpn` on (vpn, vpn + 1, ...; a vpn without a mapping ends the range there)"),
        ],
        calls: "get_user_pages | pin_user_pages (fast: lockless_pages_from_mm > gup_pgd_range > per PMD range gup_pte_range: per PTE try_grab_compound_head > PTE re-check (FOLL_PIN: > arch_make_page_accessible); then the slow path from start + nr_pinned) (FOLL_LONGTERM: > __gup_longterm_locked) > __get_user_pages: per page (check_vma_flags) follow_page_pte > try_grab_page (FOLL_PIN: > arch_make_page_accessible) (not present or not writable: handle_mm_fault, retry); returns i ?: ret (FOLL_LONGTERM: > check_and_migrate_movable_pages)",
        cites: &[
            "mm/gup.c: __get_user_pages, v5.7",
            "mm/gup.c: follow_page_pte, v5.7",
            "mm/gup.c: try_grab_page, v5.7",
            "mm/gup.c: gup_pte_range, v5.7",
            "mm/gup.c: gup_pmd_range, 6.1.192",
            "mm/gup.c: internal_get_user_pages_fast, 6.1.192",
            "mm/gup.c: gup_fast_fallback, 6.12.118",
            "mm/memory.c: handle_mm_fault, v5.7",
            "mm/gup.c: __gup_longterm_locked, 6.1.192",
            "mm/gup.c: check_and_migrate_movable_pages, 6.1.192",
            "mm/gup.c: writable_file_mapping_allowed, 6.12.118",
            "mm/gup.c: gup_fast_folio_allowed, 6.12.118",
        ],
        switches: GUP_SWITCHES,
        batch: Batch::Acquires,
    },
    Dma {
        name: "dma",
        doc: "A device reads (`to_device`) or writes every page of the thread's newest batch.",
        fields: [
            to_device: bool = (Kind::Bool, dflt_bool(true), "the device reads the page (a transmit, a disk write); false: it writes it"),
        ],
        calls: "device dma_read | dma_write of each held page (no kernel function: the device)",
        cites: &[],
        switches: &[],
        batch: Batch::Uses,
    },
    Put {
        name: "put",
        doc: "`put_page` or `unpin_user_page` (as it was taken) of every page of the thread's newest batch.",
        fields: [],
        calls: "put_page | unpin_user_page",
        cites: &["include/linux/mm.h: put_page, v5.7", "mm/gup.c: unpin_user_page, v5.7"],
        switches: &[("debug_vm", "VM_BUG_ON_PAGE on a put of a zero count (CONFIG_DEBUG_VM)")],
        batch: Batch::Releases,
    },
    Hook {
        name: "hook",
        doc: "`arch_make_page_accessible` on every page of the thread's newest batch.",
        fields: [],
        calls: "arch_make_page_accessible > uv_pin_shared | uv_convert_from_secure",
        cites: &["arch/s390/kernel/uv.c: arch_make_page_accessible, v5.7"],
        switches: &[],
        batch: Batch::Uses,
    },
    FindGetPage {
        name: "find-get-page",
        doc: "`find_get_page`: a page-cache lookup with the speculative get; on success the thread holds the page.",
        fields: [
            file: usize = (Kind::File, REQ, "the file"),
            index: usize = (Kind::Index, REQ, "the page index"),
        ],
        calls: "find_get_page > pagecache_get_page > find_get_entry: xas_load > page_cache_get_speculative (page_ref_add_unless) > xas_reload",
        cites: &["mm/filemap.c: find_get_entry, v5.7"],
        switches: &[],
        batch: Batch::Acquires,
    },
    SpliceRead {
        name: "splice-read",
        doc: "`splice()` from a file into a pipe: the page-cache page becomes a pipe buffer.",
        fields: [
            file: usize = (Kind::File, REQ, "the file"),
            index: usize = (Kind::Index, REQ, "the page index"),
            pipe: usize = (Kind::Pipe, REQ, "the pipe"),
        ],
        calls: "generic_file_splice_read > find_get_page > copy_page_to_iter_pipe (get_page, pipe buffer) > put_page",
        cites: &[
            "fs/splice.c: generic_file_splice_read, v5.7",
            "lib/iov_iter.c: copy_page_to_iter_pipe, v5.7",
        ],
        switches: &[],
        batch: Batch::None,
    },
    SpliceToSocket {
        name: "splice-to-socket",
        doc: "`splice()` from a pipe to a TCP socket on a NIC with scatter-gather: every buffer's page goes to an skb and the NIC.",
        fields: [
            pipe: usize = (Kind::Pipe, REQ, "the pipe"),
        ],
        calls: "splice_from_pipe_feed > page_cache_pipe_buf_confirm > pipe_to_sendpage > tcp_sendpage (get_page) > pipe_buf_release > NIC dma_read > tcp_clean_rtx_queue > skb free (put_page)",
        cites: &[
            "fs/splice.c: splice_from_pipe_feed, v5.7",
            "fs/splice.c: page_cache_pipe_buf_confirm, v5.7",
            "fs/splice.c: pipe_to_sendpage, v5.7",
            "net/ipv4/tcp.c: do_tcp_sendpages, v5.7",
        ],
        switches: &[SPLICE_CONFIRM],
        batch: Batch::None,
    },
    Sendfile {
        name: "sendfile",
        doc: "`sendfile()` of a file page to a TCP socket: `splice-read` then `splice-to-socket` through `pipe`.",
        fields: [
            file: usize = (Kind::File, REQ, "the file"),
            index: usize = (Kind::Index, REQ, "the page index"),
            pipe: usize = (Kind::Pipe, REQ, "the internal pipe"),
        ],
        calls: "do_splice_direct > generic_file_splice_read (find_get_page, copy_page_to_iter_pipe) > splice_from_pipe_feed (page_cache_pipe_buf_confirm, pipe_to_sendpage > tcp_sendpage, pipe_buf_release) > NIC dma_read > skb free",
        cites: &[
            "fs/splice.c: do_splice_direct, v5.7",
            "fs/splice.c: generic_file_splice_read, v5.7",
            "fs/splice.c: splice_from_pipe_feed, v5.7",
        ],
        switches: &[SPLICE_CONFIRM],
        batch: Batch::None,
    },
    Tee {
        name: "tee",
        doc: "`tee()` from one pipe to another: each buffer's page gets another reference.",
        fields: [
            from: usize = (Kind::Pipe, REQ, "the source pipe"),
            to: usize = (Kind::Pipe, REQ, "the destination pipe"),
        ],
        calls: "link_pipe > generic_pipe_buf_get > try_get_page (WARN on a frozen count)",
        cites: &["fs/splice.c: link_pipe, v5.7", "fs/pipe.c: generic_pipe_buf_get, v5.7"],
        switches: &[],
        batch: Batch::None,
    },
    PipeRelease {
        name: "pipe-release",
        doc: "The pipe is closed: every buffer left is released.",
        fields: [
            pipe: usize = (Kind::Pipe, REQ, "the pipe"),
        ],
        calls: "free_pipe_info > pipe_buf_release > put_page, for every buffer",
        cites: &["fs/pipe.c: free_pipe_info, v5.7"],
        switches: &[],
        batch: Batch::None,
    },
    Writeback {
        name: "writeback",
        doc: "Write back one page-cache folio as the kernel's data-integrity writer does (WB_SYNC_ALL): the tagged lookup finds it only while dirty; under the folio lock it is skipped if truncated or clean, waits for writeback in flight, `folio_clear_dirty_for_io` write-protects every shared mapping (`folio_mkclean`: `ptep_clear_flush`, an export in a protected mm, then the PTE read-only and clean), then PG_writeback and the hook, unlock, the disk reads the page.",
        fields: [
            file: usize = (Kind::File, REQ, "the file"),
            index: usize = (Kind::Index, REQ, "the page index"),
        ],
        calls: "write_cache_pages / writeback_iter > filemap_get_folios_tag (PG_dirty) > folio_lock > folio_prepare_writeback (mapping, folio_test_dirty, folio_wait_writeback, folio_clear_dirty_for_io > folio_mkclean > page_vma_mkclean_one > ptep_clear_flush (export in a protected mm) > set_pte_at (read-only, clean)) > __test_set_page_writeback > arch_make_page_accessible > folio_unlock > submit_bio (the disk reads the page) > end_page_writeback",
        cites: &[
            "mm/page-writeback.c: write_cache_pages, 6.1.192",
            "mm/page-writeback.c: writeback_iter, 6.12.118",
            "mm/page-writeback.c: folio_prepare_writeback, 6.12.118",
            "mm/page-writeback.c: folio_clear_dirty_for_io, 6.1.192",
            "mm/rmap.c: page_vma_mkclean_one, 6.12.118",
            "mm/page-writeback.c: __test_set_page_writeback, v5.7",
            "mm/filemap.c: end_page_writeback, v5.7",
        ],
        switches: &[
            ("end_writeback_takes_ref", "end_page_writeback takes a temporary reference around the clear and wake-up"),
            ("debug_vm", "VM_BUG_ON on the writeback hook's failure (CONFIG_DEBUG_VM)"),
        ],
        batch: Batch::None,
    },
    KernelRead {
        name: "kernel-read",
        doc: "`read()` of a page-cache page into a user buffer: the kernel copies from it, with the 0x3d KERNEL_FAULT fix-up.",
        fields: [
            file: usize = (Kind::File, REQ, "the file"),
            index: usize = (Kind::Index, REQ, "the page index"),
        ],
        calls: "generic_file_read_iter > find_get_page > copy_page (PGM 0x3d > do_secure_storage_access(KERNEL_FAULT): try_get_page, arch_make_page_accessible, put_page; BUG on failure) > put_page",
        cites: &[
            "mm/filemap.c: generic_file_read_iter, v5.7",
            "arch/s390/mm/fault.c: do_secure_storage_access, v5.7",
        ],
        switches: &[("kernel_fault", "what the 0x3d handler does in kernel mode")],
        batch: Batch::None,
    },
    UserAccess {
        name: "user-access",
        doc: "A user load or store through `mm`'s page table, with the 0x3d USER_FAULT fix-up.",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space"),
            vpn: usize = (Kind::Vpn, REQ, "the virtual page"),
            write: bool = (Kind::Bool, dflt_bool(false), "a store (else a load)"),
        ],
        calls: "user load/store > PGM 0x3d > do_secure_storage_access(USER_FAULT) > arch_make_page_accessible, retry (SIGSEGV on failure)",
        cites: &["arch/s390/mm/fault.c: do_secure_storage_access, v5.7"],
        switches: &[("user_fault", "how the 0x3d handler finds the page in user mode")],
        batch: Batch::None,
    },
    Zap {
        name: "zap",
        doc: "MADV_DONTNEED of one page: the PTE is cleared (exporting the page in a protected mm) and the mapping's reference dropped.",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space"),
            vpn: usize = (Kind::Vpn, REQ, "the virtual page"),
        ],
        calls: "MADV_DONTNEED > zap_pte_range > ptep_get_and_clear_full (export at PTE clear: uv_convert_from_secure) > page_remove_rmap > tlb_finish_mmu > put_page",
        cites: &[
            "mm/memory.c: zap_pte_range, v5.7",
            "arch/s390/include/asm/pgtable.h: ptep_get_and_clear_full, v5.7",
        ],
        switches: &[("pte_clear_export_clears_arch1", "the export at PTE clear also clears PG_arch_1")],
        batch: Batch::None,
    },
    LruAdd {
        name: "lru-add",
        doc: "`mark_page_accessed` queues the page-cache page on the per-CPU LRU batch, which holds a reference until a drain.",
        fields: [
            file: usize = (Kind::File, REQ, "the file"),
            index: usize = (Kind::Index, REQ, "the page index"),
        ],
        calls: "mark_page_accessed > find_get_page > lru_cache_add (the per-CPU batch takes a reference) > put_page",
        cites: &["mm/swap.c: mark_page_accessed, v5.7", "mm/swap.c: lru_cache_add, v5.7"],
        switches: &[],
        batch: Batch::None,
    },
    LruDrain {
        name: "lru-drain",
        doc: "`lru_add_drain`: the per-CPU batch drops its references.",
        fields: [],
        calls: "lru_add_drain > pagevec_lru_move > release_pages",
        cites: &["mm/swap.c: lru_add_drain, v5.7"],
        switches: &[],
        batch: Batch::None,
    },
    DirectIo {
        name: "direct-io",
        doc: "Block direct I/O on `nr_pages` user pages: FOLL_GET through `iov_iter_get_pages` before v6.5, FOLL_PIN through `iov_iter_extract_pages` after; a short GUP count only splits the I/O (the rest is asked for again); the device writes memory (`read()` from disk) or reads it; then put or unpin.",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space"),
            vpn: usize = (Kind::Vpn, REQ, "the virtual page"),
            to_memory: bool = (Kind::Bool, dflt_bool(true), "a read() from disk: the device writes the page (else a write(): it reads it)"),
            nr_pages: usize = (Kind::Count, Presence::Default(Arg::Num(1)), "pages of the buffer from `vpn` on"),
        ],
        calls: "bio_iov_iter_get_pages: until the buffer is in the bio or GUP fails: __bio_iov_iter_get_pages > iov_iter_get_pages (FOLL_GET) | iov_iter_extract_pages (FOLL_PIN) > get_user_pages_fast (a short count: the next round asks for the rest; nothing at all: -EFAULT) > disk DMA of the pages got > bio_release_pages > put_page | unpin_user_page",
        cites: &[
            "block/bio.c: bio_iov_iter_get_pages, v5.7",
            "lib/iov_iter.c: iov_iter_get_pages, v5.7",
            "lib/iov_iter.c: iov_iter_extract_pages, 6.12.118",
            "block/bio.c: bio_release_pages, v5.7",
        ],
        switches: &[
            ("dio_pins", "block direct I/O pins (FOLL_PIN, with the hook) instead of FOLL_GET"),
            ("slow_grab", "how the slow-path fallback takes its reference"),
            ("fast_pin_grab", "how the fast path adds GUP_PIN_COUNTING_BIAS"),
            ("hook_on_foll_pin", "gup_pte_range / follow_page_pte call the hook for FOLL_PIN"),
            ("gup_fast_hook_fail_stops", "a failed hook ends the fast walk (else the walk goes on in the next PMD range)"),
        ],
        batch: Batch::None,
    },
    ZerocopySend {
        name: "zerocopy-send",
        doc: "MSG_ZEROCOPY send of `nr_pages` user pages: FOLL_GET, no hook, until every page is a frag (a short count asks again for the rest; an error drops the frags of this send: -EFAULT); the NIC reads the pages, then the skb is freed.",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space"),
            vpn: usize = (Kind::Vpn, REQ, "the virtual page"),
            nr_pages: usize = (Kind::Count, Presence::Default(Arg::Num(1)), "pages of the buffer from `vpn` on"),
        ],
        calls: "skb_zerocopy_iter_stream > __zerocopy_sg_from_iter: while bytes remain: iov_iter_get_pages2 (FOLL_GET, no hook; < 0: -EFAULT, ___pskb_trim drops this send's frags) > NIC dma_read > skb free (put_page)",
        cites: &[
            "net/core/datagram.c: __zerocopy_sg_from_iter, 6.1.192",
            "lib/iov_iter.c: iov_iter_get_pages2, 6.1.192",
            "net/core/skbuff.c: skb_zerocopy_iter_stream, 6.1.192",
        ],
        switches: &[("slow_grab", "how the slow-path fallback takes its reference")],
        batch: Batch::None,
    },
    UvBusy {
        name: "uv-busy",
        doc: "The Ultravisor answers the calls `call` with busy (condition code 2, or 3 with `partial`): without `count` for a busy period — every such call answers busy, any number of times, until the period ends, which the explorer may put after any step (weak fairness: it ends), or never with `forever`; with `count`, exactly the next `count` such calls.",
        fields: [
            call: UvCalls = (Kind::Flags(UV_CALL_FLAGS), Presence::Default(Arg::Flags(3)), "the calls that answer busy"),
            count: Option<u32> = (Kind::Count, OPT, "how many calls answer busy; a busy period when left out"),
            partial: bool = (Kind::Bool, dflt_bool(false), "partial completion (condition code 3) instead of busy (2): the kernel handles both alike"),
            forever: bool = (Kind::Bool, dflt_bool(false), "the busy period never ends (no progress is possible); only without `count`"),
        ],
        calls: "the firmware: cc 2 | cc 3 (no kernel function); uv_call repeats while cc > 1 (no reschedule point), uv_call_sched with cond_resched, __uv_call returns it",
        cites: &["arch/s390/include/asm/uv.h: uv_call, 6.1.192", "arch/s390/include/asm/uv.h: uv_call_sched, 6.1.192"],
        switches: &[("import_single_uv_call", "busy makes the import return -EAGAIN instead of looping in uv_call")],
        batch: Batch::None,
    },
    Vmsplice {
        name: "vmsplice",
        doc: "`vmsplice()` of `nr_pages` user pages into a pipe: `iter_to_pipe` takes a reference on each (GUP fast, FOLL_GET, no FOLL_WRITE, no hook) and queues it as a pipe buffer (`user_page_pipe_buf_ops`: no confirm, so no hook when it is spliced on). A vmsplice that queued nothing ends the thread (the caller sees its error).",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space"),
            vpn: usize = (Kind::Vpn, REQ, "the first virtual page"),
            nr_pages: usize = (Kind::Count, Presence::Default(Arg::Num(1)), "pages from `vpn` on"),
            pipe: usize = (Kind::Pipe, REQ, "the pipe"),
        ],
        calls: "vmsplice > vmsplice_to_pipe > iter_to_pipe: until done or an error: iov_iter_get_pages2 > get_user_pages_fast (FOLL_GET, no hook) > add_to_pipe (user_page_pipe_buf_ops) per page; returns the bytes queued, or the error when none",
        cites: &[
            "fs/splice.c: vmsplice_to_pipe, 6.1.192",
            "fs/splice.c: iter_to_pipe, 6.1.192",
            "fs/splice.c: iter_to_pipe, 6.12.118",
            "lib/iov_iter.c: iov_iter_get_pages2, 6.1.192",
        ],
        switches: &[
            ("slow_grab", "how the slow-path fallback takes its reference"),
        ],
        batch: Batch::None,
    },
    IoUringRegister {
        name: "io-uring-register",
        doc: "`IORING_REGISTER_BUFFERS` of one buffer of `nr_pages` pages from `vpn` on: `io_pin_pages` pins them for write, long term (FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE), all or nothing (a partial pin is unpinned: -EFAULT). On success the thread holds the pages as one batch (`dma` is a fixed-buffer I/O; `put` is `io_buffer_unmap` at unregister); a failed registration ends the thread.",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space"),
            vpn: usize = (Kind::Vpn, REQ, "the first virtual page"),
            nr_pages: usize = (Kind::Count, Presence::Default(Arg::Num(1)), "pages of the buffer"),
        ],
        calls: "io_uring_register > io_sqe_buffers_register > io_sqe_buffer_register > io_pin_pages > (io_uring_pin: mmap_read_lock, pin_user_pages (+ the VMA check: -EINVAL / -EOPNOTSUPP) | pin_user_pages_fast) (FOLL_WRITE | FOLL_LONGTERM) ; not every page: unpin_user_pages, -EFAULT",
        cites: &[
            "io_uring/rsrc.c: io_pin_pages, 6.1.192",
            "io_uring/rsrc.c: io_sqe_buffer_register, 6.1.192",
            "io_uring/memmap.c: io_pin_pages, 6.12.118",
            "io_uring/rsrc.c: io_buffer_unmap, 6.12.118",
        ],
        switches: &[
            ("io_uring_pin", "pin_user_pages under the mmap lock (with or without io_uring's VMA check) or pin_user_pages_fast"),
            ("longterm_file_write_denied", "GUP refuses a writable long-term pin of a file mapping that needs dirty tracking"),
            ("hook_on_foll_pin", "the pin runs the hook"),
            ("gup_fast_hook_fail_stops", "a failed hook ends the fast walk (else the walk goes on in the next PMD range)"),
        ],
        batch: Batch::Acquires,
    },
    UdmabufCreate {
        name: "udmabuf-create",
        doc: "`UDMABUF_CREATE` over `nr_pages` pages of a memfd from `index` on: the pages a device may DMA to through the dma-buf, taken without the hook — a reference each (`shmem_read_mapping_page`) or, from v6.11, a FOLL_PIN each (`memfd_pin_folios`). On success the thread holds the pages as one batch (`put`: `release_udmabuf`); a file that is not a memfd fails (-EBADFD / -EINVAL) and ends the thread.",
        fields: [
            file: usize = (Kind::File, REQ, "the memfd"),
            index: usize = (Kind::Index, REQ, "the first page index"),
            nr_pages: usize = (Kind::Count, Presence::Default(Arg::Num(1)), "pages from `index` on"),
        ],
        calls: "udmabuf_ioctl > udmabuf_create > (shmem_mapping check) > shmem_read_mapping_page (find_lock_entry: reference, page lock; unlock) | memfd_pin_folios (filemap_get_folios_contig: folio_try_get; folio_lock; mapping re-check; try_grab_folio(FOLL_PIN); folio_unlock; folio_batch_release) (no arch_make_page_accessible)",
        cites: &[
            "drivers/dma-buf/udmabuf.c: udmabuf_create, 6.1.192",
            "mm/shmem.c: shmem_read_mapping_page_gfp, 6.1.192",
            "drivers/dma-buf/udmabuf.c: udmabuf_pin_folios, 6.12.118",
            "mm/gup.c: memfd_pin_folios, 6.12.118",
        ],
        switches: &[
            ("udmabuf_memfd_pin", "memfd_pin_folios (FOLL_PIN) instead of shmem_read_mapping_page (a reference)"),
            ("slow_grab", "how try_grab_folio adds the pin (check, WARN, then add)"),
        ],
        batch: Batch::Acquires,
    },
    KvmCopy {
        name: "kvm-copy",
        doc: "KVM copies to or from guest frame `gfn` through QEMU's mapping (`kvm_write_guest` / `kvm_read_guest`: `__copy_to_user` / `__copy_from_user` on the host virtual address). A secure page raises 0x3d in the secondary space: the USER_FAULT branch exports it and the copy is retried; with page faults disabled (`kvm_read_guest_atomic`) the handler goes to the exception fix-up and the copy fails with -EFAULT.",
        fields: [
            gfn: usize = (Kind::Gfn, REQ, "the guest frame"),
            write: bool = (Kind::Bool, dflt_bool(false), "kvm_write_guest (else kvm_read_guest)"),
            atomic: bool = (Kind::Bool, dflt_bool(false), "page faults disabled (kvm_read_guest_atomic)"),
        ],
        calls: "kvm_read_guest | kvm_write_guest > kvm_read_guest_page | kvm_write_guest_page > __copy_from_user | __copy_to_user (MVCOS, secondary space) > PGM 0x3d > do_secure_storage_access (USER_FAULT: follow_page | folio_walk_start, arch_make_page_accessible; faults disabled: the fix-up, -EFAULT) > retry",
        cites: &[
            "virt/kvm/kvm_main.c: kvm_read_guest, 6.12.118",
            "virt/kvm/kvm_main.c: kvm_write_guest, 6.12.118",
            "arch/s390/lib/uaccess.c: raw_copy_from_user, 6.1.192",
            "arch/s390/mm/fault.c: do_secure_storage_access, 6.1.192",
            "arch/s390/mm/fault.c: do_secure_storage_access, 6.12.118",
        ],
        switches: &[("user_fault", "how the 0x3d handler finds the page (follow_page | folio_walk_start)")],
        batch: Batch::None,
    },
    AdapterInterrupt {
        name: "adapter-interrupt",
        doc: "KVM injects an adapter interrupt: it takes a reference on the guest's indicator page and summary page (`get_map_page`: `get_user_pages_remote(FOLL_WRITE)`, FOLL_GET, no hook), sets a bit in each through the kernel mapping (a secure page takes the 0x3d KERNEL_FAULT branch), marks them dirty (`set_page_dirty_lock`: the page lock) and drops the references.",
        fields: [
            ind: usize = (Kind::Gfn, REQ, "the guest frame of the indicator bits"),
            summary: usize = (Kind::Gfn, REQ, "the guest frame of the summary bit"),
        ],
        calls: "set_adapter_int > adapter_indicators_set > get_map_page (mmap_read_lock, get_user_pages_remote(FOLL_WRITE): FOLL_GET, no hook) x2 > set_bit via page_address (0x3d KERNEL_FAULT: try_get_page / folio_try_get, hook) > set_page_dirty_lock (lock_page) > put_page x2",
        cites: &[
            "arch/s390/kvm/interrupt.c: get_map_page, 6.12.118",
            "arch/s390/kvm/interrupt.c: adapter_indicators_set, 6.12.118",
            "arch/s390/kvm/interrupt.c: adapter_indicators_set, 6.1.192",
            "mm/page-writeback.c: set_page_dirty_lock, 6.1.192",
        ],
        switches: &[("kernel_fault", "what the 0x3d handler does for the kernel's write")],
        batch: Batch::None,
    },
    UvFail {
        name: "uv-fail",
        doc: "The Ultravisor answers the next `count` calls `call` with condition code 1 and return code `rc` (reason `rrc`): a failing export, pin-shared, destroy, import or configuration destroy, for the kernel's handling of it on each path. The one way to make a UV call fail (`call = \"export\"` is what the hook-failure scenarios use); a second `uv-fail` of the same call replaces the failures still to give.",
        fields: [
            call: UvCalls = (Kind::Flags(UV_CALL_FLAGS), REQ, "the calls that fail"),
            rc: u16 = (Kind::Code, REQ, "the return code (0x10a: the import reads it as -ENXIO; 0x107 with rrc 0xd: destroy reads it as success)"),
            rrc: Option<u16> = (Kind::Code, OPT, "the return reason code (0 when left out)"),
            count: u32 = (Kind::Count, Presence::Default(Arg::Num(1)), "how many calls fail"),
        ],
        calls: "the firmware: cc 1 with rc/rrc (no kernel function); the caller's handling per path",
        cites: &["arch/s390/kernel/uv.c: uv_convert_from_secure, 6.1.192", "arch/s390/kernel/uv.c: uv_destroy_page, 6.1.192"],
        switches: &[
            ("debug_vm", "VM_BUG_ON on the writeback hook's failure (CONFIG_DEBUG_VM)"),
            ("gup_fast_hook_fail_stops", "what GUP fast does when the hook's export fails"),
            ("kernel_fault", "BUG or the exception fix-up when the 0x3d kernel branch's export fails"),
            ("pte_clear_export_warns", "a failed export at PTE clear is ignored or warned about"),
        ],
        batch: Batch::None,
    },
    PvTeardown {
        name: "pv-teardown",
        doc: "The VMM tears the protected VM down (`KVM_PV_DISABLE`, or with `async_cleanup` `KVM_PV_ASYNC_CLEANUP_PREPARE` then `_PERFORM`): its configuration is destroyed and its pages are made host-accessible, per `pv_teardown`. It runs after the vCPUs stopped (`kvm_s390_cpus_from_pv` takes each vCPU's mutex): it must follow every guest-access and unpack, in their thread.",
        fields: [
            async_cleanup: bool = (Kind::Bool, dflt_bool(false), "the asynchronous cleanup (v6.2): set aside (Destroy-Secure-Configuration-Fast, destroy the lower 2 GB), then perform (destroy the rest); a release without it falls back to KVM_PV_DISABLE, as QEMU does"),
        ],
        calls: "kvm_s390_handle_pv(KVM_PV_DISABLE) > kvm_s390_cpus_from_pv > kvm_s390_pv_deinit_vm (v5.7: s390_reset_acc (walk: PTE lock, export | destroy each page), then UVC destroy-sec-conf (uv_call_sched); v6.0: UVC destroy-sec-conf, then s390_uv_destroy_range (walk: PTE lock, get_page; uv_destroy_owned_page, put_page)) | kvm_s390_pv_deinit_cleanup_all (v6.2) | kvm_s390_pv_set_aside + kvm_s390_pv_deinit_aside_vm (async)",
        cites: &[
            "arch/s390/kvm/pv.c: kvm_s390_pv_deinit_vm, v5.7",
            "arch/s390/mm/gmap.c: s390_reset_acc, v5.7",
            "arch/s390/kvm/pv.c: kvm_s390_pv_deinit_vm, 6.1.192",
            "arch/s390/mm/gmap.c: __s390_uv_destroy_range, 6.1.192",
            "arch/s390/kvm/pv.c: kvm_s390_pv_deinit_cleanup_all, 6.12.118",
            "arch/s390/kvm/pv.c: kvm_s390_pv_set_aside, 6.12.118",
            "arch/s390/kvm/pv.c: kvm_s390_pv_deinit_aside_vm, 6.12.118",
        ],
        switches: &[("pv_teardown", "how the VM's pages are made accessible and its configuration destroyed")],
        batch: Batch::None,
    },
    Reclaim {
        name: "reclaim",
        doc: "One pass of page reclaim over the page-cache folio at `file`/`index` (the LRU scan reaching it): `shrink_folio_list` isolates it (a reference; not a folio still on a per-CPU LRU batch), trylocks it, leaves it under writeback, ages its PTEs (`folio_referenced`: on s390 a young PTE becomes present but `_PAGE_INVALID`, no export; referenced → kept or activated), unmaps it (`try_to_unmap`: `ptep_clear_flush` exports in a protected mm), leaves a pinned one, writes a dirty one out only from kswapd (`pageout` → `folio_start_writeback`, the hook; the disk reads it after the pass) and otherwise flags it PG_reclaim, and frees a clean one (`__remove_mapping`: freeze at 1 + 1, removal from the cache). A mapped folio takes two passes (the first ages it).",
        fields: [
            file: usize = (Kind::File, REQ, "the file"),
            index: usize = (Kind::Index, REQ, "the page index"),
            kswapd: bool = (Kind::Bool, dflt_bool(false), "the pass runs in kswapd with the node PGDAT_DIRTY: a dirty folio already flagged PG_reclaim is written out (else direct reclaim: it is flagged and activated)"),
        ],
        calls: "shrink_inactive_list > isolate_lru_folios (folio_try_get, folio_test_clear_lru) > shrink_folio_list: folio_trylock > folio_test_writeback (PG_reclaim, activate) > folio_check_references > folio_referenced > ptep_test_and_clear_young (s390: _PAGE_INVALID, no export) > try_to_unmap > try_to_unmap_one > ptep_clear_flush (export in a protected mm) > page_remove_rmap > folio_put > folio_maybe_dma_pinned > pageout (is_page_cache_freeable, folio_clear_dirty_for_io, ->writepage > folio_start_writeback > arch_make_page_accessible, folio_unlock) | __remove_mapping (folio_ref_freeze(1 + nr), __filemap_remove_folio) > free_unref_page_list | folio_putback_lru; the write-out's bio: disk reads the page > folio_end_writeback",
        cites: &[
            "mm/vmscan.c: isolate_lru_folios, 6.1.192",
            "mm/vmscan.c: shrink_folio_list, 6.1.192",
            "mm/vmscan.c: folio_check_references, 6.1.192",
            "mm/rmap.c: folio_referenced_one, 6.1.192",
            "arch/s390/include/asm/pgtable.h: ptep_test_and_clear_young, 6.1.192",
            "mm/rmap.c: try_to_unmap_one, 6.1.192",
            "arch/s390/include/asm/pgtable.h: ptep_clear_flush, 6.1.192",
            "mm/vmscan.c: pageout, 6.1.192",
            "mm/vmscan.c: __remove_mapping, 6.1.192",
            "mm/vmscan.c: shrink_folio_list, 6.12.118",
        ],
        switches: &[
            ("pte_clear_export_clears_arch1", "the export at the PTE clear also clears PG_arch_1"),
            ("unmap_checks_young", "try_to_unmap_one gives up on a PTE made young again (v5.7 … v5.10)"),
            ("reclaim_skips_pinned", "a maybe-pinned folio is activated after the unmap"),
            ("reclaim_fs_writeout", "pageout writes file-system folios at all"),
            ("end_writeback_takes_ref", "the write-out's end takes a temporary reference"),
            ("debug_vm", "VM_BUG_ON on the writeback hook's failure"),
        ],
        batch: Batch::None,
    },
    Truncate {
        name: "truncate",
        doc: "Truncation of the page cache of `file` over the pages `index..index + pages`: with `punch_hole`, `fallocate(FALLOC_FL_PUNCH_HOLE)`'s `truncate_pagecache_range`; without, a size reduction to `index` pages (`truncate_pagecache`: the range must reach the file's end). `unmap_mapping_range` zaps every mm that maps the range (the export at the PTE clear in a protected mm), then `truncate_inode_pages_range`: a non-blocking pass (lookup with a reference, `folio_trylock`, a folio under writeback skipped; `truncate_cleanup_folio` unmaps a folio mapped again meanwhile; removal from the cache, the cache's references dropped), the first and last folio locked (sleeping) and truncated after `folio_wait_writeback`, and a blocking pass (`folio_lock`, `folio_wait_writeback`, `truncate_inode_folio`) restarted until nothing is left. No reference-count check: a holder keeps the page alive until it puts it; the frame is then freed and may be reused. The file system then frees the range's blocks. Page-aligned; a large folio must lie wholly inside or outside the range.",
        fields: [
            file: usize = (Kind::File, REQ, "the file"),
            index: usize = (Kind::Index, REQ, "the first page index of the range"),
            pages: usize = (Kind::Count, Presence::Default(Arg::Num(1)), "pages in the range (index, index + 1, …, each a page of the file; without `punch_hole` the range must end at the file's end)"),
            punch_hole: bool = (Kind::Bool, dflt_bool(true), "fallocate(FALLOC_FL_PUNCH_HOLE) → truncate_pagecache_range; false: a size reduction (ftruncate) → truncate_pagecache"),
        ],
        calls: "truncate_pagecache_range | truncate_pagecache > unmap_mapping_range > unmap_mapping_pages > zap_page_range_single > zap_pte_range > ptep_get_and_clear_full (export in a protected mm) > page_remove_rmap > tlb_finish_mmu (folio_put); truncate_inode_pages_range: find_lock_entries (find_get_entry: folio_try_get_rcu, retry on a frozen count; folio_trylock; folio->mapping; folio_test_writeback) > truncate_cleanup_folio (folio_mapped > unmap_mapping_folio; folio_cancel_dirty) > delete_from_page_cache_batch (filemap_free_folio: folio_put_refs) > folio_unlock > folio_batch_release; __filemap_get_folio(FGP_LOCK) > truncate_inode_partial_folio (folio_wait_writeback > truncate_inode_folio); find_get_entries > folio_lock > folio_wait_writeback > truncate_inode_folio (truncate_cleanup_folio, filemap_remove_folio) > folio_unlock > folio_batch_release; the file system frees the blocks",
        cites: &[
            "mm/truncate.c: truncate_pagecache_range, 6.1.192",
            "mm/truncate.c: truncate_pagecache, 6.1.192",
            "mm/memory.c: unmap_mapping_range, 6.1.192",
            "mm/memory.c: zap_page_range_single, 6.1.192",
            "mm/truncate.c: truncate_inode_pages_range, 6.1.192",
            "mm/filemap.c: find_lock_entries, 6.1.192",
            "mm/truncate.c: truncate_cleanup_folio, 6.1.192",
            "mm/truncate.c: truncate_inode_folio, 6.1.192",
            "mm/truncate.c: truncate_inode_partial_folio, 6.1.192",
            "mm/filemap.c: delete_from_page_cache_batch, 6.1.192",
            "mm/filemap.c: filemap_remove_folio, 6.1.192",
            "mm/truncate.c: truncate_inode_pages_range, 6.12.118",
            "mm/shmem.c: shmem_undo_range, 6.12.118",
        ],
        switches: &[
            ("pte_clear_export_clears_arch1", "the export at the PTE clear also clears PG_arch_1"),
            ("pte_clear_export_warns", "a failed export at PTE clear is ignored or warned about"),
            ("import_flow", "from the new gmap (v7.0) the zap runs KVM's MMU notifier"),
        ],
        batch: Batch::None,
    },
    Migrate {
        name: "migrate",
        doc: "Migration of the anonymous page mapped at `mm`/`vpn` (compaction's pfn scan reaching that frame; NUMA balancing, `move_pages` and long-term pinning migrate the same way): isolated from the LRU (a reference; not a page still on a per-CPU LRU batch), then `migrate_pages` with its 10 passes: the folio locked (trylock; a sleeping lock only in sync mode, from the fourth pass before v6.3), `try_to_migrate` (`ptep_clear_flush`: the export of a secure page in a protected mm; a maybe-pinned page gets its PTE back; else a migration entry), the reference check (`folio_migrate_mapping`: the isolation reference alone, else -EAGAIN and another pass — before v6.3 with the PTEs restored first, from v6.3 with the page left unmapped), the CPU copy to a new page, the new page mapped in place of the migration entries and the old one freed. A fault on a migration entry sleeps until the page is unlocked, then retries.",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space that maps the page"),
            vpn: usize = (Kind::Vpn, REQ, "the virtual page (an anonymous mapping)"),
            sync: bool = (Kind::Bool, dflt_bool(false), "MIGRATE_SYNC (move_pages, long-term pinning) instead of MIGRATE_ASYNC (direct compaction)"),
        ],
        calls: "isolate_migratepages_block (folio_try_get, folio_test_clear_lru) > migrate_pages > migrate_pages_batch > migrate_folio_unmap (folio_ref_count == 1: freed; alloc; folio_trylock | folio_lock; folio_test_writeback; try_to_migrate > try_to_migrate_one > ptep_clear_flush (export in a protected mm) > page_try_share_anon_rmap | set_pte_at(migration entry) > page_remove_rmap > folio_put) > migrate_folio_move > move_to_new_folio > migrate_folio > folio_migrate_mapping (refcount == 1 else -EAGAIN) > folio_migrate_copy > copy_highpage (CPU read: 0x3d on a secure page) > folio_add_lru > remove_migration_ptes > folio_unlock > migrate_folio_done (folio_put: freed) | remove_migration_ptes(src, src) (6.1.192) | migrate_folio_undo_src (6.12.118) > putback_movable_pages; do_swap_page > migration_entry_wait > migration_entry_wait_on_locked",
        cites: &[
            "mm/compaction.c: isolate_migratepages_block, 6.1.192",
            "mm/migrate.c: migrate_pages, 6.1.192",
            "mm/migrate.c: migrate_pages_batch, 6.1.192",
            "mm/migrate.c: __migrate_folio_unmap, 6.1.192",
            "mm/migrate.c: __migrate_folio_move, 6.1.192",
            "mm/migrate.c: folio_migrate_mapping, 6.1.192",
            "mm/migrate.c: remove_migration_pte, 6.1.192",
            "mm/migrate.c: __migration_entry_wait, 6.1.192",
            "mm/rmap.c: try_to_migrate_one, 6.1.192",
            "arch/s390/include/asm/pgtable.h: ptep_clear_flush, 6.1.192",
            "mm/migrate.c: migrate_pages_batch, 6.12.118",
            "mm/migrate.c: migrate_pages_sync, 6.12.118",
            "mm/migrate.c: migrate_folio_unmap, 6.12.118",
            "mm/migrate.c: migrate_folio_move, 6.12.118",
            "mm/migrate.c: __migrate_folio, 6.12.118",
        ],
        switches: &[
            ("migrate_batch", "unmap then move with the page left unmapped across retries (v6.3), or unmap and move per pass"),
            ("pte_clear_export_clears_arch1", "the export at the PTE clear also clears PG_arch_1"),
            ("pte_clear_export_warns", "a failed export at PTE clear is ignored or warned about"),
            ("kernel_fault", "how the CPU copy's 0x3d on a still-secure page is handled"),
            ("import_flow", "from the new gmap (v7.0) the unmap runs KVM's MMU notifier"),
        ],
        batch: Batch::None,
    },
    ReclaimAnon {
        name: "reclaim-anon",
        doc: "One pass of page reclaim over the anonymous page mapped at `mm`/`vpn` (the LRU scan reaching it; behind a swap entry there, the page still in the swap cache): `shrink_folio_list` isolates it (a reference; not a page still on a per-CPU LRU batch), trylocks it, leaves it under writeback (PG_reclaim, activated), ages its PTEs (`folio_referenced`: on s390 a young PTE becomes present but `_PAGE_INVALID`, no export; referenced → kept or activated), keeps a maybe-pinned page, adds it to the swap cache (`add_to_swap`: a swap slot, the cache's reference, PG_swapcache, dirty), unmaps it (`try_to_unmap_one`: `ptep_clear_flush` exports a secure page in a protected mm, a swap entry takes the PTE's place), writes it out (`pageout` → `swap_writepage` → `folio_start_writeback`, the hook; the swap device reads it after the pass) and, in a later pass once clean, frees it (`__remove_mapping`: freeze at 1 + 1, deletion from the swap cache). A mapped page takes three passes (the first ages it, the second writes it out, the third frees it). The fault that meets the swap entry (`do_swap_page`) finds the page in the swap cache or reads it back into a new one.",
        fields: [
            mm: usize = (Kind::Mm, REQ, "the address space that maps the page"),
            vpn: usize = (Kind::Vpn, REQ, "the virtual page (an anonymous mapping)"),
        ],
        calls: "shrink_inactive_list > isolate_lru_folios (folio_try_get, folio_test_clear_lru) > shrink_folio_list: folio_trylock > folio_test_writeback (PG_reclaim, activate) > folio_check_references > folio_referenced > ptep_test_and_clear_young (s390: _PAGE_INVALID, no export) > folio_maybe_dma_pinned > add_to_swap (folio_alloc_swap, add_to_swap_cache, folio_mark_dirty) > try_to_unmap > try_to_unmap_one > ptep_clear_flush (export in a protected mm) > swap_duplicate > page_try_share_anon_rmap | set_pte_at(swap entry) > page_remove_rmap > folio_put > folio_maybe_dma_pinned > pageout (is_page_cache_freeable, folio_clear_dirty_for_io, swap_writepage > folio_free_swap | __swap_writepage > folio_start_writeback > arch_make_page_accessible, folio_unlock) | __remove_mapping (folio_ref_freeze(1 + nr), __delete_from_swap_cache, put_swap_folio) > free_unref_page_list | folio_putback_lru; the write-out's bio: the swap device reads the page > folio_end_writeback; do_swap_page > swap_cache_get_folio | swapin_readahead (alloc, swapcache_prepare, add_to_swap_cache, folio_add_lru, swap_readpage) > folio_lock_or_retry > pte_same > swap_free > should_try_to_free_swap > folio_free_swap > set_pte_at > do_wp_page (reuse | wp_page_copy)",
        cites: &[
            "mm/vmscan.c: shrink_folio_list, 6.1.192",
            "mm/swap_state.c: add_to_swap, 6.1.192",
            "mm/swap_state.c: add_to_swap_cache, 6.1.192",
            "mm/rmap.c: try_to_unmap_one, 6.1.192",
            "arch/s390/include/asm/pgtable.h: ptep_clear_flush, 6.1.192",
            "mm/vmscan.c: pageout, 6.1.192",
            "mm/page_io.c: swap_writepage, 6.1.192",
            "mm/vmscan.c: __remove_mapping, 6.1.192",
            "mm/memory.c: do_swap_page, 6.1.192",
            "mm/swap_state.c: __read_swap_cache_async, 6.1.192",
            "mm/swapfile.c: folio_free_swap, 6.1.192",
            "mm/memory.c: do_wp_page, 6.1.192",
            "mm/memory.c: wp_page_copy, 6.1.192",
            "arch/s390/kernel/uv.c: expected_folio_refs, 6.1.192",
            "mm/vmscan.c: shrink_folio_list, 6.12.118",
            "mm/memory.c: do_swap_page, 6.12.118",
            "arch/s390/kernel/uv.c: expected_folio_refs, 6.12.118",
        ],
        switches: &[
            ("anon_reuse", "whether the fault back maps the page writable in place, frees the swap cache, or copies"),
            ("pte_clear_export_clears_arch1", "the export at the PTE clear also clears PG_arch_1"),
            ("pte_clear_export_warns", "a failed export at PTE clear is ignored or warned about"),
            ("unmap_checks_young", "try_to_unmap_one gives up on a PTE made young again (v5.7 … v5.10)"),
            ("reclaim_skips_pinned", "a maybe-pinned folio is activated after the unmap"),
            ("end_writeback_takes_ref", "the write-out's end takes a temporary reference"),
            ("debug_vm", "VM_BUG_ON on the writeback hook's failure"),
            ("import_flow", "from the new gmap (v7.0) the unmap runs KVM's MMU notifier"),
        ],
        batch: Batch::None,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::switches::switch;

    /// Every op: a unique name, a doc, every field documented with a default of its kind,
    /// citations as `file: function, release`, switches that exist.
    #[test]
    fn every_op_is_declared_completely() {
        let mut names = HashSet::new();
        for o in OPS {
            assert!(names.insert(o.name), "{} declared twice", o.name);
            assert!(!o.doc.is_empty() && !o.calls.is_empty(), "{}", o.name);
            let mut fields = HashSet::new();
            for f in o.fields {
                assert!(fields.insert(f.name), "{}: field {} twice", o.name, f.name);
                assert!(
                    f.name != "op" && f.name != "frame",
                    "{}: reserved field",
                    o.name
                );
                assert!(!f.doc.is_empty(), "{}.{}", o.name, f.name);
                if let Presence::Default(d) = f.presence {
                    let fits = matches!(
                        (f.kind, d),
                        (Kind::Bool, Arg::Bool(_))
                            | (Kind::Count, Arg::Num(1..))
                            | (Kind::Flags(_), Arg::Flags(1..))
                    );
                    assert!(
                        fits,
                        "{}.{}: default {d:?} is not a {:?}",
                        o.name, f.name, f.kind
                    );
                }
                if f.kind == Kind::Vpn {
                    assert!(o.field("mm").is_some(), "{}: a vpn needs an mm", o.name);
                }
                if f.kind == Kind::Index {
                    assert!(
                        o.field("file").is_some(),
                        "{}: an index needs a file",
                        o.name
                    );
                }
            }
            for c in o.cites {
                let (file, rest) = c
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("{}: `{c}`", o.name));
                let (func, rel) = rest
                    .split_once(", ")
                    .unwrap_or_else(|| panic!("{}: `{c}`", o.name));
                assert!(
                    file.ends_with(".c") || file.ends_with(".h"),
                    "{}: `{c}`",
                    o.name
                );
                assert!(
                    func.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{}: `{c}`",
                    o.name
                );
                assert!(
                    crate::vocab::Release::parse(rel).is_ok(),
                    "{}: `{c}`",
                    o.name
                );
            }
            for (s, effect) in o.switches {
                assert!(switch(s).is_ok(), "{}: no switch {s}", o.name);
                assert!(!effect.is_empty());
            }
        }
    }

    /// `build` and `args` agree: every op built from the arguments it reports is itself.
    #[test]
    fn ops_build_from_their_arguments() {
        let ops = [
            ThreadOp::GuestAccess {
                gfn: 3,
                write: Some(0x5a),
            },
            ThreadOp::GuestAccess {
                gfn: 3,
                write: None,
            },
            ThreadOp::Gup {
                mm: 1,
                vpn: 7,
                flags: GupFlags(GupFlags::FOLL_PIN | GupFlags::FOLL_WRITE),
                fast: true,
                write: false,
                nr_pages: 2,
            },
            ThreadOp::Put {},
            ThreadOp::UvBusy {
                call: UvCalls(1),
                count: Some(2),
                partial: true,
                forever: false,
            },
            ThreadOp::UvFail {
                call: UvCalls(4),
                rc: 0x107,
                rrc: Some(0xd),
                count: 1,
            },
            ThreadOp::PvTeardown {
                async_cleanup: true,
            },
            ThreadOp::Tee { from: 0, to: 1 },
        ];
        for op in ops {
            let args = op.args();
            let get = |f: &str| args.iter().find(|(s, _)| s.name == f).map(|(_, a)| *a);
            assert_eq!(ThreadOp::build(op.spec().name, &get), Ok(op.clone()));
        }
        let none = |_: &str| None;
        assert_eq!(
            ThreadOp::build("uv-busy", &none),
            Ok(ThreadOp::UvBusy {
                call: UvCalls(3),
                count: None,
                partial: false,
                forever: false,
            }),
            "the declared defaults: a busy period of the import and unpack"
        );
        assert_eq!(
            UvCalls(3),
            UvCalls(crate::uv::UvCall::Import.bit() | crate::uv::UvCall::Unpack.bit())
        );
        for (f, c) in UV_CALL_FLAGS.iter().zip(crate::uv::UvCall::ALL) {
            assert_eq!((f.name, f.bit), (c.name(), c.bit()));
        }
        assert_eq!(UV_CALL_FLAGS.len(), crate::uv::UV_CALLS);
        assert_eq!(
            ThreadOp::build("gup", &none).map_err(|e| e.field),
            Err("mm")
        );
        assert_eq!(
            ThreadOp::build("nope", &none).map_err(|e| e.field),
            Err("op")
        );
        let both = |f: &str| match f {
            "flags" => Some(Arg::Flags(GupFlags::FOLL_GET | GupFlags::FOLL_PIN)),
            _ => Some(Arg::Num(0)),
        };
        assert_eq!(
            ThreadOp::build("gup", &both).map_err(|e| e.field),
            Err("flags")
        );
    }

    #[test]
    fn frames_are_identifiers_separated_by_arrows() {
        let f = parse_frames("io_uring_register > io_sqe_buffer_register").expect("parses");
        assert_eq!(f, vec!["io_uring_register", "io_sqe_buffer_register"]);
        assert!(std::ptr::eq(
            f[0],
            parse_frames("io_uring_register").unwrap()[0]
        ));
        for bad in ["", "a >", "> a", "a b", "1a", "a->b", "a > b()"] {
            assert!(parse_frames(bad).is_err(), "{bad}");
        }
    }
}
