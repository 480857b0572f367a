#include "cli/sidecar.h"

#include "app/steps.h"
#include "cli/options.h"
#include "common/log.h"
#include "common/version.h"
#include "coord/redis_backend.h"
#include "diag/steps.h"
#include "diag/watcher.h"
#include "drain/source.h"
#include "drain/wait_step.h"
#include "http/http.h"
#include "saga/handoff.h"
#include "saga/redis_stream.h"
#include "traffic/shift.h"

namespace lameduck::cli {
namespace {

void replaySpoolAtStart(saga::StreamConnector& stream, const std::string& stream_name,
                        saga::Spool& spool, saga::HandoffObserver& metrics) {
  auto contents = spool.read();
  if (!contents || (contents->records.empty() && contents->torn_lines == 0)) return;
  auto replayed = saga::replaySpool(stream, spool, &metrics);
  if (replayed) {
    log::info("spooled compensations replayed into the stream",
              {{"count", replayed->handed}, {"stream", stream_name}});
  } else {
    metrics.onFailure(saga::failureReason(replayed.error()));
    log::warn("spool replay failed; the records stay in the spool",
              {{"error", replayed.error().message}, {"spool", spool.path()}});
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
      feature_metrics_(metrics_.registry()),
      spool_(config.compensation.spool) {}

// Builds the members in the order they are declared.
Result<std::unique_ptr<Sidecar>> Sidecar::create(const config::Config& config, Clock& clock,
                                                 SignalListener* listener) {
  std::unique_ptr<Sidecar> s(new Sidecar(config, clock));
  s->buildApp();
  s->buildConnections();
  s->buildStream();
  s->buildCoordination();
  s->buildDiagnosis();
  s->buildTrace();
  s->buildAfterExitWatch();
  s->buildPush();
  if (auto built = s->buildEngine(); !built) return std::unexpected(built.error());
  s->buildServers(listener);
  return s;
}

void Sidecar::buildApp() {
  const config::Config& c = config_;
  if (c.app.base_url) {
    app_ = std::make_unique<app::HttpAppClient>(c.app, clock_, feature_metrics_.hooks.observer());
  }
}

void Sidecar::buildConnections() {
  const config::Config& c = config_;
  if (c.app.ports.empty()) return;
  // Socket diagnostics (netlink) when the kernel allows it, else /proc.
  drain::SourceOptions so;
  so.ports = c.app.ports;
  so.proc_root = c.drain.proc_root;
  so.disable_netlink = drain::netlinkDisabledByEnvironment() || c.drain.proc_root != "/proc";
  so.own_ports = http::ownClientPorts;
  drain::SourceChoice choice = drain::chooseConnectionSource(so, clock_);
  if (choice.fallback) {
    log::warn("connection activity from /proc: idle connections count as busy",
              {{"source", drain::sourceName(choice.kind)}, {"reason", choice.reason}});
  } else {
    log::info("connection activity source",
              {{"source", drain::sourceName(choice.kind)}, {"reason", choice.reason}});
  }
  feature_metrics_.drain_wait.onConnectionSource(drain::sourceName(choice.kind));
  connections_ = std::move(choice.source);
}

// The compensation stream: the hand-off and the spool replay know only the
// connector's interface.
void Sidecar::buildStream() {
  if (config_.compensation.redis.address) {
    stream_ = std::make_unique<saga::RedisStreamConnector>(config_.compensation);
  }
}

// Exit ordering: the registry thread and the exit thread each talk to Redis
// over a connection of their own.
void Sidecar::buildCoordination() {
  const config::Config& c = config_;
  const coord::Settings coordination = coord::Settings::from(c, instanceName());
  if (!coordination.enabled()) return;
  coordination_name_ = coordination.service + "/" + coordination.pod;
  registry_ = std::make_unique<coord::Registry>(
      clock_, std::make_unique<coord::RedisBackend>(c.compensation.redis), coordination,
      feature_metrics_.ordering);
  coord_backend_ = std::make_unique<coord::RedisBackend>(c.compensation.redis);
  coordination_ = std::make_unique<coord::ExitCoordination>(*coord_backend_, coordination,
                                                            feature_metrics_.ordering,
                                                            registry_.get());
}

void Sidecar::buildDiagnosis() {
  const config::DiagnosticsConfig& d = config_.app.diagnostics;
  if (!d.goroutines) return;
  dumps_ = std::make_unique<diag::HttpDumpSource>(*d.goroutines, static_cast<size_t>(d.max_bytes),
                                                  clock_);
  diagnosis_ = std::make_unique<diag::Diagnosis>(*dumps_);
}

// The exit trace goes out on the tracer's own thread: the collector never
// holds /prestop.
void Sidecar::buildTrace() {
  const config::Config& c = config_;
  if (!c.trace.otlp.endpoint) return;
  tracer_ = std::make_unique<trace::ExitTracer>(
      c.trace.otlp, clock_, feature_metrics_.exports,
      trace::Resource::forPod(c.coordination.service, log::identity(), kVersion),
      log::identity());
}

void Sidecar::buildAfterExitWatch() {
  if (!diagnosis_) return;
  const config::Config& c = config_;
  // A stuck app is told to the metrics (lameduck_app_goroutines) and, with
  // tracing on, to the exit trace (a span of its own).
  std::vector<diag::StuckObserver*> stuck{&feature_metrics_.diagnosis};
  if (tracer_) {
    stuck_span_ = std::make_unique<diag::StuckSpan>(*tracer_);
    stuck.push_back(stuck_span_.get());
  }
  // The after-SIGTERM watch stays while the app is alive (its diagnostics
  // endpoint accepts connections, or app.ports listen), bounded by the
  // budget.
  const HttpUrl& url = *c.app.diagnostics.goroutines;
  drain::ConnectionSource* connections = connections_.get();
  diag::AliveCheck alive = [url, connections](Duration timeout) {
    if (diag::tcpAccepts(url.host, url.port, timeout)) return true;
    if (!connections) return false;
    auto snap = connections->read();
    return !snap || snap->listening > 0;  // unreadable tables: still there
  };
  after_exit_ = std::make_unique<diag::AfterExitWatch>(
      *diagnosis_, clock_, std::move(alive),
      diag::WatchSettings{c.app.diagnostics.after_sigterm, c.app.timeout, c.drain.poll_interval},
      std::move(stuck));
}

void Sidecar::buildPush() {
  const config::PushgatewayConfig& pg = config_.metrics.pushgateway;
  if (!pg.url) return;
  // With the after-SIGTERM diagnosis, the push waits for the watch, so that
  // lameduck_app_goroutines is part of the pod's last word; the watch's wait
  // is bounded by the exit budget.
  server::PushReady ready;
  if (diag::AfterExitWatch* watch = after_exit_.get()) {
    ready = [watch] {
      if (!watch->waitOver()) {
        log::warn("the after-SIGTERM watch outlasted the exit budget; pushing without it");
      }
    };
  }
  push_ = std::make_unique<server::FinalPush>(pg, server::podGrouping(pg), metrics_, clock_,
                                              std::move(ready));
}

Status Sidecar::buildEngine() {
  auto lifecycle = plan();
  if (!lifecycle) return std::unexpected(lifecycle.error());
  observers_ = std::make_unique<exit::ObserverList>(std::move(lifecycle->observers));
  engine_ = std::make_unique<exit::ExitEngine>(clock_, budgetOf(config_.exit),
                                               std::move(lifecycle->steps), *observers_);
  return {};
}

void Sidecar::buildServers(SignalListener* listener) {
  const config::Config& c = config_;
  // A hook caller waits at most the exit budget plus the reserve (which
  // compensation may use past an overrun) and a little slack.
  const Duration prestop_wait =
      c.exit.budget() + c.exit.compensation_reserve + std::chrono::seconds(5);
  admin_ = std::make_unique<server::AdminServer>(c.admin, *engine_, metrics_, prestop_wait);
  metrics_server_ = std::make_unique<server::MetricsServer>(c.metrics, metrics_);
  if (listener) {
    exit::ExitEngine& engine = *engine_;
    snapshot_.emplace(*listener, [&engine] { return exit::toJson(engine.snapshot()); });
  }
}

Result<Sidecar::Lifecycle> Sidecar::plan() {
  const config::Config& c = config_;
  const Duration t = c.app.timeout;
  const log::Identity& who = log::identity();
  Lifecycle life;
  exit::ExitPlan& p = life.steps;

  // ---- Draining ----
  // 1. /readyz turns 503. Not a step: the engine's state leaves Ready inside
  //    trigger(), before the exit thread runs any step, and the admin server
  //    answers /readyz from that state (server/endpoints.h).
  //    Before anything else changes for the app: the diagnosis baseline,
  //    dump (1) of the app's goroutines.
  if (diagnosis_) p.draining.push_back(std::make_unique<diag::BaselineStep>(*diagnosis_, t));
  // 2. Exit ordering: the exit slot, then coordination.wait_for.
  if (coordination_) {
    for (auto& step : coord::makeSteps(*coordination_)) p.draining.push_back(std::move(step));
  }
  // 3. The traffic shift, before the app is told to drain.
  auto shift = traffic::makeShiftStep(c, app_.get(), who.pod, who.namespace_, clock_,
                                      feature_metrics_.shift);
  if (!shift) return std::unexpected(shift.error());
  if (*shift) p.draining.push_back(std::move(*shift));
  // 4. Tell the app to drain.
  if (app_) p.draining.push_back(std::make_unique<app::DrainHookStep>(*app_, t));
  // 5. Wait until drained.
  if (app_ || connections_) {
    p.draining.push_back(std::make_unique<drain::DrainWaitStep>(
        app_.get(), connections_.get(), c.drain, t, c.exit.grace_period,
        feature_metrics_.drain_wait));
    //    A drain that ran out of budget: what the unfinished work waits on
    //    (dump (2)).
    if (diagnosis_) {
      p.draining.push_back(std::make_unique<diag::DeadlineDumpStep>(*diagnosis_, t, "drain_wait"));
    }
  }

  // ---- Compensating ----
  // Fetch the pending compensations, write them durably (the stream, else
  // the spool), acknowledge what is durable.
  if (app_) {
    p.compensating.push_back(std::make_unique<saga::CompensationHandoffStep>(
        *app_, t, stream_.get(),
        saga::Origin{c.coordination.service, who.namespace_, who.pod, who.revision}, spool_,
        feature_metrics_.handoff));
  }

  // ---- Terminated ----
  // 1. The terminate hook.
  if (app_) p.terminating.push_back(std::make_unique<app::TerminateHookStep>(*app_, t));
  // 2. The audit event `exit`: the engine writes it once the last step is
  //    done and the state is Terminated (exit ordering's registry, which
  //    follows every transition, registers the pod as Terminated then).
  // 3. Final metrics pushed. The observers are told the exit is done in
  //    this order: the metrics record the final figures; the trace is
  //    queued for export; the after-SIGTERM watch starts; the final push
  //    starts — after the watch, which it waits for before it renders the
  //    metrics.
  life.observers.push_back(&metrics_);
  if (registry_) life.observers.push_back(registry_.get());
  if (tracer_) life.observers.push_back(tracer_.get());
  if (after_exit_) life.observers.push_back(after_exit_.get());
  if (push_) life.observers.push_back(push_.get());
  // 4. /prestop answers: every caller of the engine's await() gets the
  //    summary once the observers have been told.

  p.sections = {drain::appSectionDefault(),
                drain::drainSectionDefault(),
                {saga::kCompensationsSection, "null"},
                {traffic::kTrafficSection, "null"},
                coord::sectionDefault()};
  if (diagnosis_) p.sections.push_back({std::string(diag::kDiagnosisSection), "null"});
  return life;
}

Status Sidecar::start() {
  if (registry_) registry_->start();
  // Whatever an earlier run spooled goes to the stream now, in the
  // background so that a slow Redis cannot delay readiness.
  if (stream_) {
    replay_ = std::jthread(
        [this] { replaySpoolAtStart(*stream_, config_.compensation.stream, spool_,
                                               feature_metrics_.handoff); });
  } else if (auto contents = spool_.read(); contents && !contents->records.empty()) {
    feature_metrics_.handoff.onSpoolSize(static_cast<int64_t>(contents->records.size()));
  }
  if (auto port = admin_->start(); !port) return std::unexpected(port.error());
  if (auto port = metrics_server_->start(); !port) return std::unexpected(port.error());
  return {};
}

void Sidecar::finish() {
  const TimePoint deadline = *engine_->startedAt() + config_.exit.budget();
  // The after-SIGTERM watch, started when the exit was done, ends when the
  // app is gone or the budget is over.
  if (after_exit_ && !after_exit_->waitOver()) {
    log::warn("the after-SIGTERM watch outlasted the exit budget; stopping it");
    after_exit_->stop();
  }
  if (connections_) {
    // The sidecar never dies before the app: in a classic pod both get
    // SIGTERM, and an app still serving needs the sidecar until it is done.
    waitForAppListenersGone(clock_, *connections_, deadline, config_.drain.poll_interval);
  }
  // The final metrics reach the Pushgateway before the process leaves (the
  // push is bounded by metrics.pushgateway.timeout; it logs how it went).
  if (push_) push_->wait();
  // The exit's spans reach the collector before the process leaves, or the
  // export gives up within trace.otlp.timeout.
  if (tracer_) {
    const Duration wait = config_.trace.otlp.timeout + std::chrono::seconds(1);
    if (!tracer_->flush(wait)) {
      log::warn(
          "leaving before the exit trace reached the collector",
          {{"waited_ms", toMillis(wait)}, {"endpoint", config_.trace.otlp.endpoint->origin()}});
    }
  }
  // The last registration (Terminated) and the slot release are written
  // before the process goes.
  if (registry_) registry_->stop();
  admin_->stop();
  metrics_server_->stop();
}

}  // namespace lameduck::cli
