# Decides CONCISE_WITH_TORCH from CONCISE_TORCH (AUTO, ON, OFF).
# AUTO uses LibTorch when find_package(Torch) succeeds (set CMAKE_PREFIX_PATH to
# torch.utils.cmake_prefix_path to point at a pip-installed PyTorch).
set(CONCISE_WITH_TORCH OFF)
if(NOT CONCISE_TORCH STREQUAL "OFF")
  find_package(Torch QUIET)
  if(Torch_FOUND)
    set(CONCISE_WITH_TORCH ON)
  elseif(CONCISE_TORCH STREQUAL "ON")
    message(FATAL_ERROR "CONCISE_TORCH=ON but LibTorch was not found (add torch.utils.cmake_prefix_path to CMAKE_PREFIX_PATH)")
  endif()
endif()
