#pragma once

// Span details a step records while it runs (attributes and events of its
// span in the exit trace), and the W3C trace context of an exit. Plain
// values: whoever exports the trace (src/trace) turns them into OTLP.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"

namespace lameduck::exit {

using AttrValue = std::variant<std::string, int64_t, double, bool>;

struct Attribute {
  std::string key;
  AttrValue value;
};
using Attributes = std::vector<Attribute>;

struct SpanEvent {
  std::string name;
  WallTime at{};
  Attributes attributes;
};

// A W3C trace context: 32 hex digits of trace id, 16 of span id.
struct TraceContext {
  std::string trace_id;
  std::string span_id;

  // "00-<trace id>-<span id>-01".
  std::string traceparent() const;
  // Parses a traceparent header (version 00, or a later version read as 00,
  // as the W3C spec asks). nullopt for anything malformed, all-zero ids and
  // version ff included.
  static std::optional<TraceContext> parse(std::string_view header);
};

// Fresh random ids (never all zero).
std::string newTraceId();
std::string newSpanId();

}  // namespace lameduck::exit
