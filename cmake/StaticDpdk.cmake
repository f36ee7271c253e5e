# Target `dpdk`: the static DPDK that scripts/setup.sh builds from Debian's source package and
# links as build/dpdk (see the comment of its step 3). Its libdpdk.pc is read with --static: the
# drivers and libraries come whole-archived, so their constructors (driver, bus and mempool-ops
# registration) are kept, in the same order in every binary.
set(VSWITCH_DPDK_PREFIX "${PROJECT_SOURCE_DIR}/build/dpdk" CACHE PATH
    "The static DPDK build made by scripts/setup.sh")
set(_dpdk_pc_dir "${VSWITCH_DPDK_PREFIX}/lib/pkgconfig")
if(NOT EXISTS "${_dpdk_pc_dir}/libdpdk.pc")
  message(FATAL_ERROR "DPDK's static build not found in ${VSWITCH_DPDK_PREFIX}.\n"
                      "Fix: run scripts/setup.sh (it builds DPDK from Debian's source package, once).")
endif()
# Reconfigure when set-up links a different build.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_dpdk_pc_dir}/libdpdk.pc")

function(_vswitch_dpdk_query what out)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env "PKG_CONFIG_PATH=${_dpdk_pc_dir}"
            ${PKG_CONFIG_EXECUTABLE} --static ${what} libdpdk
    OUTPUT_VARIABLE _flags RESULT_VARIABLE _rc ERROR_VARIABLE _err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "pkg-config ${what} libdpdk (${_dpdk_pc_dir}) failed: ${_err}\n"
                        "Fix: re-run scripts/setup.sh.")
  endif()
  separate_arguments(_flags UNIX_COMMAND "${_flags}")
  set(${out} "${_flags}" PARENT_SCOPE)
endfunction()

_vswitch_dpdk_query(--cflags _cflags)
_vswitch_dpdk_query(--libs _libs)

# -I: system include dirs (DPDK's headers are not ours to warn about); "-include rte_config.h"
# and "-isystem dir" stay pairs (SHELL: keeps CMake from de-duplicating the first word).
set(_includes "")
set(_options "")
set(_pending "")
foreach(_f IN LISTS _cflags)
  if(_pending)
    list(APPEND _options "SHELL:${_pending} ${_f}")
    set(_pending "")
  elseif(_f MATCHES "^-I(.+)$")
    list(APPEND _includes "${CMAKE_MATCH_1}")
  elseif(_f STREQUAL "-include" OR _f STREQUAL "-isystem")
    set(_pending "${_f}")
  else()
    list(APPEND _options "${_f}")
  endif()
endforeach()
list(REMOVE_DUPLICATES _includes)

add_library(dpdk INTERFACE IMPORTED GLOBAL)
set_target_properties(dpdk PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_includes}"
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_includes}"
  INTERFACE_COMPILE_OPTIONS "${_options}"
  # After the objects, in pkg-config's order (whole-archive block first).
  INTERFACE_LINK_LIBRARIES "${_libs}")
