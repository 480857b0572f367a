// The coordination section: exit ordering between services.

#include <cctype>

#include "config/sections.h"

namespace lameduck::config::detail {
namespace {

// A service name of exit ordering: it becomes part of Redis keys (inside a
// {hash tag}) and of comma-separated lists, so only a plain set of
// characters is accepted.
Reader serviceName(Issues& issues, std::string& out, bool allow_empty) {
  return [&issues, &out, allow_empty](const YAML::Node& n, const std::string& path) {
    std::string v;
    str(issues, v, allow_empty)(n, path);
    for (char ch : v) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) &&
          std::string_view("-_.:/").find(ch) == std::string_view::npos) {
        issues.fail(n, path,
                    "invalid service name \"" + v + "\": use letters, digits and - _ . : / only");
        return;
      }
    }
    out = v;
  };
}

}  // namespace

void readCoordination(Issues& issues, const YAML::Node& node, const std::string& path,
                      CoordinationConfig& out) {
  MapReader m(issues, node, path);
  m.field("service", serviceName(issues, out.service, true));
  m.field("wait_for", list(
                          issues,
                          [&](const YAML::Node& item, const std::string& ip) {
                            std::string name;
                            serviceName(issues, name, false)(item, ip);
                            if (!name.empty()) out.wait_for.push_back(name);
                          },
                          [&] { out.wait_for.clear(); }));
  m.field("max_concurrent_exits", integer(issues, out.max_concurrent_exits, 0, 1'000'000));
  m.field("heartbeat", duration(issues, out.heartbeat, ZeroOk::kNo));
  m.finish();
}

}  // namespace lameduck::config::detail
