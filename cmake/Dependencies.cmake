# Every dependency comes from Debian 12 packages (installed by scripts/setup.sh).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# Two DPDKs, both 22.11.11 from Debian's source package:
# - target `dpdk`: the static build scripts/setup.sh makes (build/dpdk: 512 ports, only the
#   drivers vswitch uses, no plugin directory). vswitchd, its workers, the tests and the benches
#   link it.
# - target `dpdk_debian`: Debian's shared libdpdk-dev, only for librte_net_rtap.so, the plugin
#   that other DPDK applications (dpdk-testpmd, OVS-DPDK) load with -d, and its test.
include(cmake/StaticDpdk.cmake)
pkg_check_modules(DPDK_DEBIAN REQUIRED IMPORTED_TARGET libdpdk)
# Bus libraries are not in Debian's libdpdk.pc.
find_library(RTE_BUS_VDEV_LIB rte_bus_vdev REQUIRED)

pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)

# prometheus-cpp ships no version file: never pass a version here.
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(toml11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)

# CAF 0.17.6 has neither a CMake config nor a .pc in Debian: define the targets by hand.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIB caf_core REQUIRED)
find_library(CAF_IO_LIB caf_io REQUIRED)
add_library(CAF::core SHARED IMPORTED)
set_target_properties(CAF::core PROPERTIES
  IMPORTED_LOCATION "${CAF_CORE_LIB}"
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
  INTERFACE_LINK_LIBRARIES Threads::Threads)
add_library(CAF::io SHARED IMPORTED)
set_target_properties(CAF::io PROPERTIES
  IMPORTED_LOCATION "${CAF_IO_LIB}"
  INTERFACE_LINK_LIBRARIES CAF::core)

# The driver SDK: our build installs its headers; Debian's libdpdk-dev lacks them
# (ethdev_driver.h, ethdev_vdev.h, bus_vdev_driver.h, dev_driver.h), so scripts/setup.sh fetches
# those from Debian's dpdk source package for the plugin.
add_library(dpdk_sdk INTERFACE)
target_compile_definitions(dpdk_sdk INTERFACE ALLOW_INTERNAL_API)
target_link_libraries(dpdk_sdk INTERFACE dpdk)
if(NOT EXISTS "${VSWITCH_DPDK_SDK_DIR}/ethdev_driver.h")
  message(FATAL_ERROR "DPDK driver-SDK headers not found in ${VSWITCH_DPDK_SDK_DIR}.\n"
                      "Fix: run scripts/setup.sh (it fetches them from Debian's dpdk source package).")
endif()
add_library(dpdk_debian_sdk INTERFACE)
target_include_directories(dpdk_debian_sdk SYSTEM INTERFACE "${VSWITCH_DPDK_SDK_DIR}")
target_compile_definitions(dpdk_debian_sdk INTERFACE ALLOW_INTERNAL_API)
target_link_libraries(dpdk_debian_sdk INTERFACE PkgConfig::DPDK_DEBIAN "${RTE_BUS_VDEV_LIB}")
