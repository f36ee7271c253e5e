# Compile options shared by every target of ours. Third-party headers come in as SYSTEM includes,
# so -Werror judges only our code.
add_library(vswitch_options INTERFACE)
target_compile_options(vswitch_options INTERFACE -Wall -Wextra -Werror)

# Hardening (also kept in the sanitizer build).
target_compile_options(vswitch_options INTERFACE -fstack-protector-strong)
if(NOT VSWITCH_SANITIZE AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  target_compile_definitions(vswitch_options INTERFACE _FORTIFY_SOURCE=2)
endif()
target_link_options(vswitch_options INTERFACE -Wl,-z,relro -Wl,-z,now)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

if(VSWITCH_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_compile_options(vswitch_options INTERFACE ${_san})
  target_link_options(vswitch_options INTERFACE ${_san})
endif()
