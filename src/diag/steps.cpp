#include "diag/steps.h"

#include <nlohmann/json.hpp>

namespace lameduck::diag {
namespace {

std::string errorSection(const std::string& source, const Error& error) {
  nlohmann::ordered_json j = {{"source", source}, {"error", error.describe()}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int64_t notCancellable(const Report& report) {
  int64_t n = 0;
  for (const Group& g : report.groups) {
    if (!g.cancellable) n += g.count;
  }
  return n;
}

}  // namespace

exit::StepResult BaselineStep::run(exit::StepContext& ctx) {
  const Duration timeout = ctx.callTimeout(timeout_);
  if (timeout <= Duration::zero()) return exit::StepResult::deadline("no time left for the dump");
  if (auto ok = diagnosis_.takeBaseline(timeout); !ok) {
    ctx.record.attribute("diagnosis.error", ok.error().describe());
    // Skipped, not failed: a missing diagnosis never changes the exit's outcome.
    return exit::StepResult::skipped("baseline goroutine dump: " + ok.error().message);
  }
  return exit::StepResult::ok("baseline goroutine dump taken from " + diagnosis_.source());
}

exit::StepResult DeadlineDumpStep::run(exit::StepContext& ctx) {
  const exit::StepReport* drain = ctx.find(drain_step_);
  if (!drain) return exit::StepResult::skipped("the drain wait did not run");
  if (drain->status != exit::StepStatus::kDeadline) {
    return exit::StepResult::skipped("the drain finished within its budget");
  }
  // ctx.deadline includes this step's grace: bounded by app.timeout either way.
  const Duration timeout = ctx.callTimeout(timeout_);
  if (timeout <= Duration::zero()) return exit::StepResult::deadline("no time left for the dump");
  auto report = diagnosis_.diagnose(timeout);
  if (!report) {
    ctx.record.section(kDiagnosisSection, errorSection(diagnosis_.source(), report.error()));
    ctx.record.attribute("diagnosis.error", report.error().describe());
    return exit::StepResult::skipped("goroutine dump at the drain deadline: " +
                                     report.error().message);
  }
  ctx.record.section(kDiagnosisSection, renderJson(*report));
  ctx.record.attribute("diagnosis.groups", static_cast<int64_t>(report->groups.size()));
  ctx.record.attribute("diagnosis.not_cancellable", notCancellable(*report));
  ctx.record.attribute("diagnosis.goroutines", report->goroutines_at_end);
  return exit::StepResult::ok(describe(*report));
}

}  // namespace lameduck::diag
