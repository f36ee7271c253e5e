// net_rtap: devargs, TAP creation, control over rtnetlink, device ops, probe/remove.
//
//   --vdev net_rtap0,iface=vm1,queues=4,netns=vm1ns,mac=02:00:00:00:00:01,persist
//
// The TAP is one multi-queue Linux interface. A keep-alive fd created at probe holds the
// interface (detached from traffic with TUNSETQUEUE) so it survives reconfiguration; each queue
// pair has its own fd, opened at dev_configure and kept until the pair is configured away or the
// port is closed, so stop/start never needs a queue set-up again (upstream defect 9).
#include "rtap.hpp"

#include <bus_vdev_driver.h>
#include <ethdev_vdev.h>
#include <rte_kvargs.h>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

RTE_LOG_REGISTER(rtap_logtype, pmd.net.rtap, NOTICE);

namespace rtap {
namespace {

constexpr const char* kIface = "iface";
constexpr const char* kPersist = "persist";
constexpr const char* kQueues = "queues";
constexpr const char* kNetns = "netns";
constexpr const char* kMac = "mac";
constexpr const char* kValidArgs[] = {kIface, kPersist, kQueues, kNetns, kMac, nullptr};
constexpr const char* kDefaultIface = "rtap%d";
constexpr unsigned kNeededFeatures = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;

struct Args {
  char iface[IF_NAMESIZE];
  char netns[64];
  bool persist = false;
  unsigned queues = 1;
  bool has_mac = false;
  rte_ether_addr mac{};
};

// ---- devargs -----------------------------------------------------------------------------------

int parse_args(const char* name, const char* params, Args* a) {
  snprintf(a->iface, sizeof(a->iface), "%s", kDefaultIface);
  a->netns[0] = '\0';
  if (params == nullptr || params[0] == '\0') return 0;
  // Parsed without a key list first, so an unknown key can be named in the error.
  rte_kvargs* kv = rte_kvargs_parse(params, nullptr);
  if (kv == nullptr) {
    PMD_LOG(ERR, "%s: cannot parse devargs \"%s\"; fix: use key=value pairs separated by commas",
            name, params);
    return -EINVAL;
  }
  int rc = 0;
  for (unsigned i = 0; i < kv->count && rc == 0; i++) {
    const char* key = kv->pairs[i].key;
    const char* val = kv->pairs[i].value;
    if (strcmp(key, kIface) == 0) {
      if (val == nullptr || val[0] == '\0' || strlen(val) >= IF_NAMESIZE || strchr(val, '/') ||
          strchr(val, ' ')) {
        PMD_LOG(ERR,
                "%s: iface=\"%s\" is not a valid interface name; fix: 1 to %d characters, no '/' "
                "or space",
                name, val ? val : "", IF_NAMESIZE - 1);
        rc = -EINVAL;
      } else {
        snprintf(a->iface, sizeof(a->iface), "%s", val);
      }
    } else if (strcmp(key, kPersist) == 0) {
      if (val != nullptr && val[0] != '\0' && strcmp(val, "1") != 0 && strcmp(val, "true") != 0) {
        PMD_LOG(ERR, "%s: persist takes no value (got \"%s\"); fix: write just \"persist\"", name,
                val);
        rc = -EINVAL;
      }
      a->persist = true;
    } else if (strcmp(key, kQueues) == 0) {
      char* end = nullptr;
      errno = 0;
      unsigned long q = (val != nullptr) ? strtoul(val, &end, 10) : 0;
      if (val == nullptr || end == val || *end != '\0' || errno != 0 || q < 1 || q > kMaxQueues) {
        PMD_LOG(ERR, "%s: queues=\"%s\" is invalid; fix: a number of queue pairs from 1 to %u",
                name, val ? val : "", kMaxQueues);
        rc = -EINVAL;
      } else {
        a->queues = static_cast<unsigned>(q);
      }
    } else if (strcmp(key, kNetns) == 0) {
      if (val == nullptr || val[0] == '\0' || strchr(val, '/') || strlen(val) >= sizeof(a->netns)) {
        PMD_LOG(ERR,
                "%s: netns=\"%s\" is invalid; fix: the name of a namespace in /run/netns (ip netns "
                "add NAME)",
                name, val ? val : "");
        rc = -EINVAL;
      } else {
        snprintf(a->netns, sizeof(a->netns), "%s", val);
      }
    } else if (strcmp(key, kMac) == 0) {
      if (val == nullptr || rte_ether_unformat_addr(val, &a->mac) != 0 ||
          !rte_is_unicast_ether_addr(&a->mac) || rte_is_zero_ether_addr(&a->mac)) {
        PMD_LOG(ERR, "%s: mac=\"%s\" is not a unicast MAC address; fix: e.g. mac=02:00:00:00:00:01",
                name, val ? val : "");
        rc = -EINVAL;
      }
      a->has_mac = true;
    } else {
      PMD_LOG(ERR, "%s: unknown devarg \"%s\"; fix: use iface, persist, queues, netns or mac", name,
              key);
      rc = -EINVAL;
    }
  }
  rte_kvargs_free(kv);
  return rc;
}

// ---- namespaces and TUN ------------------------------------------------------------------------

int open_tun(int ns_fd) {
  return in_netns(ns_fd, [] {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
  });
}

// No IFF_NAPI: with it, every write queues its frame to tun's NAPI and GRO, run right after in
// the writer's context, which costs a poll and a GRO attempt per frame and gains nothing for the
// frames we write (super-frames arrive already coalesced by LRO). Measured with bench/run, 1
// worker, same run (bench/results/2026-12-07-vm-napi-ab.md): without it the worker's CPU per
// 64 B frame fell 17%, per TCP Gbit 3-8%; the round trip did not change. RTAP_NAPI=1
// (diagnostics, for A/B runs): with IFF_NAPI when the kernel offers it, as upstream does.
unsigned tun_flags(uint32_t features) {
  static const bool napi = [] {
    const char* v = getenv("RTAP_NAPI");
    return v != nullptr && strcmp(v, "1") == 0;
  }();
  return kNeededFeatures | (napi ? (features & IFF_NAPI) : 0u);
}

int tun_attach(int fd, const char* ifname, unsigned flags, char* actual) {
  ifreq ifr{};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
  ifr.ifr_flags = static_cast<short>(flags);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return -errno;
  if (actual != nullptr) snprintf(actual, IF_NAMESIZE, "%s", ifr.ifr_name);
  return 0;
}

// Opens and attaches the fd of one queue pair. The name is looked up by ifindex each time, so a
// renamed interface keeps working.
int open_queue_fd(rte_eth_dev* dev) {
  rtap_shared* sh = shared_of(dev);
  rtap_process* p = proc_of(dev);
  LinkInfo li;
  {
    std::lock_guard<std::mutex> g(p->nl_lock);
    int rc = nl_get_link(p->nl_fd, sh->ifindex, nullptr, &li);
    if (rc < 0) {
      PMD_LOG(ERR, "%s: interface index %d is gone (%s)", dev->data->name, sh->ifindex,
              strerror(-rc));
      return rc;
    }
  }
  int fd = open_tun(p->ns_fd);
  if (fd < 0) return fd;
  int rc = tun_attach(fd, li.name, tun_flags(sh->features), nullptr);
  if (rc < 0) {
    PMD_LOG(ERR, "%s: cannot attach a queue to %s: %s", dev->data->name, li.name, strerror(-rc));
    close(fd);
    return rc;
  }
  return fd;
}

// Why io_uring cannot be used here, in words an operator can act on.
int check_io_uring(const char* name) {
  io_uring ring;
  int rc = io_uring_queue_init(4, &ring, 0);
  if (rc == 0) {
    io_uring_queue_exit(&ring);
    return 0;
  }
  int disabled = 0;
  if (FILE* f = fopen("/proc/sys/kernel/io_uring_disabled", "r")) {
    if (fscanf(f, "%d", &disabled) != 1) disabled = 0;
    fclose(f);
  }
  if (rc == -ENOSYS)
    PMD_LOG(ERR,
            "%s: io_uring is not available in this kernel (ENOSYS); fix: a kernel built with "
            "CONFIG_IO_URING",
            name);
  else if (rc == -EPERM && disabled == 2)
    PMD_LOG(ERR,
            "%s: io_uring is disabled (kernel.io_uring_disabled=2); fix: sysctl -w "
            "kernel.io_uring_disabled=0",
            name);
  else if (rc == -EPERM && disabled == 1)
    PMD_LOG(ERR,
            "%s: io_uring is restricted to kernel.io_uring_group (io_uring_disabled=1); fix: run "
            "in that group "
            "or sysctl -w kernel.io_uring_disabled=0",
            name);
  else if (rc == -EPERM)
    PMD_LOG(ERR,
            "%s: io_uring_setup is blocked (EPERM), probably by a seccomp profile (e.g. Docker's "
            "default); "
            "fix: allow io_uring_setup/io_uring_enter/io_uring_register",
            name);
  else
    PMD_LOG(ERR, "%s: io_uring_queue_init failed: %s", name, strerror(-rc));
  return rc;
}

// ---- control helpers ---------------------------------------------------------------------------

int nl_call(rte_eth_dev* dev, const char* what, const std::function<int(int fd, int ifindex)>& f) {
  rtap_process* p = proc_of(dev);
  if (p == nullptr) return -ENOTSUP;
  std::lock_guard<std::mutex> g(p->nl_lock);
  if (p->nl_fd < 0 && p->secondary) {
    // A secondary opens its socket at the first control call, not at attach: opening it in the
    // port's namespace takes a thread (in_netns), and a worker attaching 256 ports spent about
    // a fifth of its start-up on them, for calls a worker seldom makes (issue #21).
    p->nl_fd = in_netns(p->ns_fd, [] { return nl_open(0); });
    if (p->nl_fd < 0) {
      const int err = p->nl_fd;
      p->nl_fd = -1;
      PMD_LOG(ERR, "%s: %s: cannot open rtnetlink: %s", dev->data->name, what, strerror(-err));
      return err;
    }
  }
  if (p->nl_fd < 0) return -ENOTSUP;
  int rc = f(p->nl_fd, shared_of(dev)->ifindex);
  if (rc < 0) PMD_LOG(ERR, "%s: %s failed: %s", dev->data->name, what, strerror(-rc));
  return rc;
}

int set_flags(rte_eth_dev* dev, unsigned flags, unsigned change, const char* what) {
  return nl_call(dev, what, [&](int fd, int ifx) { return nl_set_flags(fd, ifx, flags, change); });
}

int read_link(rte_eth_dev* dev, LinkInfo* li) {
  return nl_call(dev, "RTM_GETLINK",
                 [&](int fd, int ifx) { return nl_get_link(fd, ifx, nullptr, li); });
}

}  // namespace

// Largest frame the kernel may hand to a reader: a GSO super-frame with LRO, else MTU-sized
// frames with room for two VLAN tags.
uint32_t rx_frame_max(const rte_eth_dev* dev) {
  if (dev->data->dev_conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_TCP_LRO) return kMaxFrame;
  return dev->data->mtu + RTE_ETHER_HDR_LEN + 8;
}

namespace {

// ---- LSC ----------------------------------------------------------------------------------------

void lsc_event(void* arg, bool deleted, const LinkInfo& li) {
  auto* dev = static_cast<rte_eth_dev*>(arg);
  rte_eth_link link = dev->data->dev_link;
  link.link_status = (!deleted && (li.flags & IFF_UP) && (li.flags & IFF_RUNNING))
                         ? RTE_ETH_LINK_UP
                         : RTE_ETH_LINK_DOWN;
  if (rte_eth_linkstatus_set(dev, &link) == 0)
    rte_eth_dev_callback_process(dev, RTE_ETH_EVENT_INTR_LSC, nullptr);
}

void lsc_handler(void* arg) {
  auto* dev = static_cast<rte_eth_dev*>(arg);
  rtap_process* p = proc_of(dev);
  if (p != nullptr && p->lsc_fd >= 0)
    nl_read_link_events(p->lsc_fd, shared_of(dev)->ifindex, lsc_event, dev);
}

int lsc_enable(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  int fd = in_netns(p->ns_fd, [] { return nl_open(RTMGRP_LINK); });
  if (fd < 0) return fd;
  rte_intr_handle* h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
  if (h == nullptr) {
    close(fd);
    return -ENOMEM;
  }
  rte_intr_type_set(h, RTE_INTR_HANDLE_EXT);
  rte_intr_fd_set(h, fd);
  int rc = rte_intr_callback_register(h, lsc_handler, dev);
  if (rc < 0) {
    rte_intr_instance_free(h);
    close(fd);
    return rc;
  }
  p->lsc_fd = fd;
  p->lsc_intr = h;
  return 0;
}

void lsc_disable(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  if (p->lsc_intr == nullptr) return;
  // -EAGAIN means the handler is running right now on the interrupt thread: wait for it.
  for (int i = 0; i < 1000; i++) {
    int rc = rte_intr_callback_unregister(p->lsc_intr, lsc_handler, dev);
    if (rc != -EAGAIN) break;
    usleep(1000);
  }
  rte_intr_instance_free(p->lsc_intr);
  p->lsc_intr = nullptr;
  close(p->lsc_fd);
  p->lsc_fd = -1;
}

}  // namespace

// ---- rx interrupts ------------------------------------------------------------------------------

int rxq_intr_enable_all(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  uint16_t n = dev->data->nb_rx_queues;
  rte_intr_handle* h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
  if (h == nullptr) return -ENOMEM;
  int rc = rte_intr_type_set(h, RTE_INTR_HANDLE_VDEV);
  rc = rc ?: rte_intr_nb_efd_set(h, n);
  rc = rc ?: rte_intr_max_intr_set(h, n + 1);
  rc = rc ?: rte_intr_efd_counter_size_set(h, sizeof(uint64_t));
  rc = rc ?: rte_intr_vec_list_alloc(h, "rtap_intr_vec", n);
  for (uint16_t i = 0; rc == 0 && i < n; i++) {
    if (p->rx[i] == nullptr || p->rx[i]->efd < 0) {
      PMD_LOG(ERR, "%s: rx queue %u has no eventfd; set intr_conf.rxq before setting queues up",
              dev->data->name, i);
      rc = -EINVAL;
      break;
    }
    rc = rte_intr_efds_index_set(h, i, p->rx[i]->efd);
    rc = rc ?: rte_intr_vec_list_index_set(h, i, RTE_INTR_VEC_RXTX_OFFSET + i);
  }
  if (rc != 0) {
    rte_intr_vec_list_free(h);
    rte_intr_instance_free(h);
    return rc;
  }
  p->rx_intr = h;
  dev->intr_handle = h;
  return 0;
}

void rxq_intr_disable_all(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  if (p->rx_intr == nullptr) return;
  if (dev->intr_handle == p->rx_intr) dev->intr_handle = nullptr;
  rte_intr_vec_list_free(p->rx_intr);
  rte_intr_instance_free(p->rx_intr);
  p->rx_intr = nullptr;
}

namespace {

// ---- dev ops ------------------------------------------------------------------------------------

int link_update(rte_eth_dev* dev, int);
int close_port(rte_eth_dev* dev, rtap_process* p);

// Port and queue set-up belongs to the primary: it owns the TAP and the shared queue structs.
bool refuse_in_secondary(const rte_eth_dev* dev, const char* what) {
  if (rte_eal_process_type() == RTE_PROC_PRIMARY) return false;
  PMD_LOG(ERR, "%s: %s is done by the primary process; a secondary only claims queues",
          dev->data->name, what);
  return true;
}

int dev_configure(rte_eth_dev* dev) {
  if (refuse_in_secondary(dev, "configure")) return -E_RTE_SECONDARY;
  rtap_shared* sh = shared_of(dev);
  rtap_process* p = proc_of(dev);
  std::lock_guard<std::recursive_mutex> hk(p->hk_lock);
  const uint16_t nrx = dev->data->nb_rx_queues, ntx = dev->data->nb_tx_queues;
  if (nrx != ntx) {
    PMD_LOG(ERR,
            "%s: %u rx queues but %u tx queues; fix: configure equal counts (one TAP fd serves a "
            "queue pair)",
            dev->data->name, nrx, ntx);
    return -EINVAL;
  }
  if (nrx > sh->max_queues) {
    PMD_LOG(ERR, "%s: %u queue pairs requested, the port has %u; fix: raise queues= in the devargs",
            dev->data->name, nrx, sh->max_queues);
    return -EINVAL;
  }
  {
    std::lock_guard<std::mutex> g(p->fds_lock);
    // Queue fds beyond the new count go away (their queues were released by ethdev already).
    // Detaching first detaches the copies secondaries hold too (same open file), so the kernel
    // stops steering flows to a queue nobody reads before they re-sync.
    for (unsigned i = nrx; i < kMaxQueues; i++) {
      if (p->fds[i] >= 0) {
        ifreq ifr{};
        ifr.ifr_flags = IFF_DETACH_QUEUE;
        ioctl(p->fds[i], TUNSETQUEUE, &ifr);
        close(p->fds[i]);
        p->fds[i] = -1;
      }
    }
    p->nb_fds = 0;
    for (unsigned i = 0; i < nrx; i++) {
      if (p->fds[i] < 0) {
        int fd = open_queue_fd(dev);
        if (fd < 0) return fd;
        p->fds[i] = fd;
      }
      p->nb_fds = static_cast<uint16_t>(i + 1);
    }
  }
  // Kernel transmit is our receive: offloads the kernel may leave to us.
  const uint64_t rxo = dev->data->dev_conf.rxmode.offloads;
  unsigned off = 0;
  if (rxo & (RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM)) off |= TUN_F_CSUM;
  if (rxo & RTE_ETH_RX_OFFLOAD_TCP_LRO) off |= TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  if (nrx > 0 && ioctl(p->fds[0], TUNSETOFFLOAD, off) < 0) {
    int e = errno;
    PMD_LOG(ERR, "%s: TUNSETOFFLOAD 0x%x failed: %s", dev->data->name, off, strerror(e));
    return -e;
  }
  sh->tun_offload = off;
  bump_generation(dev);
  return 0;
}

int dev_start(rte_eth_dev* dev) {
  if (refuse_in_secondary(dev, "start")) return -E_RTE_SECONDARY;
  rtap_process* p = proc_of(dev);
  std::lock_guard<std::recursive_mutex> hk(p->hk_lock);
  const uint32_t frame_max = rx_frame_max(dev);
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; i++) {
    auto* q = static_cast<rtap_rxq*>(dev->data->rx_queues[i]);
    RxRing* r = p->rx[i];
    if (q == nullptr || r == nullptr || p->fds[i] < 0) {
      PMD_LOG(ERR, "%s: rx queue %u is not set up", dev->data->name, i);
      return -EINVAL;
    }
    // The MTU or LRO may have changed since set-up: buffers must still hold the largest frame.
    // The poll is armed by the process that polls the queue, at its claim or housekeeping:
    // reads by a process that does not poll the queue would take frames no one collects.
    if (int rc = rx_ring_layout(r, q, frame_max); rc < 0) {
      PMD_LOG(ERR, "%s: rx queue %u cannot hold %u-byte frames: %s", dev->data->name, i, frame_max,
              strerror(-rc));
      return rc;
    }
  }
  int rc = set_flags(dev, IFF_UP, IFF_UP, "link up");
  if (rc < 0) return rc;
  if (dev->data->dev_conf.intr_conf.lsc) {
    rc = lsc_enable(dev);
    if (rc < 0)
      PMD_LOG(ERR, "%s: link-state interrupt unavailable: %s", dev->data->name, strerror(-rc));
  }
  if (dev->data->dev_conf.intr_conf.rxq) {
    rc = rxq_intr_enable_all(dev);
    if (rc < 0) return rc;
  }
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; i++)
    dev->data->rx_queue_state[i] = RTE_ETH_QUEUE_STATE_STARTED;
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; i++)
    dev->data->tx_queue_state[i] = RTE_ETH_QUEUE_STATE_STARTED;
  // Current link state now, so the netlink echo of our own link-up raises no LSC event later.
  link_update(dev, 0);
  // ethdev sets dev_started after this returns; secondaries must see it before they re-sync.
  dev->data->dev_started = 1;
  bump_generation(dev);
  // Queues this process owns get their buffers back now (secondaries re-sync at their next
  // housekeeping).
  housekeeping(dev);
  return 0;
}

int dev_stop(rte_eth_dev* dev) {
  if (refuse_in_secondary(dev, "stop")) return -E_RTE_SECONDARY;
  // Reads come back with their mbufs and writes complete; rings, fds and claims stay for the
  // next start. Secondaries do the same for their queues when they see the new generation.
  std::lock_guard<std::recursive_mutex> hk(proc_of(dev)->hk_lock);
  dev->data->dev_started = 0;
  deactivate_all(dev);
  lsc_disable(dev);
  rxq_intr_disable_all(dev);
  set_flags(dev, 0, IFF_UP, "link down");
  rte_eth_link link = dev->data->dev_link;
  link.link_status = RTE_ETH_LINK_DOWN;
  rte_eth_linkstatus_set(dev, &link);
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; i++)
    dev->data->rx_queue_state[i] = RTE_ETH_QUEUE_STATE_STOPPED;
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; i++)
    dev->data->tx_queue_state[i] = RTE_ETH_QUEUE_STATE_STOPPED;
  bump_generation(dev);
  return 0;
}

int dev_set_link_up(rte_eth_dev* dev) {
  return set_flags(dev, IFF_UP, IFF_UP, "link up");
}
int dev_set_link_down(rte_eth_dev* dev) {
  return set_flags(dev, 0, IFF_UP, "link down");
}

void rx_queue_release(rte_eth_dev* dev, uint16_t qid) {
  rtap_process* p = proc_of(dev);
  std::unique_lock<std::recursive_mutex> hk;
  if (p != nullptr) hk = std::unique_lock<std::recursive_mutex>(p->hk_lock);
  if (qid < kMaxQueues) shared_of(dev)->rx_owner[qid] = 0;  // the queue itself goes away
  if (p != nullptr && qid < kMaxQueues && p->rx[qid] != nullptr) {
    rx_ring_destroy(p->rx[qid]);
    p->rx[qid] = nullptr;
  }
  rte_free(dev->data->rx_queues[qid]);
  dev->data->rx_queues[qid] = nullptr;
}

void tx_queue_release(rte_eth_dev* dev, uint16_t qid) {
  rtap_process* p = proc_of(dev);
  std::unique_lock<std::recursive_mutex> hk;
  if (p != nullptr) hk = std::unique_lock<std::recursive_mutex>(p->hk_lock);
  if (qid < kMaxQueues) shared_of(dev)->tx_owner[qid] = 0;
  if (p != nullptr && qid < kMaxQueues && p->tx[qid] != nullptr) {
    tx_ring_destroy(p->tx[qid]);
    p->tx[qid] = nullptr;
  }
  rte_free(dev->data->tx_queues[qid]);
  dev->data->tx_queues[qid] = nullptr;
}

int dev_close(rte_eth_dev* dev) {
  rtap_process* p = proc_of(dev);
  // No alarm callback runs during the close (it could be in this port's housekeeping).
  const bool counted = p != nullptr && p->alarm_counted;
  alarm_close_begin();
  int rc = close_port(dev, p);
  alarm_close_end(counted);
  return rc;
}

int close_port(rte_eth_dev* dev, rtap_process* p) {
  if (p != nullptr && p->secondary) {
    // Only what this process made: its rings, fd copies, claims and netlink socket. The TAP,
    // the shared queues and the primary's fds are the primary's.
    secondary_close(dev);
    lsc_disable(dev);
    if (p->nl_fd >= 0) close(p->nl_fd);
    if (p->ns_fd >= 0) close(p->ns_fd);
    p->nl_fd = p->ns_fd = -1;
    __atomic_store_n(&dev->process_private, nullptr, __ATOMIC_SEQ_CST);
    // An lcore may still be between reading process_private and testing `closing` (hot-unplug
    // while polling): the struct stays allocated, closed and empty, until the process exits.
    retire_process(p);
    return 0;
  }
  if (rte_eal_process_type() == RTE_PROC_PRIMARY) {
    if (dev->data->dev_started) dev_stop(dev);
    // ethdev frees the queue arrays but not what the queues hold.
    for (uint16_t i = 0; i < dev->data->nb_rx_queues; i++)
      if (dev->data->rx_queues[i] != nullptr) rx_queue_release(dev, i);
    for (uint16_t i = 0; i < dev->data->nb_tx_queues; i++)
      if (dev->data->tx_queues[i] != nullptr) tx_queue_release(dev, i);
  }
  if (p != nullptr) {
    for (unsigned i = 0; i < kMaxQueues; i++) {
      if (p->rx[i] != nullptr) rx_ring_destroy(p->rx[i]);
      if (p->tx[i] != nullptr) tx_ring_destroy(p->tx[i]);
    }
    {
      std::lock_guard<std::mutex> g(p->fds_lock);  // the fd channel may be duplicating them
      for (unsigned i = 0; i < kMaxQueues; i++)
        if (p->fds[i] >= 0) close(p->fds[i]);
      p->nb_fds = 0;
    }
    lsc_disable(dev);
    rxq_intr_disable_all(dev);
    // Without persist, closing the last fd deletes the interface.
    if (p->keep_fd >= 0) close(p->keep_fd);
    if (p->nl_fd >= 0) close(p->nl_fd);
    if (p->ns_fd >= 0) close(p->ns_fd);
    {
      // The fd channel's thread and the rte_mp fd action read it under this lock.
      std::lock_guard<std::mutex> ports(primary_ports_lock());
      dev->process_private = nullptr;
    }
    delete p;
    mp_primary_unregister();
  }
  // mac_addrs points into dev_private: ethdev must not free it separately.
  dev->data->mac_addrs = nullptr;
  return 0;
}

int dev_infos_get(rte_eth_dev* dev, rte_eth_dev_info* info) {
  rtap_shared* sh = shared_of(dev);
  info->if_index = static_cast<uint32_t>(sh->ifindex);  // an index in sh->netns when that is set
  info->max_mac_addrs = 1;
  info->max_rx_queues = sh->max_queues;
  info->max_tx_queues = sh->max_queues;
  info->min_rx_bufsize = RTE_ETHER_MIN_LEN;
  info->max_rx_pktlen = kMaxFrame;
  info->max_rx_mempools = 2;  // heads and large tails: see rx_queue_setup
  info->max_lro_pkt_size = kMaxFrame;
  info->min_mtu = RTE_ETHER_MIN_MTU;
  info->max_mtu = kMaxFrame - RTE_ETHER_HDR_LEN - 8;
  info->rx_offload_capa = RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
                          RTE_ETH_RX_OFFLOAD_TCP_LRO | RTE_ETH_RX_OFFLOAD_SCATTER;
  info->tx_offload_capa = RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_UDP_CKSUM |
                          RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_TSO |
                          RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
  info->rx_queue_offload_capa = info->rx_offload_capa;
  info->tx_queue_offload_capa = info->tx_offload_capa;
  info->rx_desc_lim.nb_max = kMaxRing;
  info->rx_desc_lim.nb_min = kMinRing;
  info->rx_desc_lim.nb_align = 1;
  info->tx_desc_lim = info->rx_desc_lim;
  info->tx_desc_lim.nb_seg_max = kMaxSegs;
  info->tx_desc_lim.nb_mtu_seg_max = kMaxSegs;
  info->default_rxportconf.burst_size = kDefaultBurst;
  info->default_txportconf.burst_size = kDefaultBurst;
  info->default_rxportconf.ring_size = kDefaultRing;
  info->default_txportconf.ring_size = kDefaultRing;
  info->default_rxportconf.nb_queues = 1;
  info->default_txportconf.nb_queues = 1;
  info->speed_capa = RTE_ETH_LINK_SPEED_FIXED;
  return 0;
}

int link_update(rte_eth_dev* dev, int) {
  LinkInfo li;
  int rc = read_link(dev, &li);
  if (rc < 0) return rc;
  rte_eth_link link{};
  link.link_speed = RTE_ETH_SPEED_NUM_UNKNOWN;
  link.link_duplex = RTE_ETH_LINK_FULL_DUPLEX;
  link.link_autoneg = RTE_ETH_LINK_FIXED;
  link.link_status =
      ((li.flags & IFF_UP) && (li.flags & IFF_RUNNING)) ? RTE_ETH_LINK_UP : RTE_ETH_LINK_DOWN;
  return rte_eth_linkstatus_set(dev, &link);
}

int promisc_enable(rte_eth_dev* dev) {
  return set_flags(dev, IFF_PROMISC, IFF_PROMISC, "promiscuous on");
}
int promisc_disable(rte_eth_dev* dev) {
  return set_flags(dev, 0, IFF_PROMISC, "promiscuous off");
}
int allmulti_enable(rte_eth_dev* dev) {
  return set_flags(dev, IFF_ALLMULTI, IFF_ALLMULTI, "all-multicast on");
}
int allmulti_disable(rte_eth_dev* dev) {
  return set_flags(dev, 0, IFF_ALLMULTI, "all-multicast off");
}

int mac_addr_set(rte_eth_dev* dev, rte_ether_addr* mac) {
  int rc = nl_call(dev, "set MAC", [&](int fd, int ifx) { return nl_set_mac(fd, ifx, mac); });
  if (rc == 0) rte_ether_addr_copy(mac, &shared_of(dev)->mac);
  return rc;
}

int mtu_set(rte_eth_dev* dev, uint16_t mtu) {
  rtap_process* p = proc_of(dev);
  if (dev->data->dev_started &&
      !(dev->data->dev_conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_TCP_LRO)) {
    for (uint16_t i = 0; i < dev->data->nb_rx_queues; i++) {
      if (p->rx[i] != nullptr &&
          p->rx[i]->capacity < mtu + RTE_ETHER_HDR_LEN + 8u + sizeof(VnetHdr)) {
        PMD_LOG(ERR,
                "%s: MTU %u does not fit the rx buffers laid out at start; "
                "fix: stop the port, set the MTU, start it",
                dev->data->name, mtu);
        return -EBUSY;
      }
    }
  }
  return nl_call(dev, "set MTU", [&](int fd, int ifx) { return nl_set_mtu(fd, ifx, mtu); });
}

int stats_get(rte_eth_dev* dev, rte_eth_stats* st) {
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; i++) {
    auto* q = static_cast<rtap_rxq*>(dev->data->rx_queues[i]);
    if (q == nullptr) continue;
    st->ipackets += q->st.packets;
    st->ibytes += q->st.bytes;
    st->ierrors += q->st.errors;
    if (i < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
      st->q_ipackets[i] = q->st.packets;
      st->q_ibytes[i] = q->st.bytes;
      st->q_errors[i] = q->st.errors;
    }
  }
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; i++) {
    auto* q = static_cast<rtap_txq*>(dev->data->tx_queues[i]);
    if (q == nullptr) continue;
    st->opackets += q->st.packets;
    st->obytes += q->st.bytes;
    st->oerrors += q->st.errors;
    if (i < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
      st->q_opackets[i] = q->st.packets;
      st->q_obytes[i] = q->st.bytes;
    }
  }
  // Frames the kernel could not hand to us because our reads did not keep up are the TAP's
  // *tx* drops (tun_net_xmit), not rx_dropped (upstream defect 2).
  LinkInfo li;
  if (read_link(dev, &li) == 0) {
    rtap_shared* sh = shared_of(dev);
    st->imissed = li.tx_dropped >= sh->imissed_base ? li.tx_dropped - sh->imissed_base : 0;
  }
  return 0;
}

int stats_reset(rte_eth_dev* dev) {
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; i++)
    if (auto* q = static_cast<rtap_rxq*>(dev->data->rx_queues[i])) q->st = QueueStats{};
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; i++)
    if (auto* q = static_cast<rtap_txq*>(dev->data->tx_queues[i])) q->st = QueueStats{};
  LinkInfo li;
  if (read_link(dev, &li) == 0) shared_of(dev)->imissed_base = li.tx_dropped;
  return 0;
}

// ---- xstats
// ---------------------------------------------------------------------------------------

struct XName {
  const char* name;
  size_t off;
};
#define RX_X(f) \
  { #f, offsetof(RxXstats, f) }
#define TX_X(f) \
  { #f, offsetof(TxXstats, f) }
const XName kRxX[] = {
    RX_X(no_mbuf),
    RX_X(truncated),
    RX_X(runt),
    RX_X(read_errors),
    RX_X(bad_vnet_hdr),
    RX_X(lro_packets),
    RX_X(csum_good),
    RX_X(csum_partial),
    RX_X(multiseg),
    RX_X(unicast),
    RX_X(multicast),
    RX_X(broadcast),
    RX_X(not_ready),
    {"size_64_packets", offsetof(RxXstats, size) + 0 * 8},
    {"size_65_to_127_packets", offsetof(RxXstats, size) + 8},
    {"size_128_to_255_packets", offsetof(RxXstats, size) + 16},
    {"size_256_to_511_packets", offsetof(RxXstats, size) + 24},
    {"size_512_to_1023_packets", offsetof(RxXstats, size) + 32},
    {"size_1024_to_1518_packets", offsetof(RxXstats, size) + 40},
    {"size_1519_to_max_packets", offsetof(RxXstats, size) + 48},
};
const XName kTxX[] = {
    TX_X(ring_full),
    TX_X(too_many_segs),
    TX_X(bad_offload),
    TX_X(write_errors),
    TX_X(tso_packets),
    TX_X(csum_offload),
    TX_X(multiseg),
    TX_X(hdr_copied),
    TX_X(unicast),
    TX_X(multicast),
    TX_X(broadcast),
    TX_X(not_ready),
    {"size_64_packets", offsetof(TxXstats, size) + 0 * 8},
    {"size_65_to_127_packets", offsetof(TxXstats, size) + 8},
    {"size_128_to_255_packets", offsetof(TxXstats, size) + 16},
    {"size_256_to_511_packets", offsetof(TxXstats, size) + 24},
    {"size_512_to_1023_packets", offsetof(TxXstats, size) + 32},
    {"size_1024_to_1518_packets", offsetof(TxXstats, size) + 40},
    {"size_1519_to_max_packets", offsetof(TxXstats, size) + 48},
};
#undef RX_X
#undef TX_X
constexpr unsigned kNRx = RTE_DIM(kRxX), kNTx = RTE_DIM(kTxX);

unsigned xstats_count(const rte_eth_dev* dev) {
  return dev->data->nb_rx_queues * kNRx + dev->data->nb_tx_queues * kNTx;
}

int xstats_get_names(rte_eth_dev* dev, rte_eth_xstat_name* names, unsigned size) {
  unsigned n = xstats_count(dev);
  if (names == nullptr || size < n) return static_cast<int>(n);
  unsigned k = 0;
  for (uint16_t q = 0; q < dev->data->nb_rx_queues; q++)
    for (const auto& x : kRxX)
      snprintf(names[k++].name, RTE_ETH_XSTATS_NAME_SIZE, "rx_q%u_%s", q, x.name);
  for (uint16_t q = 0; q < dev->data->nb_tx_queues; q++)
    for (const auto& x : kTxX)
      snprintf(names[k++].name, RTE_ETH_XSTATS_NAME_SIZE, "tx_q%u_%s", q, x.name);
  return static_cast<int>(n);
}

int xstats_get(rte_eth_dev* dev, rte_eth_xstat* xs, unsigned size) {
  unsigned n = xstats_count(dev);
  if (xs == nullptr || size < n) return static_cast<int>(n);
  unsigned k = 0;
  for (uint16_t q = 0; q < dev->data->nb_rx_queues; q++) {
    auto* rq = static_cast<rtap_rxq*>(dev->data->rx_queues[q]);
    for (const auto& x : kRxX) {
      xs[k].id = k;
      xs[k].value =
          rq ? *reinterpret_cast<const uint64_t*>(reinterpret_cast<const char*>(&rq->xs) + x.off)
             : 0;
      k++;
    }
  }
  for (uint16_t q = 0; q < dev->data->nb_tx_queues; q++) {
    auto* tq = static_cast<rtap_txq*>(dev->data->tx_queues[q]);
    for (const auto& x : kTxX) {
      xs[k].id = k;
      xs[k].value =
          tq ? *reinterpret_cast<const uint64_t*>(reinterpret_cast<const char*>(&tq->xs) + x.off)
             : 0;
      k++;
    }
  }
  return static_cast<int>(n);
}

int xstats_reset(rte_eth_dev* dev) {
  for (uint16_t q = 0; q < dev->data->nb_rx_queues; q++)
    if (auto* rq = static_cast<rtap_rxq*>(dev->data->rx_queues[q])) rq->xs = RxXstats{};
  for (uint16_t q = 0; q < dev->data->nb_tx_queues; q++)
    if (auto* tq = static_cast<rtap_txq*>(dev->data->tx_queues[q])) tq->xs = TxXstats{};
  return 0;
}

// ---- queues
// ----------------------------------------------------------------------------------------

int rx_queue_setup(rte_eth_dev* dev, uint16_t qid, uint16_t nb_desc, unsigned socket,
                   const rte_eth_rxconf* conf, rte_mempool* mp) {
  if (refuse_in_secondary(dev, "rx queue set-up")) return -E_RTE_SECONDARY;
  rtap_process* p = proc_of(dev);
  std::lock_guard<std::recursive_mutex> hk(p->hk_lock);
  if (dev->data->rx_queues[qid] != nullptr) rx_queue_release(dev, qid);
  if (p->fds[qid] < 0) {
    PMD_LOG(ERR, "%s: rx queue %u has no TAP fd; configure the port first", dev->data->name, qid);
    return -EINVAL;
  }
  auto* q = static_cast<rtap_rxq*>(
      rte_zmalloc_socket("rtap_rxq", sizeof(rtap_rxq), RTE_CACHE_LINE_SIZE, socket));
  if (q == nullptr) return -ENOMEM;
  q->port_id = dev->data->port_id;
  q->qid = qid;
  q->nb_desc = nb_desc;
  // With two pools (rx_mempools), the smaller one gives every read's head, the larger one the
  // rest of a large frame's buffer: a 64 KB super-frame is then 2 segments instead of 33.
  q->mp = q->tail_mp = mp;
  if (mp == nullptr && conf->rx_nmempool > 0) {
    q->mp = q->tail_mp = conf->rx_mempools[0];
    for (uint16_t i = 1; i < conf->rx_nmempool; i++) {
      rte_mempool* m = conf->rx_mempools[i];
      if (rte_pktmbuf_data_room_size(m) < rte_pktmbuf_data_room_size(q->mp)) q->mp = m;
      if (rte_pktmbuf_data_room_size(m) > rte_pktmbuf_data_room_size(q->tail_mp)) q->tail_mp = m;
    }
  }
  if (q->mp == nullptr) {
    rte_free(q);
    return -EINVAL;
  }
  q->offloads = conf->offloads | dev->data->dev_conf.rxmode.offloads;
  auto* r = new RxRing;
  int rc = rx_ring_create(r, nb_desc, dev->data->dev_conf.intr_conf.rxq != 0);
  if (rc == 0) rc = rx_ring_layout(r, q, rx_frame_max(dev));
  if (rc < 0) {
    if (rc == -E2BIG)
      PMD_LOG(ERR,
              "%s: rx queue %u: mbufs of %u bytes would need more than %u segments per %u-byte "
              "frame; fix: a "
              "mempool with a larger data room, or no LRO",
              dev->data->name, qid, rte_pktmbuf_data_room_size(q->tail_mp), kMaxSegs,
              rx_frame_max(dev));
    else
      PMD_LOG(ERR, "%s: rx queue %u: %s", dev->data->name, qid, strerror(-rc));
    rx_ring_destroy(r);
    rte_free(q);
    return rc;
  }
  p->rx[qid] = r;
  dev->data->rx_queues[qid] = q;
  bump_generation(dev);
  return 0;
}

int tx_queue_setup(rte_eth_dev* dev, uint16_t qid, uint16_t nb_desc, unsigned socket,
                   const rte_eth_txconf* conf) {
  if (refuse_in_secondary(dev, "tx queue set-up")) return -E_RTE_SECONDARY;
  rtap_process* p = proc_of(dev);
  std::lock_guard<std::recursive_mutex> hk(p->hk_lock);
  if (dev->data->tx_queues[qid] != nullptr) tx_queue_release(dev, qid);
  if (p->fds[qid] < 0) {
    PMD_LOG(ERR, "%s: tx queue %u has no TAP fd; configure the port first", dev->data->name, qid);
    return -EINVAL;
  }
  auto* q = static_cast<rtap_txq*>(
      rte_zmalloc_socket("rtap_txq", sizeof(rtap_txq), RTE_CACHE_LINE_SIZE, socket));
  if (q == nullptr) return -ENOMEM;
  q->port_id = dev->data->port_id;
  q->qid = qid;
  q->nb_desc = nb_desc;
  q->offloads = conf->offloads | dev->data->dev_conf.txmode.offloads;
  auto* r = new TxRing;
  int rc = tx_ring_create(r, nb_desc);
  if (rc < 0) {
    PMD_LOG(ERR, "%s: tx queue %u: %s", dev->data->name, qid, strerror(-rc));
    tx_ring_destroy(r);
    rte_free(q);
    return rc;
  }
  p->tx[qid] = r;
  dev->data->tx_queues[qid] = q;
  bump_generation(dev);
  return 0;
}

int rx_queue_intr_enable(rte_eth_dev* dev, uint16_t qid) {
  rtap_process* p = proc_of(dev);
  std::lock_guard<std::recursive_mutex> hk(p->hk_lock);
  if (p->rx[qid] == nullptr || p->rx[qid]->efd < 0) return -EINVAL;
  // A thread about to sleep on a queue it never polled must own it and have its poll armed, or
  // nothing would ever wake it.
  if (!is_claimed(p->rx[qid])) {
    int rc = rxq_activate(dev, qid, true);
    if (rc < 0) return rc;
  }
  RxRing* r = p->rx[qid];
  // Drain what accumulated, let completions signal the eventfd again, and signal it ourselves if
  // a frame completed before that (it would otherwise wait, unannounced, for the next one).
  // With hundreds of idle queues, a read per queue per sleep was most of an idle worker's time.
  uint64_t v;
  const unsigned tail = io_uring_smp_load_acquire(r->ring.cq.ktail);
  if (r->efd_written || tail != r->efd_drained_tail) {
    while (read(r->efd, &v, sizeof(v)) == sizeof(v)) {
    }
    r->efd_drained_tail = tail;
    r->efd_written = false;
  }
  io_uring_cq_eventfd_toggle(&r->ring, true);
  if (io_uring_cq_ready(&r->ring) > 0) {
    v = 1;
    r->efd_written = true;
    if (write(r->efd, &v, sizeof(v)) < 0) return -errno;
  }
  return 0;
}

// While the application polls, completions do not signal the eventfd: no wake-up work in the
// kernel per frame.
int rx_queue_intr_disable(rte_eth_dev* dev, uint16_t qid) {
  rtap_process* p = proc_of(dev);
  if (p->rx[qid] == nullptr || p->rx[qid]->efd < 0) return -EINVAL;
  io_uring_cq_eventfd_toggle(&p->rx[qid]->ring, false);
  return 0;
}

const eth_dev_ops kOps = [] {
  eth_dev_ops o{};
  o.dev_configure = dev_configure;
  o.dev_start = dev_start;
  o.dev_stop = dev_stop;
  o.dev_set_link_up = dev_set_link_up;
  o.dev_set_link_down = dev_set_link_down;
  o.dev_close = dev_close;
  o.promiscuous_enable = promisc_enable;
  o.promiscuous_disable = promisc_disable;
  o.allmulticast_enable = allmulti_enable;
  o.allmulticast_disable = allmulti_disable;
  o.link_update = link_update;
  o.stats_get = stats_get;
  o.stats_reset = stats_reset;
  o.xstats_get = xstats_get;
  o.xstats_reset = xstats_reset;
  o.xstats_get_names = xstats_get_names;
  o.dev_infos_get = dev_infos_get;
  o.mtu_set = mtu_set;
  o.mac_addr_set = mac_addr_set;
  o.rx_queue_setup = rx_queue_setup;
  o.rx_queue_release = rx_queue_release;
  o.tx_queue_setup = tx_queue_setup;
  o.tx_queue_release = tx_queue_release;
  o.tx_done_cleanup = tx_done_cleanup;
  o.rx_queue_intr_enable = rx_queue_intr_enable;
  o.rx_queue_intr_disable = rx_queue_intr_disable;
  return o;
}();

// ---- create / probe / remove
// ----------------------------------------------------------------------

// Creates (or, with persist, re-attaches to) the TAP and fills *p and *sh. Cleans up after itself.
int create_tap(const char* name, const Args& a, rtap_process* p, rtap_shared* sh, LinkInfo* li) {
  if (access("/dev/net/tun", F_OK) != 0) {
    PMD_LOG(ERR, "%s: /dev/net/tun is missing; fix: modprobe tun (or mknod /dev/net/tun c 10 200)",
            name);
    return -ENODEV;
  }
  if (int rc = check_io_uring(name); rc < 0) return rc;
  if (a.netns[0] != '\0') {
    std::string path = std::string("/run/netns/") + a.netns;
    p->ns_fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (p->ns_fd < 0) {
      int e = errno;
      PMD_LOG(ERR, "%s: network namespace \"%s\" not found (%s: %s); fix: ip netns add %s", name,
              a.netns, path.c_str(), strerror(e), a.netns);
      return -e;
    }
  }
  p->nl_fd = in_netns(p->ns_fd, [] { return nl_open(0); });
  if (p->nl_fd < 0) {
    PMD_LOG(ERR, "%s: cannot open rtnetlink: %s", name, strerror(-p->nl_fd));
    return p->nl_fd;
  }
  // A name already in use: never silently join someone else's interface.
  if (strchr(a.iface, '%') == nullptr) {
    LinkInfo old;
    if (nl_get_link(p->nl_fd, 0, a.iface, &old) == 0) {
      if (strcmp(old.kind, "tun") != 0) {
        PMD_LOG(
            ERR,
            "%s: interface %s exists and is not a TAP (kind \"%s\"); fix: choose another iface=",
            name, a.iface, old.kind);
        return -EEXIST;
      }
      if (!a.persist || (old.flags & IFF_RUNNING)) {
        PMD_LOG(ERR,
                "%s: TAP %s already exists%s; fix: choose another iface=, or delete it (ip link "
                "del %s)",
                name, a.iface, a.persist ? " and is in use by another process" : "", a.iface);
        return -EBUSY;
      }
    }
  }
  p->keep_fd = open_tun(p->ns_fd);
  if (p->keep_fd < 0) {
    PMD_LOG(ERR, "%s: cannot open /dev/net/tun: %s", name, strerror(-p->keep_fd));
    return p->keep_fd;
  }
  unsigned features = 0;
  if (ioctl(p->keep_fd, TUNGETFEATURES, &features) < 0 ||
      (features & kNeededFeatures) != kNeededFeatures) {
    PMD_LOG(ERR,
            "%s: the TUN driver lacks features 0x%x (has 0x%x); fix: a kernel with multi-queue TAP "
            "and vnet "
            "headers",
            name, kNeededFeatures & ~features, features);
    return -ENOTSUP;
  }
  sh->features = features;
  int rc = tun_attach(p->keep_fd, a.iface, tun_flags(features), sh->ifname);
  if (rc < 0) {
    if (rc == -EBUSY || rc == -EINVAL)
      PMD_LOG(ERR,
              "%s: TUNSETIFF %s: %s; the name is probably taken by another interface or process; "
              "fix: choose "
              "another iface=",
              name, a.iface, strerror(-rc));
    else if (rc == -EPERM)
      PMD_LOG(ERR,
              "%s: TUNSETIFF %s: not permitted; fix: run with CAP_NET_ADMIN, or use a TAP owned by "
              "this user",
              name, a.iface);
    else
      PMD_LOG(ERR, "%s: TUNSETIFF %s: %s", name, a.iface, strerror(-rc));
    return rc;
  }
  int hdr = sizeof(VnetHdr);
  if (ioctl(p->keep_fd, TUNSETVNETHDRSZ, &hdr) < 0) {
    rc = -errno;
    PMD_LOG(ERR, "%s: TUNSETVNETHDRSZ %d: %s", name, hdr, strerror(-rc));
    return rc;
  }
  if ((rc = nl_get_link(p->nl_fd, 0, sh->ifname, li)) < 0) {
    PMD_LOG(ERR, "%s: cannot read link %s: %s", name, sh->ifname, strerror(-rc));
    return rc;
  }
  sh->ifindex = li->ifindex;
  if (a.has_mac) {
    if ((rc = nl_set_mac(p->nl_fd, sh->ifindex, &a.mac)) < 0) {
      PMD_LOG(ERR, "%s: cannot set MAC on %s: %s", name, sh->ifname, strerror(-rc));
      return rc;
    }
    li->mac = a.mac;
  }
  // The keep-alive fd holds the interface but takes no traffic.
  ifreq ifr{};
  ifr.ifr_flags = IFF_DETACH_QUEUE;
  if (ioctl(p->keep_fd, TUNSETQUEUE, &ifr) < 0) {
    rc = -errno;
    PMD_LOG(ERR, "%s: TUNSETQUEUE detach: %s", name, strerror(-rc));
    return rc;
  }
  if (a.persist && ioctl(p->keep_fd, TUNSETPERSIST, 1) < 0) {
    rc = -errno;
    PMD_LOG(ERR, "%s: TUNSETPERSIST: %s", name, strerror(-rc));
    return rc;
  }
  return 0;
}

void close_process(rtap_process* p) {
  for (int fd : {p->keep_fd, p->nl_fd, p->ns_fd})
    if (fd >= 0) close(fd);
  delete p;
}

int probe(rte_vdev_device* vdev) {
  const char* name = rte_vdev_device_name(vdev);
  if (rte_eal_process_type() == RTE_PROC_SECONDARY) {
    rte_eth_dev* dev = rte_eth_dev_attach_secondary(name);
    if (dev == nullptr) {
      PMD_LOG(ERR, "%s: cannot attach in a secondary process", name);
      return -ENODEV;
    }
    auto* p = new rtap_process;
    p->secondary = true;
    dev->process_private = p;
    dev->dev_ops = &kOps;
    dev->rx_pkt_burst = rx_burst;
    dev->tx_pkt_burst = tx_burst;
    dev->tx_pkt_prepare = tx_prepare;
    dev->device = &vdev->device;
    int rc = secondary_attach(dev);
    if (rc < 0) {
      dev_close(dev);
      rte_eth_dev_release_port(dev);
      return rc;
    }
    cache_token();
    p->alarm_counted = true;
    alarm_port_added();
    rte_eth_dev_probing_finish(dev);
    return 0;
  }

  Args a;
  int rc = parse_args(name, rte_vdev_device_args(vdev), &a);
  if (rc < 0) return rc;
  if ((rc = mp_primary_register()) < 0) return rc;
  auto* p = new rtap_process;
  rtap_shared sh{};
  LinkInfo li;
  rc = create_tap(name, a, p, &sh, &li);
  if (rc < 0) {
    close_process(p);
    mp_primary_unregister();
    return rc;
  }
  rte_eth_dev* dev = rte_eth_vdev_allocate(vdev, sizeof(rtap_shared));
  if (dev == nullptr) {
    close_process(p);
    mp_primary_unregister();
    return -ENOMEM;
  }
  rtap_shared* s = shared_of(dev);
  *s = sh;
  s->persist = a.persist;
  s->max_queues = static_cast<uint16_t>(a.queues);
  snprintf(s->netns, sizeof(s->netns), "%s", a.netns);
  rte_ether_addr_copy(&li.mac, &s->mac);
  s->imissed_base = li.tx_dropped;
  dev->process_private = p;
  dev->data->mac_addrs = &s->mac;
  dev->data->mtu = static_cast<uint16_t>(li.mtu);
  dev->data->dev_flags |= RTE_ETH_DEV_INTR_LSC | RTE_ETH_DEV_AUTOFILL_QUEUE_XSTATS;
  dev->dev_ops = &kOps;
  dev->rx_pkt_burst = rx_burst;
  dev->tx_pkt_burst = tx_burst;
  dev->tx_pkt_prepare = tx_prepare;
  cache_token();
  p->alarm_counted = true;
  alarm_port_added();
  rte_eth_dev_probing_finish(dev);
  PMD_LOG(INFO, "%s: TAP %s (ifindex %d%s%s), %u queue pair(s)%s", name, s->ifname, s->ifindex,
          a.netns[0] ? " in netns " : "", a.netns, a.queues, a.persist ? ", persistent" : "");
  return 0;
}

int rtap_remove(rte_vdev_device* vdev) {
  rte_eth_dev* dev = rte_eth_dev_allocated(rte_vdev_device_name(vdev));
  if (dev == nullptr) return 0;  // closed already
  dev_close(dev);
  return rte_eth_dev_release_port(dev);
}

}  // namespace

void retire_process(rtap_process* p) {
  static std::mutex lock;
  static std::vector<std::unique_ptr<rtap_process>> graveyard;
  std::lock_guard<std::mutex> g(lock);
  graveyard.emplace_back(p);
}

bool is_rtap_port(const rte_eth_dev* dev) {
  return dev->dev_ops == &kOps;
}

}  // namespace rtap

static rte_vdev_driver rtap_vdev_driver = {.next = {},
                                           .driver = {},
                                           .probe = rtap::probe,
                                           .remove = rtap::rtap_remove,
                                           .dma_map = nullptr,
                                           .dma_unmap = nullptr,
                                           .drv_flags = 0};

// RTE_PMD_REGISTER_VDEV + RTE_PMD_REGISTER_ALIAS, spelled out: in C++ the pair defines the alias
// variable twice (a tentative definition is C only).
RTE_INIT(rtap_register) {
  rtap_vdev_driver.driver.name = "net_rtap";
  rtap_vdev_driver.driver.alias = "eth_rtap";
  rte_vdev_register(&rtap_vdev_driver);
}
RTE_PMD_EXPORT_NAME(net_rtap, __COUNTER__);
RTE_PMD_REGISTER_PARAM_STRING(
    net_rtap, "iface=<string> persist queues=<1-64> netns=<name> mac=<xx:xx:xx:xx:xx:xx>");
