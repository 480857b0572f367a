#include "app/steps.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace lameduck::app {
namespace {

exit::StepResult fromError(const Error& e) {
  if (e.code == ErrorCode::kDeadlineExceeded) return exit::StepResult::deadline(e.message);
  return exit::StepResult::failed(e.message);
}

// One hook call as its step's span shows it: the hook, the HTTP status when
// an answer came back, and the error when the call failed.
template <typename T>
void recordCall(exit::StepContext& ctx, std::string_view hook, int http_status,
                const Result<T>& result) {
  ctx.record.attribute("app.hook", std::string(hook));
  if (http_status != 0) {
    ctx.record.attribute("http.response.status_code", static_cast<int64_t>(http_status));
  }
  if (!result) {
    ctx.record.attribute("app.hook.error", result.error().message);
    ctx.record.attribute("app.hook.error_kind", std::string(errorCodeName(result.error().code)));
  }
}

}  // namespace

exit::StepResult DrainHookStep::run(exit::StepContext& ctx) {
  int http_status = 0;
  auto ok = app_.drain({ctx.callTimeout(timeout_), ctx.traceparent, &http_status});
  recordCall(ctx, "drain", http_status, ok);
  if (!ok) return fromError(ok.error());
  return exit::StepResult::ok();
}

exit::StepResult FetchCompensationsStep::run(exit::StepContext& ctx) {
  int http_status = 0;
  auto batch = app_.compensations({ctx.callTimeout(timeout_), ctx.traceparent, &http_status});
  recordCall(ctx, "compensations", http_status, batch);
  if (!batch) return fromError(batch.error());
  const size_t rejected = batch->rejectedCount();
  ctx.record.attribute("compensation.pending", static_cast<int64_t>(batch->valid.size()));
  ctx.record.attribute("compensation.rejected", static_cast<int64_t>(rejected));
  nlohmann::ordered_json section = {{"pending", batch->valid.size()},
                                    {"rejected", rejected},
                                    {"rejected_reasons", batch->rejected}};
  ctx.record.section(
      "compensations",
      section.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  // The first few reasons one by one (each names the entry's index), then
  // the count: log volume does not follow what the app sends.
  constexpr size_t kLoggedReasons = 10;
  for (size_t i = 0; i < batch->rejected.size() && i < kLoggedReasons; ++i) {
    log::warn("compensation entry rejected", {{"reason", batch->rejected[i]}});
  }
  log::info("compensations pending", {{"count", batch->valid.size()}, {"rejected", rejected}});
  std::string detail = std::to_string(batch->valid.size()) + " pending";
  if (rejected > 0) {
    detail +=
        ", " + std::to_string(rejected) + " rejected (first: " + batch->rejected.front() + ")";
  }
  return exit::StepResult::ok(detail);
}

exit::StepResult TerminateHookStep::run(exit::StepContext& ctx) {
  int http_status = 0;
  auto ok = app_.terminate({ctx.callTimeout(timeout_), ctx.traceparent, &http_status});
  recordCall(ctx, "terminate", http_status, ok);
  if (!ok) return fromError(ok.error());
  return exit::StepResult::ok();
}

}  // namespace lameduck::app
