#pragma once

// The drain proof under load: a real load balancer (haproxy, or nginx) in
// front of two apps, a load generator with some slow requests, and app1's
// pod deleted under one of five exit schemes while the balancer only learns
// of the removal `propagation` later (as kube-proxy and ingress controllers
// do). The apps either speak lameduck's drain protocol (sample_app) or know
// nothing of it (plain_app: lameduck sees only their connections). Shared by
// the integration tests and the benchmark.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"

namespace lameduck::testing {

using namespace std::chrono_literals;

enum class ExitScheme {
  kLameduck,      // preStop httpGet /prestop, SIGTERM after it returned
  kBareSigterm,   // SIGTERM at once, no preStop
  kSleepPrestop,  // preStop: sleep `sleep`, then SIGTERM
  kFixedDrain,    // fixed minimum drain, then poll in-flight every second (mesh proxies)
  // lameduck with the connection-count rule it had before connection
  // activity: every established connection on app.ports counts (the /proc
  // reader, which has no timestamps), idle pooled ones included.
  kConnectionCount,
};

enum class Balancer {
  // haproxy, `http-reuse always`, no retries or redispatch; removal is `set
  // server be_app/app1 state maint` over the runtime API. Its pooled idle
  // connections to app1 stay open after the removal.
  kHaproxy,
  // nginx, upstream `keepalive`; removal is a config reload without app1,
  // which closes the old workers' pools. Clients close each connection to
  // nginx (`Connection: close`), so a reload never drops a client's idle
  // keep-alive connection under its next request.
  kNginx,
};

std::string schemeName(ExitScheme s);
std::string balancerName(Balancer b);

struct ScenarioOptions {
  ExitScheme scheme = ExitScheme::kLameduck;
  Duration propagation = 3s;  // deletion → haproxy stops routing to app1
  Duration sleep = 15s;       // kSleepPrestop
  Duration fixed_min = 5s;    // kFixedDrain
  Duration fixed_poll = 1s;   // kFixedDrain
  Duration warmup = 2s;       // load before the deletion
  Duration after = 1s;        // load after app1 is gone and removed
  Duration grace = 30s;       // terminationGracePeriodSeconds
  Duration quiet = 2s;        // lameduck's drain.quiet_period
  int clients = 8;
  int rate = 0;         // requests per second over all clients; 0 = as fast as they can
  int slow_every = 50;  // every Nth request of a client is slow
  int slow_ms = 200;
  // false: the apps have no drain hooks (plain_app) and lameduck only
  // tracks app1's port (app.ports, no app.base_url).
  bool hooks = true;
  Balancer balancer = Balancer::kHaproxy;
  // An idle keep-alive connection straight to app1 that made one request
  // before the deletion (a monitoring probe's), open until the end.
  bool probe = false;
  Duration max_wait = 20s;  // lameduck's drain.max_wait
};

struct ScenarioResult {
  bool ok = false;                          // the scenario itself ran (processes started, ...)
  std::string error;                        // why not
  int64_t total = 0;                        // requests sent through haproxy
  int64_t failed = 0;                       // not answered 200
  std::map<std::string, int64_t> failures;  // by kind ("HTTP 503", ...)
  double exit_ms = 0;                       // deletion → app1's process exited
  double removed_ms = 0;                    // deletion → haproxy stopped routing to app1
  // kLameduck only: when lameduck could ideally have let the app go, the
  // later of app1's last request finishing and its last new connection plus
  // the quiet period (under continuous load the last new connection is the
  // moment haproxy stops routing to app1); and the preStop hook's duration.
  double ideal_ms = 0;
  double prestop_ms = 0;
  std::string outcome;  // of lameduck's exit ("completed", "deadline", ...)
  std::string summary;  // lameduck's /prestop answer
};

ScenarioResult runScenario(const ScenarioOptions& options);

}  // namespace lameduck::testing
