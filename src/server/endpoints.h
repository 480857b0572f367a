#pragma once

// The admin endpoints (/prestop, /healthz, /readyz, /status) and the metrics
// endpoint (/metrics), each on its own listener. The engine and the metrics
// are borrowed and must outlive the servers; start() and stop() are called
// from one thread; the handlers run on the servers' own threads and only
// use thread-safe calls (engine snapshots and triggers, metric updates).

#include <memory>
#include <optional>

#include "config/config.h"
#include "exit/engine.h"
#include "http/http.h"
#include "server/access.h"
#include "server/metrics.h"

namespace lameduck::server {

// /prestop starts the exit (or joins the running one) and answers once the
// exit reached Terminated: 200 with the summary as JSON. If the exit is still
// running after `prestop_wait` it answers 503 with the current record, so a
// hook call can never hang forever. /status answers the record at any time;
// /readyz is 503 from Draining on; /healthz is 200 while the process serves.
// At most this many request bytes are held across all admin connections.
inline constexpr size_t kAdminBufferBudget = 4 << 20;

class AdminServer {
 public:
  AdminServer(const config::AdminConfig& config, exit::ExitEngine& engine, Metrics& metrics,
              Duration prestop_wait);
  ~AdminServer();

  // Binds and serves in the background; returns the bound port. Fails as
  // http::Server::bind does (kUnavailable: port in use, ...), the message
  // prefixed with "admin.listen: ".
  Result<int> start();
  void stop();  // idempotent; waits for handlers in flight
  // The port's own accounting (bytes held, connections shed); any thread.
  http::ServerStats stats() const { return server_.stats(); }

 private:
  http::Response guarded(const http::Request& req,
                         const std::function<http::Response(const http::Request&)>& handler);
  // The refusal (counted and logged) when the request's source or token is
  // not allowed; nullopt when it is.
  std::optional<http::Response> refusal(const http::Request& req);

  config::AdminConfig config_;
  AccessPolicy access_;
  exit::ExitEngine& engine_;
  Metrics& metrics_;
  Duration prestop_wait_;
  http::Server server_;
};

class MetricsServer {
 public:
  MetricsServer(const config::MetricsConfig& config, Metrics& metrics);
  // Serves `render()` on `listen` (the compensator's own metrics);
  // `key_path` names the config key in errors.
  MetricsServer(const HostPort& listen, std::string key_path, std::function<std::string()> render);
  ~MetricsServer();
  // As AdminServer::start, the message prefixed with the config key.
  Result<int> start();
  void stop();  // idempotent

 private:
  HostPort listen_;
  std::string key_path_;
  std::function<std::string()> render_;
  http::Server server_;
};

}  // namespace lameduck::server
