/* D1 second mapping, FOLL_GET, with a second GUP (bench/scenarios/d1-second-mapping-3t.toml)
 * for SPIN, step for step as pvmm's kernel model runs it (see bench/README.md for the table).
 *
 *   spin -a d1-second-mapping.pml                               # preset v5.7
 *   spin -a -DSLOW_GRAB_ADD_UNLESS_ZERO d1-second-mapping.pml   # preset v5.15
 *   (-DDEBUG_VM: the switch debug_vm=true, VM_BUG_ON live; -DTWO_THREADS: without mm2-gup2,
 *   i.e. scenarios/d1-second-mapping-foll-get.toml, a smaller cross-check)
 *
 * v5.15 differs from v5.7 here only in the slow GUP's grab (54d516b1d62f: try_grab_page →
 * page_ref_add_unless, one atomic, silent on a frozen count, instead of try_get_page's
 * WARN-and-fail read followed by a separate increment); its other switches (fast_pin_grab,
 * end_writeback_takes_ref) are not on these paths.
 *
 * pvmm threads: T0 vcpu = vcpu[0], T1 mm2-gup = gup[1], T2 mm2-gup2 = gup[2]. The guest file
 * has one page P0, in the page cache and mapped (present, writable) in QEMU's protected mm
 * and in mm2: expected_page_refs = 3. */

#define E 3
#ifdef TWO_THREADS
#define NGUP 1
#else
#define NGUP 2
#endif
#define NT (1 + NGUP)
#define NVCPU 1
#define VAL0 90    /* 0x5a */
#define VAL1 0
#define REF_WRITTEN skip   /* no thread parks on the refcount here */

/* pvmm: livelock when every unfinished thread waits in a retry loop (only the vCPU has
 * one); a GUP blocked on the PTE lock would be a deadlock. At a state where nothing can
 * move, a vCPU at `again` has finished (it would be enabled otherwise). */
#ifdef TWO_THREADS
#define WAITS_ONLY_IN_RETRY ((vcpu[0]@retry_wait || vcpu[0]@again) && gup[1]@end_done)
#else
#define WAITS_ONLY_IN_RETRY \
	((vcpu[0]@retry_wait || vcpu[0]@again) && gup[1]@end_done && gup[2]@end_done)
#endif

#include "pv-common.pml"

HIDDEN byte pte_mm2 = P0_RW;
byte mmap_mm2 = 0;        /* mmap_lock readers of mm2 */
byte ptl_mm2 = 0;         /* mm2's PTE lock: 0, or the holder's id */

/* get_user_pages(mm2, 0, FOLL_GET) then put (gup.rs: get_user_pages → follow_page_pte →
 * try_grab_page; actor.rs: Gup, Put). The PTE never changes: follow_page_pte never returns
 * NULL, so the fault-in branch (handle_mm_fault) is unreachable. */
active [NGUP] proctype gup()
{
	byte me = _pid + 1;
	byte r;

	d_step { mmap_mm2++ };                                                       /* mmap_read_lock */
	d_step { ptl_mm2 == 0 -> ptl_mm2 = me };                                     /* follow_page_pte: spin_lock(ptl) */
	(pte_mm2 == P0_RW);                                                          /* follow_page_pte: ptep_get */
#ifdef SLOW_GRAB_ADD_UNLESS_ZERO
	d_step {                                                                     /* try_grab_compound_head: page_ref_add_unless */
		if
		:: refcount != 0 -> refcount++; extra++; r = OK
		:: else -> r = FAIL
		fi
	};
#else
	d_step {                                                                     /* try_get_page: page_ref_count */
		if
		:: refcount <= 0 -> assert(warn); r = FAIL
		:: else -> r = OK
		fi
	};
	if
	:: d_step { r == OK -> GET }                                                 /* try_get_page: page_ref_inc */
	:: d_step { r == FAIL -> ptl_mm2 = 0 }; goto unlocked                        /* spin_unlock(ptl) */
	fi;
#endif
	ptl_mm2 = 0;                                                                 /* spin_unlock(ptl) */
unlocked:
	mmap_mm2--;                                                                  /* mmap_read_unlock */
	if
	:: d_step { r == OK -> PUT; fin++ }                                          /* put_page */
	:: d_step { r == FAIL -> fin++ }                                             /* observe: gup-enomem (-ENOMEM: no put) */
	fi;
end_done:
	false
}

#include "pv-watchdog.pml"
