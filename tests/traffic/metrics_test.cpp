// The traffic shift's metrics, read from a real registry's text exposition.

#include "traffic/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/exposition.h"

namespace lameduck::traffic {
namespace {

using ::testing::HasSubstr;

TEST(TrafficMetrics, WeightStartsAtFullAndEveryResultExistsFromTheStart) {
  prometheus::Registry registry;
  Metrics m(registry);
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_traffic_weight_percent 100"));
  for (const char* result : {"passed", "held", "continued", "failed"}) {
    EXPECT_THAT(
        text, HasSubstr("lameduck_traffic_steps_total{result=\"" + std::string(result) + "\"} 0"));
  }
  for (const char* result : {"pass", "fail", "inconclusive"}) {
    EXPECT_THAT(text, HasSubstr("lameduck_traffic_gate_checks_total{result=\"" +
                                std::string(result) + "\"} 0"));
  }
}

TEST(TrafficMetrics, RecordsWeightStepsAndGateChecks) {
  prometheus::Registry registry;
  Metrics m(registry);
  ShiftObserver& observer = m;
  observer.onWeight(40);
  observer.onTrafficStep("passed");
  observer.onTrafficStep("passed");
  observer.onGateCheck("inconclusive");
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_traffic_weight_percent 40"));
  EXPECT_THAT(text, HasSubstr("lameduck_traffic_steps_total{result=\"passed\"} 2"));
  EXPECT_THAT(text, HasSubstr("lameduck_traffic_gate_checks_total{result=\"inconclusive\"} 1"));
}

}  // namespace
}  // namespace lameduck::traffic
