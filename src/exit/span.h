#pragma once

// Span details a step records while it runs (attributes and events of its
// span in the exit trace, and child spans under it). Plain values: whoever
// exports the trace (src/trace) turns them into OTLP.
//
// Thread-safety: plain values, safe to copy and read from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/trace_context.h"

namespace lameduck::exit {

using AttrValue = std::variant<std::string, int64_t, double, bool>;

struct Attribute {
  std::string key;
  AttrValue value;
};
using Attributes = std::vector<Attribute>;

// An event of a span, at a time of type `Time`.
template <typename Time>
struct TimedEvent {
  std::string name;
  Time at{};
  Attributes attributes;
};
using SpanEvent = TimedEvent<WallTime>;

// The status of a child span (OTLP's unset / ok / error).
enum class SpanStatus { kUnset, kOk, kError };

// What a child span of a step holds, with times of type `Time`.
template <typename Time>
struct ChildSpanOf {
  using Event = TimedEvent<Time>;
  std::string name;
  Time start{};
  Time end{};
  Attributes attributes;
  std::vector<Event> events;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;  // why, with kError
};

// A finished part of a step's work, recorded as a child span of the step's
// span (ExitRecorder::span): one round of a step that repeats, say. Times are
// on the exit's clock (StepContext::clock), so a step builds it from the
// same now() it waits with.
using ChildSpan = ChildSpanOf<TimePoint>;

// A child span as the exit's record keeps it (StepReport::children):
// wall-clock times inside the step's, and a span id of its own (its parent
// is the step's span).
struct ChildSpanReport : ChildSpanOf<WallTime> {
  std::string span_id;
};

// The W3C trace context of an exit (common/trace_context.h): the engine
// reads a caller's traceparent and makes the exit's ids with it.
using ::lameduck::newSpanId;
using ::lameduck::newTraceId;
using ::lameduck::TraceContext;

}  // namespace lameduck::exit
