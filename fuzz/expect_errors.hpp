#pragma once
// A reader given bad input must throw concise::Error with a message; anything else
// (a crash, a sanitizer report, another exception type escaping) is a finding.
#include "concise/core/error.hpp"

namespace concise::fuzz {

template <class Reader>
int expect_errors(Reader&& read) {
  try {
    read();
  } catch (const concise::Error& e) {
    if (e.what()[0] == '\0') __builtin_trap();  // an error must say what is wrong
  }
  return 0;
}

}  // namespace concise::fuzz
