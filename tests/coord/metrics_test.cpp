// Exit ordering's metrics, read from a real registry's text exposition.

#include "coord/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/exposition.h"

namespace lameduck::coord {
namespace {

using ::testing::HasSubstr;

TEST(CoordMetrics, RecordsWaitsByReasonErrorsAndCycles) {
  prometheus::Registry registry;
  Metrics m(registry);
  Observer& observer = m;
  observer.onCoordinationWait("slot", std::chrono::seconds(3));
  observer.onCoordinationWait("wait_for", Duration::zero());
  observer.onCoordinationWait("wait_for", std::chrono::milliseconds(500));
  observer.onCoordinationWait("elsewhere", std::chrono::seconds(1));  // not a reason: dropped
  observer.onCoordinationError();
  observer.onCoordinationCycle();
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_coordination_wait_seconds_count{reason=\"slot\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_coordination_wait_seconds_sum{reason=\"slot\"} 3"));
  EXPECT_THAT(text, HasSubstr("lameduck_coordination_wait_seconds_count{reason=\"wait_for\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("lameduck_coordination_wait_seconds_bucket{reason=\"slot\",le=\"300\"} 1"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("elsewhere")));
  EXPECT_THAT(text, HasSubstr("lameduck_coordination_errors_total 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_coordination_cycles_total 1"));
}

}  // namespace
}  // namespace lameduck::coord
