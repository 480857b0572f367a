#include "diag/stuck_span.h"

#include "common/log.h"

namespace lameduck::diag {

trace::Span stuckSpan(const StuckReport& stuck) {
  trace::Span span;
  span.name = "app_shutdown_stuck";
  span.start = stuck.taken - std::chrono::duration_cast<WallTime::duration>(stuck.fetch_took);
  span.end = stuck.taken;
  int64_t stuck_goroutines = 0, not_cancellable = 0;
  for (const Group& g : stuck.report.groups) {
    stuck_goroutines += g.count;
    if (!g.cancellable) not_cancellable += g.count;
  }
  span.attributes = {{"after_hook_ms", static_cast<int64_t>(toMillis(stuck.after_hook))},
                     {"goroutines", stuck.report.goroutines_at_end},
                     {"stuck_goroutines", stuck_goroutines},
                     {"not_cancellable", not_cancellable}};
  for (const Group& g : stuck.report.groups) {
    span.events.push_back(trace::SpanEvent{"stuck_goroutines",
                                           stuck.taken,
                                           {{"count", g.count},
                                            {"wait_reason", g.wait_reason},
                                            {"minutes", g.minutes},
                                            {"function", g.function},
                                            {"location", g.location},
                                            {"created_by", g.created_by},
                                            {"cancellable", g.cancellable}}});
  }
  span.status = trace::StatusCode::kError;
  span.status_message = "the app was still running after SIGTERM";
  return span;
}

void StuckSpan::onShutdownStuck(const StuckReport& stuck) {
  if (!tracer_.exportLater(stuckSpan(stuck))) {
    log::warn(
        "the app_shutdown_stuck span was not exported: no exit trace to add it to, or "
        "the exporter's queue is full",
        {{"pending_limit", static_cast<int64_t>(trace::kMaxPendingExports)}});
  }
}

}  // namespace lameduck::diag
