#include "support/prometheus.h"

#include <signal.h>

#include "common/parse.h"

namespace lameduck::testing {

std::unique_ptr<Prometheus> Prometheus::start(
    const TempDir& dir, const std::vector<std::pair<std::string, std::string>>& targets,
    std::string& error) {
  std::string jobs;
  for (const auto& [job, target] : targets) {
    jobs += "  - job_name: " + job + "\n    static_configs: [{targets: ['" + target + "']}]\n";
  }
  std::string cfg = dir.write("prometheus.yml",
                              "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                              "scrape_configs:\n" +
                                  jobs);
  std::unique_ptr<Prometheus> prom(new Prometheus());
  // prometheus cannot report a port it picked, so try a few free ones.
  for (int attempt = 0; attempt < 3 && !prom->process_; ++attempt) {
    const int port = freePort();
    const std::string data = dir.file("prometheus-data-" + std::to_string(attempt));
    auto p = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + cfg,
                                 "--storage.tsdb.path=" + data,
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port)},
        dir.file("prometheus.log"));
    bool up = waitUntil(
        [&] {
          auto r = call(port, "GET", "/-/ready", {}, 2s);
          return (r && r->status == 200) || !p->running();
        },
        60s, 100ms);
    // Another test's Prometheus may have taken the port in the meantime:
    // this one's flags name this attempt's data directory.
    bool ours = false;
    if (up && p->running()) {
      auto flags = call(port, "GET", "/api/v1/status/flags", {}, 5s);
      ours = flags && flags->status == 200 && flags->body.find(data) != std::string::npos;
    }
    if (ours) {
      prom->process_ = std::move(p);
      prom->port_ = port;
    }
  }
  if (!prom->process_) {
    error = "prometheus did not start: " + readFile(dir.file("prometheus.log"));
    return nullptr;
  }
  return prom;
}

Prometheus::~Prometheus() {
  if (!process_) return;
  process_->signal(SIGTERM);
  if (!process_->waitExit(30s)) process_->signal(SIGKILL);
}

nlohmann::json Prometheus::query(const std::string& expr) const {
  auto r = call(port_, "GET", "/api/v1/query?query=" + urlEncode(expr), {}, 5s);
  if (!r || r->status != 200) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(r->body, nullptr, false);
}

std::string Prometheus::firstValue(const std::string& expr) const {
  nlohmann::json j = query(expr);
  if (j.is_discarded() || j.value("status", "") != "success") return "";
  const nlohmann::json& result = j["data"]["result"];
  if (!result.is_array() || result.empty()) return "";
  return result[0]["value"][1].get<std::string>();
}

}  // namespace lameduck::testing
