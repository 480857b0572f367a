#pragma once

// The exit diagnosis' Prometheus metric: lameduck_app_goroutines{wait_reason},
// the goroutines of an app still parked after SIGTERM (README.md, "Metrics").
//
// Ownership: the families are registered on a registry the caller owns,
// which must outlive this object. Failure: the constructor throws (from
// prometheus-cpp) when one of these names is already registered with
// another type — a programming error, seen at start-up. Thread-safety:
// every call is thread-safe and quick
// (prometheus-cpp's Family::Add takes the family's own lock; counters and
// gauges are atomic).

#include <memory>

#include "diag/diagnosis.h"

namespace prometheus {
class Registry;
}

namespace lameduck::diag {

class Metrics final : public StuckObserver {
 public:
  explicit Metrics(prometheus::Registry& registry);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void onShutdownStuck(const StuckReport& stuck) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::diag
