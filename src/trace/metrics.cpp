#include "trace/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>


namespace lameduck::trace {

struct Metrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : exports(prometheus::BuildCounter()
                    .Name("lameduck_trace_exports_total")
                    .Help("Exports of the exit trace over OTLP, by result (ok, partial, rejected, "
                          "failed)")
                    .Register(registry)) {}

  prometheus::Family<prometheus::Counter>& exports;
};

Metrics::Metrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {}

Metrics::~Metrics() = default;

void Metrics::onTraceExport(std::string_view result) {
  impl_->exports.Add({{"result", std::string(result)}}).Increment();
}

}  // namespace lameduck::trace
