#pragma once

// The drain's Prometheus metrics: lameduck_app_inflight,
// lameduck_app_connections{activity}, lameduck_app_new_connections_total and
// lameduck_drain_connection_source{source} (README.md, "Metrics").
//
// Ownership: the families are registered on a registry the caller owns,
// which must outlive this object. Failure: the constructor throws (from
// prometheus-cpp) when one of these names is already registered with
// another type — a programming error, seen at start-up. Thread-safety:
// every call is thread-safe and quick
// (prometheus-cpp's Family::Add takes the family's own lock; counters and
// gauges are atomic).

#include <memory>

#include "drain/report.h"

namespace prometheus {
class Registry;
}

namespace lameduck::drain {

class Metrics final : public Observer {
 public:
  explicit Metrics(prometheus::Registry& registry);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void onAppFigures(const app::Figures& figures) override;
  void onConnections(int64_t established, int64_t arrived) override;
  void onConnectionActivity(int64_t busy, int64_t idle) override;
  void onConnectionSource(std::string_view source) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::drain
