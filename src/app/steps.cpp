#include "app/steps.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace lameduck::app {
namespace {

exit::StepResult fromError(const Error& e) {
  if (e.code == ErrorCode::kDeadlineExceeded) return exit::StepResult::deadline(e.message);
  return exit::StepResult::failed(e.message);
}

}  // namespace

exit::StepResult DrainHookStep::run(exit::StepContext& ctx) {
  auto ok = app_.drain({ctx.callTimeout(timeout_), ctx.traceparent});
  if (!ok) return fromError(ok.error());
  return exit::StepResult::ok();
}

exit::StepResult FetchCompensationsStep::run(exit::StepContext& ctx) {
  auto batch = app_.compensations({ctx.callTimeout(timeout_), ctx.traceparent});
  if (!batch) return fromError(batch.error());
  nlohmann::ordered_json section = {{"pending", batch->valid.size()},
                                    {"rejected", batch->rejected.size()},
                                    {"rejected_reasons", batch->rejected}};
  ctx.record.section(
      "compensations",
      section.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  for (const std::string& why : batch->rejected) {
    log::warn("compensation entry rejected", {{"reason", why}});
  }
  log::info("compensations pending",
            {{"count", batch->valid.size()}, {"rejected", batch->rejected.size()}});
  std::string detail = std::to_string(batch->valid.size()) + " pending";
  if (!batch->rejected.empty()) {
    detail += ", " + std::to_string(batch->rejected.size()) +
              " rejected (first: " + batch->rejected.front() + ")";
  }
  return exit::StepResult::ok(detail);
}

exit::StepResult TerminateHookStep::run(exit::StepContext& ctx) {
  auto ok = app_.terminate({ctx.callTimeout(timeout_), ctx.traceparent});
  if (!ok) return fromError(ok.error());
  return exit::StepResult::ok();
}

}  // namespace lameduck::app
