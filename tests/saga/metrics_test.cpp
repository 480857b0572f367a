// The compensation metrics, read from a real registry's text exposition.

#include "saga/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/exposition.h"

namespace lameduck::saga {
namespace {

using ::testing::HasSubstr;

TEST(HandoffMetrics, RecordsSinksFailuresSpoolAndWrites) {
  prometheus::Registry registry;
  HandoffMetrics m(registry);
  EXPECT_THAT(::lameduck::testing::exposition(registry),
              HasSubstr("lameduck_compensations_written_total{sink=\"spool\"} 0"));
  HandoffObserver& observer = m;
  observer.onWritten("redis", 5);
  observer.onFailure("unreachable");
  observer.onSpoolSize(3);
  observer.onWriteDuration(std::chrono::milliseconds(20));
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_compensations_written_total{sink=\"redis\"} 5"));
  EXPECT_THAT(text, HasSubstr("lameduck_compensation_failures_total{reason=\"unreachable\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_compensations_spooled 3"));
  EXPECT_THAT(text, HasSubstr("lameduck_compensation_write_duration_seconds_count 1"));
  EXPECT_THAT(text,
              HasSubstr("lameduck_compensation_write_duration_seconds_bucket{le=\"0.025\"} 1"));
}

TEST(CompensatorMetrics, CountsWhatTheCompensatorDid) {
  prometheus::Registry registry;
  CompensatorMetrics m(registry);
  CompensatorObserver& observer = m;
  observer.onApplied();
  observer.onApplied();
  observer.onRetry();
  observer.onDeadLettered();
  observer.onInvalid();
  observer.onRedisError("xreadgroup");
  observer.onGroupRecreated();
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_compensations_applied_total 2"));
  EXPECT_THAT(text, HasSubstr("lameduck_compensation_retries_total 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_compensations_dead_lettered_total 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_compensations_invalid_total 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_compensator_redis_errors_total{command=\"xreadgroup\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_compensator_group_recreated_total 1"));
}

}  // namespace
}  // namespace lameduck::saga
