/* Included at the end of each kernel case (after its threads, which WAITS_ONLY_IN_RETRY
 * names). */

/* At the end of an execution (no thread can move): with every thread finished, reference
 * balance (lib.rs: at_end); with some blocked, deadlock or livelock (pvmm tells the two
 * apart by whether every blocked thread waits in a retry loop; see WAITS_ONLY_IN_RETRY).
 * After a fatal finding nothing is checked (pvmm ends the execution there). */
active proctype watchdog()
{
	atomic { timeout ->
		if
		:: stopped -> skip
		:: !stopped && fin == NT ->
			if :: !freed && refcount != E + extra -> assert(reference_balance) :: else -> skip fi
		:: !stopped && fin < NT && WAITS_ONLY_IN_RETRY -> assert(livelock)
		:: !stopped && fin < NT && !(WAITS_ONLY_IN_RETRY) -> assert(deadlock)
		fi
	   };
end_w:
	false
}
