#pragma once
#include <nanobind/nanobind.h>

namespace concise::python {

void bind_dictionary(nanobind::module_& m);
void bind_decomposer(nanobind::module_& m);
void bind_files(nanobind::module_& m);
void bind_clip(nanobind::module_& m);
void bind_learn(nanobind::module_& m);
void bind_index(nanobind::module_& m);

}  // namespace concise::python
