// The app section: the drain-protocol hooks, the ports whose
// connections are tracked, and the goroutine diagnostics (app.diagnostics).

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

// The smallest dump worth fetching (a few goroutines) and the largest that
// is sane to hold in memory during an exit.
constexpr int64_t kMinDumpBytes = 4096;
constexpr int64_t kMaxDumpBytes = int64_t{1} << 30;

void readGoroutinesUrl(Issues& issues, const YAML::Node& n, const std::string& path,
                       std::optional<HttpUrl>& out) {
  auto v = scalar(issues, n, path, "a URL");
  if (!v) return;
  if (v->empty()) {  // "${UNSET}": not configured
    out.reset();
    return;
  }
  // The query (?debug=2) is part of the request target; parseHttpUrl takes
  // none, so it is split off and put back on the path.
  const size_t q = v->find('?');
  const std::string query = q == std::string::npos ? "" : v->substr(q);
  auto url = query.find('#') != std::string::npos
                 ? parseHttpUrl(*v)  // refused with its own message
                 : parseHttpUrl(std::string_view(*v).substr(0, q));
  if (!url) {
    issues.fail(n, path,
                url.error().message + "; e.g. http://127.0.0.1:6060/debug/pprof/goroutine?debug=2");
    return;
  }
  url->path += query;
  if (url->path.find("debug=1") != std::string::npos ||
      url->path.find("debug=0") != std::string::npos) {
    issues.fail(n, path, "\"" + *v + "\" asks for a dump without wait reasons; use ?debug=2");
    return;
  }
  out = std::move(*url);
}

void readDiagnostics(Issues& issues, const YAML::Node& node, const std::string& path,
                     DiagnosticsConfig& out) {
  MapReader d(issues, node, path);
  d.field("goroutines", [&](const YAML::Node& n, const std::string& p) {
    readGoroutinesUrl(issues, n, p, out.goroutines);
  });
  d.field("max_bytes",
          integer(issues, out.max_bytes, kMinDumpBytes, kMaxDumpBytes, "a byte count"));
  d.field("after_sigterm", duration(issues, out.after_sigterm, ZeroOk::kNo));
  d.finish();
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
  m.field("diagnostics", section(issues, readDiagnostics, out.diagnostics));
  m.finish();
}

}  // namespace lameduck::config::detail
