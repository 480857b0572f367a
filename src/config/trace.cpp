// trace: {otlp: {endpoint, timeout, headers}}. Self-contained: it does its own
// key checking and ${ENV} expansion so that it does not depend on how the
// rest of the loader is organised.

#include "config/trace.h"

#include <cctype>
#include <set>
#include <string_view>

#include "config/yaml_reader.h"

namespace lameduck::config {
namespace {

class Reader {
 public:
  explicit Reader(std::vector<SectionFailure>& failures) : failures_(failures) {}

  void fail(const YAML::Node& at, const std::string& path, std::string message) {
    failures_.push_back({at, path, std::move(message)});
  }

  // True when `node` is a map whose keys are all in `known` (each once);
  // reports the others.
  bool map(const YAML::Node& node, const std::string& path,
           std::initializer_list<std::string_view> known) {
    if (!node.IsMap()) {
      fail(node, path, "expected a map of settings, got " + detail::describe(node, path));
      return false;
    }
    std::string accepted;
    for (std::string_view k : known) accepted += (accepted.empty() ? "" : ", ") + std::string(k);
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const std::string name = key.IsScalar() ? key.Scalar() : detail::describe(key, path);
      if (!seen.insert(name).second) {
        fail(key, path + "." + name, "duplicate key \"" + name + "\"; each key may appear once");
        continue;
      }
      bool ok = false;
      for (std::string_view k : known) ok = ok || k == name;
      if (!ok) {
        fail(key, path + "." + name,
             "unknown key \"" + name + "\"; accepted keys here: " + accepted);
      }
    }
    return true;
  }

  // The expanded scalar, or nullopt after reporting. `secret`: the value is
  // never put into a message.
  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path,
                                    std::string_view expected, bool secret = false) {
    if (!node.IsScalar()) {
      fail(node, path,
           "expected " + std::string(expected) + ", got " + detail::describe(node, path));
      return std::nullopt;
    }
    auto expanded = expandEnv(node.Scalar());
    if (!expanded) {
      fail(node, path,
           secret ? "invalid ${...} reference in the value (not shown: header values are "
                    "secret); expected ${NAME} or ${NAME:-default}, and $$ for a literal $"
                  : expanded.error().message);
      return std::nullopt;
    }
    return *expanded;
  }

 private:
  std::vector<SectionFailure>& failures_;
};

// An HTTP header name: an RFC 9110 token.
bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

void readOtlp(Reader& r, const YAML::Node& node, const std::string& path, OtlpConfig& out) {
  if (!r.map(node, path, {"endpoint", "timeout", "headers"})) return;

  if (const YAML::Node n = node["endpoint"]; n.IsDefined() && !n.IsNull()) {
    const std::string p = path + ".endpoint";
    if (auto v = r.scalar(n, p, "a URL like http://otel-collector:4318")) {
      if (v->empty()) {  // "${UNSET}": not configured
        out.endpoint.reset();
      } else if (auto url = parseHttpUrl(*v); !url) {
        r.fail(n, p, url.error().message);
      } else if (url->path.ends_with("/v1/traces")) {
        r.fail(n, p,
               "\"" + *v +
                   "\" ends in /v1/traces; give the collector's base URL (e.g. "
                   "http://otel-collector:4318): lameduck appends /v1/traces itself");
      } else {
        out.endpoint = *url;
      }
    }
  }

  if (const YAML::Node n = node["timeout"]; n.IsDefined() && !n.IsNull()) {
    const std::string p = path + ".timeout";
    if (auto v = r.scalar(n, p, "a duration like 500ms or 2s")) {
      auto d = parseDuration(*v);
      if (!d) {
        r.fail(n, p, d.error().message);
      } else if (*d <= Duration::zero()) {
        r.fail(n, p, "invalid duration \"" + *v + "\": must be greater than zero");
      } else {
        out.timeout = *d;
      }
    }
  }

  if (const YAML::Node n = node["headers"]; n.IsDefined() && !n.IsNull()) {
    const std::string p = path + ".headers";
    if (!n.IsMap()) {
      r.fail(n, p,
             "expected a map of header name to value (e.g. authorization: \"Bearer "
             "${OTLP_TOKEN}\"), got " +
                 std::string(n.IsScalar() ? "a single value" : detail::describe(n, path)));
      return;
    }
    out.headers.clear();
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const std::string name = key.IsScalar() ? key.Scalar() : "";
      const std::string hp = p + "." + name;
      if (!isToken(name)) {
        r.fail(key, hp,
               "invalid header name \"" + name +
                   "\"; use letters, digits and !#$%&'*+-.^_`|~ (e.g. authorization)");
        continue;
      }
      std::string lower;
      for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!seen.insert(lower).second) {
        r.fail(key, hp, "header \"" + name + "\" given twice (names are case-insensitive)");
        continue;
      }
      if (lower == "content-type" || lower == "content-length" || lower == "host") {
        r.fail(key, hp, "header \"" + name + "\" is set by lameduck itself; remove it");
        continue;
      }
      auto v = r.scalar(value, hp, "a header value", true);
      if (!v) continue;
      if (v->empty()) {
        r.fail(value, hp,
               "the value of header \"" + name +
                   "\" is empty (is the variable it names set?); remove the header or give it a "
                   "value");
        continue;
      }
      if (v->find_first_of("\r\n") != std::string::npos || v->find('\0') != std::string::npos) {
        r.fail(value, hp,
               "the value of header \"" + name +
                   "\" contains a line break or NUL (value not shown: header values are secret)");
        continue;
      }
      out.headers.emplace_back(name, *v);
    }
  }
}

}  // namespace

std::vector<SectionFailure> readTrace(const YAML::Node& node, const std::string& path,
                                      TraceConfig& out) {
  std::vector<SectionFailure> failures;
  Reader r(failures);
  try {
    if (!r.map(node, path, {"otlp"})) return failures;
    if (const YAML::Node n = node["otlp"]; n.IsDefined() && !n.IsNull()) {
      readOtlp(r, n, path + ".otlp", out.otlp);
    }
  } catch (const YAML::Exception& e) {
    failures.push_back({node, path, std::string("cannot read the section: ") + e.what()});
  }
  return failures;
}

}  // namespace lameduck::config
