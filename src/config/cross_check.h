#pragma once

// Checks that involve more than one key (private to src/config, except the
// ones config.h exports for components that must refuse the same thing).
//
// Thread-safety: called by the loader on its own thread; no shared state.

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace lameduck::config::detail {

// One cross-check failure: the key path to change, the keys that lead to its
// node in the document (for the position), and what is wrong.
struct CrossIssue {
  std::vector<std::string> keys;
  std::string path;
  std::string message;
};

std::optional<CrossIssue> checkExitBudget(const ExitConfig& e);
std::vector<CrossIssue> checkTraffic(const Config& c);
std::optional<CrossIssue> checkGateNeedsApp(const Config& c);
std::vector<CrossIssue> checkCoordination(const Config& c);

// Runs every check on a config read from `root`; positions point at the key
// that has to change (none when it is not in the document, e.g. --set).
void crossCheck(Issues& issues, const YAML::Node& root, const Config& c);

}  // namespace lameduck::config::detail
