// Compiles against the four DPDK driver-SDK headers that scripts/setup.sh fetches, and checks the
// driver-facing declarations a vdev PMD needs are there with the expected shapes.
#include <bus_vdev_driver.h>
#include <dev_driver.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>

#include <type_traits>

static_assert(std::is_same_v<decltype(&rte_eth_vdev_allocate),
                             rte_eth_dev* (*)(rte_vdev_device*, size_t)>);
static_assert(std::is_same_v<decltype(&rte_eth_dev_attach_secondary), rte_eth_dev* (*)(const char*)>);
static_assert(sizeof(eth_dev_ops) > 0 && sizeof(rte_vdev_driver) > 0);
