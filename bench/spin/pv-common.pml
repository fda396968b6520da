/* Shared part of the kernel-realistic cases for SPIN (bench/spin/d1-second-mapping.pml,
 * bench/spin/d3-sendfile.pml): the one guest page P0 and its parts, the properties, and the
 * vCPU thread (guest access → PGM 0x3e → gmap_make_secure, the v5.7 import flow, which
 * v5.15 and v5.7+splice-patch share).
 *
 * Translation rule (see bench/README.md): one transition per pvmm visible step (Ctx::step).
 * Every transition is one d_step (or one condition) that touches global state; a thread's
 * control flow between steps is folded into the guards of its next d_step, so that SPIN has
 * no transitions pvmm does not have (a stand-alone local statement such as `r == 0 -> ...`
 * would be one). Blocking steps are d_steps with a guard. A thread ends by blocking at an
 * `end_` label (no -end- transition).
 *
 * The including file defines: E (expected_page_refs of P0: mapcount + page-cache slot),
 * NT (threads), NVCPU, VAL0 and VAL1 (what each vCPU stores; VAL2 too with a third vCPU),
 * and REF_WRITTEN (what a write to P0's refcount does to the find_get_page retry loop's
 * wake-up bit, or nothing).
 *
 * Properties are assertions on hidden (never stored, always 0) variables named after pvmm's
 * property, so that pan's message names it ("assertion violated use_after_free"). pan runs
 * with -c0: like pvmm, it goes on after a violation (pvmm's findings are not fatal unless
 * they say so) and reports every property it meets. */

/* -DNOHIDDEN: plain globals (pan's breadth-first search, -DBFS, refuses hidden ones) */
#ifdef NOHIDDEN
#define HIDDEN
#else
#define HIDDEN hidden
#endif

HIDDEN byte use_after_free, warn, bug, io_on_secure_page, lock_out, arch1_hint,
            reference_balance, confidentiality, retry_bound, deadlock, livelock;

#define MAXR 8            /* crates/kernel/src/gup.rs: MAX_RETRIES */
#define P0_RW 1           /* a present, valid, writable PTE mapping P0 */

/* Page P0 (crates/kernel/src/world.rs: Page, UvFrame). mapcount, mapping, private, swap
 * cache, uptodate and PG_writeback never change in these scenarios (no zap, no fault-in, no
 * writeback): expected_page_refs is the constant E, uptodate true, writeback false. */
short refcount = E;       /* _refcount */
short extra = 0;          /* references held beyond mappings and the cache slot */
bool freed = false;       /* the frame was freed */
byte locked = 0;          /* PG_locked: 0, or the holder's id */
bool arch1 = false;       /* PG_arch_1 */
bool secure = false;      /* UV state: Secure { guest 0, gfn 0 } (else NonSecure) */
bool sealed = false;      /* the UV keeps an exported image (integrity data) of gfn 0 */
bool enc = false;         /* the frame holds ciphertext (an export encrypted it) */
byte pdata = 0;           /* the frame's plaintext: 0 = zeroes, else a guest store's value */
byte written = 0;         /* guest frame 0: what the guest last stored (0: nothing) */

/* Objects nobody writes in these scenarios: PTEs, the page-cache slot, the LRU batch (always
 * empty), the UV's busy count (0), PG_writeback, uptodate. Hidden: not part of the state, but
 * a step that reads one is still a transition on a global. */
HIDDEN byte pte_qemu = P0_RW;
HIDDEN byte lru_batch = 0;
HIDDEN byte writeback = 0;

byte mmap_qemu = 0;       /* mmap_lock readers of QEMU's mm (no writer ever) */
byte ptl_qemu = 0;        /* QEMU's PTE lock: 0, or the holder's id */

byte fin = 0;             /* threads that finished */
bool stopped = false;     /* a fatal finding ended the execution (pvmm: retry-bound) */

#define UAF if :: freed -> assert(use_after_free) :: else -> skip fi
/* check_arch1: a secure page carries PG_arch_1 */
#define ARCH1_CHECK if :: secure && !arch1 -> assert(arch1_hint) :: else -> skip fi
/* put_page (prim.rs: put_refs_of): on a freed frame only the report; a put on a count <= 0
 * goes negative (VM_BUG_ON_PAGE only with DEBUG_VM); to zero frees the page, which is still
 * mapped and cached here: use-after-free. */
#ifdef DEBUG_VM
#define PUT_ON_ZERO assert(bug)
#else
#define PUT_ON_ZERO skip
#endif
#define PUT \
	if \
	:: freed -> assert(use_after_free) \
	:: else -> \
		if \
		:: refcount <= 0 -> refcount--; extra--; PUT_ON_ZERO \
		:: refcount == 1 -> refcount = 0; extra--; freed = true; assert(use_after_free) \
		:: refcount > 1 -> refcount--; extra-- \
		fi \
	fi
/* get_page: a plain increment (the use-after-free check first, the add anyway) */
#define GET UAF; refcount++; extra++
/* GET and PUT are only used by threads that do not park on the refcount; REF_WRITTEN marks
 * the vCPU's refcount writes for the one thread that does (d3: sendfile). */

/* results a step hands to its thread */
#define NONSEC 1
#define DONE 2
#define OK 3
#define FAIL 4
#define EBUSY 5
#define EAGAIN 6

/* The vCPU (guest.rs: guest_access; import.rs: gmap_make_secure → import_v57 →
 * make_secure_pte → secure_core; after_import). pvmm thread ids: see the including file. */
#ifndef VAL2
#define VAL2 VAL1 /* (no third vCPU) */
#endif

active [NVCPU] proctype vcpu()
{
	byte me = _pid + 1;                       /* PG_locked / PTE-lock holder id */
	byte val = (_pid == 0 -> VAL0 : (_pid == 1 -> VAL1 : VAL2));
	byte it = 0;                              /* guest_access: rounds of its retry loop */
	byte r;                                   /* what the last step returned */
	bool drained;                             /* import_v57: lru_add_drain done once */

top:	/* for _ in 0..MAX_RETRIES: read the host PTE (the PTE never changes: the gmap_fault
	 * branch for a PTE that is not usable is unreachable) */
	if
	:: d_step { it < MAXR && pte_qemu == P0_RW -> it++ }                         /* dat: host pte */
	:: d_step { it == MAXR -> stopped = true; assert(retry_bound) }; goto stop   /* retry-bound */
	fi;
	d_step {                                                                     /* guest store */
		UAF;
		if
		:: secure -> pdata = val; written = val; r = DONE; fin++
		:: else -> r = NONSEC; drained = false
		fi
	};
end_done:
again:	/* gmap_make_secure (import_v57): again: */
	if :: d_step { r == NONSEC -> mmap_qemu++ } fi;                               /* mmap_read_lock */
	d_step { ptl_qemu == 0 -> ptl_qemu = me };                                    /* follow_page: spin_lock(ptl) */
	(pte_qemu == P0_RW);                                                          /* follow_page: ptep_get */
	ptl_qemu = 0;                                                                 /* follow_page: spin_unlock(ptl) */
	d_step { locked == 0 -> UAF; locked = me };                                 /* lock_page */
	d_step { ptl_qemu == 0 -> ptl_qemu = me };                                    /* spin_lock(ptl) */
	(pte_qemu == P0_RW);                                                          /* make_secure_pte: ptep_get */
	d_step { !writeback -> UAF };                                                /* PageWriteback (never set) */
	d_step { UAF };                                                              /* expected_page_refs (= E) */
	d_step {                                                                      /* page_ref_freeze(P0, E) */
		UAF;
		if
		:: refcount == E -> refcount = 0; r = OK
		:: else -> r = EBUSY
		fi;
		REF_WRITTEN
	};
	if
	:: d_step { r == OK -> UAF; arch1 = true; ARCH1_CHECK };               /* set_bit(PG_arch_1) */
		d_step {                                                              /* uv_call(convert-to-secure) */
			UAF;
			if
			:: secure -> skip                              /* already secure for gfn 0: Ok */
			:: !secure && sealed -> enc = false; sealed = false   /* decrypt, integrity ok */
			:: !secure && !sealed -> pdata = 0; enc = false        /* fresh import: zeroed */
			fi;
			secure = true;
			/* lock-out: the vCPU holds no reference itself */
			if :: extra > 0 || writeback -> assert(lock_out) :: else -> skip fi;
			ARCH1_CHECK
		};
		d_step {                                                              /* page_ref_unfreeze(P0, E) */
			UAF;
#ifdef DEBUG_VM
			if :: refcount != 0 -> assert(bug) :: else -> skip fi;
#endif
			refcount = E;
			REF_WRITTEN
		};
		ptl_qemu = 0                                                          /* spin_unlock(ptl) */
	:: d_step { r == EBUSY -> ptl_qemu = 0 }                                  /* spin_unlock(ptl) */
	fi;
	d_step { UAF; locked = 0 };                                                  /* unlock_page */
	/* after_import: 0 → back to the guest; -EBUSY → lru_add_drain and again, then
	 * lru_add_drain_all and -EAGAIN; the guest waits until an import could succeed */
	if
	:: d_step { r == OK -> mmap_qemu-- }; goto top                               /* mmap_read_unlock */
	:: d_step { r == EBUSY -> mmap_qemu-- }                                      /* mmap_read_unlock */
	fi;
	if
	:: d_step { r == EBUSY && !drained && lru_batch == 0 -> drained = true; r = NONSEC }; goto again  /* lru_add_drain: pagevec_lru_move */
	:: d_step { r == EBUSY && drained && lru_batch == 0 -> r = EAGAIN }                  /* lru_add_drain_all: pagevec_lru_move */
retry_wait:
		(freed || (refcount == E && locked == 0)); goto top                      /* retry (until importable) */
	fi;
stop:
end_stop:
	false
}
