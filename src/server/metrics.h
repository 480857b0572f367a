#pragma once

// lameduck's Prometheus metrics (names in README.md, "Metrics"). Owns the
// registry; render() produces the text exposition served on /metrics.
// Thread-safe.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "coord/settings.h"
#include "diag/diagnosis.h"
#include "drain/report.h"
#include "exit/engine.h"
#include "saga/compensator.h"
#include "saga/handoff.h"
#include "trace/exporter.h"
#include "traffic/backend.h"

namespace prometheus {
class Registry;
}

namespace lameduck::server {

class Metrics final : public exit::ExitObserver,
                      public drain::Observer,
                      public saga::HandoffObserver,
                      public traffic::ShiftObserver,
                      public coord::Observer,
                      public diag::StuckObserver,
                      public trace::ExportObserver {
 public:
  Metrics(const std::string& version, const std::string& commit);
  ~Metrics() override;

  // The registry, for components that add their own families.
  prometheus::Registry& registry();
  std::string render() const;

  void hookRequest(std::string_view hook, std::string_view code);
  void adminDenied(std::string_view reason);  // "token" or "source"
  void adminShed(std::string_view reason);    // "cap", "budget", "overdue" or "source"

  // exit::ExitObserver
  void onTransition(exit::State from, exit::State to) override;
  void onPhaseDone(const exit::PhaseTiming& phase) override;
  void onExitDone(const exit::Summary& summary) override;

  // drain::Observer
  void onAppFigures(const app::Figures& figures) override;
  void onConnections(int64_t established, int64_t arrived) override;
  void onConnectionActivity(int64_t busy, int64_t idle) override;
  void onConnectionSource(std::string_view source) override;

  // saga::HandoffObserver
  void onWritten(std::string_view sink, int64_t count) override;
  void onFailure(std::string_view reason) override;
  void onSpoolSize(int64_t records) override;
  void onWriteDuration(Duration took) override;

  // traffic::ShiftObserver
  void onWeight(int64_t percent) override;
  void onTrafficStep(std::string_view result) override;
  void onGateCheck(std::string_view result) override;

  // coord::Observer
  void onCoordinationWait(std::string_view reason, Duration took) override;
  void onCoordinationError() override;
  void onCoordinationCycle() override;

  // diag::StuckObserver: lameduck_app_goroutines{wait_reason}
  void onShutdownStuck(const diag::StuckReport& stuck) override;
  // trace::ExportObserver
  void onTraceExport(std::string_view result) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Metrics of `lameduck compensator`, a registry of its own so that its
// /metrics carries no exit figures.
class CompensatorMetrics final : public saga::CompensatorObserver {
 public:
  CompensatorMetrics(const std::string& version, const std::string& commit);
  ~CompensatorMetrics() override;
  std::string render() const;

  void onApplied() override;
  void onRetry() override;
  void onDeadLettered() override;
  void onInvalid() override;
  void onRedisError(std::string_view command) override;
  void onGroupRecreated() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::server
