#pragma once

// The YAML reading toolkit of the config loader (private to src/config).
//
// Everything here reads through `const YAML::Node` (a missing key read
// through a non-const node throws a bare "bad conversion"), reports problems
// as ConfigIssues with the key path and the 1-based line and column, and
// never throws on its own: yaml-cpp may still throw on a broken tree, and
// the entry points in load.cpp contain that.
//
// Secrets: a key named token, password, secret or headers, and everything
// under a key named headers, is secret. For those paths no message carries
// the value (neither the text in the file nor what ${ENV} made of it): the
// toolkit builds its messages without it, and Issues::fail scrubs the raw
// text out of any message given for a secret path as a second guard.
//
// Not thread-safe: one Issues and its readers belong to one parse.

#include <yaml-cpp/yaml.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace lameduck::config::detail {

// True for a key path whose value must never be printed.
bool isSecretPath(std::string_view path);

// The tag --set gives its values: a plain string that the schema may still
// read as a flow list or map where it expects one (see structured()).
inline constexpr const char* kSetTag = "tag:lameduck,2026:set";

// Collects what is wrong, in any order; report() sorts by position.
class Issues {
 public:
  explicit Issues(std::string_view source) : source_(source) {}

  // Records `message` for `path` at `at`'s position (none for nodes made
  // from --set).
  void fail(const YAML::Node& at, const std::string& path, std::string message);
  void failNoPosition(const std::string& path, std::string message);

  bool ok() const { return issues_.empty(); }
  // One "source:line:col: key.path: message" per line, in line order.
  std::string report() const;

 private:
  std::string source_;
  std::vector<ConfigIssue> issues_;
};

// "a map", "a list", "null", the quoted scalar — or, for a secret path, "a
// string (value hidden)"; a --set text meant as a flow map or list that did
// not parse is not quoted when it names a secret key.
std::string describe(const YAML::Node& node, const std::string& path);

// A --set value given where a list or map is expected: parsed as flow YAML
// ("[8080, 9090]"), without positions (offsets in the --set text are no
// file positions: errors under it name the --set). Anything else, and a
// text that does not parse or nests deeper than a setting does, is returned
// as it is.
YAML::Node structured(const YAML::Node& node);

// The scalar text of `node` with ${ENV} expanded, or nullopt after reporting
// "expected <expected>, got ..." or the expansion error.
std::optional<std::string> scalar(Issues& issues, const YAML::Node& node, const std::string& path,
                                  std::string_view expected);

// Reads one value found at a key path.
using Reader = std::function<void(const YAML::Node&, const std::string&)>;

// Walks one YAML map, remembering which keys were read so that the rest can
// be reported as unknown (and duplicates as ambiguous).
class MapReader {
 public:
  MapReader(Issues& issues, const YAML::Node& node, std::string path);

  // Calls fn(value, path) when `key` is present and not null.
  void field(const std::string& key, const Reader& fn);
  // Reports unknown and duplicate keys; call after every field().
  void finish();

 private:
  std::string join(const std::string& key) const;

  Issues& issues_;
  const YAML::Node node_;
  std::string path_;
  std::vector<std::string> known_;
  bool valid_ = true;
};

enum class ZeroOk { kNo, kYes };

Reader str(Issues& issues, std::string& out, bool allow_empty = true);
Reader boolean(Issues& issues, bool& out);
Reader duration(Issues& issues, Duration& out, ZeroOk zero);
// A whole number from min to max; `expected` names it in messages ("a byte
// count": "expected a byte count, got a list", "invalid byte count ...").
Reader integer(Issues& issues, int64_t& out, int64_t min, int64_t max,
               std::string_view expected = "an integer");
Reader number(Issues& issues, double& out, double min, double max);
// A string checked by `check` (its error message is reported as it is).
Reader checked(Issues& issues, std::string& out, std::string_view expected,
               const std::function<Status(std::string_view)>& check);
// A list whose items are read by `item`; `clear` empties the default first.
Reader list(Issues& issues, Reader item, std::function<void()> clear);

template <typename E>
Reader choice(Issues& issues, E& out, std::vector<std::pair<std::string, E>> options) {
  return [&issues, &out, options](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, "one of the listed words");
    if (!v) return;
    std::string accepted;
    for (const auto& [name, value] : options) {
      if (*v == name) {
        out = value;
        return;
      }
      accepted += (accepted.empty() ? "" : ", ") + name;
    }
    issues.fail(n, path, "invalid value \"" + *v + "\"; expected one of: " + accepted);
  };
}

template <typename T>
Reader parsed(Issues& issues, T& out, std::function<Result<T>(std::string_view)> parse) {
  return [&issues, &out, parse](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, "a string");
    if (!v) return;
    auto value = parse(*v);
    if (!value) {
      issues.fail(n, path, value.error().message);
      return;
    }
    out = std::move(*value);
  };
}

// Like parsed(), but an empty value ("${UNSET}") leaves the setting unset.
template <typename T>
Reader optionalParsed(Issues& issues, std::optional<T>& out,
                      std::function<Result<T>(std::string_view)> parse) {
  return [&issues, &out, parse](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, "a string");
    if (!v) return;
    if (v->empty()) {
      out.reset();
      return;
    }
    auto value = parse(*v);
    if (!value) {
      issues.fail(n, path, value.error().message);
      return;
    }
    out = std::move(*value);
  };
}

}  // namespace lameduck::config::detail
