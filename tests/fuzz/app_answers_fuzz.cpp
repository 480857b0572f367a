// libFuzzer entry point for the app's status and compensations answers
// (app/http_app_client.h), plain and paged, and for what the exit does with
// an accepted compensations answer: FetchCompensationsStep records its
// section, the exit summary renders it, and `lameduck prestop` reads the
// outcome back from that summary. Built by the fuzz preset, run by
// tests/fuzz/run (`tests/fuzz/run app_answers`).
// Properties: never crashes or throws; ids of accepted compensations are
// never empty and each within the entry bound; refusals are listed up to
// their bound; the summary built from any answer reads back; the streamed
// reading (chunks of 3) accepts exactly what the paged parser accepts and
// hands over the same entries, in order.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "app/http_app_client.h"
#include "app/steps.h"
#include "common/clock.h"
#include "common/log.h"
#include "exit/summary.h"

namespace {

using namespace lameduck;

// Fuzz targets cannot link GTest, which tests/fakes needs: hence these tiny
// stand-ins of their own.

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
    if (c.id.size() + c.saga_id.size() + c.step.size() + c.action.size() + c.payload_json.size() >
        app::kMaxCompensationBytes) {
      std::abort();
    }
  }
  if (batch.rejected.size() > app::kMaxRejectedListed) std::abort();
  if (batch.rejected_unlisted > 0 && batch.rejected.size() != app::kMaxRejectedListed) std::abort();
}

void checkStreamed(std::string_view text,
                   const lameduck::Result<app::CompensationPage>& page) {
  std::vector<app::Compensation> streamed;
  auto streamed_page = app::streamCompensationsAnswer(
      text, 1 << 20, 3, [&](std::vector<app::Compensation>& chunk) {
        if (chunk.empty() || chunk.size() > 3) std::abort();
        for (auto& c : chunk) streamed.push_back(std::move(c));
      });
  if (page.has_value() != streamed_page.has_value()) std::abort();
  if (!page) {
    if (!streamed.empty()) std::abort();  // a refused answer hands nothing over
    return;
  }
  if (!streamed_page->batch.valid.empty() || streamed.size() != page->batch.valid.size() ||
      streamed_page->next != page->next ||
      streamed_page->batch.rejectedCount() != page->batch.rejectedCount()) {
    std::abort();
  }
  for (size_t i = 0; i < streamed.size(); ++i) {
    if (streamed[i].id != page->batch.valid[i].id ||
        streamed[i].payload_json != page->batch.valid[i].payload_json) {
      std::abort();
    }
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
  auto page = app::parseCompensationsPage(text, 1 << 20);
  if (page) {
    checkBatch(page->batch);
    if (page->next && page->next->empty()) std::abort();
  }
  checkStreamed(text, page);
  return 0;
}
