#include "cli/sidecar.h"

#include <mutex>

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
#include "traffic/shift.h"

namespace lameduck::cli {
namespace {

void replaySpoolAtStart(const config::CompensationConfig& config, saga::Spool& spool,
                        saga::HandoffObserver& metrics) {
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

// The after-SIGTERM diagnosis as a span of the exit's trace, a child of
// the root `exit` span, sent after the exit's own spans.
class StuckSpan final : public diag::StuckObserver {
 public:
  StuckSpan(trace::ExitTracer& tracer, exit::ExitEngine& engine)
      : tracer_(tracer), engine_(engine) {}
  void onShutdownStuck(const diag::StuckReport& stuck) override {
    const exit::Summary exit = engine_.snapshot();
    trace::Span span;
    span.trace_id = exit.trace_id;
    span.span_id = exit::newSpanId();
    span.parent_span_id = exit.span_id;
    span.name = "app_shutdown_stuck";
    span.start = stuck.taken - std::chrono::duration_cast<WallTime::duration>(stuck.fetch_took);
    span.end = stuck.taken;
    int64_t stuck_goroutines = 0, not_cancellable = 0;
    for (const diag::Group& g : stuck.report.groups) {
      stuck_goroutines += g.count;
      if (!g.cancellable) not_cancellable += g.count;
    }
    span.attributes = {{"after_hook_ms", static_cast<int64_t>(toMillis(stuck.after_hook))},
                       {"goroutines", stuck.report.goroutines_at_end},
                       {"stuck_goroutines", stuck_goroutines},
                       {"not_cancellable", not_cancellable}};
    for (const diag::Group& g : stuck.report.groups) {
      span.events.push_back(trace::SpanEvent{
          "stuck_goroutines",
          stuck.taken,
          {{"count", g.count},
           {"wait_reason", g.wait_reason},
           {"minutes", g.minutes},
           {"function", g.function},
           {"location", g.location},
           {"created_by", g.created_by},
           {"cancellable", g.cancellable}}});
    }
    span.status = trace::StatusCode::kError;
    span.status_message = "the app was still running after SIGTERM";
    (void)tracer_.exportLater(std::move(span));
  }

 private:
  trace::ExitTracer& tracer_;
  exit::ExitEngine& engine_;
};

}  // namespace

// Dump (3) of the diagnosis. The watch starts when the exit is done — the
// hook has answered and the kubelet sends the app SIGTERM — on a thread of
// its own: in a native-sidecar pod the sidecar's own SIGTERM comes only
// after the app has gone, too late to see it stuck. Thread-safety:
// onExitDone() on the exit thread, join() and the destructor on the main
// thread; the connection source is only read here until join() returned.
class AfterExitWatch final : public exit::ExitObserver {
 public:
  // `observers` is read when the exit is done (all are added by then);
  // it, `diagnosis` and `clock` must outlive the watch.
  AfterExitWatch(diag::Diagnosis& diagnosis, Clock& clock, diag::AliveCheck alive,
                 diag::WatchSettings settings, const std::vector<diag::StuckObserver*>& observers)
      : diagnosis_(diagnosis),
        clock_(clock),
        alive_(std::move(alive)),
        settings_(settings),
        observers_(observers) {}
  ~AfterExitWatch() override {
    stop();
    join();
  }
  AfterExitWatch(const AfterExitWatch&) = delete;
  AfterExitWatch& operator=(const AfterExitWatch&) = delete;

  void onExitDone(const exit::Summary& summary) override {
    const TimePoint answered = clock_.now();
    // The budget counts from the start of the exit.
    const TimePoint deadline = answered - summary.elapsed + summary.budget;
    std::lock_guard lock(mu_);
    if (watcher_ || stopped_) return;  // one exit per process
    watcher_ =
        std::make_unique<diag::ShutdownWatcher>(diagnosis_, clock_, alive_, settings_, observers_);
    thread_ = std::jthread([watcher = watcher_.get(), answered, deadline] {
      const diag::WatchResult watched = watcher->run(answered, deadline);
      log::info("after-SIGTERM watch done", {{"outcome", diag::watchOutcomeName(watched.outcome)},
                                             {"detail", watched.detail}});
    });
  }

  // Ends a running watch within one poll interval; none starts afterwards.
  void stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    if (watcher_) watcher_->stop();
  }

  // Blocks until the watch is over: the app gone, or the budget over.
  // Returns at once when no exit has finished.
  void join() {
    std::jthread thread;
    {
      std::lock_guard lock(mu_);
      thread = std::move(thread_);
    }
    if (thread.joinable()) thread.join();
  }

 private:
  diag::Diagnosis& diagnosis_;
  Clock& clock_;
  const diag::AliveCheck alive_;
  const diag::WatchSettings settings_;
  const std::vector<diag::StuckObserver*>& observers_;
  std::mutex mu_;
  bool stopped_ = false;
  std::unique_ptr<diag::ShutdownWatcher> watcher_;  // made when the exit is done
  std::jthread thread_;
};

namespace {

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

Sidecar::~Sidecar() {
  if (after_exit_) {
    after_exit_->stop();
    after_exit_->join();
  }
}

Result<std::unique_ptr<Sidecar>> Sidecar::create(const config::Config& config, Clock& clock) {
  std::unique_ptr<Sidecar> s(new Sidecar(config, clock));
  const config::Config& c = config;
  if (c.app.base_url) {
    s->app_ =
        std::make_unique<app::HttpAppClient>(c.app, clock, s->feature_metrics_.hooks.observer());
  }
  if (!c.app.ports.empty()) {
    // Socket diagnostics (netlink) when the kernel allows it, else /proc.
    drain::SourceOptions so;
    so.ports = c.app.ports;
    so.proc_root = c.drain.proc_root;
    so.disable_netlink = drain::netlinkDisabledByEnvironment() || c.drain.proc_root != "/proc";
    so.own_ports = http::ownClientPorts;
    drain::SourceChoice choice = drain::chooseConnectionSource(so, clock);
    if (choice.fallback) {
      log::warn("connection activity from /proc: idle connections count as busy",
                {{"source", drain::sourceName(choice.kind)}, {"reason", choice.reason}});
    } else {
      log::info("connection activity source", {{"source", drain::sourceName(choice.kind)},
                                              {"reason", choice.reason}});
    }
    s->feature_metrics_.drain_wait.onConnectionSource(drain::sourceName(choice.kind));
    s->connections_ = std::move(choice.source);
  }
  // Exit ordering: the registry thread and the exit thread each talk to
  // Redis over a connection of their own.
  const coord::Settings coordination = coord::Settings::from(c, instanceName());
  if (coordination.enabled()) {
    s->registry_ = std::make_unique<coord::Registry>(
        clock, std::make_unique<coord::RedisBackend>(c.compensation.redis), coordination,
        s->feature_metrics_.ordering);
    s->coord_backend_ = std::make_unique<coord::RedisBackend>(c.compensation.redis);
    s->coordination_ = std::make_unique<coord::ExitCoordination>(
        *s->coord_backend_, coordination, s->feature_metrics_.ordering, s->registry_.get());
  }
  if (c.app.diagnostics.goroutines) {
    s->dumps_ = std::make_unique<diag::HttpDumpSource>(
        *c.app.diagnostics.goroutines, static_cast<size_t>(c.app.diagnostics.max_bytes), clock);
    s->diagnosis_ = std::make_unique<diag::Diagnosis>(*s->dumps_);
    s->stuck_observers_.push_back(&s->feature_metrics_.diagnosis);
  }
  if (c.metrics.pushgateway.url) {
    s->push_ = std::make_unique<server::FinalPush>(
        c.metrics.pushgateway, server::podGrouping(c.metrics.pushgateway), s->metrics_, clock);
  }
  // The exit trace goes out on the tracer's own thread: the collector never
  // holds /prestop.
  if (c.trace.otlp.endpoint) {
    s->tracer_ = std::make_unique<trace::ExitTracer>(
        c.trace.otlp, clock, s->feature_metrics_.exports,
        trace::Resource::forPod(c.coordination.service, log::identity(), kVersion),
        log::identity());
  }
  // The metrics record the final figures before the push sends them.
  std::vector<exit::ExitObserver*> observers{&s->metrics_};
  if (s->registry_) observers.push_back(s->registry_.get());
  // With the after-SIGTERM diagnosis, the push waits for it (finish()), so
  // that lameduck_app_goroutines is part of the pod's last word.
  if (s->push_ && !s->diagnosis_) observers.push_back(s->push_.get());
  if (s->tracer_) observers.push_back(s->tracer_.get());
  if (s->diagnosis_) {
    // The after-SIGTERM watch starts when the exit is done; it stays while
    // the app is alive (its diagnostics endpoint accepts connections, or
    // app.ports listen), bounded by the budget.
    const HttpUrl& url = *c.app.diagnostics.goroutines;
    drain::ConnectionSource* connections = s->connections_.get();
    diag::AliveCheck alive = [url, connections](Duration timeout) {
      if (diag::tcpAccepts(url.host, url.port, timeout)) return true;
      if (!connections) return false;
      auto snap = connections->read();
      return !snap || snap->listening > 0;  // unreadable tables: still there
    };
    s->after_exit_ = std::make_unique<AfterExitWatch>(
        *s->diagnosis_, clock, std::move(alive),
        diag::WatchSettings{c.app.diagnostics.after_sigterm, c.app.timeout, c.drain.poll_interval},
        s->stuck_observers_);
    observers.push_back(s->after_exit_.get());
  }
  s->observers_ = std::make_unique<exit::ObserverList>(std::move(observers));

  auto plan = s->plan();
  if (!plan) return std::unexpected(plan.error());
  s->engine_ =
      std::make_unique<exit::ExitEngine>(clock, budgetOf(c.exit), std::move(*plan), *s->observers_);
  if (s->tracer_ && s->diagnosis_) {
    s->stuck_span_ = std::make_unique<StuckSpan>(*s->tracer_, *s->engine_);
    s->stuck_observers_.push_back(s->stuck_span_.get());
  }
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
  // The app's goroutine dump as the diagnosis baseline, before anything
  // changes for the app.
  if (diagnosis_) p.draining.push_back(std::make_unique<diag::BaselineStep>(*diagnosis_, t));
  // 2: exit ordering (the exit slot, then wait_for).
  if (coordination_) {
    for (auto& step : coord::makeSteps(*coordination_)) p.draining.push_back(std::move(step));
  }
  // 3: the traffic shift, before the app is told to drain.
  auto shift = traffic::makeShiftStep(c, app_.get(), who.pod, who.namespace_, clock_,
                                      feature_metrics_.shift);
  if (!shift) return std::unexpected(shift.error());
  if (*shift) p.draining.push_back(std::move(*shift));
  // 4: tell the app to drain.
  if (app_) p.draining.push_back(std::make_unique<app::DrainHookStep>(*app_, t));
  // 5: wait until drained.
  if (app_ || connections_) {
    p.draining.push_back(std::make_unique<drain::DrainWaitStep>(app_.get(), connections_.get(),
                                                                c.drain, t, c.exit.grace_period,
                                                                feature_metrics_.drain_wait));
    // 6: a drain that ran out of budget: what the unfinished work waits on.
    if (diagnosis_) {
      p.draining.push_back(std::make_unique<diag::DeadlineDumpStep>(*diagnosis_, t, "drain_wait"));
    }
  }
  // Compensating: hand the app's pending compensations off durably.
  if (app_) {
    p.compensating.push_back(std::make_unique<saga::CompensationHandoffStep>(
        *app_, c, saga::Origin{c.coordination.service, who.namespace_, who.pod, who.revision},
        spool_, feature_metrics_.handoff));
  }
  // Terminating: the terminate hook.
  if (app_) p.terminating.push_back(std::make_unique<app::TerminateHookStep>(*app_, t));

  p.sections = {drain::appSectionDefault(),
                drain::drainSectionDefault(),
                {saga::kCompensationsSection, "null"},
                {traffic::kTrafficSection, "null"},
                coord::sectionDefault()};
  if (diagnosis_) p.sections.push_back({std::string(diag::kDiagnosisSection), "null"});
  return p;
}

Status Sidecar::start() {
  if (registry_) registry_->start();
  // Whatever an earlier run spooled goes to the stream now, in the
  // background so that a slow Redis cannot delay readiness.
  if (config_.compensation.redis.address) {
    replay_ = std::jthread(
        [this] { replaySpoolAtStart(config_.compensation, spool_, feature_metrics_.handoff); });
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
  if (after_exit_) after_exit_->join();
  if (push_ && diagnosis_) push_->start();
  if (connections_) {
    // The sidecar never dies before the app: in a classic pod both get
    // SIGTERM, and an app still serving needs the sidecar until it is done.
    waitForAppListenersGone(clock_, *connections_, deadline, config_.drain.poll_interval);
  }
  // The final metrics reach the Pushgateway before the process leaves (the
  // push is bounded by metrics.pushgateway.timeout).
  if (push_) (void)push_->wait();
  // The exit's spans reach the collector before the process leaves, or the
  // export gives up within trace.otlp.timeout.
  if (tracer_) (void)tracer_->flush(config_.trace.otlp.timeout + std::chrono::seconds(1));
  // The last registration (Terminated) and the slot release are written
  // before the process goes.
  if (registry_) registry_->stop();
  admin_->stop();
  metrics_server_->stop();
}

}  // namespace lameduck::cli
