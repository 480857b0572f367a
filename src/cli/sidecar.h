#pragma once

// The composition root of `lameduck run`: every real implementation the
// daemon uses, wired together, and the one place that lists the steps of an
// exit in the order the lifecycle gives them (plan()).
//
// Ownership and lifetime. The members are declared in the order they are
// built — each after everything it uses — and are destroyed in reverse, with
// no exception: the SIGUSR1 snapshot is withdrawn, the servers stop (no
// request can reach the engine any more), the start-up spool replay joins,
// the engine joins its exit thread, and only then go the observers (the
// Pushgateway push waits for a push in flight, the after-SIGTERM watch
// stops and joins, the tracer lets its exports finish — each bounded), the
// diagnosis, exit ordering, the stream connector, the spool, the connection
// source, the app client and the metrics that all of them used. Nothing
// outside holds a pointer into a Sidecar.
//
// Thread-safety: create(), start() and finish() are called from the main
// thread only; engine() is safe from any thread (the engine is).

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/http_app_client.h"
#include "app/metrics.h"
#include "cli/signals.h"
#include "common/clock.h"
#include "common/error.h"
#include "config/config.h"
#include "coord/metrics.h"
#include "coord/registry.h"
#include "coord/steps.h"
#include "diag/after_exit.h"
#include "diag/diagnosis.h"
#include "diag/fetch.h"
#include "diag/metrics.h"
#include "diag/stuck_span.h"
#include "drain/connections.h"
#include "drain/metrics.h"
#include "exit/engine.h"
#include "saga/metrics.h"
#include "saga/sink.h"
#include "saga/spool.h"
#include "server/endpoints.h"
#include "server/metrics.h"
#include "server/pushgateway.h"
#include "trace/metrics.h"
#include "trace/tracer.h"
#include "traffic/metrics.h"

namespace lameduck::cli {

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
  // `config`, `clock` and `listener` (when given: SIGUSR1 then logs the
  // exit's state) must outlive the sidecar.
  [[nodiscard]] static Result<std::unique_ptr<Sidecar>> create(const config::Config& config,
                                                               Clock& clock,
                                                               SignalListener* listener = nullptr);
  Sidecar(const Sidecar&) = delete;
  Sidecar& operator=(const Sidecar&) = delete;

  // Starts exit ordering's registry and the spool replay, then binds the
  // admin and metrics ports. Fails when a port cannot be bound.
  Status start();

  exit::ExitEngine& engine() { return *engine_; }
  // Exit ordering as `lameduck started` logs it: "<service>/<pod>" when it
  // is on, else "off".
  const std::string& coordinationName() const { return coordination_name_; }

  // After the exit: stays up until the app stopped listening (the sidecar
  // never leaves before the app) or the budget ends, waits for the
  // after-SIGTERM watch, the final push and the trace export (each bounded),
  // writes exit ordering's last record and stops the servers. With
  // app.diagnostics.goroutines set, an app still alive
  // app.diagnostics.after_sigterm after the exit ended (the hook answered,
  // the kubelet sent SIGTERM) is diagnosed as stuck: that watch starts when
  // the exit is done, whatever signal the sidecar gets when (in a native
  // sidecar pod, SIGTERM comes only after the app has gone). What failed on
  // the way out is logged at warn; the exit's outcome stays what it was.
  void finish();

 private:
  Sidecar(const config::Config& config, Clock& clock);

  // The exit, in the lifecycle's order: the steps of each phase, and the
  // observers in the order they are told (what happens once the exit is
  // done, the final push among them).
  struct Lifecycle {
    exit::ExitPlan steps;
    std::vector<exit::ExitObserver*> observers;
  };
  Result<Lifecycle> plan();

  // The builders create() calls, in this order (the members' order); each
  // builds its feature's members when the config turns the feature on.
  void buildApp();             // app_
  void buildConnections();     // connections_
  void buildStream();          // stream_
  void buildCoordination();    // registry_, coord_backend_, coordination_
  void buildDiagnosis();       // dumps_, diagnosis_
  void buildTrace();           // tracer_
  void buildAfterExitWatch();  // stuck_span_, after_exit_
  void buildPush();            // push_
  Status buildEngine();        // observers_, engine_ (fails as plan() does)
  void buildServers(SignalListener* listener);  // admin_, metrics_server_, snapshot_

  const config::Config& config_;
  Clock& clock_;
  std::string coordination_name_ = "off";
  server::Metrics metrics_;
  FeatureMetrics feature_metrics_;  // on metrics_'s registry
  std::unique_ptr<app::HttpAppClient> app_;               // app.base_url set
  std::unique_ptr<drain::ConnectionSource> connections_;  // app.ports set
  saga::Spool spool_;
  std::unique_ptr<saga::StreamConnector> stream_;  // compensation.redis.address set
  std::unique_ptr<coord::Registry> registry_;      // exit ordering on
  std::unique_ptr<coord::Backend> coord_backend_;
  std::unique_ptr<coord::ExitCoordination> coordination_;
  std::unique_ptr<diag::HttpDumpSource> dumps_;  // app.diagnostics.goroutines set
  std::unique_ptr<diag::Diagnosis> diagnosis_;
  std::unique_ptr<trace::ExitTracer> tracer_;         // trace.otlp.endpoint set
  std::unique_ptr<diag::StuckSpan> stuck_span_;       // diagnosis and tracing on
  std::unique_ptr<diag::AfterExitWatch> after_exit_;  // diagnosis on
  std::unique_ptr<server::FinalPush> push_;           // metrics.pushgateway.url set
  std::unique_ptr<exit::ObserverList> observers_;
  std::unique_ptr<exit::ExitEngine> engine_;
  std::jthread replay_;  // spool replay at start; joins on destruction
  std::unique_ptr<server::AdminServer> admin_;
  std::unique_ptr<server::MetricsServer> metrics_server_;
  std::optional<SnapshotLease> snapshot_;  // a SignalListener given
};

}  // namespace lameduck::cli
