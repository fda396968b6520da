/* D3 sendfile with a second vCPU (bench/scenarios/d3-sendfile-3t.toml) for SPIN, step for
 * step as pvmm's kernel model runs it (see bench/README.md for the table).
 *
 *   spin -a d3-sendfile.pml                     # preset v5.7
 *   spin -a -DSPLICE_CONFIRM_HOOK d3-sendfile.pml   # preset v5.7+splice-patch
 *   (-DDEBUG_VM: the switch debug_vm=true; -DTWO_THREADS: without vcpu2, i.e.
 *   scenarios/d3-sendfile.toml, a smaller cross-check; -DFOUR_THREADS: with a third vCPU
 *   vcpu3 storing 0x77 = vcpu[2], i.e. bench/scenarios/d3-sendfile-4t.toml, where pvmm's
 *   sendfile thread is T1 and vcpu3 T3)
 *
 * pvmm threads: T0 vcpu (stores 0x5a) = vcpu[0], T1 sendfile, T2 vcpu2 (stores 0x33) =
 * vcpu[1]. The guest file has one page P0, mapped (present, writable) in QEMU's protected mm
 * and in the page cache: expected_page_refs = 2. */

#define E 2
#if defined(TWO_THREADS)
#define NVCPU 1
#elif defined(FOUR_THREADS)
#define NVCPU 3
#else
#define NVCPU 2
#endif
#define NT (NVCPU + 1)
#define VAL0 90    /* 0x5a */
#define VAL1 51    /* 0x33 */
#define VAL2 119   /* 0x77 */

/* find_get_page's retry loop parks until another thread wrote P0's refcount since its
 * failed page_ref_add_unless (pvmm: Guard::Changed; runtime.rs `foreign` / `parked_at`):
 * every refcount write by a vCPU (freeze, unfreeze: the only other refcount writers here)
 * sets rcw_sf; the sendfile thread's add (its baseline) and its parked step clear it. */
bool rcw_sf = false;
#define REF_WRITTEN rcw_sf = true

/* pvmm: livelock when every unfinished thread waits in a retry loop (vcpu: the wait until
 * an import could succeed; sendfile: find_get_page's park). At a state where nothing can
 * move, a vCPU at `again` has finished (it would be enabled otherwise). */
#if defined(TWO_THREADS)
#define WAITS_ONLY_IN_RETRY \
	((vcpu[0]@retry_wait || vcpu[0]@again) && (sendfile[1]@after_add || sendfile[1]@end_done))
#elif defined(FOUR_THREADS)
#define WAITS_ONLY_IN_RETRY \
	((vcpu[0]@retry_wait || vcpu[0]@again) && (vcpu[1]@retry_wait || vcpu[1]@again) \
	 && (vcpu[2]@retry_wait || vcpu[2]@again) \
	 && (sendfile[3]@after_add || sendfile[3]@end_done))
#else
#define WAITS_ONLY_IN_RETRY \
	((vcpu[0]@retry_wait || vcpu[0]@again) && (vcpu[1]@retry_wait || vcpu[1]@again) \
	 && (sendfile[2]@after_add || sendfile[2]@end_done))
#endif

#include "pv-common.pml"

HIDDEN byte slot = 1;     /* the page-cache slot of guest.img index 0: P0 (never changes) */
byte pipe = 0;            /* pipe buffers (each holds a reference on P0) */

/* sendfile (splice.rs: sendfile → splice_read → find_get_page, copy_page_to_iter_pipe;
 * splice_to_socket → page_cache_pipe_buf_confirm, tcp_sendpage, pipe_buf_release, NIC DMA,
 * skb free). The sendfile thread does its own (SeqCst) writes to rcw_sf only where pvmm's
 * baseline for the retry loop is taken. */
active proctype sendfile()
{
	byte round = 0;       /* find_get_page: rounds started */
	byte r;

fgp:	/* find_get_page: repeat: */
	if
	:: d_step { round < MAXR && slot == 1 -> round++ }                          /* xas_load */
	:: d_step { round == MAXR -> stopped = true; assert(retry_bound) }; goto stop   /* retry-bound */
	fi;
add:	/* page_cache_get_speculative: the first refcount access of the attempt (the baseline) */
	if
	:: d_step {                                                                  /* page_ref_add_unless */
		rcw_sf = false;
		if
		:: refcount != 0 -> refcount++; extra++; r = OK
		:: else -> r = FAIL
		fi
	   }
	fi;
after_add:
	if
	:: d_step { r == OK && slot == 1 -> skip }                                   /* xas_reload: same page */
	:: d_step { r == FAIL && round == 1 && slot == 1 -> round++ }; goto add      /* (round 0 failed) xas_load */
	:: d_step { r == FAIL && round > 1 && rcw_sf -> rcw_sf = false }; goto fgp   /* retry (parked) */
	fi;
	d_step { GET };                                                              /* copy_page_to_iter_pipe: get_page */
	pipe++;                                                                      /* pipe_buf_push */
	d_step { PUT };                                                              /* put_page (the lookup's) */
pop:	/* splice_from_pipe_feed */
	if
	:: d_step { pipe > 0 -> pipe-- }                                            /* pipe_buf_pop */
	:: d_step { pipe == 0 -> fin++ }; goto done                                 /* pipe_buf_pop: empty */
	fi;
#ifdef SPLICE_CONFIRM_HOOK
	/* page_cache_pipe_buf_confirm → arch_make_page_accessible (the hook's precondition
	 * holds: the thread holds the pipe buffer's reference) */
	d_step { UAF; r = (arch1 -> OK : FAIL) };                                    /* test_bit(PG_arch_1) */
	if
	:: d_step { r == FAIL -> UAF }                                               /* PageUptodate */
	:: d_step { r == OK -> UAF };                                                /* uv_pin_shared: refused (not shared) */
		d_step {                                                                 /* uv_convert_from_secure */
			UAF;
			if
			:: secure -> secure = false; enc = true; sealed = true    /* export: encrypt */
			:: else -> skip                                            /* no-op: Ok */
			fi
		};
		d_step { UAF; arch1 = false; ARCH1_CHECK };                              /* clear_bit(PG_arch_1) */
		d_step { UAF }                                                           /* PageUptodate */
	fi;
#else
	d_step { UAF };                                                              /* page_cache_pipe_buf_confirm: PageUptodate */
#endif
	d_step { GET };                                                              /* tcp_sendpage: get_page */
	d_step { PUT };                                                              /* pipe_buf_release: put_page */
	d_step {                                                                     /* NIC: dma_read */
		if
		:: freed -> assert(use_after_free)
		:: !freed && secure -> assert(io_on_secure_page)
		:: !freed && !secure ->   /* the host reads the frame: never a guest's plaintext */
			if :: sealed && !enc && pdata == written && written != 0 -> assert(confidentiality)
			   :: else -> skip
			fi
		fi
	};
	d_step { PUT }; goto pop                                                     /* skb free: put_page */
done:
stop:
end_done:
	false
}

#include "pv-watchdog.pml"
