// The trace section: trace.otlp.{endpoint, timeout, headers}. Header values
// are secrets (everything under a key named headers is): no message carries
// them.

#include <cctype>
#include <set>
#include <string_view>

#include "config/sections.h"

namespace lameduck::config::detail {
namespace {

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

void readEndpoint(Issues& issues, const YAML::Node& n, const std::string& path,
                  std::optional<HttpUrl>& out) {
  auto v = scalar(issues, n, path, "a URL like http://otel-collector:4318");
  if (!v) return;
  if (v->empty()) {  // "${UNSET}": not configured
    out.reset();
    return;
  }
  auto url = parseHttpUrl(*v);
  if (!url) {
    issues.fail(n, path, url.error().message);
  } else if (url->path.ends_with("/v1/traces")) {
    issues.fail(n, path,
                "\"" + *v +
                    "\" ends in /v1/traces; give the collector's base URL (e.g. "
                    "http://otel-collector:4318): lameduck appends /v1/traces itself");
  } else {
    out = *url;
  }
}

using Headers = std::vector<std::pair<std::string, std::string>>;

void readHeaders(Issues& issues, const YAML::Node& given, const std::string& path, Headers& out) {
  const YAML::Node n = structured(given);
  if (!n.IsMap()) {
    issues.fail(n, path,
                "expected a map of header name to value (e.g. authorization: \"Bearer "
                "${OTLP_TOKEN}\"), got " +
                    std::string(n.IsScalar() ? "a single value" : describe(n, path)));
    return;
  }
  out.clear();
  std::set<std::string> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const std::string name = key.IsScalar() ? key.Scalar() : "";
    const std::string hp = path + "." + name;
    if (!isToken(name)) {
      issues.fail(key, hp,
                  "invalid header name \"" + name +
                      "\"; use letters, digits and !#$%&'*+-.^_`|~ (e.g. authorization)");
      continue;
    }
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!seen.insert(lower).second) {
      issues.fail(key, hp, "header \"" + name + "\" given twice (names are case-insensitive)");
      continue;
    }
    if (lower == "content-type" || lower == "content-length" || lower == "host") {
      issues.fail(key, hp, "header \"" + name + "\" is set by lameduck itself; remove it");
      continue;
    }
    auto v = scalar(issues, value, hp, "a header value");
    if (!v) continue;
    if (v->empty()) {
      issues.fail(value, hp,
                  "the value of header \"" + name +
                      "\" is empty (is the variable it names set?); remove the header or give "
                      "it a value");
      continue;
    }
    if (v->find_first_of("\r\n") != std::string::npos || v->find('\0') != std::string::npos) {
      issues.fail(value, hp,
                  "the value of header \"" + name +
                      "\" contains a line break or NUL (value not shown: header values are "
                      "secret)");
      continue;
    }
    out.emplace_back(name, *v);
  }
}

void readOtlp(Issues& issues, const YAML::Node& node, const std::string& path, OtlpConfig& out) {
  MapReader m(issues, node, path);
  m.field("endpoint", [&](const YAML::Node& n, const std::string& p) {
    readEndpoint(issues, n, p, out.endpoint);
  });
  m.field("timeout", duration(issues, out.timeout, ZeroOk::kNo));
  m.field("headers", [&](const YAML::Node& n, const std::string& p) {
    readHeaders(issues, n, p, out.headers);
  });
  m.finish();
}

}  // namespace

void readTrace(Issues& issues, const YAML::Node& node, const std::string& path,
               TraceConfig& out) {
  MapReader m(issues, node, path);
  m.field("otlp", section(issues, readOtlp, out.otlp));
  m.finish();
}

}  // namespace lameduck::config::detail
