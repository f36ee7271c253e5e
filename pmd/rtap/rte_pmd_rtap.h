/* net_rtap: driver-specific API (C, for any DPDK application that links or loads the driver).
 *
 * Queue ownership. An rx queue is polled by one process at a time and a tx queue is written by
 * one process at a time: the queue's counters have a single writer, and the reads a process
 * posts on an rx queue take that queue's frames. A burst on a queue this process does not own
 * yet asks for it, and the next housekeeping (below) claims it; these calls make the claim
 * explicit, so that a process learns at once (with a message naming the owner) that another
 * live process holds the queue, and can hand a queue over without polling it first. A claim held
 * by a dead process (SIGKILL included) is taken over. Claims are per process, not per thread.
 *
 * Fast bursts. rx and tx bursts make no system call but io_uring's submit/enter, never wait,
 * never allocate (but mbufs from the queue's pool) and never log. Everything slow is
 * housekeeping: claiming a queue (reads /proc to tell a live owner from a dead one), posting an
 * rx queue's buffers, and in a secondary the re-sync after the primary re-configured, stopped or
 * started the port (an rte_mp request to the primary for the queue fds, new io_uring instances).
 * A burst on a queue that is not ready in this process returns 0 and counts the call in the
 * queue's xstat rx_qN_not_ready / tx_qN_not_ready.
 *
 * Call these functions from the thread that polls the queue, or from another thread of the
 * process (they take a per-port lock; a re-sync makes the port's bursts return 0 while it
 * rebuilds the rings), never from a burst.
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
 * queues. Housekeeping does the same on its own; this is for a process that wants to know the
 * result. Returns 0 or a negative errno. A no-op in the primary. */
int rte_pmd_rtap_sync(uint16_t port_id);

/* Housekeeping of this process's queues of port_id, to be called periodically (vswitch's
 * workers: every 50 ms, from their poll loop) for every rtap port the process polls:
 *  - in a secondary whose fds are of an older generation (the primary re-configured, stopped or
 *    started the port, and the port runs again): the re-sync of rte_pmd_rtap_sync(); frames
 *    that had completed into this process's reads are returned by the next rx bursts;
 *  - every queue this process owns without buffers posted (after a start or a re-sync), and
 *    every queue a burst found not ready, is claimed and activated (rx buffers allocated and
 *    posted). A queue another live process holds is logged once per owner and tried again at
 *    the next call. A failure to post rx buffers (the pool is empty) is logged when the streak
 *    starts and when it ends (with its length), and each failed try counts as rx_nombuf.
 * Until a process first calls this function, the driver does its housekeeping itself, every
 * 10 ms (backing off to 160 ms while the process owns no queue and a pass finds nothing to
 * do), from an EAL alarm (on the interrupt thread), so an application that knows nothing of
 * this header works unchanged; rte_eth_dev_start in the primary also activates the queues the
 * primary owns. The first call, for any port, hands the housekeeping of every rtap port of the
 * process to the application: the alarm stops.
 * Returns 1 if this process's rings of the port were rebuilt (a re-sync: the rx interrupt
 * eventfds are new, so a thread sleeping on rx interrupts must register the queues again), 0 if
 * not, or a negative errno: -ENODEV (not an rtap port), or the error of the re-sync (tried again
 * at the next call). */
int rte_pmd_rtap_housekeeping(uint16_t port_id);

/* Defers the io_uring submit of the calling thread's tx bursts, on every rtap port, until
 * rte_pmd_rtap_tx_flush() (on != 0), or submits in each burst again (0, the default; pending
 * writes are flushed first). A loop that sends to many ports in a row, a flood to every port,
 * then makes one system call for all of them instead of one per port. Frames accepted by
 * rte_eth_tx_burst are not written until the flush, so a thread that defers must flush after
 * each round of bursts. */
void rte_pmd_rtap_tx_defer(int on);

/* Submits the calling thread's deferred tx writes and reaps them. Returns the number of writes
 * submitted (0 if none was pending) or a negative errno. */
int rte_pmd_rtap_tx_flush(void);

/* How this process got the queue fds of the ports it attached, counted by port: *in_bulk in
 * the one exchange a secondary makes with the primary at its first attach (all ports at once),
 * *per_port by an rte_mp request each (ports added later, re-synced, or a primary without the
 * exchange). Returns 0, or -EINVAL for a null pointer. */
int rte_pmd_rtap_fd_sources(uint64_t* in_bulk, uint64_t* per_port);

#ifdef __cplusplus
}
#endif

#endif /* RTE_PMD_RTAP_H */
