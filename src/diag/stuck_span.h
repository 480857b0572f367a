#pragma once

// The after-SIGTERM diagnosis in the exit's trace: when the watch finds the
// app stuck in its shutdown (dump (3)), a span `app_shutdown_stuck`, a child
// of the root `exit` span, is exported after the exit's own spans. Its
// attributes count the goroutines (after_hook_ms, goroutines,
// stuck_goroutines, not_cancellable), one event `stuck_goroutines` per
// group says where each waits, and its status is an error.
//
// Failure: a span the tracer does not take (no exit ended yet, or its export
// queue is full; the tracer counts the latter as a failed export) is logged
// at warn and dropped; the exit is long over and nothing waits for it.
//
// Ownership: the tracer is borrowed and must outlive the observer.
// Thread-safety: as the tracer's (thread-safe); called on the watch's thread.

#include "diag/diagnosis.h"
#include "trace/tracer.h"

namespace lameduck::diag {

// The span of a stuck report, without ids (the tracer gives it the exit's
// trace id, the root span as parent and a span id of its own). Pure.
trace::Span stuckSpan(const StuckReport& stuck);

class StuckSpan final : public StuckObserver {
 public:
  explicit StuckSpan(trace::ExitTracer& tracer) : tracer_(tracer) {}
  void onShutdownStuck(const StuckReport& stuck) override;

 private:
  trace::ExitTracer& tracer_;
};

}  // namespace lameduck::diag
