#pragma once

// The reader of the `trace` section, kept apart from the rest of the config
// loader. Internal to the config library (it exposes yaml-cpp): load.cpp calls
// it for the `trace` key and records the failures it returns.
//
// Thread-safety: called by the loader on its own thread; no shared state.

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace lameduck::config {

// One problem in the section: the node to point at, its key path, and a
// message that names the bad value and what is accepted. Header values are
// secrets: messages about them never contain the value.
struct SectionFailure {
  YAML::Node at;
  std::string path;
  std::string message;
};

// Reads `node` (the value of `trace`, at key path `path`) into `out`.
// Never throws; an empty result means the section was valid.
std::vector<SectionFailure> readTrace(const YAML::Node& node, const std::string& path,
                                      TraceConfig& out);

}  // namespace lameduck::config
