#pragma once

// The traffic shift's Prometheus metrics: lameduck_traffic_weight_percent
// (100 until a shift sets it), lameduck_traffic_steps_total{result} and
// lameduck_traffic_gate_checks_total{result} (README.md, "Metrics").
//
// Ownership: the families are registered on a registry the caller owns,
// which must outlive this object. Failure: the constructor throws (from
// prometheus-cpp) when one of these names is already registered with
// another type — a programming error, seen at start-up. Thread-safety:
// every call is thread-safe and quick
// (prometheus-cpp's Family::Add takes the family's own lock; counters and
// gauges are atomic).

#include <memory>

#include "traffic/backend.h"

namespace prometheus {
class Registry;
}

namespace lameduck::traffic {

class Metrics final : public ShiftObserver {
 public:
  explicit Metrics(prometheus::Registry& registry);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void onWeight(int64_t percent) override;
  void onTrafficStep(std::string_view result) override;
  void onGateCheck(std::string_view result) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::traffic
