// The drain's metrics, read from a real registry's text exposition.

#include "drain/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/exposition.h"

namespace lameduck::drain {
namespace {

using ::testing::HasSubstr;

TEST(DrainMetrics, ExposesTheContractNames) {
  prometheus::Registry registry;
  Metrics m(registry);
  m.onAppFigures(app::Figures{4, 9, 0, std::nullopt});
  m.onConnections(9, 2);
  m.onConnectionActivity(7, 2);
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_app_inflight 4"));
  EXPECT_THAT(text, HasSubstr("lameduck_app_connections{activity=\"busy\"} 7"));
  EXPECT_THAT(text, HasSubstr("lameduck_app_connections{activity=\"idle\"} 2"));
  EXPECT_THAT(text, HasSubstr("lameduck_app_new_connections_total 2"));
}

TEST(DrainMetrics, ConnectionSourceIsOneForTheReaderInUse) {
  prometheus::Registry registry;
  Metrics m(registry);
  m.onConnectionSource("proc");
  std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_drain_connection_source{source=\"proc\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_drain_connection_source{source=\"netlink\"} 0"));
  m.onConnectionSource("netlink");
  text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_drain_connection_source{source=\"proc\"} 0"));
  EXPECT_THAT(text, HasSubstr("lameduck_drain_connection_source{source=\"netlink\"} 1"));
}

}  // namespace
}  // namespace lameduck::drain
