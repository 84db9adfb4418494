#pragma once
// Where the data concise ships lives (CLIP's BPE merges, the demo's files;
// data/README.md): share/concise beside the folder of the running executable,
// in the build tree and in an installation alike.
#include <string>

namespace concise {

// EXE_DIR/../share/concise when that folder exists, else "".
std::string shipped_data_dir();

}  // namespace concise
