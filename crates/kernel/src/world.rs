//! The shared state of the model: struct pages, mms with page tables and PTE locks, files with
//! page caches, pipes, sockets, per-CPU LRU batches, the Ultravisor, and the guest's view.
//!
//! Every piece that changes independently has its own [`ObjId`] (see [`Objs`]) so that the
//! explorer can tell which steps commute.

use crate::config::Kernel;
use crate::uv::{UvCall, UvEnv, UvFrame, UvKeys};
use explore::ObjId;
use std::sync::Arc;

pub type PageId = usize;
pub type MmId = usize;
pub type FileId = usize;
pub type PipeId = usize;

/// Bytes of content a model page carries (standing for the 4 KiB of a real page).
pub const PAGE_BYTES: usize = 32;
/// `GUP_PIN_COUNTING_BIAS` (include/linux/mm.h).
pub const GUP_PIN_COUNTING_BIAS: i32 = 1024;
/// Entries per page table: a PTE lock covers this many virtual pages (s390: 256 × 4 KiB).
pub const PTRS_PER_PTE: usize = 256;
/// The largest virtual page number of a user address space: s390's `TASK_SIZE_MAX` is
/// `-PAGE_SIZE` (arch/s390/include/asm/processor.h, 6.1.192 and 6.12.118), so the last user
/// page of a 64-bit address space of 4 KiB pages is 2^52 - 2. The model keys PTEs and PTE
/// locks by the full number (no packing into narrower integers).
pub const MAX_VPN: usize = (1 << 52) - 2;
/// The largest guest frame number: a guest absolute address has 64 bits, pages 4 KiB.
pub const MAX_GFN: usize = (1 << 52) - 1;
// The model's numbers are `usize`: the limits above need a 64-bit target.
const _: () = assert!(usize::BITS >= 64);

/// `struct page` of one frame.
#[derive(Copy, Clone, Debug)]
pub struct Page {
    /// `_refcount`. 0 means free *or frozen* (see `free`).
    pub refcount: i32,
    /// Number of PTEs mapping the page, all mms together.
    pub mapcount: i32,
    /// The frame was freed (refcount dropped to 0 through a put) and not reallocated.
    pub free: bool,
    /// Allocation generation: bumped when the frame is reused.
    pub generation: u32,
    /// `PG_locked`, with the holding thread (the model knows who locked it).
    pub locked_by: Option<usize>,
    pub writeback: bool,
    /// `PG_arch_1`: "may be secure".
    pub arch1: bool,
    pub dirty: bool,
    pub uptodate: bool,
    /// Page-cache slot (`page->mapping`, `page->index`).
    pub mapping: Option<(FileId, usize)>,
    pub swapcache: bool,
    /// `PG_private` (buffer heads).
    pub private: bool,
    /// References held by holders other than mappings and cache slots (threads, pipe
    /// buffers, skb frags, LRU batches, pins count as their bias): what the refcount must
    /// account for beyond `expected_page_refs`.
    pub extra: i32,
    /// Page content as the host sees it (plaintext, or ciphertext after an export).
    pub data: [u8; PAGE_BYTES],
    /// A tail page of a large folio: its head (`compound_head`). `None` for a head or an
    /// order-0 page. The folio's `_refcount`, `extra`, `PG_locked`, `PG_writeback` and
    /// lifetime live on the head (a tail's `refcount` stays 0, as a tail's `_refcount` does:
    /// include/linux/page-flags.h PF_NO_TAIL, `folio_get` on `page_folio`); mapcount,
    /// mapping/index, PG_arch_1, the UV state and the content stay per page.
    pub head: Option<PageId>,
    /// On a head: the folio's order (`folio_order`; 0 for a small folio).
    pub order: u8,
    /// `PG_referenced` (reclaim's second look: `folio_check_references`, mm/vmscan.c).
    pub referenced: bool,
    /// `PG_reclaim` (reclaim saw the folio dirty or under writeback and wants it freed as
    /// soon as it is clean: mm/vmscan.c `shrink_folio_list`).
    pub reclaim: bool,
}

impl Page {
    pub fn new() -> Self {
        Page {
            refcount: 0,
            mapcount: 0,
            free: true,
            generation: 0,
            locked_by: None,
            writeback: false,
            arch1: false,
            dirty: false,
            uptodate: true,
            mapping: None,
            swapcache: false,
            private: false,
            extra: 0,
            data: [0; PAGE_BYTES],
            head: None,
            order: 0,
            referenced: false,
            reclaim: false,
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new()
    }
}

/// A page-table entry (s390 semantics reduced to what the protocol reads).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pte {
    pub present: bool,
    /// `_PAGE_INVALID` on a present entry.
    pub invalid: bool,
    pub write: bool,
    pub page: Option<PageId>,
    /// A non-present PTE's swap-format entry (`is_swap_pte`: not none, not present), `None`
    /// for a present or an empty PTE. The page of a present PTE is `page`; an entry's page
    /// (a migration entry's `pfn_swap_entry_to_page`) lives in the entry, so every reader
    /// of `page` sees no page behind a non-present PTE.
    pub swp: Option<Swp>,
}

/// The swap-format entries the model writes into a non-present PTE (include/linux/swapops.h).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Swp {
    /// A migration entry for `page` (`make_writable_migration_entry` when the cleared PTE
    /// was writable, else a readable one), set by `try_to_migrate_one` and replaced by
    /// `remove_migration_pte` (mm/rmap.c, mm/migrate.c, 6.1.192). It holds no reference.
    Migration { page: PageId, write: bool },
    /// A swap entry for slot `slot` of the model's one swap device (`swp_entry(type,
    /// offset)`), set by `try_to_unmap_one` of a folio in the swap cache (mm/rmap.c,
    /// 6.1.192 and 6.12.118) and replaced by `do_swap_page` (mm/memory.c). It holds a swap
    /// count of its slot ([`SwapSlot::count`]), no page reference. Every anonymous page of
    /// the model is exclusive (`PageAnonExclusive`: no fork, KSM off for a PV guest), so
    /// from v5.19 every such entry is `pte_swp_exclusive`; the entry does not carry the bit.
    Swap { slot: usize },
}

/// One slot of the model's swap device (`si->swap_map[offset]`, the swap cache's xarray
/// slot of that offset, and the slot's block on the device: mm/swapfile.c, mm/swap_state.c).
/// One object per slot ([`Objs::swap`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SwapSlot {
    /// The swap count: swap PTEs holding the entry (`swap_duplicate` / `swap_free`).
    pub count: u8,
    /// The folio in the swap cache at this offset (`SWAP_HAS_CACHE`; its `PG_swapcache`).
    pub cache: Option<PageId>,
    /// What the last write-out wrote into the slot (`None`: never written).
    pub block: Option<Block>,
}

impl SwapSlot {
    /// The slot is free for `folio_alloc_swap`: no swap count and no swap-cache folio.
    pub fn is_free(&self) -> bool {
        self.count == 0 && self.cache.is_none()
    }
}

impl Pte {
    pub const NONE: Pte = Pte {
        present: false,
        invalid: true,
        write: false,
        page: None,
        swp: None,
    };

    /// `pte_none`: empty (no page, no swap-format entry).
    pub fn is_none(&self) -> bool {
        !self.present && self.swp.is_none()
    }
}

/// What backs a virtual page of an mm.
#[derive(Clone, Debug, Hash)]
pub struct Vma {
    pub vpn: usize,
    /// Backing file and page index; `None` for anonymous memory (QEMU's guest RAM).
    pub file: Option<(FileId, usize)>,
    pub shared: bool,
    pub writable: bool,
}

/// One address space.
#[derive(Debug)]
pub struct Mm {
    pub name: String,
    /// `mm_is_protected(mm)`: the mm runs a protected guest.
    pub protected: bool,
    /// Number of protected VMs in this mm (`protected_count`).
    pub protected_count: u32,
    pub vmas: Vec<Vma>,
    /// PTEs by vpn.
    pub ptes: Vec<(usize, Pte)>,
    /// Page tables whose PTE lock is held, by table number, with the holder.
    pub ptl_held: Vec<(usize, usize)>,
    /// `mmap_lock`: readers, and whether a writer holds it.
    pub mmap_readers: u32,
    pub mmap_writer: bool,
}

impl Mm {
    pub fn pte(&self, vpn: usize) -> Pte {
        self.ptes
            .iter()
            .find(|(v, _)| *v == vpn)
            .map(|(_, p)| *p)
            .unwrap_or(Pte::NONE)
    }
    pub fn set_pte(&mut self, vpn: usize, pte: Pte) {
        match self.ptes.iter_mut().find(|(v, _)| *v == vpn) {
            Some(e) => e.1 = pte,
            None => self.ptes.push((vpn, pte)),
        }
    }
    pub fn vma(&self, vpn: usize) -> Option<&Vma> {
        self.vmas.iter().find(|v| v.vpn == vpn)
    }
    pub fn ptl_holder(&self, table: usize) -> Option<usize> {
        self.ptl_held.iter().find(|(t, _)| *t == table).map(|x| x.1)
    }
}

/// A file with its page cache.
#[derive(Debug)]
pub struct File {
    pub name: String,
    /// Cache slots by index.
    pub cache: Vec<Option<PageId>>,
    /// A shmem file (a memfd: QEMU's memory-backend-memfd): `shmem_mapping`,
    /// `vma_is_shmem` (no writeback, so a shared writable mapping of it needs no dirty
    /// tracking). A set-up constant.
    pub shmem: bool,
    /// Its file system keeps private data on its large folios and refuses to release a
    /// dirty one (`[[file]] private`, iomap: `Builder::file_private`). A set-up constant.
    pub private: bool,
    /// The file's blocks on disk by index, as written by a write-out (`None`: never
    /// written; a read finds zeroes). Part of the index's cache-slot object.
    pub disk: Vec<Option<Block>>,
    /// `mapping->invalidate_lock` (an rw_semaphore): readers (faults adding a page), and
    /// whether a writer (truncation) holds it. Used only in models with a `truncate`
    /// ([`Objs::invalidate_base`]).
    pub invalidate_readers: u32,
    pub invalidate_writer: bool,
}

/// A file block on disk: what a write-out's device read from the page. The UV keeps the
/// integrity data of an exported guest page per guest page, not per frame, so an exported
/// image written out and read back into another frame still imports: the model, which keeps
/// the seal with the frame (`uv::UvFrame::sealed`), carries it with the block.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    pub data: [u8; PAGE_BYTES],
    pub sealed: Option<crate::uv::Sealed>,
}

/// One pipe buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PipeBuf {
    pub page: PageId,
    /// The page came from the page cache (`page_cache_pipe_buf_ops`).
    pub page_cache: bool,
}

#[derive(Debug, Default)]
pub struct Pipe {
    pub name: String,
    pub bufs: Vec<PipeBuf>,
    /// Threads that still hold the pipe's write end, as a mask of thread ids: a reader of
    /// an empty pipe waits while another thread does (`fs/splice.c:
    /// splice_from_pipe_next`, `ipipe_prep`: `pipe->writers`). A thread holds it until its
    /// last op that writes into the pipe is over.
    pub writers: u64,
    /// The threads whose write end is tracked in `writers` (a set-up constant): those that
    /// write into the pipe while another thread reads from it (a thread that only reads its
    /// own writes never waits on itself).
    pub tracked_writers: u64,
}

/// Who told the guest that a frame's content is in place.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExpectBy {
    /// `KVM_PV_UNPACK` went past the page (`unpack_one` returned 0 for it).
    Unpack,
    /// A guest access completed on it.
    Touch,
}

/// Where the content a guest frame should have lives: the page (and its allocation
/// generation) the host mapped at the frame when the unpack reported it done or the guest
/// last touched it. A later different page there means the host discarded the old one
/// (MADV_DONTNEED): the guest then starts afresh and expects nothing of it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Expect {
    pub page: PageId,
    pub generation: u32,
    pub by: ExpectBy,
}

/// The KVM's new-gmap state (e38c884df921, v7.0): `kvm->mmu_lock` (an rwlock) with the
/// invalidation counters of the generic KVM MMU notifier (`mmu_invalidate_seq`,
/// `mmu_invalidate_in_progress`), and the VM-wide `kvm->arch.pv.import_lock` mutex.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct KvmMmu {
    pub mmu_lock_readers: u32,
    pub invalidate_seq: u32,
    pub invalidate_in_progress: u32,
    /// The thread holding `import_lock`.
    pub import_lock: Option<usize>,
}

/// The guest's own view of its memory: what it last wrote to each guest frame.
#[derive(Copy, Clone, Debug)]
pub struct GuestFrame {
    pub gfn: usize,
    pub mm: MmId,
    pub vpn: usize,
    /// The guest shared this frame with the host (Set-Shared-Access).
    pub shared: bool,
    /// What the guest last wrote (None: never wrote; a fresh import reads zeroes) — or,
    /// for a frame it shared, what the host last wrote there.
    pub written: Option<[u8; PAGE_BYTES]>,
    /// Where the content `written` (zeroes if none) should be: set by the unpack's success
    /// and by a completed guest access (the import-completeness property reads it at the
    /// end).
    pub expect: Option<Expect>,
    /// The Ultravisor unpacked this frame (an Unpack-Image UVC succeeded for it): the UV's
    /// record of the image, which `UVC_CMD_VERIFY_IMG` (`KVM_PV_VERIFY`) checks against the
    /// SE header (vmm.rs). Only the import's UVC step sets it.
    pub unpacked: bool,
}

/// Object ids of everything shared.
#[derive(Clone, Debug, Hash)]
pub struct Objs {
    pub per_page: usize,
    pub page_base: u32,
    pub pte_base: u32,
    pub ptl_base: u32,
    pub mmap_base: u32,
    pub slot_base: u32,
    pub pipe_base: u32,
    pub lru: u32,
    /// The Ultravisor's environment for the import and unpack calls (busy periods, scripted
    /// busy answers and failures: [`UvEnv`]).
    pub uv_busy: u32,
    /// The page allocator's free list (written by every free and allocation).
    pub alloc: u32,
    /// `kvm->arch.pv.import_lock` (the new gmap's import mutex).
    pub import_lock: u32,
    /// `kvm->mmu_lock` and the MMU-notifier invalidation counters.
    pub kvm_mmu: u32,
    /// The first guest frame's object (one per frame, in declaration order): what the guest
    /// expects of it ([`GuestFrame::expect`]).
    pub guest_base: u32,
    /// The Ultravisor's environment for the other calls, from [`UvCall::Export`] on, one
    /// object per call (see [`Objs::uv_env`]).
    pub uv_env_base: u32,
    /// The protected VM's configuration ([`PvVm`]).
    pub vm: u32,
    /// A thread can write file pages out to disk (reclaim's `pageout`), so a page-cache
    /// read may find a block there (the read then declares the new page's UV object; models
    /// without such a thread keep their steps as they were).
    pub disk: bool,
    /// A thread reclaims anonymous memory (`reclaim-anon`): the swap device's slots are
    /// objects from this id on, one per slot ([`World::swap`]); `None` in models without
    /// one (their numbering and steps stay as they were).
    pub swap_base: Option<u32>,
    /// A thread truncates (`truncate`): each file's `invalidate_lock` is an object, from
    /// this id on (one per file), which the truncation takes exclusively and a fault that
    /// adds a page takes shared (models without a truncation keep their steps as they were).
    pub invalidate_base: Option<u32>,
    /// No thread but the unpack's runs a guest access: the unpack runs as in QEMU's
    /// machine reset, every other vCPU stopped, and a failed one is followed by
    /// `KVM_PV_DISABLE` (vmm.rs). False in a model that runs a vCPU beside the unpack
    /// (kernel tests of the unpack's own code), which QEMU does not.
    pub vcpus_stopped_for_unpack: bool,
    pub total: usize,
    /// (mm, vpn) → index of its PTE object.
    pub pte_index: Vec<(MmId, usize)>,
    /// (mm, table) → index of its PTE-lock object.
    pub ptl_index: Vec<(MmId, usize)>,
    /// (file, index) → index of its cache-slot object.
    pub slot_index: Vec<(FileId, usize)>,
    /// Each frame's folio head at set-up (itself for an order-0 page): the parts that live
    /// on the folio (`Ref`, `Life`, `Lock`, `Writeback`) are one object per set-up folio.
    /// A split makes the tails folios of their own but they keep sharing the head's objects
    /// (an over-approximation of what conflicts: sound, a little less reduction).
    pub folio_head: Vec<PageId>,
}

/// Which part of a page an object stands for.
#[derive(Copy, Clone, Debug)]
pub enum PagePart {
    /// `_refcount` and the holders' accounting.
    Ref = 0,
    /// Whether the frame is allocated (freed by a put to zero, reused by an allocation).
    Life,
    /// `PG_locked`.
    Lock,
    /// `PG_writeback`.
    Writeback,
    /// `PG_arch_1`.
    Arch1,
    /// The Ultravisor's state of the frame and the frame's content.
    Uv,
    /// mapcount, mapping, private, swap cache, dirty, uptodate.
    Meta,
}

pub const PAGE_PARTS: usize = 7;

impl Objs {
    pub fn page(&self, p: PageId, part: PagePart) -> ObjId {
        let p = match part {
            PagePart::Ref | PagePart::Life | PagePart::Lock | PagePart::Writeback => {
                self.folio_head.get(p).copied().unwrap_or(p)
            }
            _ => p,
        };
        ObjId(self.page_base + (p * self.per_page + part as usize) as u32)
    }
    pub fn pte(&self, mm: MmId, vpn: usize) -> ObjId {
        ObjId(self.pte_base + self.pte_slot(mm, vpn) as u32)
    }
    /// The position of (mm, vpn) in [`Objs::pte_index`]: one per mapping, so it fits in 32
    /// bits where a vpn does not (a step guard's argument packs it).
    pub fn pte_slot(&self, mm: MmId, vpn: usize) -> usize {
        self.pte_index
            .iter()
            .position(|&k| k == (mm, vpn))
            .expect("PTE object registered at set-up")
    }
    pub fn ptl(&self, mm: MmId, vpn: usize) -> ObjId {
        ObjId(self.ptl_base + self.ptl_slot(mm, vpn) as u32)
    }
    /// The position of the page table of (mm, vpn) in [`Objs::ptl_index`].
    pub fn ptl_slot(&self, mm: MmId, vpn: usize) -> usize {
        let t = vpn / PTRS_PER_PTE;
        self.ptl_index
            .iter()
            .position(|&k| k == (mm, t))
            .expect("PTE-lock object registered at set-up")
    }
    pub fn mmap(&self, mm: MmId) -> ObjId {
        ObjId(self.mmap_base + mm as u32)
    }
    pub fn slot(&self, file: FileId, index: usize) -> ObjId {
        let i = self
            .slot_index
            .iter()
            .position(|&k| k == (file, index))
            .expect("cache-slot object registered at set-up");
        ObjId(self.slot_base + i as u32)
    }
    pub fn pipe(&self, pipe: PipeId) -> ObjId {
        ObjId(self.pipe_base + pipe as u32)
    }
    /// The object of swap slot `slot` (models with a `reclaim-anon` only).
    pub fn swap(&self, slot: usize) -> ObjId {
        ObjId(
            self.swap_base
                .expect("swap slots exist in a model that swaps")
                + slot as u32,
        )
    }
    /// The object of the `i`-th guest frame (index into `World::guest`).
    pub fn guest_frame(&self, i: usize) -> ObjId {
        ObjId(self.guest_base + i as u32)
    }
    /// The firmware environment of `call`: import and unpack share the object the import's
    /// UVC has always written; each other call has its own.
    pub fn uv_env(&self, call: UvCall) -> ObjId {
        match call {
            UvCall::Import | UvCall::Unpack => ObjId(self.uv_busy),
            other => ObjId(self.uv_env_base + other as u32 - UvCall::Export as u32),
        }
    }
}

/// The protected VM's configuration in the Ultravisor, as the teardown changes it
/// (arch/s390/kvm/pv.c: `kvm_s390_pv_deinit_vm`, `kvm_s390_pv_set_aside`, 6.12.118).
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq)]
pub enum Conf {
    /// Created and running (the guest handle is set).
    #[default]
    Running,
    /// Destroyed (Destroy-Secure-Configuration, or -Fast, succeeded).
    Destroyed,
    /// Its destroy failed: "Intended memory leak on \"impossible\" error" (the ASCE is
    /// replaced, the donated memory stays with the UV).
    Leaked,
    /// Set aside for an asynchronous cleanup without the fast destroy: the handle is kept
    /// for a later Destroy-Secure-Configuration (`kvm_s390_pv_set_aside`).
    SetAside,
}

/// The protected VM of the scenario (guest 0, in the mm of its guest frames).
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct PvVm {
    pub conf: Conf,
    /// It no longer counts in its mm's `context.protected_count` (the teardown's
    /// `atomic_dec`): `mm_is_protected` may have become false.
    pub uncounted: bool,
}

/// The whole shared state.
#[derive(Debug)]
pub struct World {
    pub cfg: Arc<Kernel>,
    pub objs: Arc<Objs>,
    pub keys: Arc<UvKeys>,
    pub pages: Vec<Page>,
    pub uv: Vec<UvFrame>,
    pub mms: Vec<Mm>,
    pub files: Vec<File>,
    pub pipes: Vec<Pipe>,
    /// Pages whose per-CPU LRU batch holds a reference.
    pub lru_batch: Vec<PageId>,
    /// What the Ultravisor answers instead of doing a call (busy, partial, failures),
    /// scripted by firmware threads.
    pub uv_env: UvEnv,
    /// The protected VM's configuration (changed by the teardown).
    pub vm: PvVm,
    /// The bounded-waiting bound: busy answers a `uv_call` may spin through while it holds
    /// a spinlock or a frozen refcount (a set-up constant).
    pub spin_bound: u32,
    /// Rounds a retry loop may go before the execution is cut (`--max-retries`; a set-up
    /// constant; see `retry.rs`).
    pub retry_bound: u32,
    /// The calls some firmware op of the scenario scripts (a set of [`UvCall::bit`]; a
    /// set-up constant): only their UVC steps declare the firmware environment's object.
    pub uv_scripted: u32,
    pub guest: Vec<GuestFrame>,
    /// The KVM's new-gmap locks and invalidation counters (only the new-gmap import flows
    /// and the MMU notifier of a protected mm under them use it).
    pub kvm: KvmMmu,
    /// The swap device's slots (one per anonymous mapping of the set-up, in models with a
    /// `reclaim-anon`; empty otherwise).
    pub swap: Vec<SwapSlot>,
    /// References each model thread holds, by page (thread-private bookkeeping: only the
    /// owning thread reads or writes its entry).
    pub held: Vec<Vec<Held>>,
}

/// A reference a thread holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Held {
    pub page: PageId,
    /// FOLL_PIN (counts `GUP_PIN_COUNTING_BIAS`).
    pub pin: bool,
    /// Allocation generation of the frame when the reference was taken.
    pub generation: u32,
}

/// Every field, packed into few words (a key hashes each page of the world): the counts two
/// to a word, the flags one bit each with the presence of the two optional fields, then those
/// fields when present and the content. Which words follow is decided by the flag word, so
/// two different pages feed different word sequences (tested below).
impl std::hash::Hash for Page {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.hash_with(h, |t| t as u64);
    }
}

impl Page {
    /// [`Hash`](std::hash::Hash) with the thread holding `PG_locked` written as `who(tid)`
    /// (the symmetric key writes one word for every member of a symmetry group). Every
    /// field is named (no `..`): a new field is a compile error here until it is hashed.
    fn hash_with<H: std::hash::Hasher>(&self, h: &mut H, who: impl Fn(usize) -> u64) {
        let Page {
            refcount,
            mapcount,
            free,
            generation,
            locked_by,
            writeback,
            arch1,
            dirty,
            uptodate,
            mapping,
            swapcache,
            private,
            extra,
            data,
            head,
            order,
            referenced,
            reclaim,
        } = self;
        let pair = |a: i32, b: i32| u64::from(a as u32) | (u64::from(b as u32) << 32);
        h.write_u64(pair(*refcount, *mapcount));
        h.write_u64(pair(*generation as i32, *extra));
        // The folio link: head + 1 (0: none) and the order, one word.
        h.write_u64(pair(head.map_or(0, |x| x as i32 + 1), i32::from(*order)));
        let flags = [
            *free,
            *writeback,
            *arch1,
            *dirty,
            *uptodate,
            *swapcache,
            *private,
            locked_by.is_some(),
            mapping.is_some(),
            *referenced,
            *reclaim,
        ]
        .iter()
        .enumerate()
        .fold(0u64, |m, (i, &b)| m | (u64::from(b) << i));
        h.write_u64(flags);
        if let Some(t) = *locked_by {
            h.write_u64(who(t));
        }
        if let Some((f, i)) = *mapping {
            h.write_u64(f as u64);
            h.write_u64(i as u64);
        }
        for w in data.chunks_exact(8) {
            h.write_u64(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
    }
}

// `Clone` by hand for the world and the parts of it that own memory: `clone_from` copies each
// field with its own `clone_from`, into the allocations the target already has (a stateful
// search copies the world into recycled snapshots), which the derived `clone_from` (a fresh
// `clone`) would not. Both methods name every field (a struct literal, a destructuring without
// `..`), so a new field is a compile error here until it is listed.
macro_rules! clone_reusing {
    ($ty:ident { $($f:ident),* $(,)? }) => {
        impl Clone for $ty {
            fn clone(&self) -> Self {
                $ty { $($f: self.$f.clone()),* }
            }
            fn clone_from(&mut self, source: &Self) {
                let $ty { $($f),* } = source;
                $(self.$f.clone_from($f);)*
            }
        }
    };
}

clone_reusing!(Mm {
    name,
    protected,
    protected_count,
    vmas,
    ptes,
    ptl_held,
    mmap_readers,
    mmap_writer,
});
clone_reusing!(File {
    name,
    cache,
    shmem,
    private,
    disk,
    invalidate_readers,
    invalidate_writer
});
clone_reusing!(Pipe {
    name,
    bufs,
    writers,
    tracked_writers,
});
clone_reusing!(World {
    cfg,
    objs,
    keys,
    pages,
    uv,
    mms,
    files,
    pipes,
    lru_batch,
    uv_env,
    vm,
    spin_bound,
    retry_bound,
    uv_scripted,
    guest,
    kvm,
    swap,
    held,
});

// The hashes below (the stateful search's keys) name every field of the struct they hash
// (a destructuring without `..`, as `Clone` above does), so that a new field is a compile
// error until it is hashed or left out with a reason. What they leave out is what no step
// changes: names, VMAs, the protected flags and counts, guest-frame translations (set-up
// constants, the same in every state of one model; crates/checker/tests/suite/world_constants.rs
// checks the list through `World::set_up_constants`).
impl std::hash::Hash for Mm {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.hash_with(h, |t| t as u64);
    }
}

impl Mm {
    /// [`Hash`](std::hash::Hash) with the thread holding each PTE lock written as
    /// `who(tid)` (as [`Page`]'s lock holder).
    fn hash_with<H: std::hash::Hasher>(&self, h: &mut H, who: impl Fn(usize) -> u64) {
        use std::hash::Hash;
        let Mm {
            name: _,            // a set-up constant
            protected: _,       // a set-up constant
            protected_count: _, // a set-up constant
            vmas: _,            // set-up constants
            ptes,
            ptl_held,
            mmap_readers,
            mmap_writer,
        } = self;
        ptes.hash(h);
        h.write_usize(ptl_held.len());
        for &(table, t) in ptl_held {
            h.write_usize(table);
            h.write_u64(who(t));
        }
        mmap_readers.hash(h);
        mmap_writer.hash(h);
    }
}

impl std::hash::Hash for File {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let File {
            name: _,    // a set-up constant
            shmem: _,   // a set-up constant
            private: _, // a set-up constant
            cache,
            disk,
            invalidate_readers,
            invalidate_writer,
        } = self;
        cache.hash(h);
        disk.hash(h);
        invalidate_readers.hash(h);
        invalidate_writer.hash(h);
    }
}

impl std::hash::Hash for Pipe {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let Pipe {
            name: _, // a set-up constant
            bufs,
            writers,
            tracked_writers: _, // a set-up constant
        } = self;
        bufs.hash(h);
        writers.hash(h);
    }
}

impl std::hash::Hash for GuestFrame {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let GuestFrame {
            gfn: _, // the translation: a set-up constant
            mm: _,  // the translation: a set-up constant
            vpn: _, // the translation: a set-up constant
            shared,
            written,
            expect,
            unpacked,
        } = self;
        shared.hash(h);
        written.hash(h);
        expect.hash(h);
        unpacked.hash(h);
    }
}

/// Everything a step changes (see [`World::hash_except_members`], with no members).
impl std::hash::Hash for World {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.hash_except_members(0, h);
    }
}

/// Written in place of a thread id that belongs to a symmetry group (no thread has this id).
const MEMBER: u64 = u64::MAX;

impl World {
    /// The world's [`Hash`](std::hash::Hash) without the identity of the threads in
    /// `members` (a bit mask): a page locked by one of them, or a PTE lock held by one, is
    /// written as held by "a member", and their held references are left out. With
    /// [`World::hash_member`] of each member it determines the world up to a permutation of
    /// the members (the stateful search's symmetry reduction: `explore::search::StateKey`).
    pub fn hash_except_members<H: std::hash::Hasher>(&self, members: u64, h: &mut H) {
        use std::hash::Hash;
        let World {
            cfg: _,  // the configuration: the same in every state of one model
            objs: _, // the object ids: the same in every state of one model
            keys: _, // the UV's keys: the same in every state of one model
            pages,
            uv,
            mms,
            files,
            pipes,
            lru_batch,
            uv_env,
            vm,
            spin_bound: _,  // a set-up constant
            retry_bound: _, // a set-up constant
            uv_scripted: _, // a set-up constant
            guest,
            kvm,
            swap,
            held,
        } = self;
        let who = |t: usize| {
            if t < 64 && members & (1 << t) != 0 {
                MEMBER
            } else {
                t as u64
            }
        };
        h.write_usize(pages.len());
        for pg in pages {
            pg.hash_with(h, who);
        }
        uv.hash(h);
        h.write_usize(mms.len());
        for m in mms {
            m.hash_with(h, who);
        }
        files.hash(h);
        pipes.hash(h);
        lru_batch.hash(h);
        uv_env.hash(h);
        vm.hash(h);
        guest.hash(h);
        let KvmMmu {
            mmu_lock_readers,
            invalidate_seq,
            invalidate_in_progress,
            import_lock,
        } = kvm;
        mmu_lock_readers.hash(h);
        invalidate_seq.hash(h);
        invalidate_in_progress.hash(h);
        h.write_u64(import_lock.map_or(MEMBER - 1, who));
        swap.hash(h);
        for (t, held) in held.iter().enumerate() {
            if who(t) != MEMBER {
                held.hash(h);
            }
        }
    }

    /// Thread `tid`'s own part of the world, what [`World::hash_except_members`] leaves out
    /// of it: the references it holds, the pages it has locked, the PTE locks it holds.
    pub fn hash_member<H: std::hash::Hasher>(&self, tid: usize, h: &mut H) {
        use std::hash::Hash;
        self.held[tid].hash(h);
        for (p, pg) in self.pages.iter().enumerate() {
            if pg.locked_by == Some(tid) {
                h.write_u64(p as u64);
            }
        }
        h.write_u64(MEMBER);
        if self.kvm.import_lock == Some(tid) {
            h.write_u64(MEMBER - 2);
        }
        for (mm, m) in self.mms.iter().enumerate() {
            for &(table, t) in &m.ptl_held {
                if t == tid {
                    h.write_u64(mm as u64);
                    h.write_u64(table as u64);
                }
            }
        }
    }

    /// What the state hash leaves out, as text: names, VMAs, the protected flags and counts,
    /// the pipes' tracked writers, guest-frame translations — set-up constants no step
    /// changes (tested).
    pub fn set_up_constants(&self) -> String {
        let mms: Vec<_> = self
            .mms
            .iter()
            .map(|m| (&m.name, m.protected, m.protected_count, &m.vmas))
            .collect();
        let files: Vec<_> = self.files.iter().map(|f| (&f.name, f.shmem)).collect();
        let pipes: Vec<_> = self
            .pipes
            .iter()
            .map(|p| (&p.name, p.tracked_writers))
            .collect();
        let guest: Vec<_> = self.guest.iter().map(|g| (g.gfn, g.mm, g.vpn)).collect();
        format!(
            "{mms:?} {files:?} {pipes:?} {guest:?} spin_bound {} retry_bound {} uv_scripted {:#x}",
            self.spin_bound, self.retry_bound, self.uv_scripted
        )
    }

    /// `expected_page_refs` (arch/s390/kernel/uv.c, v5.7; `expected_folio_refs` v6.10+):
    /// mapcount, +1 for a swap-cache or page-cache slot, +1 more for private data. No
    /// reference for the caller.
    pub fn expected_page_refs(&self, p: PageId) -> i32 {
        let pg = &self.pages[p];
        let mut res = pg.mapcount;
        if pg.swapcache {
            res += 1;
        } else if pg.mapping.is_some() {
            res += 1;
            if pg.private {
                res += 1;
            }
        }
        res
    }

    /// `mm_is_protected(mm)` (arch/s390/include/asm/pgtable.h): the mm's
    /// `context.protected_count` is not 0 — the protected VMs set up in it, less the
    /// scenario's VM once its teardown took it out of the count.
    pub fn mm_is_protected(&self, mm: MmId) -> bool {
        let m = &self.mms[mm];
        let ours = self.guest.first().is_some_and(|g| g.mm == mm);
        let gone = u32::from(ours && self.vm.uncounted);
        m.protected && m.protected_count > gone
    }

    /// What the refcount of a live page should be: every mapping, slot and holder. For a
    /// large folio, on its head: every page's mapcount, `nr` page-cache references
    /// (`__filemap_add_folio`: `folio_ref_add(folio, nr)`, 6.12.118 mm/filemap.c), private
    /// data, holders; 0 on a tail.
    pub fn accounted_refs(&self, p: PageId) -> i32 {
        if self.pages[p].head.is_some() {
            return 0;
        }
        let nr = self.folio_nr_pages(p);
        if nr == 1 {
            return self.expected_page_refs(p) + self.pages[p].extra;
        }
        let pg = &self.pages[p];
        let maps: i32 = (p..p + nr).map(|q| self.pages[q].mapcount).sum();
        let cache = if pg.swapcache || pg.mapping.is_some() {
            nr as i32 + i32::from(pg.private && !pg.swapcache)
        } else {
            0
        };
        maps + cache + pg.extra
    }

    /// The page a guest frame mapped at `vpn` of `mm` stands for: the page its PTE maps, or
    /// with no present PTE, for a file-backed frame, the page-cache page its next fault maps
    /// (a split or a reclaim unmapped it; the file still holds it); `None` for an anonymous
    /// frame without a PTE (its next fault gets a fresh page).
    pub fn frame_page(&self, mm: MmId, vpn: usize) -> Option<PageId> {
        let pte = self.mms[mm].pte(vpn);
        if pte.present {
            return pte.page;
        }
        let (f, i) = self.mms[mm].vma(vpn)?.file?;
        self.files[f].cache.get(i).copied().flatten()
    }

    /// `page_folio(page)`: the head of the folio the page belongs to now.
    pub fn folio(&self, p: PageId) -> PageId {
        self.pages[p].head.unwrap_or(p)
    }

    /// `folio_nr_pages` of the folio whose head is `h`.
    pub fn folio_nr_pages(&self, h: PageId) -> usize {
        1 << self.pages[h].order
    }

    /// `folio_mapcount` of the folio of `p`: the sum of its pages' mapcounts.
    pub fn folio_mapcount(&self, p: PageId) -> i32 {
        let h = self.folio(p);
        (h..h + self.folio_nr_pages(h))
            .map(|q| self.pages[q].mapcount)
            .sum()
    }

    /// Takes a free frame (lowest first) for a new page, as the page allocator would.
    pub fn alloc_page(&mut self) -> Option<PageId> {
        let p = self.pages.iter().position(|pg| pg.free)?;
        let generation = self.pages[p].generation + 1;
        self.pages[p] = Page {
            refcount: 1,
            free: false,
            generation,
            ..Page::new()
        };
        // The host's allocator does not tell the UV: a frame freed while still secure (an
        // export at PTE clear that failed, ignored until v6.19) stays secure for its next
        // user. Anything else of the frame's UV state is history.
        let state = self.uv[p].state;
        self.uv[p] = UvFrame::default();
        if matches!(state, crate::uv::UvState::Secure { .. }) {
            self.uv[p].state = state;
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn key(p: &Page) -> u128 {
        let mut h = explore::hash::Hasher128::new(1, 2);
        p.hash(&mut h);
        h.finish128()
    }

    /// Pages that differ in any one field, or in two fields whose words could be confused
    /// (an optional field present or not), hash apart.
    #[test]
    fn page_hash_tells_every_field_apart() {
        let base = Page::new();
        let mut pages = vec![base];
        let mut vary = |f: &dyn Fn(&mut Page)| {
            let mut p = base;
            f(&mut p);
            pages.push(p);
        };
        vary(&|p| p.refcount = 1);
        vary(&|p| p.refcount = -1);
        vary(&|p| p.mapcount = 1);
        vary(&|p| p.free = false);
        vary(&|p| p.generation = 1);
        vary(&|p| p.locked_by = Some(0));
        vary(&|p| p.locked_by = Some(1));
        vary(&|p| p.writeback = true);
        vary(&|p| p.arch1 = true);
        vary(&|p| p.dirty = true);
        vary(&|p| p.uptodate = false);
        vary(&|p| p.mapping = Some((0, 0)));
        vary(&|p| p.mapping = Some((0, 1)));
        vary(&|p| p.mapping = Some((1, 0)));
        vary(&|p| p.swapcache = true);
        vary(&|p| p.private = true);
        vary(&|p| p.extra = 1);
        vary(&|p| p.extra = -1);
        vary(&|p| p.data[0] = 1);
        vary(&|p| p.data[PAGE_BYTES - 1] = 1);
        vary(&|p| p.referenced = true);
        vary(&|p| p.reclaim = true);
        // A lock holder's word where a mapping's first word would be, and the reverse.
        vary(&|p| {
            p.locked_by = Some(0);
            p.mapping = Some((0, 0));
        });
        vary(&|p| p.refcount = i32::MIN);
        vary(&|p| p.generation = u32::MAX);
        vary(&|p| p.head = Some(0));
        vary(&|p| p.head = Some(1));
        vary(&|p| p.order = 1);
        let keys: std::collections::HashSet<u128> = pages.iter().map(key).collect();
        assert_eq!(keys.len(), pages.len(), "two different pages hashed alike");
    }
}
