// libFuzzer entry point for a traffic webhook's answer (traffic/webhook.h,
// webhookAnswer) and for where its words end up: the traffic section of the
// exit summary and a log record. Built by the fuzz preset, run by
// tests/fuzz/run (`tests/fuzz/run webhook`).
// The first two bytes are the HTTP status (100..599), the rest the body.
// Properties: never crashes or throws; 2xx and only 2xx is accepted; the
// section and the log record are JSON whatever the body holds.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/log.h"
#include "traffic/report.h"
#include "traffic/webhook.h"

namespace {

void mustBeJson(const std::string& text) {
  if (nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false).is_discarded()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lameduck;
  if (size < 2) return 0;
  const int status = 100 + (data[0] << 8 | data[1]) % 500;
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  auto answer = traffic::webhookAnswer("webhook http://lb:8080/weights", status, body);
  if (answer.has_value() != (status >= 200 && status < 300)) std::abort();
  const std::string detail = answer ? *answer : answer.error().message;

  traffic::TrafficReport report;
  report.backend = "webhook";
  traffic::TrafficStepReport step;
  step.backend_detail = detail;
  step.detail = detail;
  report.steps.push_back(step);
  mustBeJson(traffic::toJson(report));
  mustBeJson(log::formatRecord(log::Format::kJson, WallTime{}, log::Level::kWarn,
                               "traffic weight not set", {{"error", detail}}, {}, false));
  return 0;
}
