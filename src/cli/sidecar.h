#pragma once

// The composition root of `lameduck run`: every real implementation the
// daemon uses, wired together, and the one place that lists the steps of an
// exit in the order the lifecycle gives them.
//
// Ownership and lifetime. The members are declared in the order they may be
// built, and are destroyed in reverse: the servers stop first (no request
// can reach the engine any more), the start-up spool replay joins, the
// engine joins its exit thread, and only then go the observers, the
// Pushgateway push (which waits for a push in flight), exit ordering, the
// spool, the connection source, the app client and the metrics that all of
// them used. One exception to "reverse order": the after-SIGTERM watch
// reports through stuck_span_, which reads the engine, so ~Sidecar stops and
// joins it first (and it refuses to start after that). Nothing outside
// holds a pointer into a Sidecar.
//
// Thread-safety: create(), start() and finish() are called from the main
// thread only; engine() is safe from any thread (the engine is).

#include <memory>
#include <thread>

#include "app/http_app_client.h"
#include "app/metrics.h"
#include "common/clock.h"
#include "common/error.h"
#include "config/config.h"
#include "coord/metrics.h"
#include "coord/registry.h"
#include "coord/steps.h"
#include "diag/diagnosis.h"
#include "diag/fetch.h"
#include "diag/metrics.h"
#include "drain/connections.h"
#include "drain/metrics.h"
#include "exit/engine.h"
#include "saga/metrics.h"
#include "saga/spool.h"
#include "server/endpoints.h"
#include "server/metrics.h"
#include "server/pushgateway.h"
#include "trace/metrics.h"
#include "trace/tracer.h"
#include "traffic/metrics.h"

namespace lameduck::cli {

class AfterExitWatch;

// Each feature component's metrics, all on the sidecar's registry (every
// family is exposed, whatever is configured). Must not outlive the
// registry; the observers of the components hold references into it.
struct FeatureMetrics {
  explicit FeatureMetrics(prometheus::Registry& registry)
      : hooks(registry),
        drain_wait(registry),
        handoff(registry),
        shift(registry),
        ordering(registry),
        diagnosis(registry),
        exports(registry) {}
  app::Metrics hooks;
  drain::Metrics drain_wait;
  saga::HandoffMetrics handoff;
  traffic::Metrics shift;
  coord::Metrics ordering;
  diag::Metrics diagnosis;
  trace::Metrics exports;
};

class Sidecar {
 public:
  // Builds everything; fails (kInvalidArgument) when the configuration
  // cannot be put to work, e.g. a traffic backend without its token.
  // `config` and `clock` must outlive the sidecar.
  static Result<std::unique_ptr<Sidecar>> create(const config::Config& config, Clock& clock);
  ~Sidecar();
  Sidecar(const Sidecar&) = delete;
  Sidecar& operator=(const Sidecar&) = delete;

  // Starts exit ordering's registry and the spool replay, then binds the
  // admin and metrics ports. Fails when a port cannot be bound.
  Status start();

  exit::ExitEngine& engine() { return *engine_; }
  // The exit trace's exporter, for spans found after the exit (the
  // after-SIGTERM diagnosis); null when trace.otlp.endpoint is unset.
  trace::ExitTracer* tracer() { return tracer_.get(); }

  // After the exit: stays up until the app stopped listening (the sidecar
  // never leaves before the app) or the budget ends, waits for the final
  // push and the trace export (each bounded by its timeout), writes exit
  // ordering's last record and stops the servers. With
  // app.diagnostics.goroutines set, an app still alive
  // app.diagnostics.after_sigterm after the exit ended (the hook answered,
  // the kubelet sent SIGTERM) is diagnosed as stuck: that watch starts when
  // the exit is done, whatever signal the sidecar gets when (in a native
  // sidecar pod, SIGTERM comes only after the app has gone), and finish()
  // waits for it.
  void finish();

 private:
  Sidecar(const config::Config& config, Clock& clock);
  // The exit, step by step, in the lifecycle's order.
  Result<exit::ExitPlan> plan();

  const config::Config& config_;
  Clock& clock_;
  server::Metrics metrics_;
  FeatureMetrics feature_metrics_;  // on metrics_'s registry
  std::unique_ptr<app::HttpAppClient> app_;               // app.base_url set
  std::unique_ptr<drain::ConnectionSource> connections_;  // app.ports set
  saga::Spool spool_;
  std::unique_ptr<coord::Registry> registry_;  // exit ordering on
  std::unique_ptr<coord::Backend> coord_backend_;
  std::unique_ptr<coord::ExitCoordination> coordination_;
  std::unique_ptr<server::FinalPush> push_;      // metrics.pushgateway.url set
  std::unique_ptr<diag::HttpDumpSource> dumps_;  // app.diagnostics.goroutines set
  std::unique_ptr<diag::Diagnosis> diagnosis_;
  std::vector<diag::StuckObserver*> stuck_observers_;
  std::unique_ptr<trace::ExitTracer> tracer_;   // trace.otlp.endpoint set
  std::unique_ptr<AfterExitWatch> after_exit_;  // app.diagnostics.goroutines set
  std::unique_ptr<exit::ObserverList> observers_;
  std::unique_ptr<exit::ExitEngine> engine_;
  std::unique_ptr<diag::StuckObserver> stuck_span_;  // diagnosis and tracing on
  std::jthread replay_;  // spool replay at start; joins on destruction
  std::unique_ptr<server::AdminServer> admin_;
  std::unique_ptr<server::MetricsServer> metrics_server_;
};

}  // namespace lameduck::cli
