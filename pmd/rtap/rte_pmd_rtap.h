/* net_rtap: driver-specific API (C, for any DPDK application that links or loads the driver).
 *
 * Queue ownership. An rx queue is polled by one process at a time and a tx queue is written by
 * one process at a time: the queue's counters have a single writer, and the reads a process
 * posts on an rx queue take that queue's frames. The first burst on a queue claims it
 * implicitly; these calls make the claim explicit, so that a process learns at once (with a
 * message naming the owner) that another live process holds the queue, and can hand a queue
 * over without polling it first. A claim held by a dead process (SIGKILL included) is taken
 * over. Claims are per process, not per thread.
 *
 * Call them from the thread that polls the queue (or while no thread of this process polls the
 * port): in a secondary process a claim may re-sync the port's fds first.
 */
#ifndef RTE_PMD_RTAP_H
#define RTE_PMD_RTAP_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTE_PMD_RTAP_RX 1u
#define RTE_PMD_RTAP_TX 2u

/* Claims queue_id of port_id for this process, in the directions of `dirs` (RX, TX or both).
 * If the port is started, rx buffers are posted at once. Returns 0, or -EBUSY (another live
 * process owns it; the log names its pid), -ENODEV (not an rtap port), -EINVAL (no such queue),
 * or the error of re-syncing with the primary. */
int rte_pmd_rtap_queue_claim(uint16_t port_id, uint16_t queue_id, unsigned dirs);

/* Gives the queue up: posted reads are cancelled and their mbufs freed, pending writes
 * complete. Releasing a queue this process does not own is a no-op. */
int rte_pmd_rtap_queue_release(uint16_t port_id, uint16_t queue_id, unsigned dirs);

/* Stops reading rx queue_id before a hand-over (a worker being replaced): the posted reads are
 * cancelled, and the frames that had already completed are kept; the next rx bursts return them
 * and post no new reads. Release the queue once a burst returns 0. Returns the number of frames
 * kept, 0 if this process does not own the queue, -ENODEV or -EINVAL as above. */
int rte_pmd_rtap_queue_stop_reading(uint16_t port_id, uint16_t queue_id);

/* The pid of the live process that owns the queue in direction `dir`, 0 if none. -ENODEV,
 * -EINVAL as above. */
int rte_pmd_rtap_queue_owner(uint16_t port_id, uint16_t queue_id, unsigned dir, pid_t* pid);

/* Secondary process: fetches the primary's queue fds again if they changed (the port was
 * re-configured, stopped or started) and points this process's fast path at the port's current
 * queues. The burst functions do the same on their own; this is for a process that wants to
 * know the result. Returns 0 or a negative errno. A no-op in the primary. */
int rte_pmd_rtap_sync(uint16_t port_id);

#ifdef __cplusplus
}
#endif

#endif /* RTE_PMD_RTAP_H */
