#pragma once

// The exit trace: turns what the exit engine recorded into spans and sends
// them to the OTLP collector.
//
// Spans of one exit (exitSpans): a root `exit` (trigger, outcome as status
// with the reason, budget, pod identity), a child per phase, a grandchild
// per step with the attributes and events the step recorded, and under a
// step the child spans it recorded (its finished parts). Ids and wall
// times come from the engine's Summary, so the hook requests (which carried
// the step spans' traceparents) and the exported spans agree.
//
// ExitTracer is an exit::ExitObserver: onExitDone builds the spans and hands
// them to its own export thread, so the exit (and the /prestop answer) is
// never held by the collector. Spans found later in the same trace (the
// after-SIGTERM diagnosis) go through exportLater(). Every export is bounded
// by trace.otlp.timeout; at most kMaxPendingExports wait, the rest are
// dropped and counted as failed. The destructor lets the pending exports
// finish (each bounded) and joins the thread.
//
// Thread-safe.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/log.h"
#include "config/config.h"
#include "exit/engine.h"
#include "trace/exporter.h"
#include "trace/otlp.h"

namespace lameduck::trace {

// The spans of one ended exit. Pure; `who` adds the pod identity to the root.
std::vector<Span> exitSpans(const exit::Summary& summary, const log::Identity& who);

inline constexpr size_t kMaxPendingExports = 4;

class ExitTracer final : public exit::ExitObserver {
 public:
  // `config.endpoint` must be set. Clock and observer must outlive the tracer.
  ExitTracer(const config::OtlpConfig& config, Clock& clock, ExportObserver& observer,
             Resource resource, log::Identity who);
  ~ExitTracer() override;
  ExitTracer(const ExitTracer&) = delete;
  ExitTracer& operator=(const ExitTracer&) = delete;

  // exit::ExitObserver: queues the exit's spans for export; returns at once.
  void onExitDone(const exit::Summary& summary) override;

  // A span found after the exit ended, in the same trace: its trace id and
  // parent (the root `exit` span) are filled in, and a span id when it has
  // none. Queued for export on its own. False (nothing queued) when no exit
  // has ended yet or kMaxPendingExports are already waiting.
  bool exportLater(Span span);

  // Waits until every queued export has finished, at most `timeout`
  // (on the tracer's clock). True when nothing is left.
  bool flush(Duration timeout);

  // The report of the last finished export; nullopt before the first.
  std::optional<ExportReport> lastReport() const;

 private:
  bool enqueue(std::vector<Span> spans);
  void run();

  Clock& clock_;
  ExportObserver& observer_;
  Resource resource_;
  log::Identity who_;
  Exporter exporter_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<Span>> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::string trace_id_;      // of the last ended exit
  std::string root_span_id_;  // its root span
  std::optional<ExportReport> last_report_;
  std::thread thread_;
};

}  // namespace lameduck::trace
