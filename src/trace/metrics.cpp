#include "trace/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <mutex>

namespace lameduck::trace {

struct Metrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : exports(prometheus::BuildCounter()
                    .Name("lameduck_trace_exports_total")
                    .Help("Exports of the exit trace over OTLP, by result (ok, partial, rejected, "
                          "failed)")
                    .Register(registry)) {}

  prometheus::Family<prometheus::Counter>& exports;
  std::mutex mu;  // guards the Family::Add calls made after construction
};

Metrics::Metrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {}

Metrics::~Metrics() = default;

void Metrics::onTraceExport(std::string_view result) {
  std::lock_guard lock(impl_->mu);
  impl_->exports.Add({{"result", std::string(result)}}).Increment();
}

}  // namespace lameduck::trace
