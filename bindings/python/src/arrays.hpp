#pragma once
// numpy arrays handed to Python without a copy: the vector moves into a capsule
// that the array owns.
#include <nanobind/ndarray.h>

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace concise::python {

namespace nb = nanobind;

template <class T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& values, std::initializer_list<std::size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), shape, owner);
}

template <class T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& values) {
  const std::size_t n = values.size();
  return to_numpy(std::move(values), {n});
}

// A C-contiguous float32 matrix on the CPU, as the solvers read it.
using HostRows = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using CudaRows = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cuda>;
using HostVector = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

}  // namespace concise::python
