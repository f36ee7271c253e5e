# Every dependency comes from Debian 12 packages (installed by scripts/setup.sh).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# DPDK 22.11: the imported target makes its include dirs SYSTEM and carries
# -include rte_config.h -march=corei7. Bus and PMD libraries are not in libdpdk.pc.
pkg_check_modules(DPDK REQUIRED IMPORTED_TARGET libdpdk)
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

# DPDK's driver-SDK headers (ethdev_driver.h, ethdev_vdev.h, bus_vdev_driver.h, dev_driver.h) are
# not in libdpdk-dev; scripts/setup.sh fetches them from Debian's dpdk source package.
if(NOT EXISTS "${VSWITCH_DPDK_SDK_DIR}/ethdev_driver.h")
  message(FATAL_ERROR "DPDK driver-SDK headers not found in ${VSWITCH_DPDK_SDK_DIR}.\n"
                      "Fix: run scripts/setup.sh (it fetches them from Debian's dpdk source package).")
endif()
add_library(dpdk_sdk INTERFACE)
target_include_directories(dpdk_sdk SYSTEM INTERFACE "${VSWITCH_DPDK_SDK_DIR}")
target_compile_definitions(dpdk_sdk INTERFACE ALLOW_INTERNAL_API)
target_link_libraries(dpdk_sdk INTERFACE PkgConfig::DPDK "${RTE_BUS_VDEV_LIB}")
