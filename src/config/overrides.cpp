#include "config/overrides.h"

#include <sstream>

#include "config/yaml_reader.h"

namespace lameduck::config::detail {
namespace {

bool validKeyPath(const std::string& path) {
  return !path.empty() && path.front() != '.' && path.back() != '.' &&
         path.find("..") == std::string::npos;
}

}  // namespace

Status applyOverride(YAML::Node& root, const Override& o) {
  if (!validKeyPath(o.key_path)) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "invalid --set key \"" + o.key_path + "\"; expected a dotted path like app.base_url");
  }
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) return {};  // "<root>: expected a map of settings" comes from the reader
  std::vector<std::string> keys;
  std::stringstream ss(o.key_path);
  for (std::string k; std::getline(ss, k, '.');) keys.push_back(k);
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    const YAML::Node& ccur = cur;
    const YAML::Node found = ccur[keys[i]];
    // A missing key is an invalid node (assigning to it throws): start anew.
    // An earlier --set may have given a flow map as text.
    const YAML::Node child =
        !found.IsDefined() || found.IsNull() ? YAML::Node(YAML::NodeType::Map) : structured(found);
    if (!child.IsMap()) {
      return makeError(ErrorCode::kInvalidArgument,
                       "--set " + o.key_path + ": \"" + keys[i] + "\" is not a map of settings");
    }
    cur[keys[i]] = child;
    const YAML::Node next = cur[keys[i]];
    cur.reset(next);
  }
  YAML::Node value(o.value);
  value.SetTag(kSetTag);
  cur[keys.back()] = value;
  return {};
}

}  // namespace lameduck::config::detail
