#include "trace/tracer.h"

#include <chrono>

namespace lameduck::trace {
namespace {

std::vector<SpanEvent> convert(const std::vector<exit::SpanEvent>& in) {
  std::vector<SpanEvent> out;
  out.reserve(in.size());
  for (const exit::SpanEvent& e : in) out.push_back({e.name, e.at, e.attributes});
  return out;
}

int64_t millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

StatusCode statusOf(exit::SpanStatus s) {
  switch (s) {
    case exit::SpanStatus::kOk:
      return StatusCode::kOk;
    case exit::SpanStatus::kError:
      return StatusCode::kError;
    case exit::SpanStatus::kUnset:
      break;
  }
  return StatusCode::kUnset;
}

// A span of the exit's trace with its place and times; the caller adds
// what it carries.
Span spanAt(const std::string& trace_id, std::string span_id, std::string parent_span_id,
            std::string name, WallTime start, WallTime end) {
  Span s;
  s.trace_id = trace_id;
  s.span_id = std::move(span_id);
  s.parent_span_id = std::move(parent_span_id);
  s.name = std::move(name);
  s.start = start;
  s.end = end;
  return s;
}

bool failedStep(exit::StepStatus s) {
  return s == exit::StepStatus::kFailed || s == exit::StepStatus::kDeadline;
}

}  // namespace

std::vector<Span> exitSpans(const exit::Summary& summary, const log::Identity& who) {
  std::vector<Span> spans;
  if (summary.trace_id.empty() || summary.span_id.empty()) return spans;

  Span root;
  root.trace_id = summary.trace_id;
  root.span_id = summary.span_id;
  root.parent_span_id = summary.parent_span_id;
  root.parent_is_remote = !summary.parent_span_id.empty();
  root.name = "exit";
  root.start = summary.started_wall;
  root.end = summary.started_wall + summary.elapsed;
  root.attributes = {
      {"lameduck.trigger", summary.trigger},
      {"lameduck.outcome", std::string(exit::outcomeName(summary.outcome))},
      {"lameduck.budget_ms", millis(summary.budget)},
      {"lameduck.compensation_reserve_ms", millis(summary.compensation_reserve)},
  };
  auto identity = [&](const char* key, const std::string& value) {
    if (!value.empty()) root.attributes.push_back({key, value});
  };
  identity("k8s.pod.name", who.pod);
  identity("k8s.namespace.name", who.namespace_);
  identity("k8s.pod.uid", who.pod_uid);
  identity("k8s.node.name", who.node);
  identity("lameduck.revision", who.revision);
  switch (summary.outcome) {
    case exit::Outcome::kCompleted:
      root.status = StatusCode::kOk;
      break;
    case exit::Outcome::kDeadline:
    case exit::Outcome::kFailed:
      root.status = StatusCode::kError;
      root.status_message = std::string(exit::outcomeName(summary.outcome)) +
                            (summary.reason.empty() ? "" : ": " + summary.reason);
      if (!summary.reason.empty()) root.attributes.push_back({"lameduck.reason", summary.reason});
      break;
    case exit::Outcome::kNone:
      break;
  }
  spans.push_back(std::move(root));

  for (const exit::PhaseTiming& p : summary.phases) {
    if (p.span_id.empty()) continue;
    Span phase = spanAt(summary.trace_id, p.span_id, summary.span_id,
                        std::string(exit::phaseName(p.phase)), p.started_wall,
                        p.started_wall + p.took);
    phase.attributes = {{"lameduck.phase.budget_ms", millis(p.budget)}};
    phase.status = StatusCode::kOk;
    for (const exit::StepReport& r : summary.steps) {
      if (r.phase == p.phase && failedStep(r.status)) {
        phase.status = StatusCode::kError;
        phase.status_message = r.name + ": " + std::string(exit::stepStatusName(r.status)) +
                               (r.detail.empty() ? "" : ": " + r.detail);
        break;
      }
    }
    spans.push_back(std::move(phase));
  }

  for (const exit::StepReport& r : summary.steps) {
    if (r.span_id.empty()) continue;
    Span step = spanAt(summary.trace_id, r.span_id, r.parent_span_id, r.name, r.started_wall,
                       r.started_wall + r.took);
    step.attributes = r.attributes;
    step.attributes.push_back(
        {"lameduck.step.status", std::string(exit::stepStatusName(r.status))});
    if (!r.detail.empty()) step.attributes.push_back({"lameduck.step.detail", r.detail});
    step.events = convert(r.events);
    if (failedStep(r.status)) {
      step.status = StatusCode::kError;
      step.status_message =
          std::string(exit::stepStatusName(r.status)) + (r.detail.empty() ? "" : ": " + r.detail);
    } else if (r.status == exit::StepStatus::kOk) {
      step.status = StatusCode::kOk;
    }
    spans.push_back(std::move(step));

    // The step's finished parts, under its span.
    for (const exit::ChildSpanReport& c : r.children) {
      if (c.span_id.empty()) continue;
      Span child = spanAt(summary.trace_id, c.span_id, r.span_id, c.name, c.start, c.end);
      child.attributes = c.attributes;
      child.events = convert(c.events);
      child.status = statusOf(c.status);
      if (child.status == StatusCode::kError) child.status_message = c.status_message;
      spans.push_back(std::move(child));
    }
  }
  return spans;
}

ExitTracer::ExitTracer(const config::OtlpConfig& config, Clock& clock, ExportObserver& observer,
                       Resource resource, log::Identity who)
    : clock_(clock),
      observer_(observer),
      resource_(std::move(resource)),
      who_(std::move(who)),
      exporter_(config, clock, observer) {
  thread_ = std::thread([this] { run(); });
}

ExitTracer::~ExitTracer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ExitTracer::onExitDone(const exit::Summary& summary) {
  std::vector<Span> spans = exitSpans(summary, who_);
  if (spans.empty()) return;
  {
    std::lock_guard lock(mu_);
    trace_id_ = summary.trace_id;
    root_span_id_ = summary.span_id;
  }
  if (!enqueue(std::move(spans))) {
    log::warn("trace export dropped: too many exports waiting",
              {{"trace_id", summary.trace_id}, {"pending", kMaxPendingExports}});
  }
}

bool ExitTracer::exportLater(Span span) {
  {
    std::lock_guard lock(mu_);
    if (trace_id_.empty()) return false;
    span.trace_id = trace_id_;
    span.parent_span_id = root_span_id_;
    span.parent_is_remote = false;
  }
  if (!isSpanId(span.span_id)) span.span_id = newSpanId();
  return enqueue({std::move(span)});
}

bool ExitTracer::enqueue(std::vector<Span> spans) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= kMaxPendingExports) {
      observer_.onTraceExport(kExportFailed);
      return false;
    }
    queue_.push_back(std::move(spans));
  }
  cv_.notify_all();
  return true;
}

bool ExitTracer::flush(Duration timeout) {
  std::unique_lock lock(mu_);
  return clock_.waitUntil(cv_, lock, clock_.now() + timeout,
                          [this] { return queue_.empty() && !busy_; });
}

std::optional<ExportReport> ExitTracer::lastReport() const {
  std::lock_guard lock(mu_);
  return last_report_;
}

void ExitTracer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    // An event wait, not a timed one: it ends when work arrives or the
    // destructor asks the thread to stop; each export below is bounded.
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<Span> spans = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    ExportReport report = exporter_.exportSpans(resource_, spans);
    lock.lock();
    busy_ = false;
    last_report_ = std::move(report);
    cv_.notify_all();
  }
}

}  // namespace lameduck::trace
