#pragma once

// The span model of the exit trace and its OTLP/HTTP JSON encoding.
//
// A Span is plain data: ids as lowercase hex, times as wall-clock instants,
// attributes and events as recorded. encodeExportRequest() renders spans the
// way an OpenTelemetry collector reads them over OTLP/HTTP with
// `Content-Type: application/json`: one resourceSpans entry (the pod and the
// service) with one scopeSpans entry (scope "lameduck"); hex trace and span
// ids, unix-nanosecond times as decimal strings, integer enums, 64-bit
// integer attributes as decimal strings (the protobuf JSON mapping of int64).
//
// Everything here is pure (no I/O, no clock) and thread-safe. Values that come
// from outside (an app's answers end up in step attributes) are bounded when
// encoded: long strings are cut, attributes and events past a limit are
// dropped and counted in droppedAttributesCount / droppedEventsCount.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/trace_context.h"
#include "exit/span.h"

namespace lameduck::trace {

// The attribute types are the ones steps record with (exit/span.h).
using exit::AttrValue;
using exit::Attribute;
using exit::Attributes;

// OTLP enum values, as integers on the wire.
enum class SpanKind : int { kInternal = 1, kServer = 2, kClient = 3 };
enum class StatusCode : int { kUnset = 0, kOk = 1, kError = 2 };

struct SpanEvent {
  std::string name;
  WallTime time;
  Attributes attributes;
};

struct Span {
  std::string trace_id;        // 32 lowercase hex digits
  std::string span_id;         // 16 lowercase hex digits
  std::string parent_span_id;  // 16 hex digits, or empty for a root span
  // The parent lives in another process (an incoming traceparent).
  bool parent_is_remote = false;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  WallTime start;
  WallTime end;
  Attributes attributes;
  std::vector<SpanEvent> events;
  StatusCode status = StatusCode::kUnset;
  std::string status_message;  // only sent with kError
};

// Who emitted the spans: the resource attributes of the request.
struct Resource {
  Attributes attributes;

  // service.name (`service`, else "lameduck"), service.version, and the pod
  // identity from the downward API (k8s.pod.name, k8s.namespace.name,
  // k8s.pod.uid, k8s.node.name); identity fields that are empty are left out.
  static Resource forPod(std::string_view service, const log::Identity& identity,
                         std::string_view version);
};

// Encoding bounds; past them values are cut or dropped (and counted).
inline constexpr size_t kMaxAttributesPerSpan = 128;
inline constexpr size_t kMaxEventsPerSpan = 128;
inline constexpr size_t kMaxAttributesPerEvent = 32;
inline constexpr size_t kMaxStringValueBytes = 4096;

// The body of `POST <endpoint>/v1/traces` (an ExportTraceServiceRequest) for
// `spans`, all under `resource` and the scope "lameduck" at `scope_version`.
// Never throws: invalid UTF-8 is replaced, non-finite doubles become the
// strings "NaN", "Infinity", "-Infinity" (the protobuf JSON mapping).
std::string encodeExportRequest(const Resource& resource, const std::vector<Span>& spans,
                                std::string_view scope_version);

// ---- ids and W3C trace context ----

// The W3C ids and traceparent format have one home, common/trace_context.h.
using ::lameduck::isSpanId;
using ::lameduck::isTraceId;
using ::lameduck::newSpanId;
using ::lameduck::newTraceId;
using ::lameduck::TraceContext;

// Unix nanoseconds as a decimal string (OTLP JSON fixed64); times before the
// epoch are clamped to "0".
std::string unixNanos(WallTime t);

}  // namespace lameduck::trace
