/* F(n, k) for SPIN: the same protocol as bench/family (pvmm) and bench/loom-family.
 * Compile with -DN=<threads> -DK=<rounds> [-DBUG]. One importer, N-1 I/O threads. */
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
	pte_lock = false                                      /* pte unlock */
}

active [N-1] proctype io() {
	byte round = 0;
	do
	:: round < K ->
#ifndef BUG
		/* try_get_page: add-unless-frozen; after a failure spin until unfrozen, retry */
		do
		:: d_step { refcount != 0 -> refcount++ }; break
		:: d_step { refcount == 0 -> skip }; (refcount != 0)
		od;
#endif
		secure = false;                                   /* arch_make_page_accessible: export */
		assert(!secure);                                  /* the I/O: io-on-secure-page */
#ifndef BUG
		refcount--;                                       /* put_page */
#endif
		round++
	:: else -> break
	od
}
