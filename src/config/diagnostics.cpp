#include "config/diagnostics.h"

#include <yaml-cpp/yaml.h>

#include <set>

namespace lameduck::config {
namespace {

// The smallest dump worth fetching (a few goroutines) and the largest that
// is sane to hold in memory during an exit.
constexpr int64_t kMinDumpBytes = 4096;
constexpr int64_t kMaxDumpBytes = int64_t{1} << 30;

std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return "\"" + node.Scalar() + "\"";
  return "null";
}

}  // namespace

void readDiagnostics(const YAML::Node& node, const std::string& path, DiagnosticsConfig& out,
                     const FailAt& fail) {
  try {
    if (!node.IsMap()) {
      fail(node, path,
           "expected a map of settings (goroutines, max_bytes, after_sigterm), got " +
               describe(node));
      return;
    }
    // The value of a scalar key with ${ENV} expanded, or nullopt after reporting.
    auto text = [&](const YAML::Node& v, const std::string& key,
                    std::string_view expected) -> std::optional<std::string> {
      if (!v.IsScalar()) {
        fail(v, key, "expected " + std::string(expected) + ", got " + describe(v));
        return std::nullopt;
      }
      auto expanded = expandEnv(v.Scalar());
      if (!expanded) {
        fail(v, key, expanded.error().message);
        return std::nullopt;
      }
      return *expanded;
    };

    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key_node = it->first;
      const YAML::Node value = it->second;
      const std::string name = key_node.IsScalar() ? key_node.Scalar() : describe(key_node);
      const std::string key = path + "." + name;
      if (!seen.insert(name).second) {
        fail(key_node, key, "duplicate key \"" + name + "\"; each key may appear once");
        continue;
      }
      if (name != "goroutines" && name != "max_bytes" && name != "after_sigterm") {
        fail(key_node, key,
             "unknown key \"" + name +
                 "\"; accepted keys here: goroutines, max_bytes, "
                 "after_sigterm");
        continue;
      }
      if (value.IsNull()) continue;
      auto v = text(value, key,
                    name == "goroutines"  ? "a URL"
                    : name == "max_bytes" ? "a byte count"
                                          : "a duration like 5s");
      if (!v) continue;
      if (name == "goroutines") {
        if (v->empty()) {  // "${UNSET}" → not configured
          out.goroutines.reset();
          continue;
        }
        // The query (?debug=2) is part of the request target; parseHttpUrl
        // takes none, so it is split off and put back on the path.
        const size_t q = v->find('?');
        const std::string query = q == std::string::npos ? "" : v->substr(q);
        auto url = query.find('#') != std::string::npos
                       ? parseHttpUrl(*v)  // refused with its own message
                       : parseHttpUrl(std::string_view(*v).substr(0, q));
        if (url) url->path += query;
        if (!url) {
          fail(value, key,
               url.error().message + "; e.g. http://127.0.0.1:6060/debug/pprof/goroutine?debug=2");
          continue;
        }
        if (url->path.find("debug=1") != std::string::npos ||
            url->path.find("debug=0") != std::string::npos) {
          fail(value, key, "\"" + *v + "\" asks for a dump without wait reasons; use ?debug=2");
          continue;
        }
        out.goroutines = std::move(*url);
      } else if (name == "max_bytes") {
        const std::optional<int64_t> bytes = parseWholeInt64(*v);
        if (!bytes || *bytes < kMinDumpBytes || *bytes > kMaxDumpBytes) {
          fail(value, key,
               "invalid byte count \"" + *v + "\"; expected a whole number from " +
                   std::to_string(kMinDumpBytes) + " to " + std::to_string(kMaxDumpBytes));
          continue;
        }
        out.max_bytes = *bytes;
      } else {
        auto d = parseDuration(*v);
        if (!d) {
          fail(value, key, d.error().message);
          continue;
        }
        if (*d <= Duration::zero()) {
          fail(value, key, "invalid duration \"" + *v + "\": must be greater than zero");
          continue;
        }
        out.after_sigterm = *d;
      }
    }
  } catch (const std::exception& e) {  // yaml-cpp throws on malformed trees
    fail(node, path, std::string("cannot read: ") + e.what());
  }
}

}  // namespace lameduck::config
