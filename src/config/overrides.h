#pragma once

// --set key.path=value applied to a parsed document (private to src/config).
//
// Thread-safety: called by the loader on its own thread; no shared state.

#include <yaml-cpp/yaml.h>

#include "config/config.h"

namespace lameduck::config::detail {

// Sets `o.value` at `o.key_path` in `root`, creating maps on the way. The
// value becomes a string scalar tagged kSetTag (the schema reads it as a flow
// list or map only where it expects one). A root that is neither a map nor
// empty is left alone: the reader reports it with its position. Fails on a
// malformed key path or when a key on the way holds a value that is not a
// map. May throw YAML::Exception (the caller contains it).
Status applyOverride(YAML::Node& root, const Override& o);

}  // namespace lameduck::config::detail
