//! World construction: a [`Builder`] collects files, mms, mappings, guest frames, pipes and
//! threads, checks each as it is added (names, mappings, what each op names, the references
//! each thread's ops need), and builds the [`KernelModel`] of one kernel configuration. The
//! scenario parser only turns text into these calls; the kernel crate's tests use it
//! directly.

use crate::uv::{self, UvFrame, UvKeys, UvState};
use crate::vocab::ops::{Arg, Batch, Kind, OpCall, ThreadOp};
use crate::world::{
    File, GuestFrame, Mm, Objs, Page, Pipe, Pte, Vma, World, PAGE_BYTES, PAGE_PARTS, PTRS_PER_PTE,
};
pub use crate::world::{MAX_GFN, MAX_VPN};
use crate::{Kernel, KernelModel};
use std::fmt;

pub use crate::world::{FileId, MmId, PipeId};

/// Spare free frames the allocator can hand out during an execution, unless the set-up says
/// otherwise ([`Builder::spare_frames`]).
pub const SPARE_FRAMES: usize = 1;
/// Frames a model may have: an allocation declares every frame's refcount and lifetime.
pub const MAX_FRAMES: usize = (explore::Accesses::CAP - 1) / 2;
/// Threads a model may have (the explorer's thread masks).
pub const MAX_THREADS: usize = 64;
/// The bounded-waiting bound unless a scenario sets one (`[bounds] max_spins`, `--max-spins`):
/// busy answers a `uv_call` may spin through while it holds a spinlock or a frozen refcount.
pub const DEFAULT_SPIN_BOUND: u32 = 2;
/// Rounds a retry loop may go round before the execution is cut, unless a scenario sets
/// another (`[bounds] max_retries`, `--max-retries`; see `retry.rs`): a loop that can go
/// round for ever is found by the lasso check long before (its cycles are a few rounds), so
/// this only bounds loops whose every round sees a new state.
pub const DEFAULT_RETRY_BOUND: u32 = 32;
/// Files, mms, mappings, guest frames and pipes a set-up may have, each: object ids are
/// 32 bits, and a step guard packs a mapping's position into 32 bits (the import's retry).
/// Far more than any check can explore.
pub const MAX_ITEMS: usize = 1 << 16;
/// Steps per execution a check may allow (`max_depth`): one step changes a refcount by at
/// most `GUP_PIN_COUNTING_BIAS` (1024), so 10^6 steps keep every count far inside the
/// `i32` the kernel's `atomic_t` has (no overflow to model), and an export count inside the
/// 32 bits of the UV's nonce.
pub const MAX_DEPTH: usize = 1_000_000;
/// The busy answers all `uv-busy` ops of a set-up may ask for together (the UV's busy
/// counter is 32 bits).
pub const MAX_UV_BUSY: u64 = u32::MAX as u64;
/// `protected_count` is an `atomic_t` (arch/s390/include/asm/mmu.h, 6.12.118).
pub const MAX_PROTECTED_VMS: u32 = i32::MAX as u32;

/// An error adding something to a [`Builder`]: the field it concerns and what is wrong.
/// For a thread, `op` is the index of the op concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    pub op: Option<usize>,
    pub field: &'static str,
    pub message: String,
}

impl BuildError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        BuildError {
            op: None,
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.op {
            write!(f, "op {}: ", i + 1)?;
        }
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for BuildError {}

/// The pipe an op writes into and the pipe it reads from, where a read of an empty pipe may
/// wait for a writer (`sendfile` reads its internal pipe only after its own write into it
/// succeeded, so it never waits; `pipe-release` closes a pipe, it neither writes nor reads).
pub fn pipe_io(op: &ThreadOp) -> (Option<PipeId>, Option<PipeId>) {
    match *op {
        ThreadOp::SpliceRead { pipe, .. } => (Some(pipe), None),
        ThreadOp::SpliceToSocket { pipe } => (None, Some(pipe)),
        ThreadOp::Sendfile { pipe, .. } => (Some(pipe), None),
        ThreadOp::Tee { from, to } => (Some(to), Some(from)),
        ThreadOp::Vmsplice { pipe, .. } => (Some(pipe), None),
        _ => (None, None),
    }
}

/// What backs a mapped virtual page.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A page of a file (`MAP_SHARED` unless the map says otherwise).
    File { file: FileId, index: usize },
    /// Anonymous memory (QEMU's default guest RAM).
    Anon,
}

/// A `[[map]]`: a virtual page of an mm and what backs it.
#[derive(Copy, Clone, Debug)]
pub struct MapSpec {
    pub mm: MmId,
    pub vpn: usize,
    pub backing: Backing,
    pub shared: bool,
    pub writable: bool,
    /// The PTE is populated at the start.
    pub present: bool,
    /// The PTE is writable at the start (only if the mapping is).
    pub pte_write: bool,
}

/// A `[[guest]]` frame: a guest frame number backed by a mapped vpn of an mm.
#[derive(Copy, Clone, Debug)]
pub struct GuestSpec {
    pub gfn: usize,
    pub mm: MmId,
    pub vpn: usize,
    /// Starts as a secure page of the guest.
    pub secure: bool,
    /// The guest shared it with the host.
    pub shared: bool,
    /// What the guest wrote before the start (a secure frame or an unpack image).
    pub data: Option<u8>,
    /// Holds an encrypted image of `data` for `KVM_PV_UNPACK`.
    pub image: bool,
}

#[derive(Clone, Debug)]
struct MmSpec {
    name: String,
    protected: bool,
    protected_vms: u32,
}

/// The set-up of a model, independent of the kernel configuration.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    files: Vec<(String, usize)>,
    /// The files that are shmem (memfd), by id.
    shmem: Vec<FileId>,
    /// Files whose page cache holds large folios, with their order (`folio_order`):
    /// `[[file]] folio_order`.
    folio_order: Vec<(FileId, u8)>,
    /// Files whose file system attaches private data to its large folios and refuses to
    /// release it while the folio is dirty: `[[file]] private` ([`Builder::file_private`]).
    private: Vec<FileId>,
    mms: Vec<MmSpec>,
    maps: Vec<MapSpec>,
    guest: Vec<GuestSpec>,
    pipes: Vec<String>,
    threads: Vec<(String, Vec<OpCall>)>,
    /// `None`: [`DEFAULT_SPIN_BOUND`].
    spin_bound: Option<u32>,
    /// `None`: [`DEFAULT_RETRY_BOUND`].
    retry_bound: Option<u32>,
    /// Free frames at the start beyond [`SPARE_FRAMES`] (what `spare_frames` adds).
    extra_spares: usize,
}

/// An op's `nr_pages` (from `vpn`, if it has one): what the GUP functions take —
/// `get_user_pages_fast` / `pin_user_pages_fast` have `int nr_pages` and return an `int`
/// (mm/gup.c: get_user_pages_fast, 6.1.192 and 6.12.118), so at most `i32::MAX`; and a range
/// that ends inside user space. Abstraction: the kernel answers a range beyond
/// `TASK_SIZE_MAX` with -EFAULT (`internal_get_user_pages_fast`: `access_ok`, 6.1.192;
/// `gup_fast_fallback`, 6.12.118) and one whose end wraps with 0; the model has no such check
/// (every modelled address is a user address), so such a range is bad input.
fn nr_pages_in_range(n: usize, vpn: Option<Arg>) -> Result<(), BuildError> {
    let max = i32::MAX as usize;
    if n > max {
        return Err(BuildError::new(
            "nr_pages",
            format!(
                "{n} pages; at most {max} (get_user_pages_fast and pin_user_pages_fast take an \
                 `int nr_pages` and return an `int`)"
            ),
        ));
    }
    if let Some(Arg::Num(v)) = vpn {
        if v.checked_add(n - 1).is_none_or(|last| last > MAX_VPN) {
            return Err(BuildError::new(
                "nr_pages",
                format!(
                    "{n} pages from vpn {v} end beyond the last user page, {MAX_VPN} (the kernel \
                     refuses such a range with -EFAULT before any walk; the model has no such \
                     check)"
                ),
            ));
        }
    }
    Ok(())
}

/// Room for one more of `what` when `len` are defined ([`MAX_ITEMS`]).
fn room(len: usize, what: &str) -> Result<(), BuildError> {
    if len >= MAX_ITEMS {
        return Err(BuildError::new(
            "name",
            format!(
                "at most {MAX_ITEMS} of each: this would be {what} {}",
                len + 1
            ),
        ));
    }
    Ok(())
}

/// A vpn the model can represent: a user page of s390 ([`MAX_VPN`]).
pub fn vpn_in_range(vpn: usize) -> Result<(), BuildError> {
    if vpn > MAX_VPN {
        return Err(BuildError::new(
            "vpn",
            format!(
                "{vpn} is above the last user page, {MAX_VPN} (s390's TASK_SIZE_MAX is \
                 -PAGE_SIZE: 2^52 - 2 with 4 KiB pages)"
            ),
        ));
    }
    Ok(())
}

fn defined(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new name of a `what`: not empty, not taken, and room for one more.
    fn unique(&self, list: &[&str], what: &str, name: &str) -> Result<(), BuildError> {
        if name.is_empty() {
            return Err(BuildError::new("name", format!("a {what} needs a name")));
        }
        if list.contains(&name) {
            return Err(BuildError::new(
                "name",
                format!("a {what} named `{name}` is already defined"),
            ));
        }
        room(list.len(), what)
    }

    /// `n` free frames at the start (default [`SPARE_FRAMES`]): what the page allocator can
    /// hand out before it fails. Abstraction: the real allocator has far more; a scenario
    /// whose threads allocate more pages than this runs out of memory (the allocation fails
    /// and its caller's error path runs).
    pub fn spare_frames(&mut self, n: usize) -> Result<(), BuildError> {
        if n == 0 {
            return Err(BuildError::new(
                "spare_frames",
                "at least 1 (the allocator's first frame)",
            ));
        }
        let before = self.extra_spares;
        self.extra_spares = n - 1;
        if let Err(e) = self.frames_fit() {
            self.extra_spares = before;
            return Err(BuildError {
                field: "spare_frames",
                ..e
            });
        }
        Ok(())
    }

    /// A file whose pages `0..pages` are in the page cache at the start.
    pub fn file(&mut self, name: &str, pages: usize) -> Result<FileId, BuildError> {
        self.unique(&self.file_names(), "file", name)?;
        self.files.push((name.to_string(), pages));
        if let Err(e) = self.frames_fit() {
            self.files.pop();
            return Err(e);
        }
        Ok(self.files.len() - 1)
    }

    /// A memfd: a shmem file whose pages `0..pages` are in its page cache at the start
    /// (QEMU's memory-backend-memfd). Unlike [`Builder::file`]'s files it does not write
    /// back: a shared writable mapping of it needs no dirty tracking.
    pub fn memfd(&mut self, name: &str, pages: usize) -> Result<FileId, BuildError> {
        let f = self.file(name, pages)?;
        self.shmem.push(f);
        Ok(f)
    }

    /// The page cache of file `f` holds folios of `order` (2^order pages each, aligned on
    /// their index): a filesystem with `mapping_set_large_folios` (shmem, XFS, …; 6.1.192
    /// and 6.12.118 mm/filemap.c, mm/shmem.c) whose folios were created large (by `write`,
    /// `fallocate`, readahead or another process's fault) before the KVM mm mapped them by
    /// PTEs. Orders 1..=3, and a page count that is a multiple of the folio size.
    pub fn file_folio_order(&mut self, f: FileId, order: u8) -> Result<(), BuildError> {
        if !(1..=3).contains(&order) {
            return Err(BuildError::new(
                "folio_order",
                format!("folio_order must be 1, 2 or 3 (got {order})"),
            ));
        }
        let pages = self.files[f].1;
        if !pages.is_multiple_of(1 << order) {
            return Err(BuildError::new(
                "folio_order",
                format!(
                    "the file has {pages} page(s): not a whole number of folios of {} pages",
                    1 << order
                ),
            ));
        }
        self.folio_order.retain(|&(g, _)| g != f);
        self.folio_order.push((f, order));
        Ok(())
    }

    /// The file system of file `f` keeps private data on each of its large folios and
    /// refuses to release it while the folio is dirty — iomap's per-block state (XFS,
    /// zonefs, erofs): `ifs_alloc` attaches it to a folio of more than one block
    /// (`folio_attach_private`: PG_private and one reference), `iomap_release_folio`
    /// returns false for a dirty folio (6.12.118 fs/iomap/buffered-io.c; 6.1.192 also for
    /// one under writeback), so `filemap_release_folio` fails and `split_folio` answers
    /// `-EBUSY` (folio.rs). Needs large folios (`folio_order`) and a file that writes back
    /// (not shmem, whose folios carry no private data).
    pub fn file_private(&mut self, f: FileId) -> Result<(), BuildError> {
        if !self.folio_order.iter().any(|&(g, _)| g == f) {
            return Err(BuildError::new(
                "private",
                "private data is attached to large folios only (iomap: a folio of one block \
                 has none): give the file a `folio_order`"
                    .to_string(),
            ));
        }
        if self.shmem.contains(&f) {
            return Err(BuildError::new(
                "private",
                "a shmem file (memfd) keeps no private data on its folios".to_string(),
            ));
        }
        if !self.private.contains(&f) {
            self.private.push(f);
        }
        Ok(())
    }

    /// An address space; `protected_vms` defaults to 1 for a protected mm, else 0.
    pub fn mm(
        &mut self,
        name: &str,
        protected: bool,
        protected_vms: Option<u32>,
    ) -> Result<MmId, BuildError> {
        self.unique(&self.mm_names(), "mm", name)?;
        // mm_is_protected(mm) is `protected_count != 0` (arch/s390/include/asm/mmu_context.h,
        // 6.12.118): the two fields must agree.
        match protected_vms {
            Some(0) if protected => {
                return Err(BuildError::new(
                    "protected_vms",
                    "a protected mm runs at least 1 protected VM (mm_is_protected reads protected_count)",
                ))
            }
            Some(n) if n > 0 && !protected => {
                return Err(BuildError::new(
                    "protected_vms",
                    format!("{n} protected VMs in an mm that is not `protected` (mm_is_protected reads protected_count)"),
                ))
            }
            Some(n) if n > MAX_PROTECTED_VMS => {
                return Err(BuildError::new(
                    "protected_vms",
                    format!("{n} is above {MAX_PROTECTED_VMS} (protected_count is an atomic_t)"),
                ))
            }
            _ => {}
        }
        self.mms.push(MmSpec {
            name: name.to_string(),
            protected,
            protected_vms: protected_vms.unwrap_or(u32::from(protected)),
        });
        Ok(self.mms.len() - 1)
    }

    /// A pipe.
    pub fn pipe(&mut self, name: &str) -> Result<PipeId, BuildError> {
        self.unique(&self.pipe_names(), "pipe", name)?;
        self.pipes.push(name.to_string());
        Ok(self.pipes.len() - 1)
    }

    /// A mapping (its `mm` and `file` already added).
    pub fn map(&mut self, m: MapSpec) -> Result<(), BuildError> {
        room(self.maps.len(), "mapping")?;
        vpn_in_range(m.vpn)?;
        let mm = self
            .mms
            .get(m.mm)
            .ok_or_else(|| BuildError::new("mm", format!("no mm {}", m.mm)))?;
        if let Backing::File { file, index } = m.backing {
            let (name, pages) = self
                .files
                .get(file)
                .ok_or_else(|| BuildError::new("file", format!("no file {file}")))?;
            if index >= *pages {
                return Err(BuildError::new(
                    "index",
                    format!("file `{name}` has pages 0..{pages}, not {index}"),
                ));
            }
        }
        if self.maps.iter().any(|x| x.mm == m.mm && x.vpn == m.vpn) {
            return Err(BuildError::new(
                "vpn",
                format!("{} already mapped in `{}`", m.vpn, mm.name),
            ));
        }
        self.maps.push(MapSpec {
            pte_write: m.pte_write && m.writable,
            ..m
        });
        if let Err(e) = self.frames_fit() {
            self.maps.pop();
            return Err(e);
        }
        Ok(())
    }

    /// A guest frame (its mapping already added).
    pub fn guest(&mut self, g: GuestSpec) -> Result<(), BuildError> {
        room(self.guest.len(), "guest frame")?;
        if g.gfn > MAX_GFN {
            return Err(BuildError::new(
                "gfn",
                format!(
                    "{} is above the largest guest frame number, {MAX_GFN} (2^52 - 1: 64-bit guest addresses, 4 KiB pages)",
                    g.gfn
                ),
            ));
        }
        vpn_in_range(g.vpn)?;
        let mm = self
            .mms
            .get(g.mm)
            .ok_or_else(|| BuildError::new("mm", format!("no mm {}", g.mm)))?;
        if !self.is_mapped(g.mm, g.vpn) {
            return Err(BuildError::new(
                "vpn",
                format!(
                    "guest frame {} is backed by vpn {} of `{}`, which no [[map]] maps",
                    g.gfn, g.vpn, mm.name
                ),
            ));
        }
        if self.guest.iter().any(|x| x.gfn == g.gfn) {
            return Err(BuildError::new(
                "gfn",
                format!("guest frame {} is already defined", g.gfn),
            ));
        }
        if g.data.is_some() && !(g.secure || g.image) {
            return Err(BuildError::new(
                "data",
                "only a secure frame or an unpack image holds guest data",
            ));
        }
        if g.secure && g.image {
            return Err(BuildError::new(
                "image",
                "a frame is either secure (imported) or an unpack image (exported), not both",
            ));
        }
        let stateful = |x: &GuestSpec| x.secure || x.image;
        let map = self
            .maps
            .iter()
            .find(|m| m.mm == g.mm && m.vpn == g.vpn)
            .expect("checked above");
        if stateful(&g) && map.backing == Backing::Anon && !map.present {
            return Err(BuildError::new(
                if g.secure { "secure" } else { "image" },
                format!(
                    "guest frame {} is backed by vpn {} of `{}`, an anonymous mapping with no page \
                     (present = false): there is no page to be secure",
                    g.gfn, g.vpn, mm.name
                ),
            ));
        }
        if let Some(o) = self
            .guest
            .iter()
            .find(|x| x.mm == g.mm && x.vpn == g.vpn && (stateful(x) || stateful(&g)))
        {
            return Err(BuildError::new(
                "vpn",
                format!(
                    "vpn {} of `{}` already backs guest frame {}: one page cannot be secure (or \
                     an image) for two guest frames",
                    g.vpn, mm.name, o.gfn
                ),
            ));
        }
        self.guest.push(g);
        Ok(())
    }

    /// A thread and its operations: each op's fields must name what exists
    /// ([`Builder::check_op`]), and an op that uses or releases a batch of references needs
    /// the thread to hold one (counting every acquiring op before it as a success: one that
    /// fails ends the thread).
    pub fn thread(&mut self, name: &str, ops: Vec<OpCall>) -> Result<(), BuildError> {
        if self.threads.len() >= MAX_THREADS {
            return Err(BuildError::new(
                "thread",
                format!("at most {MAX_THREADS} threads"),
            ));
        }
        let names: Vec<&str> = self.threads.iter().map(|t| t.0.as_str()).collect();
        self.unique(&names, "thread", name)?;
        if ops.is_empty() {
            return Err(BuildError::new(
                "ops",
                format!("thread `{name}` has no ops: a thread does at least one thing"),
            ));
        }
        self.check_swap_combination(&ops)?;
        let mut busy = self.uv_busy_total();
        let mut held = 0usize;
        for (i, c) in ops.iter().enumerate() {
            self.check_op(&c.op)
                .map_err(|e| BuildError { op: Some(i), ..e })?;
            if let (_, Some(p)) = pipe_io(&c.op) {
                // Only an empty pipe waits: one this thread wrote into earlier has buffers
                // (or, when another thread took them, other writers to wait for).
                let wrote_before = ops[..i].iter().any(|e| pipe_io(&e.op).0 == Some(p));
                if !wrote_before
                    && ops[i + 1..]
                        .iter()
                        .any(|later| pipe_io(&later.op).0 == Some(p))
                {
                    return Err(BuildError {
                        op: Some(i),
                        field: "pipe",
                        message: format!(
                            "`{}` reads pipe `{}` before this thread's own later write into it: \
                             on an empty pipe the kernel would wait for that writer — itself — \
                             for ever (fs/splice.c: splice_from_pipe_next)",
                            c.op.spec().name,
                            self.pipes[p]
                        ),
                    });
                }
            }
            if let ThreadOp::UvBusy {
                call,
                count: Some(count),
                ..
            } = c.op
            {
                for u in uv::UvCall::in_set(call.0) {
                    let total = &mut busy[u as usize];
                    *total += u64::from(count);
                    if *total > MAX_UV_BUSY {
                        return Err(BuildError {
                            op: Some(i),
                            field: "count",
                            message: format!(
                                "the uv-busy ops ask for {total} busy answers of {u:?} together; \
                                 at most {MAX_UV_BUSY} (the UV's busy counter of each call is 32 \
                                 bits)"
                            ),
                        });
                    }
                }
            }
            let spec = c.op.spec();
            match spec.batch {
                Batch::Acquires => held += 1,
                Batch::Uses | Batch::Releases if held == 0 => {
                    return Err(BuildError {
                        op: Some(i),
                        field: "op",
                        message: format!(
                            "`{}` {}, but the thread holds none here \
                             (an op that acquires one — gup, find-get-page — must come first)",
                            spec.name,
                            spec.batch.describe()
                        ),
                    })
                }
                Batch::Releases => held -= 1,
                Batch::Uses | Batch::None => {}
            }
        }
        self.check_teardown_order(&ops)?;
        self.threads.push((name.to_string(), ops));
        Ok(())
    }

    /// `pv-teardown` runs after the vCPUs stopped (`kvm_s390_cpus_from_pv` takes every
    /// vCPU's mutex, which `KVM_RUN` holds): in the model, after every `guest-access` and
    /// `unpack`, in their thread. A scenario that puts one where a vCPU could still run is an
    /// error, not a race the kernel cannot have.
    fn check_teardown_order(&self, ops: &[OpCall]) -> Result<(), BuildError> {
        let is_guest =
            |c: &OpCall| matches!(c.op, ThreadOp::GuestAccess { .. } | ThreadOp::Unpack { .. });
        let is_teardown = |c: &OpCall| matches!(c.op, ThreadOp::PvTeardown { .. });
        let err = |i: usize, m: &str| BuildError {
            op: Some(i),
            field: "op",
            message: m.to_string(),
        };
        let others_guest = self.threads.iter().any(|(_, o)| o.iter().any(is_guest));
        let others_teardown = self.threads.iter().any(|(_, o)| o.iter().any(is_teardown));
        if let Some(t) = ops.iter().position(is_teardown) {
            // `kvm_s390_handle_pv` refuses KVM_PV_DISABLE of a VM that is not protected; a
            // teardown with no protected guest to tear down would be a silent no-op.
            if self.guest.is_empty() {
                return Err(err(t, "`pv-teardown` needs a protected VM: declare its guest frames ([[guest]]) first"));
            }
            if others_guest {
                return Err(err(t, "`pv-teardown` runs after the vCPUs stopped (kvm_s390_cpus_from_pv takes every vCPU's mutex): put it in the thread of the guest accesses, after them"));
            }
            if let Some(g) = ops[t..].iter().position(is_guest) {
                return Err(err(
                    t + g,
                    "a guest access after `pv-teardown`: the protected VM is gone",
                ));
            }
        }
        // QEMU unpacks in the machine reset, every other vCPU stopped, and on a failed
        // unpack or verification tears the VM down (`KVM_PV_DISABLE`, vmm.rs): the same
        // rule as for `pv-teardown`.
        // QEMU unpacks in its machine reset, one image after the other, and on a failed
        // unpack or verification tears the VM down (`KVM_PV_DISABLE`, vmm.rs): one thread
        // unpacks, and no other thread tears the VM down. (A guest access in another thread
        // is allowed for kernel tests of the unpack's own code: `Objs::vcpus_stopped_for_unpack`.)
        let is_unpack = |c: &OpCall| matches!(c.op, ThreadOp::Unpack { .. });
        let others_unpack = self.threads.iter().any(|(_, o)| o.iter().any(is_unpack));
        if let Some(u) = ops.iter().position(is_unpack) {
            if others_unpack || others_teardown {
                return Err(err(u, "`unpack` in two threads, or beside a `pv-teardown` in another thread: QEMU unpacks in its machine reset, and a failed unpack tears the VM down (KVM_PV_DISABLE)"));
            }
        }
        if others_unpack {
            if let Some(g) = ops.iter().position(is_teardown) {
                return Err(err(g, "a `pv-teardown` in another thread than the `unpack`: a failed unpack tears the VM down itself (KVM_PV_DISABLE)"));
            }
        }
        if others_teardown {
            if let Some(g) = ops.iter().position(is_guest) {
                return Err(err(g, "a guest access in another thread than the `pv-teardown`: it runs after the vCPUs stopped (kvm_s390_cpus_from_pv)"));
            }
        }
        Ok(())
    }

    /// Checks what an op's fields name: the mm, file and pipe exist, the vpn is mapped in
    /// the op's mm, the index is a page of the op's file, the gfn is a declared guest frame.
    pub fn check_op(&self, op: &ThreadOp) -> Result<(), BuildError> {
        if let ThreadOp::Unpack { gfn, pages } = *op {
            if let Some(g) = (gfn..gfn + pages).find(|g| !self.guest.iter().any(|x| x.gfn == *g)) {
                return Err(BuildError::new(
                    "pages",
                    format!(
                        "an image of {pages} page(s) from guest frame {gfn} needs frame {g}, \
                         which no [[guest]] declares"
                    ),
                ));
            }
        }
        let args = op.args();
        let arg = |k: Kind| args.iter().find(|(f, _)| f.kind == k).map(|(_, a)| *a);
        for (f, a) in &args {
            let n = match *a {
                Arg::Id(n) | Arg::Num(n) => n,
                _ => continue,
            };
            let err = |m: String| Err(BuildError::new(f.name, m));
            match f.kind {
                Kind::Mm if n >= self.mms.len() => return err(format!("no mm {n}")),
                Kind::File if n >= self.files.len() => return err(format!("no file {n}")),
                Kind::Pipe if n >= self.pipes.len() => return err(format!("no pipe {n}")),
                Kind::Gfn if !self.guest.iter().any(|g| g.gfn == n) => {
                    return err(format!("no [[guest]] frame {n}"))
                }
                Kind::Vpn => {
                    vpn_in_range(n).map_err(|e| BuildError { field: f.name, ..e })?;
                    if let Some(Arg::Id(mm) | Arg::Num(mm)) = arg(Kind::Mm) {
                        if mm < self.mms.len() && !self.is_mapped(mm, n) {
                            return err(format!(
                                "`{}` has no mapping at vpn {n}",
                                self.mms[mm].name
                            ));
                        }
                    }
                }
                Kind::Index => {
                    if let Some(Arg::Id(file) | Arg::Num(file)) = arg(Kind::File) {
                        if let Some((name, pages)) = self.files.get(file) {
                            if n >= *pages {
                                return err(format!("file `{name}` has pages 0..{pages}, not {n}"));
                            }
                        }
                    }
                }
                Kind::Count if n == 0 => return err("a count is at least 1".into()),
                Kind::Count if f.name == "nr_pages" => nr_pages_in_range(n, arg(Kind::Vpn))
                    .map_err(|e| BuildError { field: f.name, ..e })?,
                _ => {}
            }
        }
        if let ThreadOp::UvBusy {
            count: Some(_),
            forever: true,
            ..
        } = op
        {
            return Err(BuildError::new(
                "forever",
                "a busy period that never ends has no `count` (leave `count` out)",
            ));
        }
        if let ThreadOp::Reclaim {
            file, kswapd: true, ..
        } = *op
        {
            if self.shmem.contains(&file) {
                return Err(BuildError::new(
                    "kswapd",
                    "reclaim's write-out of a shmem folio (shmem_writepage: into the swap \
                     cache, then swap_writepage) is not modelled",
                ));
            }
        }
        if let ThreadOp::Truncate {
            file,
            index,
            pages,
            punch_hole,
        } = *op
        {
            self.check_truncate(file, index, pages, punch_hole)?;
        }
        if let ThreadOp::ReclaimAnon { mm, vpn } = *op {
            let anon = self
                .maps
                .iter()
                .any(|m| m.mm == mm && m.vpn == vpn && matches!(m.backing, Backing::Anon));
            if !anon {
                return Err(BuildError::new(
                    "vpn",
                    "`reclaim-anon` swaps out an anonymous page: map this vpn with `anon = true` \
                     (a page-cache folio is `reclaim`'s)",
                ));
            }
        }
        if let ThreadOp::Migrate { mm, vpn, .. } = *op {
            let anon = self
                .maps
                .iter()
                .any(|m| m.mm == mm && m.vpn == vpn && matches!(m.backing, Backing::Anon));
            if !anon {
                return Err(BuildError::new(
                    "vpn",
                    "`migrate` moves an anonymous page: map this vpn with `anon = true` (the \
                     migration of a page-cache folio, with its xarray freeze, is not modelled)",
                ));
            }
        }
        Ok(())
    }

    /// A `truncate` range: pages of the file; without `punch_hole` (a size reduction) the
    /// rest of the file; no large folio cut by it (`truncate_inode_partial_folio`'s zeroing
    /// and split of a part are not modelled: crate::truncate).
    fn check_truncate(
        &self,
        file: FileId,
        index: usize,
        pages: usize,
        punch_hole: bool,
    ) -> Result<(), BuildError> {
        let Some((name, n)) = self.files.get(file) else {
            return Ok(());
        };
        let end = index.saturating_add(pages);
        if end > *n {
            return Err(BuildError::new(
                "pages",
                format!(
                    "{pages} page(s) from index {index} end beyond file `{name}` (pages 0..{n})"
                ),
            ));
        }
        if !punch_hole && end != *n {
            return Err(BuildError::new(
                "pages",
                format!(
                    "a size reduction (punch_hole = false) cuts the file from index {index} to \
                     its end: pages must be {} for file `{name}`",
                    n - index
                ),
            ));
        }
        if let Some(&(_, order)) = self.folio_order.iter().find(|&&(f, _)| f == file) {
            let nr = 1usize << order;
            if !index.is_multiple_of(nr) || !end.is_multiple_of(nr) {
                return Err(BuildError::new(
                    "pages",
                    format!(
                        "the range {index}..{end} cuts a large folio of file `{name}` (folios of \
                         {nr} pages): truncate_inode_partial_folio's partial zeroing and split \
                         are not modelled"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The scripted busy answers the `uv-busy` ops of the threads so far ask for, per call
    /// (a busy period asks for none: it ends by a step of its own).
    fn uv_busy_total(&self) -> [u64; uv::UV_CALLS] {
        let mut total = [0u64; uv::UV_CALLS];
        for c in self.threads.iter().flat_map(|t| &t.1) {
            if let ThreadOp::UvBusy {
                call,
                count: Some(n),
                ..
            } = c.op
            {
                for u in uv::UvCall::in_set(call.0) {
                    total[u as usize] += u64::from(n);
                }
            }
        }
        total
    }

    /// `reclaim-anon` beside `zap` or `migrate`: the model's MADV_DONTNEED clears only
    /// present PTEs (`zap_pte_range`'s `free_swap_and_cache` of a swap entry is not
    /// modelled) and its migration handles only folios outside the swap cache
    /// (`folio_migrate_mapping`'s freeze of a swap-cache folio is not modelled): refused
    /// rather than modelled wrong.
    fn check_swap_combination(&self, ops: &[OpCall]) -> Result<(), BuildError> {
        let all = || {
            self.threads
                .iter()
                .flat_map(|(_, o)| o)
                .chain(ops)
                .map(|c| &c.op)
        };
        if !all().any(|o| matches!(o, ThreadOp::ReclaimAnon { .. })) {
            return Ok(());
        }
        if let Some(o) =
            all().find(|o| matches!(o, ThreadOp::Zap { .. } | ThreadOp::Migrate { .. }))
        {
            return Err(BuildError::new(
                "op",
                format!(
                    "`reclaim-anon` with `{}` in one scenario is not modelled (the zap of a \
                     swap entry and the migration of a swap-cache folio are not)",
                    o.spec().name
                ),
            ));
        }
        Ok(())
    }

    /// The swap device's slots: one per anonymous mapping, in a model that swaps.
    fn swap_slots(&self) -> usize {
        let swaps = self
            .threads
            .iter()
            .flat_map(|(_, ops)| ops)
            .any(|c| matches!(c.op, ThreadOp::ReclaimAnon { .. }));
        if !swaps {
            return 0;
        }
        self.maps
            .iter()
            .filter(|m| matches!(m.backing, Backing::Anon))
            .count()
    }

    fn is_mapped(&self, mm: MmId, vpn: usize) -> bool {
        self.maps.iter().any(|m| m.mm == mm && m.vpn == vpn)
    }

    /// Page frames: one per cached file page, one per present anonymous mapping, spares
    /// (saturating: any count that does not fit is above [`MAX_FRAMES`] anyway).
    fn frames(&self) -> usize {
        self.files
            .iter()
            .fold(0usize, |n, f| n.saturating_add(f.1))
            .saturating_add(
                self.maps
                    .iter()
                    .filter(|m| m.backing == Backing::Anon && m.present)
                    .count(),
            )
            .saturating_add(SPARE_FRAMES)
            .saturating_add(self.extra_spares)
    }

    fn frames_fit(&self) -> Result<(), BuildError> {
        let n = self.frames();
        if n > MAX_FRAMES {
            return Err(BuildError::new(
                "pages",
                format!(
                    "the set-up has {} page frames (cached file pages, present anonymous \
                     pages and {} spare); at most {MAX_FRAMES} are supported (an \
                     allocation declares every frame it may take)",
                    if n == usize::MAX {
                        "more than 2^64".to_string()
                    } else {
                        n.to_string()
                    },
                    SPARE_FRAMES + self.extra_spares
                ),
            ));
        }
        Ok(())
    }

    pub fn file_names(&self) -> Vec<&str> {
        self.files.iter().map(|f| f.0.as_str()).collect()
    }
    pub fn mm_names(&self) -> Vec<&str> {
        self.mms.iter().map(|m| m.name.as_str()).collect()
    }
    pub fn pipe_names(&self) -> Vec<&str> {
        self.pipes.iter().map(|p| p.as_str()).collect()
    }

    /// The id of the mm, file or pipe named `name` (`kind` is `Mm`, `File` or `Pipe`), or
    /// an error listing what is defined.
    pub fn resolve(&self, kind: Kind, name: &str) -> Result<usize, String> {
        let (list, what) = match kind {
            Kind::Mm => (self.mm_names(), "mm"),
            Kind::File => (self.file_names(), "file"),
            Kind::Pipe => (self.pipe_names(), "pipe"),
            other => return Err(format!("a {other:?} is not a name")),
        };
        list.iter()
            .position(|n| *n == name)
            .ok_or_else(|| format!("no {what} named `{name}` (defined: {})", defined(&list)))
    }

    /// The name of id `n` of `kind` (for texts: `explain`).
    pub fn name_of(&self, kind: Kind, n: usize) -> Option<&str> {
        match kind {
            Kind::Mm => self.mms.get(n).map(|m| m.name.as_str()),
            Kind::File => self.files.get(n).map(|f| f.0.as_str()),
            Kind::Pipe => self.pipes.get(n).map(|p| p.as_str()),
            _ => None,
        }
    }

    /// The threads, in order.
    pub fn threads(&self) -> &[(String, Vec<OpCall>)] {
        &self.threads
    }

    /// Sets the bounded-waiting bound (see [`DEFAULT_SPIN_BOUND`]).
    pub fn set_spin_bound(&mut self, bound: u32) {
        self.spin_bound = Some(bound);
    }

    /// The bounded-waiting bound the model gets.
    pub fn spin_bound(&self) -> u32 {
        self.spin_bound.unwrap_or(DEFAULT_SPIN_BOUND)
    }

    /// Sets the retry bound (see [`DEFAULT_RETRY_BOUND`]).
    pub fn set_retry_bound(&mut self, bound: u32) {
        self.retry_bound = Some(bound);
    }

    /// The retry bound the model gets.
    pub fn retry_bound(&self) -> u32 {
        self.retry_bound.unwrap_or(DEFAULT_RETRY_BOUND)
    }

    /// The UV calls the threads' firmware ops script (a set of [`uv::UvCall::bit`]).
    fn uv_scripted(&self) -> u32 {
        self.threads
            .iter()
            .flat_map(|(_, ops)| ops)
            .map(|c| match c.op {
                ThreadOp::UvBusy { call, .. } | ThreadOp::UvFail { call, .. } => call.0,
                _ => 0,
            })
            .fold(0, |a, b| a | b)
    }

    /// Whether there is at least one thread.
    pub fn has_threads(&self) -> bool {
        !self.threads.is_empty()
    }

    /// The model for one kernel configuration: file pages in the cache (refcount 1 each for
    /// the cache slot), mappings (each present PTE a mapcount and a reference), anonymous
    /// pages, guest frames (secure ones with PG_arch_1; unpack images sealed by an export),
    /// pipes, and the object ids the explorer sees.
    pub fn model(&self, kernel: Kernel) -> KernelModel {
        let (pages, files, map_pages) = self.pages_and_files();
        let mut pages = pages;
        let nframes = pages.len();
        let mms = self.mms_with_ptes(&mut pages, &map_pages);
        let keys = UvKeys::new(1);
        let mut uvs = vec![UvFrame::default(); nframes];
        let guest = self.guest_frames(&keys, &mut pages, &mut uvs, &map_pages);
        let mut objs = self.objs(nframes, &files, mms.len());
        objs.folio_head = pages
            .iter()
            .enumerate()
            .map(|(p, pg)| pg.head.unwrap_or(p))
            .collect();
        let world = World {
            cfg: std::sync::Arc::new(kernel),
            objs: std::sync::Arc::new(objs),
            keys: std::sync::Arc::new(keys),
            pages,
            uv: uvs,
            mms,
            files,
            pipes: self
                .pipes
                .iter()
                .enumerate()
                .map(|(p, n)| {
                    let tracked = self.tracked_writers(p);
                    Pipe {
                        name: n.clone(),
                        bufs: Vec::new(),
                        writers: tracked,
                        tracked_writers: tracked,
                    }
                })
                .collect(),
            lru_batch: Vec::new(),
            uv_env: Default::default(),
            vm: Default::default(),
            spin_bound: self.spin_bound(),
            retry_bound: self.retry_bound(),
            uv_scripted: self.uv_scripted(),
            guest,
            kvm: crate::world::KvmMmu::default(),
            swap: vec![crate::world::SwapSlot::default(); self.swap_slots()],
            held: vec![Vec::new(); self.threads.len()],
        };
        KernelModel::new(world, self.threads.clone())
    }

    /// The threads whose write end of pipe `p` a reader may wait on: those that write into
    /// it while another thread reads from it (see `world::Pipe::writers`).
    fn tracked_writers(&self, p: PipeId) -> u64 {
        let touches = |t: usize, f: fn(&ThreadOp, PipeId) -> bool| {
            self.threads[t].1.iter().any(|c| f(&c.op, p))
        };
        let writes = |op: &ThreadOp, p| pipe_io(op).0 == Some(p);
        let reads = |op: &ThreadOp, p| pipe_io(op).1 == Some(p);
        (0..self.threads.len().min(64))
            .filter(|&t| {
                touches(t, writes) && (0..self.threads.len()).any(|o| o != t && touches(o, reads))
            })
            .fold(0, |m, t| m | (1 << t))
    }

    fn vma(&self, m: &MapSpec) -> Vma {
        Vma {
            vpn: m.vpn,
            file: match m.backing {
                Backing::File { file, index } => Some((file, index)),
                Backing::Anon => None,
            },
            shared: m.shared,
            writable: m.writable,
        }
    }

    /// Pages (cached file pages first, then anonymous and spare frames), the files with
    /// their caches, and the page each mapping maps (none for a non-present anonymous one).
    fn pages_and_files(&self) -> (Vec<Page>, Vec<File>, Vec<Option<usize>>) {
        let mut pages: Vec<Page> = Vec::new();
        let mut files: Vec<File> = Vec::new();
        for (fi, (name, n)) in self.files.iter().enumerate() {
            let mut cache = Vec::new();
            let order = self
                .folio_order
                .iter()
                .find(|&&(f, _)| f == fi)
                .map_or(0, |&(_, o)| o);
            let nr = 1usize << order;
            for idx in 0..*n {
                cache.push(Some(pages.len()));
                // A large folio: the head holds the page cache's `nr` references, a tail
                // none (and points at its head).
                let head = (idx % nr != 0).then(|| pages.len() - idx % nr);
                // `[[file]] private`: the head carries PG_private and its reference
                // (`folio_attach_private`).
                let private = head.is_none() && self.private.contains(&fi);
                pages.push(Page {
                    free: false,
                    refcount: if head.is_some() {
                        0
                    } else {
                        nr as i32 + i32::from(private)
                    },
                    mapping: Some((fi, idx)),
                    head,
                    order: if head.is_none() { order } else { 0 },
                    private,
                    ..Page::new()
                });
            }
            files.push(File {
                name: name.clone(),
                cache,
                shmem: self.shmem.contains(&fi),
                private: self.private.contains(&fi),
                disk: vec![None; *n],
                invalidate_readers: 0,
                invalidate_writer: false,
            });
        }
        let mut next_anon = pages.len();
        pages.resize(self.frames(), Page::new());
        let map_pages = self
            .maps
            .iter()
            .map(|m| match m.backing {
                Backing::File { file, index } => files[file].cache[index],
                Backing::Anon if m.present => {
                    let p = next_anon;
                    next_anon += 1;
                    pages[p].free = false;
                    Some(p)
                }
                Backing::Anon => None,
            })
            .collect();
        (pages, files, map_pages)
    }

    /// The mms with their VMAs (in mapping order) and the PTEs of present mappings (each a
    /// mapcount and a reference of its page).
    fn mms_with_ptes(&self, pages: &mut [Page], map_pages: &[Option<usize>]) -> Vec<Mm> {
        let mut mms: Vec<Mm> = self
            .mms
            .iter()
            .map(|m| Mm {
                name: m.name.clone(),
                protected: m.protected,
                protected_count: m.protected_vms,
                vmas: Vec::new(),
                ptes: Vec::new(),
                ptl_held: Vec::new(),
                mmap_readers: 0,
                mmap_writer: false,
            })
            .collect();
        for (m, p) in self.maps.iter().zip(map_pages) {
            mms[m.mm].vmas.push(self.vma(m));
            let Some(p) = *p else { continue };
            if m.present {
                mms[m.mm].set_pte(
                    m.vpn,
                    Pte {
                        present: true,
                        invalid: false,
                        write: m.pte_write,
                        page: Some(p),
                        swp: None,
                    },
                );
                pages[p].mapcount += 1;
                let h = pages[p].head.unwrap_or(p);
                pages[h].refcount += 1;
                // A writable PTE of a shared mapping of a file that writes back was made
                // writable by a write fault, which dirtied the folio (mm/memory.c
                // `do_shared_fault` / `wp_page_shared` → `fault_dirty_shared_page` →
                // `folio_mark_dirty`, 6.1.192 and 6.12.118; `folio_mkclean` write-protects
                // every such PTE before PG_dirty is cleared): the set-up starts in that state.
                if let Backing::File { file, .. } = m.backing {
                    if m.shared && m.pte_write && !self.shmem.contains(&file) {
                        pages[h].dirty = true;
                    }
                }
            }
        }
        mms
    }

    /// The guest's frames: a secure frame is a secure page of guest 0 with PG_arch_1 and
    /// the guest's data; an unpack image is the guest's data exported (sealed) by the UV.
    fn guest_frames(
        &self,
        keys: &UvKeys,
        pages: &mut [Page],
        uvs: &mut [UvFrame],
        map_pages: &[Option<usize>],
    ) -> Vec<GuestFrame> {
        let mut guest = Vec::new();
        for g in &self.guest {
            let mi = self
                .maps
                .iter()
                .position(|m| m.mm == g.mm && m.vpn == g.vpn)
                .expect("Builder::guest checked the mapping");
            let data = map_pages[mi].and(g.data.map(|v| [v; PAGE_BYTES]));
            if let Some(p) = map_pages[mi] {
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
                    uv::export(keys, &mut frame, &mut d);
                    if let Some(s) = frame.sealed.as_mut() {
                        s.image = true;
                    }
                    frame.shared = g.shared;
                    uvs[p] = frame;
                    pages[p].data = d;
                }
            }
            guest.push(GuestFrame {
                gfn: g.gfn,
                mm: g.mm,
                vpn: g.vpn,
                shared: g.shared,
                written: data,
                expect: None,
                unpacked: false,
            });
        }
        guest
    }

    /// Object ids: the parts of every page, then PTEs, PTE locks, mmap locks, cache slots,
    /// pipes, the LRU batch, the UV's busy state and the allocator.
    fn objs(&self, nframes: usize, files: &[File], nmms: usize) -> Objs {
        let per_page = PAGE_PARTS;
        let page_base = 0u32;
        let pte_index: Vec<(usize, usize)> = self.maps.iter().map(|m| (m.mm, m.vpn)).collect();
        let mut ptl_index: Vec<(usize, usize)> = Vec::new();
        for m in &self.maps {
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
        let slot_base = mmap_base + nmms as u32;
        let pipe_base = slot_base + slot_index.len() as u32;
        let lru = pipe_base + self.pipes.len() as u32;
        let uv_busy = lru + 1;
        let alloc = lru + 2;
        let import_lock = lru + 3;
        let kvm_mmu = lru + 4;
        let guest_base = lru + 5;
        let guest_end = guest_base + self.guest.len() as u32;
        // After every other object, so that models without them keep their numbering.
        let uv_env_base = guest_end;
        let vm = uv_env_base + (uv::UV_CALLS - uv::UvCall::Export as usize) as u32;
        let disk = self
            .threads
            .iter()
            .flat_map(|(_, ops)| ops)
            .any(|c| matches!(c.op, ThreadOp::Reclaim { kswapd: true, .. }));
        let truncates = self
            .threads
            .iter()
            .flat_map(|(_, ops)| ops)
            .any(|c| matches!(c.op, ThreadOp::Truncate { .. }));
        // After every other object, so that models without swap keep their numbering.
        let swap_base = vm + 1 + if truncates { files.len() as u32 } else { 0 };
        let nswap = self.swap_slots();
        let vcpus_stopped_for_unpack = !self.threads.iter().any(|(_, ops)| {
            ops.iter()
                .any(|c| matches!(c.op, ThreadOp::GuestAccess { .. }))
                && !ops.iter().any(|c| matches!(c.op, ThreadOp::Unpack { .. }))
        });
        Objs {
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
            import_lock,
            kvm_mmu,
            guest_base,
            uv_env_base,
            vm,
            disk,
            invalidate_base: truncates.then_some(vm + 1),
            swap_base: (nswap > 0).then_some(swap_base),
            vcpus_stopped_for_unpack,
            total: swap_base as usize + nswap,
            pte_index,
            ptl_index,
            slot_index,
            folio_head: Vec::new(),
        }
    }
}
