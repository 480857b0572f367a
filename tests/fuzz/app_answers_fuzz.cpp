// libFuzzer entry point for the app's status and compensations answers
// (app/http_app_client.h), plain and paged, and for what the exit does with
// an accepted compensations answer: FetchCompensationsStep records its
// section, the exit summary renders it, and `lameduck prestop` reads the
// outcome back from that summary. Built by the fuzz preset, run by
// tests/fuzz/run (`tests/fuzz/run app_answers`).
// Properties: never crashes or throws; ids of accepted compensations are
// never empty; the summary built from any answer reads back.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "app/http_app_client.h"
#include "app/steps.h"
#include "common/clock.h"
#include "common/log.h"
#include "exit/summary.h"

namespace {

using namespace lameduck;

// Answers compensations() with the batch it was given.
class CannedApp final : public app::AppClient {
 public:
  explicit CannedApp(app::CompensationBatch batch) : batch_(std::move(batch)) {}
  Status drain(const app::Call&) override { return {}; }
  Result<app::Figures> status(const app::Call&) override { return app::Figures{}; }
  Result<app::CompensationBatch> compensations(const app::Call&) override { return batch_; }
  Status ack(const std::vector<std::string>&, const app::Call&) override { return {}; }
  Status terminate(const app::Call&) override { return {}; }

 private:
  app::CompensationBatch batch_;
};

class Recorder final : public exit::ExitRecorder {
 public:
  void section(std::string_view name, std::string json) override {
    sections.push_back({std::string(name), std::move(json)});
  }
  void attribute(std::string, exit::AttrValue) override {}
  void event(std::string, exit::Attributes) override {}
  void span(exit::ChildSpan) override {}
  std::vector<exit::Section> sections;
};

void checkBatch(const app::CompensationBatch& batch) {
  for (const auto& c : batch.valid) {
    if (c.id.empty() || c.saga_id.empty() || c.action.empty()) std::abort();
  }
}

void runStep(const app::CompensationBatch& batch) {
  CannedApp app(batch);
  SimulatedClock clock;
  Recorder recorder;
  exit::StepContext ctx{clock, clock.now(), clock.now() + std::chrono::seconds(5), "", recorder};
  app::FetchCompensationsStep step(app, std::chrono::seconds(1));
  const exit::StepResult result = step.run(ctx);

  exit::Summary summary;
  summary.state = exit::State::kTerminated;
  summary.outcome = exit::Outcome::kCompleted;
  summary.trigger = "fuzz";
  exit::StepReport report;
  report.phase = exit::Phase::kCompensating;
  report.name = std::string(step.name());
  report.status = result.status;
  report.detail = result.detail;
  summary.steps.push_back(std::move(report));
  summary.sections = std::move(recorder.sections);
  auto outcome = exit::outcomeFromJson(exit::toJson(summary));
  if (!outcome || *outcome != exit::Outcome::kCompleted) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    log::init(log::Level::kError, log::Format::kJson, {});
    return true;
  }();
  (void)quiet;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)app::parseStatus(text, 1 << 20);
  if (auto batch = app::parseCompensations(text, 1 << 20)) {
    checkBatch(*batch);
    runStep(*batch);
  }
  if (auto page = app::parseCompensationsPage(text, 1 << 20)) {
    checkBatch(page->batch);
    if (page->next && page->next->empty()) std::abort();
  }
  return 0;
}
