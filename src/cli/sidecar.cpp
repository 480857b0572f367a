#include "cli/sidecar.h"

#include "app/steps.h"
#include "cli/options.h"
#include "common/log.h"
#include "common/version.h"
#include "coord/redis_backend.h"
#include "drain/wait_step.h"
#include "http/http.h"
#include "saga/handoff.h"
#include "traffic/shift.h"

namespace lameduck::cli {
namespace {

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

exit::Budget budgetOf(const config::ExitConfig& c) {
  return exit::Budget{c.grace_period, c.safety_margin, c.compensation_reserve};
}

}  // namespace

Sidecar::Sidecar(const config::Config& config, Clock& clock)
    : config_(config),
      clock_(clock),
      metrics_(kVersion, kCommit),
      spool_(config.compensation.spool) {}

Sidecar::~Sidecar() = default;

Result<std::unique_ptr<Sidecar>> Sidecar::create(const config::Config& config, Clock& clock) {
  std::unique_ptr<Sidecar> s(new Sidecar(config, clock));
  const config::Config& c = config;
  if (c.app.base_url) {
    server::Metrics& metrics = s->metrics_;
    s->app_ = std::make_unique<app::HttpAppClient>(
        c.app, clock, [&metrics](std::string_view hook, std::string_view code) {
          metrics.hookRequest(hook, code);
        });
  }
  if (!c.app.ports.empty()) {
    s->connections_ = std::make_unique<drain::ProcConnectionSource>(c.drain.proc_root, c.app.ports,
                                                                    http::ownClientPorts);
  }
  // Exit ordering: the registry thread and the exit thread each talk to
  // Redis over a connection of their own.
  const coord::Settings coordination = coord::Settings::from(c, instanceName());
  if (coordination.enabled()) {
    s->registry_ = std::make_unique<coord::Registry>(
        clock, std::make_unique<coord::RedisBackend>(c.compensation.redis), coordination,
        s->metrics_);
    s->coord_backend_ = std::make_unique<coord::RedisBackend>(c.compensation.redis);
    s->coordination_ = std::make_unique<coord::ExitCoordination>(*s->coord_backend_, coordination,
                                                                 s->metrics_, s->registry_.get());
  }
  if (c.metrics.pushgateway.url) {
    s->push_ = std::make_unique<server::FinalPush>(
        c.metrics.pushgateway, server::podGrouping(c.metrics.pushgateway), s->metrics_, clock);
  }
  // The metrics record the final figures before the push sends them.
  std::vector<exit::ExitObserver*> observers{&s->metrics_};
  if (s->registry_) observers.push_back(s->registry_.get());
  if (s->push_) observers.push_back(s->push_.get());
  s->observers_ = std::make_unique<exit::ObserverList>(std::move(observers));

  auto plan = s->plan();
  if (!plan) return std::unexpected(plan.error());
  s->engine_ =
      std::make_unique<exit::ExitEngine>(clock, budgetOf(c.exit), std::move(*plan), *s->observers_);
  // A hook caller waits at most the exit budget plus the reserve (which
  // compensation may use past an overrun) and a little slack.
  const Duration prestop_wait =
      c.exit.budget() + c.exit.compensation_reserve + std::chrono::seconds(5);
  s->admin_ =
      std::make_unique<server::AdminServer>(c.admin, *s->engine_, s->metrics_, prestop_wait);
  s->metrics_server_ = std::make_unique<server::MetricsServer>(c.metrics, s->metrics_);
  return s;
}

Result<exit::ExitPlan> Sidecar::plan() {
  const config::Config& c = config_;
  const Duration t = c.app.timeout;
  const log::Identity& who = log::identity();
  exit::ExitPlan p;
  // Draining. 1: readiness turns 503 when the engine is triggered.
  // 2: exit ordering (the exit slot, then wait_for).
  if (coordination_) {
    for (auto& step : coord::makeSteps(*coordination_)) p.draining.push_back(std::move(step));
  }
  // 3: the traffic shift, before the app is told to drain.
  auto shift = traffic::makeShiftStep(c, app_.get(), who.pod, who.namespace_, clock_, metrics_);
  if (!shift) return std::unexpected(shift.error());
  if (*shift) p.draining.push_back(std::move(*shift));
  // 4: tell the app to drain.
  if (app_) p.draining.push_back(std::make_unique<app::DrainHookStep>(*app_, t));
  // 5: wait until drained.
  if (app_ || connections_) {
    p.draining.push_back(std::make_unique<drain::DrainWaitStep>(app_.get(), connections_.get(),
                                                                c.drain, t, metrics_));
  }
  // Compensating: hand the app's pending compensations off durably.
  if (app_) {
    p.compensating.push_back(std::make_unique<saga::CompensationHandoffStep>(
        *app_, c, saga::Origin{c.coordination.service, who.namespace_, who.pod, who.revision},
        spool_, metrics_));
  }
  // Terminating: the terminate hook.
  if (app_) p.terminating.push_back(std::make_unique<app::TerminateHookStep>(*app_, t));

  p.sections = {drain::appSectionDefault(),
                drain::drainSectionDefault(),
                {saga::kCompensationsSection, "null"},
                {traffic::kTrafficSection, "null"},
                coord::sectionDefault()};
  return p;
}

Status Sidecar::start() {
  if (registry_) registry_->start();
  // Whatever an earlier run spooled goes to the stream now, in the
  // background so that a slow Redis cannot delay readiness.
  if (config_.compensation.redis.address) {
    replay_ = std::jthread([this] { replaySpoolAtStart(config_.compensation, spool_, metrics_); });
  } else if (auto contents = spool_.read(); contents && !contents->records.empty()) {
    metrics_.onSpoolSize(static_cast<int64_t>(contents->records.size()));
  }
  if (auto port = admin_->start(); !port) return std::unexpected(port.error());
  if (auto port = metrics_server_->start(); !port) return std::unexpected(port.error());
  return {};
}

void Sidecar::finish() {
  if (connections_) {
    // The sidecar never dies before the app: in a classic pod both get
    // SIGTERM, and an app still serving needs the sidecar until it is done.
    const TimePoint deadline = *engine_->startedAt() + config_.exit.budget();
    waitForAppListenersGone(clock_, *connections_, deadline, config_.drain.poll_interval);
  }
  // The final metrics reach the Pushgateway before the process leaves (the
  // push is bounded by metrics.pushgateway.timeout).
  if (push_) (void)push_->wait();
  // The last registration (Terminated) and the slot release are written
  // before the process goes.
  if (registry_) registry_->stop();
  admin_->stop();
  metrics_server_->stop();
}

}  // namespace lameduck::cli
