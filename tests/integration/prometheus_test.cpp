// A real prometheus server scrapes lameduck; the value is read back through
// prometheus's HTTP API.

#include <gtest/gtest.h>
#include <signal.h>

#include "integration/daemon.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;

TEST(Prometheus, ScrapesLameduckAndServesItsMetricsBack) {
  Daemon d("");
  ASSERT_GT(d.metricsPort(), 0);
  TempDir dir;
  std::string cfg = dir.write("prometheus.yml",
                              "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                              "scrape_configs:\n"
                              "  - job_name: lameduck\n"
                              "    static_configs: [{targets: ['127.0.0.1:" +
                                  std::to_string(d.metricsPort()) + "']}]\n");
  // prometheus cannot report a port it picked, so try a few free ones.
  std::unique_ptr<Process> prom;
  int port = 0;
  for (int attempt = 0; attempt < 3 && !prom; ++attempt) {
    port = freePort();
    auto p = std::make_unique<Process>(
        std::vector<std::string>{
            "/usr/bin/prometheus", "--config.file=" + cfg,
            "--storage.tsdb.path=" + dir.file("data-" + std::to_string(attempt)),
            "--web.listen-address=127.0.0.1:" + std::to_string(port)},
        dir.file("prometheus.log"));
    bool up = waitUntil(
        [&] {
          auto r = call(port, "GET", "/-/ready", {}, std::chrono::seconds(2));
          return (r && r->status == 200) || !p->running();
        },
        60s, 100ms);
    if (up && p->running()) prom = std::move(p);
  }
  ASSERT_TRUE(prom) << readFile(dir.file("prometheus.log"));

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
  ASSERT_EQ(d.admin("/prestop")->status, 200);
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
  prom->signal(SIGTERM);
  EXPECT_TRUE(prom->waitExit(30s).has_value());
}

}  // namespace
}  // namespace lameduck::testing
