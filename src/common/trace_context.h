#pragma once

// W3C trace context (https://www.w3.org/TR/trace-context/): the ids of an
// exit's trace and the `traceparent` header that carries them. One home for
// the format: the exit engine reads a caller's traceparent and makes the
// exit's ids here, and the trace exporter (src/trace) checks ids with the
// same rules.
//
// Failure: parse() returns nullopt for anything malformed; nothing throws.
// Thread-safety: every function is thread-safe (the random source is one per
// thread).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lameduck {

// A trace context: 32 lower-case hex digits of trace id, 16 of span id
// (neither all zero), and the flags (bit 0: sampled).
struct TraceContext {
  std::string trace_id;
  std::string span_id;
  uint8_t flags = 1;

  // "00-<trace id>-<span id>-01" (sampled).
  std::string traceparent() const;
  // Parses a traceparent header: version 00, or a later version read for its
  // first four fields when the text after them starts with '-' (as the W3C
  // spec asks). nullopt for anything else: wrong length or separators,
  // upper-case or non-hex digits, version ff, all-zero ids, a version-00
  // header with extra text.
  static std::optional<TraceContext> parse(std::string_view header);
};

// 32 (isTraceId) or 16 (isSpanId) lower-case hex digits, not all zero.
bool isTraceId(std::string_view hex);
bool isSpanId(std::string_view hex);

// Fresh random ids (never all zero).
std::string newTraceId();
std::string newSpanId();
// A traceparent with fresh random ids.
std::string newTraceparent();

}  // namespace lameduck
