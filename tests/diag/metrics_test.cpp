// The exit diagnosis' metric, read from a real registry's text exposition.

#include "diag/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/exposition.h"

namespace lameduck::diag {
namespace {

using ::testing::HasSubstr;

TEST(DiagMetrics, GoroutinesAreSummedByWaitReason) {
  prometheus::Registry registry;
  Metrics m(registry);
  EXPECT_THAT(::lameduck::testing::exposition(registry), ::testing::Not(HasSubstr("lameduck_app_goroutines{")));
  StuckReport stuck;
  stuck.report.groups = {Group{3, "sleep", 0, "main.a", "/app/a.go:1", "", false},
                         Group{2, "chan receive", 1, "main.b", "/app/b.go:2", "", true},
                         Group{4, "sleep", 0, "main.c", "/app/c.go:3", "", false}};
  StuckObserver& observer = m;
  observer.onShutdownStuck(stuck);
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_app_goroutines{wait_reason=\"sleep\"} 7"));
  EXPECT_THAT(text, HasSubstr("lameduck_app_goroutines{wait_reason=\"chan receive\"} 2"));
}

}  // namespace
}  // namespace lameduck::diag
