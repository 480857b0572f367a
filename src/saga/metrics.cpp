#include "saga/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>


namespace lameduck::saga {

struct HandoffMetrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : written(prometheus::BuildCounter()
                    .Name("lameduck_compensations_written_total")
                    .Help("Compensations handed off, by sink (redis or spool)")
                    .Register(registry)),
        failures(prometheus::BuildCounter()
                     .Name("lameduck_compensation_failures_total")
                     .Help("Compensation hand-off failures, by reason")
                     .Register(registry)),
        spooled(prometheus::BuildGauge()
                    .Name("lameduck_compensations_spooled")
                    .Help("Compensations waiting in the local spool")
                    .Register(registry)
                    .Add({})),
        write_duration(
            prometheus::BuildHistogram()
                .Name("lameduck_compensation_write_duration_seconds")
                .Help("Duration of one attempt to write a batch of compensations to Redis")
                .Register(registry)
                .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.025, 0.05,
                                                                 0.1, 0.25, 0.5, 1, 2.5, 5})) {
    written.Add({{"sink", "redis"}});
    written.Add({{"sink", "spool"}});
  }

  prometheus::Family<prometheus::Counter>& written;
  prometheus::Family<prometheus::Counter>& failures;
  prometheus::Gauge& spooled;
  prometheus::Histogram& write_duration;
};

HandoffMetrics::HandoffMetrics(prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(registry)) {}

HandoffMetrics::~HandoffMetrics() = default;

void HandoffMetrics::onWritten(std::string_view sink, int64_t count) {
  impl_->written.Add({{"sink", std::string(sink)}}).Increment(static_cast<double>(count));
}

void HandoffMetrics::onFailure(std::string_view reason) {
  impl_->failures.Add({{"reason", std::string(reason)}}).Increment();
}

void HandoffMetrics::onFailures(std::string_view reason, int64_t count) {
  impl_->failures.Add({{"reason", std::string(reason)}}).Increment(static_cast<double>(count));
}

void HandoffMetrics::onSpoolSize(int64_t records) {
  impl_->spooled.Set(static_cast<double>(records));
}

void HandoffMetrics::onWriteDuration(Duration took) {
  impl_->write_duration.Observe(toSeconds(took));
}

struct CompensatorMetrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : applied(prometheus::BuildCounter()
                    .Name("lameduck_compensations_applied_total")
                    .Help("Compensations whose action endpoint answered 2xx")
                    .Register(registry)
                    .Add({})),
        retries(prometheus::BuildCounter()
                    .Name("lameduck_compensation_retries_total")
                    .Help("Failed attempts that were retried")
                    .Register(registry)
                    .Add({})),
        dead(prometheus::BuildCounter()
                 .Name("lameduck_compensations_dead_lettered_total")
                 .Help("Compensations moved to the dead-letter stream")
                 .Register(registry)
                 .Add({})),
        invalid(prometheus::BuildCounter()
                    .Name("lameduck_compensations_invalid_total")
                    .Help("Entries without id or saga_id, dead-lettered without a call")
                    .Register(registry)
                    .Add({})),
        redis_errors(
            prometheus::BuildCounter()
                .Name("lameduck_compensator_redis_errors_total")
                .Help("Failed Redis commands of the compensator, by command (connect: unreachable)")
                .Register(registry)),
        recreated(prometheus::BuildCounter()
                      .Name("lameduck_compensator_group_recreated_total")
                      .Help("Times the stream or consumer group was gone and was created again")
                      .Register(registry)
                      .Add({})) {}

  prometheus::Counter& applied;
  prometheus::Counter& retries;
  prometheus::Counter& dead;
  prometheus::Counter& invalid;
  prometheus::Family<prometheus::Counter>& redis_errors;
  prometheus::Counter& recreated;
};

CompensatorMetrics::CompensatorMetrics(prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(registry)) {}

CompensatorMetrics::~CompensatorMetrics() = default;

void CompensatorMetrics::onApplied() { impl_->applied.Increment(); }
void CompensatorMetrics::onRetry() { impl_->retries.Increment(); }
void CompensatorMetrics::onDeadLettered() { impl_->dead.Increment(); }
void CompensatorMetrics::onInvalid() { impl_->invalid.Increment(); }
void CompensatorMetrics::onRedisError(std::string_view command) {
  impl_->redis_errors.Add({{"command", std::string(command)}}).Increment();
}
void CompensatorMetrics::onGroupRecreated() { impl_->recreated.Increment(); }

}  // namespace lameduck::saga
