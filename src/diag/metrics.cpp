#include "diag/metrics.h"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace lameduck::diag {

struct Metrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : goroutines(prometheus::BuildGauge()
                       .Name("lameduck_app_goroutines")
                       .Help("Goroutines of the app still parked after SIGTERM (exit diagnosis), "
                             "by wait reason")
                       .Register(registry)) {}

  prometheus::Family<prometheus::Gauge>& goroutines;
};

Metrics::Metrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {}

Metrics::~Metrics() = default;

void Metrics::onShutdownStuck(const StuckReport& stuck) {
  for (const auto& [reason, count] : countsByWaitReason(stuck.report)) {
    impl_->goroutines.Add({{"wait_reason", reason}}).Set(static_cast<double>(count));
  }
}

}  // namespace lameduck::diag
