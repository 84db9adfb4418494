#pragma once
#include <stdexcept>
#include <string>

namespace concise {

// Every failure concise reports is an Error; InputError marks bad user input
// (a file, dataset, row or option that is not what was expected).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InputError : public Error {
 public:
  using Error::Error;
};

// "file 'x.h5', dataset '/embeddings'" style location prefixes for messages.
std::string in_quotes(const std::string& text);

}  // namespace concise
