// The app client's metric, read from a real registry's text exposition.

#include "app/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/exposition.h"

namespace lameduck::app {
namespace {

using ::testing::HasSubstr;

TEST(AppMetrics, CountsHookRequestsByHookAndCode) {
  prometheus::Registry registry;
  Metrics m(registry);
  m.hookRequest("drain", "200");
  HookObserver observer = m.observer();
  observer("status", "timeout");
  observer("status", "timeout");
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_hook_requests_total{code=\"200\",hook=\"drain\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_hook_requests_total{code=\"timeout\",hook=\"status\"} 2"));
}

}  // namespace
}  // namespace lameduck::app
