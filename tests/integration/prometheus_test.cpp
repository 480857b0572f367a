// A real prometheus server scrapes lameduck; the value is read back through
// prometheus's HTTP API.

#include "support/prometheus.h"

#include <gtest/gtest.h>

#include "integration/daemon.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;

TEST(Prometheus, ScrapesLameduckAndServesItsMetricsBack) {
  Daemon d("");
  ASSERT_GT(d.metricsPort(), 0);
  TempDir dir;
  std::string error;
  auto prom =
      Prometheus::start(dir, {{"lameduck", "127.0.0.1:" + std::to_string(d.metricsPort())}}, error);
  ASSERT_TRUE(prom) << error;
  const int port = prom->port();

  json result;
  bool found = waitUntil(
      [&] {
        auto r = call(port, "GET", "/api/v1/query?query=lameduck_build_info", {},
                      std::chrono::seconds(5));
        if (!r || r->status != 200) return false;
        json j = json::parse(r->body, nullptr, false);
        if (j.is_discarded() || j["status"] != "success" || j["data"]["result"].empty())
          return false;
        result = j["data"]["result"][0];
        return true;
      },
      60s, 250ms);
  ASSERT_TRUE(found) << readFile(dir.file("prometheus.log"));
  EXPECT_EQ(result["metric"]["job"], "lameduck");
  EXPECT_EQ(result["metric"]["version"], "0.1.0");
  EXPECT_EQ(result["value"][1], "1");

  // An exit's outcome also reaches prometheus.
  ASSERT_EQ(d.adminStatus("/prestop"), 200);
  bool counted = waitUntil(
      [&] {
        auto r = call(port, "GET", "/api/v1/query?query=sum(lameduck_exits_total)", {},
                      std::chrono::seconds(5));
        if (!r || r->status != 200) return false;
        json j = json::parse(r->body, nullptr, false);
        return !j.is_discarded() && !j["data"]["result"].empty() &&
               j["data"]["result"][0]["value"][1] == "1";
      },
      60s, 250ms);
  EXPECT_TRUE(counted);
}

}  // namespace
}  // namespace lameduck::testing
