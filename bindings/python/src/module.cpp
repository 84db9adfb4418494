// concise._core: the C++ engine for Python. The Python package (concise/) turns
// numpy and torch inputs into the contiguous float32 views these functions take.
#include <nanobind/nanobind.h>

#include "bindings.hpp"
#include "concise/core/error.hpp"

NB_MODULE(_core, m) {
  namespace nb = nanobind;
  m.doc() = "concise: sparse nonnegative concept codes for CLIP embeddings (C++ engine)";
  // Bad input raises ValueError with the CLI's message; other failures RuntimeError.
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const concise::InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  concise::python::bind_dictionary(m);
  concise::python::bind_decomposer(m);
  concise::python::bind_files(m);
  concise::python::bind_clip(m);
  concise::python::bind_learn(m);
  concise::python::bind_index(m);
}
