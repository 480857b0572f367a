// The compensator section: the consumer side of the compensation stream.

#include "config/sections.h"

namespace lameduck::config::detail {
namespace {

// Placeholders ({{id}}, ...) are filled per entry; the rest must be a valid URL.
Status checkActionUrl(std::string_view text) {
  std::string probe(text);
  for (size_t at; (at = probe.find("{{")) != std::string::npos;) {
    const size_t end = probe.find("}}", at);
    if (end == std::string::npos) break;
    probe.replace(at, end + 2 - at, "x");
  }
  if (auto url = parseHttpUrl(probe); !url) return std::unexpected(url.error());
  return {};
}

ActionConfig readAction(Issues& issues, const YAML::Node& node, const std::string& path) {
  ActionConfig action;
  MapReader a(issues, node, path);
  a.field("url", checked(issues, action.url, "a URL template", checkActionUrl));
  a.field("method", choice<std::string>(issues, action.method,
                                        {{"POST", "POST"},
                                         {"PUT", "PUT"},
                                         {"PATCH", "PATCH"},
                                         {"DELETE", "DELETE"},
                                         {"GET", "GET"}}));
  a.field("timeout", duration(issues, action.timeout, ZeroOk::kNo));
  a.finish();
  if (action.url.empty()) {
    issues.fail(node, path + ".url", "required: the endpoint that applies this action");
  }
  return action;
}

void readActions(Issues& issues, const YAML::Node& given, const std::string& path,
                 std::map<std::string, ActionConfig>& out) {
  const YAML::Node node = structured(given);
  if (!node.IsMap()) {
    issues.fail(
        node, path,
        "expected a map of action name to {url, method, timeout}, got " + describe(node, path));
    return;
  }
  out.clear();
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
    out[name] = readAction(issues, it->second, path + "." + name);
  }
}

}  // namespace

void readCompensator(Issues& issues, const YAML::Node& node, const std::string& path,
                     CompensatorConfig& out) {
  MapReader m(issues, node, path);
  m.field("group", str(issues, out.group, false));
  m.field("consumer", str(issues, out.consumer));
  m.field("max_attempts", integer(issues, out.max_attempts, 1, 1000));
  m.field("backoff", duration(issues, out.backoff, ZeroOk::kYes));
  m.field("max_backoff", duration(issues, out.max_backoff, ZeroOk::kYes));
  m.field("claim_idle", duration(issues, out.claim_idle, ZeroOk::kNo));
  m.field("batch", integer(issues, out.batch, 1, 10'000));
  m.field("listen", parsed<HostPort>(issues, out.listen, parseHostPort));
  m.field("actions", section(issues, readActions, out.actions));
  m.finish();
}

}  // namespace lameduck::config::detail
