#include "server/endpoints.h"

#include "common/log.h"

namespace lameduck::server {
namespace {

constexpr const char* kJson = "application/json";

// The paths admin.token and admin.allow_cidrs protect.
bool isGuarded(const std::string& path) { return path == "/prestop" || path == "/status"; }

// Idle keep-alive and slowloris connections cost a descriptor, never a
// worker (see http::ServerOptions): /healthz and /readyz keep answering in
// well under the kubelet's 1 s probe timeout with thousands of them open.
// Memory for requests is bounded by max_buffered_bytes however many
// connections send large bodies slowly.
http::ServerOptions adminOptions() {
  http::ServerOptions o;
  o.threads = 2;         // /healthz, /readyz, /status: microseconds each
  o.slow_threads = 128;  // /prestop callers, each blocked for the whole exit
  o.keep_alive = std::chrono::seconds(2);
  o.read_timeout = std::chrono::seconds(5);
  o.write_timeout = std::chrono::seconds(5);
  o.max_body_bytes = 64 * 1024;
  o.max_connections = 4096;
  o.max_buffered_bytes = kAdminBufferBudget;
  return o;
}

http::ServerOptions metricsOptions() {
  http::ServerOptions o;
  o.threads = 2;
  o.slow_threads = 1;
  o.keep_alive = std::chrono::seconds(2);
  o.read_timeout = std::chrono::seconds(5);
  o.write_timeout = std::chrono::seconds(5);
  o.max_body_bytes = 4 * 1024;
  o.max_connections = 1024;
  o.max_buffered_bytes = 1 << 20;
  return o;
}

}  // namespace

AdminServer::AdminServer(const config::AdminConfig& config, exit::ExitEngine& engine,
                         Metrics& metrics, Duration prestop_wait)
    : config_(config),
      access_(config),
      engine_(engine),
      metrics_(metrics),
      prestop_wait_(prestop_wait),
      server_([this] {
        http::ServerOptions o = adminOptions();
        // A source outside admin.allow_cidrs is sorted out when it connects:
        // it may only send small bodiless requests (the probes stay open).
        o.trusted_peer = [this](const std::string& peer) { return access_.sourceAllowed(peer); };
        // The token and the source are checked once the head has arrived,
        // before a body is read.
        o.screen = [this](const http::Request& head) -> std::optional<http::Response> {
          if (!isGuarded(head.path)) return std::nullopt;
          return refusal(head);
        };
        o.on_shed = [this](std::string_view reason) { metrics_.adminShed(reason); };
        return o;
      }()) {
  auto prestop = [this](const http::Request& req) {
    return guarded(req, [this](const http::Request& r) {
      log::info("preStop hook called", {{"remote_addr", r.remote_addr}, {"method", r.method}});
      // A caller that traces its call makes the exit part of its trace.
      engine_.trigger("prestop", r.header("traceparent"));
      if (auto summary = engine_.awaitFor(prestop_wait_)) {
        http::Response res{200, exit::toJson(*summary) + "\n", kJson};
        // A hook call is one request; an idle keep-alive connection would
        // only hold a worker and delay the sidecar's own stop.
        res.headers.emplace("Connection", "close");
        return res;
      }
      log::warn("preStop answer timed out before the exit ended",
                {{"waited_ms", toMillis(prestop_wait_)}});
      return http::Response{503, exit::toJson(engine_.snapshot()) + "\n", kJson};
    });
  };
  // /prestop blocks until the exit ends: its own lane, so a hundred hook
  // callers never delay /healthz.
  server_.route("GET", "/prestop", prestop, http::Lane::kSlow);
  server_.route("POST", "/prestop", prestop, http::Lane::kSlow);
  server_.route("GET", "/status", [this](const http::Request& req) {
    return guarded(req, [this](const http::Request&) {
      return http::Response{200, exit::toJson(engine_.snapshot()) + "\n", kJson};
    });
  });
  server_.route("GET", "/healthz", [](const http::Request&) {
    return http::Response{200, "ok\n"};
  });
  server_.route("GET", "/readyz", [this](const http::Request&) {
    exit::State s = engine_.state();
    if (s == exit::State::kReady) return http::Response{200, "ready\n"};
    return http::Response{503, std::string(exit::stateName(s)) + "\n"};
  });
}

AdminServer::~AdminServer() { stop(); }

http::Response AdminServer::guarded(
    const http::Request& req, const std::function<http::Response(const http::Request&)>& handler) {
  // The screen refused the request already if it had to; checked again here
  // so that a handler never depends on it.
  if (auto refused = refusal(req)) return *refused;
  return handler(req);
}

std::optional<http::Response> AdminServer::refusal(const http::Request& req) {
  switch (access_.check(req.remote_addr, req.header("Authorization"))) {
    case Access::kAllowed:
      return std::nullopt;
    case Access::kSourceDenied:
      metrics_.adminDenied("source");
      log::warn("admin request refused: source address not in admin.allow_cidrs",
                {{"path", req.path}, {"remote_addr", req.remote_addr}});
      return http::Response{403, "forbidden: source address not allowed\n"};
    case Access::kNoToken:
    case Access::kBadToken: {
      metrics_.adminDenied("token");
      log::warn("admin request refused: missing or wrong bearer token",
                {{"path", req.path}, {"remote_addr", req.remote_addr}});
      http::Response res{401, "unauthorized: a valid bearer token is required\n"};
      res.headers.emplace("WWW-Authenticate", "Bearer realm=\"lameduck\"");
      return res;
    }
  }
  return http::Response{500, "internal error\n"};
}

Result<int> AdminServer::start() {
  auto port = server_.bind(config_.listen);
  if (!port) {
    return makeError(port.error().code, "admin.listen: " + port.error().message);
  }
  if (auto ok = server_.start(); !ok) return std::unexpected(ok.error());
  log::info("listening", {{"server", "admin"}, {"address", config_.listen.host}, {"port", *port}});
  return port;
}

void AdminServer::stop() { server_.stop(); }

MetricsServer::MetricsServer(const config::MetricsConfig& config, Metrics& metrics)
    : MetricsServer(config.listen, "metrics.listen", [&metrics] { return metrics.render(); }) {}

MetricsServer::MetricsServer(const HostPort& listen, std::string key_path,
                             std::function<std::string()> render)
    : listen_(listen),
      key_path_(std::move(key_path)),
      render_(std::move(render)),
      server_(metricsOptions()) {
  server_.route("GET", "/metrics", [this](const http::Request&) {
    return http::Response{200, render_(), "text/plain; version=0.0.4; charset=utf-8"};
  });
}

MetricsServer::~MetricsServer() { stop(); }

Result<int> MetricsServer::start() {
  auto port = server_.bind(listen_);
  if (!port) return makeError(port.error().code, key_path_ + ": " + port.error().message);
  if (auto ok = server_.start(); !ok) return std::unexpected(ok.error());
  log::info("listening", {{"server", "metrics"}, {"address", listen_.host}, {"port", *port}});
  return port;
}

void MetricsServer::stop() { server_.stop(); }

}  // namespace lameduck::server
