#pragma once

// The compensation metrics (README.md, "Metrics"). HandoffMetrics: the
// hand-off's lameduck_compensations_written_total{sink},
// lameduck_compensation_failures_total{reason},
// lameduck_compensations_spooled and
// lameduck_compensation_write_duration_seconds, on the sidecar's registry.
// CompensatorMetrics: `lameduck compensator`'s counters, on the registry of
// its own /metrics.
//
// Ownership: the families are registered on a registry the caller owns,
// which must outlive these objects. Failure: a constructor throws (from
// prometheus-cpp) when one of these names is already registered with
// another type — a programming error, seen at start-up. Thread-safety:
// every call is thread-safe and quick
// (prometheus-cpp's Family::Add takes the family's own lock; counters and
// gauges are atomic).

#include <memory>

#include "saga/compensator.h"
#include "saga/handoff.h"

namespace prometheus {
class Registry;
}

namespace lameduck::saga {

class HandoffMetrics final : public HandoffObserver {
 public:
  explicit HandoffMetrics(prometheus::Registry& registry);
  ~HandoffMetrics() override;
  HandoffMetrics(const HandoffMetrics&) = delete;
  HandoffMetrics& operator=(const HandoffMetrics&) = delete;

  void onWritten(std::string_view sink, int64_t count) override;
  void onFailure(std::string_view reason) override;
  void onFailures(std::string_view reason, int64_t count) override;
  void onSpoolSize(int64_t records) override;
  void onWriteDuration(Duration took) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class CompensatorMetrics final : public CompensatorObserver {
 public:
  explicit CompensatorMetrics(prometheus::Registry& registry);
  ~CompensatorMetrics() override;
  CompensatorMetrics(const CompensatorMetrics&) = delete;
  CompensatorMetrics& operator=(const CompensatorMetrics&) = delete;

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

}  // namespace lameduck::saga
