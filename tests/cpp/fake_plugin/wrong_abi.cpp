// A plugin built for another ABI: the loader must refuse it before using its table.
#include "concise/core/plugin.hpp"

namespace {
const concise::PluginHeader header{concise::kPluginAbiVersion + 998, sizeof(concise::PluginHeader), "from the future"};
}

CONCISE_PLUGIN_ENTRY(wrong_abi) { return &header; }
