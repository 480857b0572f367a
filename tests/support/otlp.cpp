#include "support/otlp.h"

#include <signal.h>

namespace lameduck::testing {

std::unique_ptr<OtlpCollector> OtlpCollector::start(const TempDir& dir, const Options& options,
                                                    std::string& error) {
  const std::string source = LAMEDUCK_SOURCE_DIR;
  const std::string install_log = dir.file("otlp-install.log");
  if (runCommand({source + "/tests/fixtures/otlp/install"}, install_log, 600s) != 0) {
    error = "tests/fixtures/otlp/install failed: " + readFile(install_log);
    return nullptr;
  }
  std::string tools = readFile(install_log);
  while (!tools.empty() && (tools.back() == '\n' || tools.back() == '\r')) tools.pop_back();

  std::unique_ptr<OtlpCollector> c(new OtlpCollector());
  c->out_ = dir.file("otlp-received.json");
  std::vector<std::string> argv{"/usr/bin/env",
                                "node",
                                source + "/tests/fixtures/otlp/collector.mjs",
                                "--tools",
                                tools,
                                "--out",
                                c->out_,
                                "--fail",
                                std::to_string(options.fail_first),
                                "--fail-status",
                                std::to_string(options.fail_status)};
  if (options.retry_after) {
    argv.push_back("--retry-after");
    argv.push_back(std::to_string(*options.retry_after));
  }
  c->process_ = std::make_unique<Process>(argv, dir.file("otlp-collector.log"));
  auto line = waitForLine(
      c->process_->outputPath(),
      [](const nlohmann::json& j) { return j.value("event", "") == "listening"; }, 60s);
  if (!line || !(*line)["port"].is_number_integer()) {
    error = "the OTLP collector did not start: " + c->process_->output();
    return nullptr;
  }
  c->port_ = (*line)["port"].get<int>();
  return c;
}

OtlpCollector::~OtlpCollector() {
  if (!process_) return;
  process_->signal(SIGTERM);
  if (!process_->waitExit(10s)) process_->signal(SIGKILL);
}

nlohmann::json OtlpCollector::read() const {
  // The receiver replaces the file atomically, so a read sees a whole one.
  nlohmann::json j = nlohmann::json::parse(readFile(out_), nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::vector<nlohmann::json> OtlpCollector::requests() const {
  nlohmann::json j = read();
  std::vector<nlohmann::json> out;
  if (j.contains("requests") && j["requests"].is_array()) {
    for (const auto& r : j["requests"]) out.push_back(r);
  }
  return out;
}

std::vector<nlohmann::json> OtlpCollector::spans() const {
  nlohmann::json j = read();
  std::vector<nlohmann::json> out;
  if (j.contains("spans") && j["spans"].is_array()) {
    for (const auto& s : j["spans"]) out.push_back(s);
  }
  return out;
}

bool OtlpCollector::waitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  return waitUntil([&] { return requests().size() >= n; }, timeout, 20ms);
}

std::string OtlpCollector::log() const { return process_ ? process_->output() : ""; }

}  // namespace lameduck::testing
