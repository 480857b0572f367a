// The app section: the drain-protocol hooks, the ports whose
// connections are tracked, and the goroutine diagnostics (diagnostics.cpp).

#include "config/diagnostics.h"
#include "config/sections.h"

namespace lameduck::config::detail {
namespace {

Status checkHookPath(std::string_view text) {
  if (!text.empty() && text.front() == '/' &&
      text.find_first_of(" \t\r\n") == std::string_view::npos)
    return {};
  return makeError(ErrorCode::kInvalidArgument,
                   "invalid path \"" + std::string(text) +
                       "\"; expected an absolute URL path like /lameduck/drain");
}

void readHooks(Issues& issues, const YAML::Node& node, const std::string& path, HooksConfig& out) {
  MapReader h(issues, node, path);
  h.field("drain", checked(issues, out.drain, "a URL path", checkHookPath));
  h.field("status", checked(issues, out.status, "a URL path", checkHookPath));
  h.field("compensations", checked(issues, out.compensations, "a URL path", checkHookPath));
  h.field("ack", checked(issues, out.ack, "a URL path", checkHookPath));
  h.field("terminate", checked(issues, out.terminate, "a URL path", checkHookPath));
  h.finish();
}

}  // namespace

void readApp(Issues& issues, const YAML::Node& node, const std::string& path, AppConfig& out) {
  MapReader m(issues, node, path);
  m.field("base_url", optionalParsed<HttpUrl>(issues, out.base_url, parseHttpUrl));
  m.field("hooks", section(issues, readHooks, out.hooks));
  m.field("timeout", duration(issues, out.timeout, ZeroOk::kNo));
  m.field("max_response_bytes", integer(issues, out.max_response_bytes, 1024, 1LL << 30));
  m.field("ports", list(
                       issues,
                       [&](const YAML::Node& item, const std::string& ip) {
                         int64_t port = -1;
                         integer(issues, port, 1, 65535)(item, ip);
                         if (port > 0) out.ports.push_back(static_cast<uint16_t>(port));
                       },
                       [&] { out.ports.clear(); }));
  m.field("diagnostics", [&](const YAML::Node& n, const std::string& p) {
    readDiagnostics(n, p, out.diagnostics, [&](auto& at, auto& kp, std::string msg) {
      issues.fail(at, kp, std::move(msg));
    });
  });
  m.finish();
}

}  // namespace lameduck::config::detail
