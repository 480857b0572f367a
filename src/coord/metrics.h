#pragma once

// Exit ordering's Prometheus metrics:
// lameduck_coordination_wait_seconds{reason} (one observation per wait, 0
// when nothing had to be waited for), lameduck_coordination_errors_total and
// lameduck_coordination_cycles_total (README.md, "Metrics").
//
// Ownership: the families are registered on a registry the caller owns,
// which must outlive this object. Failure: the constructor throws (from
// prometheus-cpp) when one of these names is already registered with
// another type — a programming error, seen at start-up. Thread-safety:
// every call is thread-safe and quick
// (prometheus-cpp's Family::Add takes the family's own lock; counters and
// gauges are atomic).

#include <memory>

#include "coord/settings.h"

namespace prometheus {
class Registry;
}

namespace lameduck::coord {

class Metrics final : public Observer {
 public:
  explicit Metrics(prometheus::Registry& registry);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void onCoordinationWait(std::string_view reason, Duration took) override;
  void onCoordinationError() override;
  void onCoordinationCycle() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::coord
