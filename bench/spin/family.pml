/* F(n, k) for SPIN: the same protocol as bench/family (pvmm) and bench/loom-family.
 * Compile with -DN=<threads> -DK=<rounds> [-DBUG]. One importer, N-1 I/O threads.
 *
 * One transition per pvmm step: the round loop's bookkeeping (round < K, round++) is folded
 * into the first and last step of a round, and a thread that is done blocks at an end label
 * instead of terminating (pvmm has no step for either). The watchdog checks reference
 * balance at the end, as pvmm's at_end and the loom test do. */
#ifndef N
#define N 3
#endif
#ifndef K
#define K 1
#endif
#define EXPECTED 1

bool pte_lock = false;
byte refcount = EXPECTED;
bool secure = false;

active proctype importer() {
	atomic { !pte_lock -> pte_lock = true };             /* pte lock */
	if                                                    /* page_ref_freeze */
	:: d_step { refcount == EXPECTED -> refcount = 0 };
	   secure = true;                                     /* make secure */
	   refcount = EXPECTED                                /* page_ref_unfreeze */
	:: d_step { refcount != EXPECTED -> skip }
	fi;
	pte_lock = false;                                     /* pte unlock */
end_done:
	false
}

active [N-1] proctype io() {
	byte round = 0;
end_round:
#ifndef BUG
	/* try_get_page: add-unless-frozen; after a failure spin until unfrozen, retry */
	if
	:: d_step { round < K && refcount != 0 -> refcount++ }
	:: d_step { round < K && refcount == 0 -> skip };
	   (refcount != 0);                                   /* wait-unfrozen */
	   do
	   :: d_step { refcount != 0 -> refcount++ }; break   /* try_get_page */
	   :: d_step { refcount == 0 -> skip }; (refcount != 0)
	   od
	fi;
	secure = false;                                       /* arch_make_page_accessible: export */
	assert(!secure);                                      /* the I/O: io-on-secure-page */
	d_step { refcount--; round++ };                       /* put_page */
#else
	if :: d_step { round < K -> secure = false } fi;      /* arch_make_page_accessible: export */
	d_step { assert(!secure); round++ };                  /* the I/O: io-on-secure-page */
#endif
	goto end_round
}

/* At the end (nothing can move): reference balance. */
active proctype watchdog() {
	atomic { timeout -> assert(refcount == EXPECTED) };
end_w:
	false
}
