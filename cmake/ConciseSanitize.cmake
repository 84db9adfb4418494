# CONCISE_SANITIZE=ON builds every target with AddressSanitizer and
# UndefinedBehaviorSanitizer (`make sanitize`). Undefined behaviour aborts the test
# that hit it instead of printing and going on. GCC leaves float-to-integer overflow
# out of -fsanitize=undefined (clang has it there), so it is named as well.
#
# CONCISE_FUZZ=ON (clang only, `make fuzz`) adds libFuzzer's coverage
# instrumentation to the same sanitizers and builds the harnesses in fuzz/.
option(CONCISE_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(CONCISE_FUZZ "Build the libFuzzer harnesses (clang)" OFF)
if(CONCISE_SANITIZE OR CONCISE_FUZZ)
  set(concise_sanitize_flags -fsanitize=address,undefined,float-cast-overflow
                             -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer)
  if(CONCISE_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      message(FATAL_ERROR "CONCISE_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
    endif()
    list(APPEND concise_sanitize_flags -fsanitize=fuzzer-no-link)
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${concise_sanitize_flags}>")
  add_link_options(${concise_sanitize_flags})
  message(STATUS "concise: AddressSanitizer and UndefinedBehaviorSanitizer on")
endif()
