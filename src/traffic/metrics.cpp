#include "traffic/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>


namespace lameduck::traffic {

struct Metrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : weight(prometheus::BuildGauge()
                   .Name("lameduck_traffic_weight_percent")
                   .Help("Traffic weight lameduck last set for this pod, percent of the original")
                   .Register(registry)
                   .Add({})),
        steps(prometheus::BuildCounter()
                  .Name("lameduck_traffic_steps_total")
                  .Help("Traffic shift steps, by result (passed, held, continued, failed)")
                  .Register(registry)),
        gate_checks(prometheus::BuildCounter()
                        .Name("lameduck_traffic_gate_checks_total")
                        .Help("Error-rate gate checks, by result (pass, fail, inconclusive)")
                        .Register(registry)) {
    weight.Set(100);
    for (const char* result : {"passed", "held", "continued", "failed"}) {
      steps.Add({{"result", result}});
    }
    for (const char* result : {"pass", "fail", "inconclusive"}) {
      gate_checks.Add({{"result", result}});
    }
  }

  prometheus::Gauge& weight;
  prometheus::Family<prometheus::Counter>& steps;
  prometheus::Family<prometheus::Counter>& gate_checks;
};

Metrics::Metrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {}

Metrics::~Metrics() = default;

void Metrics::onWeight(int64_t percent) { impl_->weight.Set(static_cast<double>(percent)); }

void Metrics::onTrafficStep(std::string_view result) {
  impl_->steps.Add({{"result", std::string(result)}}).Increment();
}

void Metrics::onGateCheck(std::string_view result) {
  impl_->gate_checks.Add({{"result", std::string(result)}}).Increment();
}

}  // namespace lameduck::traffic
