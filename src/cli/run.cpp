// `lameduck run`: the sidecar daemon. Wires the real implementations
// together, serves the admin and metrics endpoints, and waits for a signal.

#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include "app/http_app_client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "common/log.h"
#include "common/version.h"
#include "coord/redis_backend.h"
#include "coord/registry.h"
#include "coord/steps.h"
#include "drain/connections.h"
#include "exit/app_steps.h"
#include "exit/engine.h"
#include "http/http.h"
#include "saga/handoff.h"
#include "saga/spool.h"
#include "server/endpoints.h"
#include "server/metrics.h"
#include "server/pushgateway.h"
#include "traffic/shift.h"

namespace lameduck::cli {
namespace {

int exitCode(exit::Outcome outcome) {
  switch (outcome) {
    case exit::Outcome::kCompleted:
      return kExitOk;
    case exit::Outcome::kDeadline:
      return kExitDeadline;
    default:
      return kExitFailed;
  }
}

void replaySpoolAtStart(const config::CompensationConfig& config, saga::Spool& spool,
                        server::Metrics& metrics) {
  auto contents = spool.read();
  if (!contents || (contents->records.empty() && contents->torn_lines == 0)) return;
  auto handed = saga::replaySpool(config, spool, &metrics);
  if (handed) {
    log::info("spooled compensations replayed into the stream",
              {{"count", *handed}, {"stream", config.stream}});
  } else {
    metrics.onFailure(saga::failureReason(handed.error()));
    log::warn("spool replay failed; the records stay in the spool",
              {{"error", handed.error().message}, {"spool", spool.path()}});
  }
}

// Polls until no socket listens on app.ports, or the deadline.
void waitForAppListenersGone(Clock& clock, drain::ConnectionSource& source, TimePoint deadline,
                             Duration poll) {
  const TimePoint started = clock.now();
  bool logged = false;
  std::string last;
  for (;;) {
    auto snap = source.read();
    if (snap && snap->listening == 0) {
      if (logged) {
        log::info("app listeners gone; stopping", {{"waited_ms", toMillis(clock.now() - started)}});
      }
      return;
    }
    // Unreadable tables count as "still there": stopping early is the risk.
    last =
        snap ? std::to_string(snap->listening) + " listener(s) on app.ports" : snap.error().message;
    if (!logged) {
      log::info("exit done; staying up until the app stops listening", {{"state", last}});
      logged = true;
    }
    if (clock.now() >= deadline) {
      log::warn("exit budget over while the app still listens; stopping anyway", {{"state", last}});
      return;
    }
    clock.sleepUntil(std::min(clock.now() + poll, deadline));
  }
}

}  // namespace

int run(const Args& args) {
  auto start = startService(args, "run");
  if (!start) return start.error();
  const config::Config& c = start->loaded.config;
  const sigset_t& signals = start->signals;
  const log::Identity& who = log::identity();

  Clock& clock = SystemClock::instance();
  server::Metrics metrics(kVersion, kCommit);
  std::unique_ptr<app::HttpAppClient> app;
  if (c.app.base_url) {
    app = std::make_unique<app::HttpAppClient>(
        c.app, clock, [&metrics](std::string_view hook, std::string_view code) {
          metrics.hookRequest(hook, code);
        });
  }
  std::unique_ptr<drain::ProcConnectionSource> connections;
  if (!c.app.ports.empty()) {
    connections = std::make_unique<drain::ProcConnectionSource>(c.drain.proc_root, c.app.ports,
                                                                http::ownClientPorts);
  }
  // Declared before the engine, so that the engine (and its exit thread)
  // is gone before the push it may start.
  std::unique_ptr<server::FinalPush> push;
  if (c.metrics.pushgateway.url) {
    push = std::make_unique<server::FinalPush>(
        c.metrics.pushgateway, server::podGrouping(c.metrics.pushgateway), metrics, clock);
    metrics.setExitDoneListener([p = push.get()] { p->start(); });
  }
  saga::Spool spool(c.compensation.spool);
  std::unique_ptr<exit::Step> handoff;
  if (app) {
    handoff = std::make_unique<saga::CompensationHandoffStep>(
        *app, c, saga::Origin{c.coordination.service, who.namespace_, who.pod, who.revision}, spool,
        metrics);
  }
  exit::ExitPlan plan = exit::makeAppPlan(c, app.get(), connections.get(), std::move(handoff));
  // The traffic shift runs first in Draining, before the app is told to drain.
  auto shift = traffic::makeShiftStep(c, app.get(), who.pod, who.namespace_, clock, metrics);
  if (!shift) {
    log::error("cannot start", {{"error", shift.error().message}});
    return kExitUsage;
  }
  if (*shift) plan.draining.insert(plan.draining.begin(), std::move(*shift));
  // Exit ordering comes before the traffic shift (DESIGN: Draining step 2,
  // with the exit slot first of all); the registry thread and the exit
  // thread each talk to Redis over a connection of their own.
  const coord::Settings coordination = coord::Settings::from(c, instanceName());
  std::unique_ptr<coord::Registry> registry;
  std::unique_ptr<coord::Backend> coord_backend;
  std::unique_ptr<coord::ExitCoordination> exit_coordination;
  if (coordination.enabled()) {
    registry = std::make_unique<coord::Registry>(
        clock, std::make_unique<coord::RedisBackend>(c.compensation.redis), coordination, metrics);
    coord_backend = std::make_unique<coord::RedisBackend>(c.compensation.redis);
    exit_coordination = std::make_unique<coord::ExitCoordination>(*coord_backend, coordination,
                                                                  metrics, registry.get());
    coord::prependSteps(plan, *exit_coordination);
    registry->start();
  }
  std::vector<exit::ExitObserver*> observer_list{&metrics};
  if (registry) observer_list.push_back(registry.get());
  exit::ObserverList observers(std::move(observer_list));
  exit::ExitEngine engine(clock, c.exit, std::move(plan), observers);
  // Whatever an earlier run spooled goes to the stream now, in the
  // background so that a slow Redis cannot delay readiness. A jthread joins
  // on every way out of this function, early returns included.
  std::jthread replay;
  if (c.compensation.redis.address) {
    replay = std::jthread(
        [&c, &spool, &metrics] { replaySpoolAtStart(c.compensation, spool, metrics); });
  } else if (auto contents = spool.read(); contents && !contents->records.empty()) {
    metrics.onSpoolSize(static_cast<int64_t>(contents->records.size()));
  }

  // A hook caller waits at most the exit budget plus the reserve (which
  // compensation may use past an overrun) and a little slack.
  const Duration prestop_wait =
      c.exit.budget() + c.exit.compensation_reserve + std::chrono::seconds(5);
  server::AdminServer admin(c.admin, engine, metrics, prestop_wait);
  server::MetricsServer metrics_server(c.metrics, metrics);
  if (auto port = admin.start(); !port) {
    log::error("cannot start", {{"error", port.error().message}});
    return kExitFailed;
  }
  if (auto port = metrics_server.start(); !port) {
    log::error("cannot start", {{"error", port.error().message}});
    return kExitFailed;
  }
  log::info("lameduck started",
            {{"version", kVersion},
             {"commit", kCommit},
             {"config", start->loaded.options.file.value_or("<embedded defaults>")},
             {"app", c.app.base_url ? c.app.base_url->origin() + c.app.base_url->path : "none"},
             {"exit_budget_ms", toMillis(c.exit.budget())},
             {"coordination", coordination.enabled() ? coordination.service + "/" + coordination.pod
                                                     : std::string("off")}});

  siginfo_t info{};
  int sig = -1;
  while (sig < 0) {
    sig = sigwaitinfo(&signals, &info);
    if (sig < 0 && errno != EINTR) {
      log::error("waiting for signals failed", {{"error", std::strerror(errno)}});
      sig = SIGTERM;  // proceed with an orderly exit rather than spin
    }
  }
  const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
  log::info("signal received",
            {{"signal", name}, {"sender_pid", static_cast<int64_t>(info.si_pid)}});
  engine.trigger(name);
  exit::Summary summary = engine.await();
  if (connections) {
    // The sidecar never dies before the app: in a classic pod both get
    // SIGTERM, and an app still serving needs the sidecar until it is done.
    const TimePoint deadline = *engine.startedAt() + c.exit.budget();
    waitForAppListenersGone(clock, *connections, deadline, c.drain.poll_interval);
  }
  // The final metrics reach the Pushgateway before the process leaves (the
  // push is bounded by metrics.pushgateway.timeout).
  if (push) (void)push->wait();

  // The last registration (Terminated) and the slot release are written
  // before the process goes.
  if (registry) registry->stop();
  admin.stop();
  metrics_server.stop();
  const int code = exitCode(summary.outcome);
  log::info("lameduck stopped",
            {{"outcome", exit::outcomeName(summary.outcome)}, {"exit_code", code}});
  return code;
}

}  // namespace lameduck::cli
