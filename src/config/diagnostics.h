#pragma once

// Reader of the app.diagnostics section, kept apart from load.cpp: it only
// needs a YAML node and a way to report a problem at a node.
//
// Thread-safety: called by the loader on its own thread; no shared state.

#include <functional>
#include <string>

#include "config/config.h"

namespace YAML {
class Node;
}

namespace lameduck::config {

// Reports one problem: the node it is at, its key path, the message.
using FailAt = std::function<void(const YAML::Node&, const std::string&, std::string)>;

// Reads `node` (the value of app.diagnostics, at key path `path`) into `out`.
// Problems (not a map, unknown keys, bad values) go to `fail`; the fields
// they concern keep their previous values. Never throws.
void readDiagnostics(const YAML::Node& node, const std::string& path, DiagnosticsConfig& out,
                     const FailAt& fail);

}  // namespace lameduck::config
