#include "coord/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>

namespace lameduck::coord {

struct Metrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : wait(prometheus::BuildHistogram()
                 .Name("lameduck_coordination_wait_seconds")
                 .Help("Time an exit waited for exit ordering, by reason (slot or wait_for)")
                 .Register(registry)),
        errors(prometheus::BuildCounter()
                   .Name("lameduck_coordination_errors_total")
                   .Help("Calls to the coordination store (Redis) that failed")
                   .Register(registry)
                   .Add({})),
        cycles(prometheus::BuildCounter()
                   .Name("lameduck_coordination_cycles_total")
                   .Help("Dependency cycles between services found in the exit-ordering registry")
                   .Register(registry)
                   .Add({})) {
    // The buckets of the exit durations: waits are seconds to minutes long.
    const prometheus::Histogram::BucketBoundaries buckets{0.05, 0.1, 0.25, 0.5, 1,  2.5, 5,  10,
                                                          15,   20,  30,   45,  60, 120, 300};
    for (const char* reason : {"slot", "wait_for"}) {
      wait_histograms[reason] = &wait.Add({{"reason", reason}}, buckets);
    }
  }

  prometheus::Family<prometheus::Histogram>& wait;
  prometheus::Counter& errors;
  prometheus::Counter& cycles;
  // Written only in the constructor: reading it needs no lock.
  std::map<std::string, prometheus::Histogram*, std::less<>> wait_histograms;
};

Metrics::Metrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {}

Metrics::~Metrics() = default;

void Metrics::onCoordinationWait(std::string_view reason, Duration took) {
  auto it = impl_->wait_histograms.find(reason);
  if (it != impl_->wait_histograms.end()) it->second->Observe(toSeconds(took));
}

void Metrics::onCoordinationError() { impl_->errors.Increment(); }

void Metrics::onCoordinationCycle() { impl_->cycles.Increment(); }

}  // namespace lameduck::coord
