#include "trace/otlp.h"

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

namespace lameduck::trace {
namespace {

using nlohmann::ordered_json;

// OTLP span flags: the low byte is the W3C trace flags (sampled); bit 8 says
// whether the parent's remoteness is known, bit 9 that it is remote.
constexpr int kFlagSampled = 0x01;
constexpr int kFlagHasIsRemote = 0x100;
constexpr int kFlagIsRemote = 0x200;

// Cuts a string at a byte bound without splitting a UTF-8 sequence.
std::string bounded(const std::string& s) {
  if (s.size() <= kMaxStringValueBytes) return s;
  size_t end = kMaxStringValueBytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

ordered_json anyValue(const AttrValue& value) {
  ordered_json v = ordered_json::object();
  if (const auto* s = std::get_if<std::string>(&value)) {
    v["stringValue"] = bounded(*s);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    v["intValue"] = std::to_string(*i);  // int64 is a decimal string in protobuf JSON
  } else if (const auto* d = std::get_if<double>(&value)) {
    if (std::isnan(*d)) {
      v["doubleValue"] = "NaN";
    } else if (std::isinf(*d)) {
      v["doubleValue"] = *d > 0 ? "Infinity" : "-Infinity";
    } else {
      v["doubleValue"] = *d;
    }
  } else {
    v["boolValue"] = std::get<bool>(value);
  }
  return v;
}

// The attributes as KeyValue list; returns how many were dropped.
int64_t keyValues(const Attributes& attributes, size_t limit, ordered_json& out) {
  out = ordered_json::array();
  for (size_t i = 0; i < attributes.size() && i < limit; ++i) {
    out.push_back({{"key", bounded(attributes[i].key)}, {"value", anyValue(attributes[i].value)}});
  }
  return attributes.size() > limit ? static_cast<int64_t>(attributes.size() - limit) : 0;
}

ordered_json encodeSpan(const Span& span) {
  ordered_json j;
  j["traceId"] = span.trace_id;
  j["spanId"] = span.span_id;
  if (!span.parent_span_id.empty()) j["parentSpanId"] = span.parent_span_id;
  j["name"] = bounded(span.name);
  j["kind"] = static_cast<int>(span.kind);
  j["startTimeUnixNano"] = unixNanos(span.start);
  j["endTimeUnixNano"] = unixNanos(span.end);
  ordered_json attributes;
  j["droppedAttributesCount"] = keyValues(span.attributes, kMaxAttributesPerSpan, attributes);
  j["attributes"] = std::move(attributes);
  ordered_json events = ordered_json::array();
  for (size_t i = 0; i < span.events.size() && i < kMaxEventsPerSpan; ++i) {
    const SpanEvent& e = span.events[i];
    ordered_json ev;
    ev["name"] = bounded(e.name);
    ev["timeUnixNano"] = unixNanos(e.time);
    ordered_json ea;
    ev["droppedAttributesCount"] = keyValues(e.attributes, kMaxAttributesPerEvent, ea);
    ev["attributes"] = std::move(ea);
    events.push_back(std::move(ev));
  }
  j["events"] = std::move(events);
  j["droppedEventsCount"] = span.events.size() > kMaxEventsPerSpan
                                ? static_cast<int64_t>(span.events.size() - kMaxEventsPerSpan)
                                : 0;
  j["links"] = ordered_json::array();
  j["droppedLinksCount"] = 0;
  ordered_json status;
  status["code"] = static_cast<int>(span.status);
  if (span.status == StatusCode::kError && !span.status_message.empty()) {
    status["message"] = bounded(span.status_message);
  }
  j["status"] = std::move(status);
  j["flags"] = kFlagSampled | kFlagHasIsRemote | (span.parent_is_remote ? kFlagIsRemote : 0);
  return j;
}

}  // namespace

Resource Resource::forPod(std::string_view service, const log::Identity& identity,
                          std::string_view version) {
  Resource r;
  r.attributes.push_back({"service.name", std::string(service.empty() ? "lameduck" : service)});
  r.attributes.push_back({"service.version", std::string(version)});
  auto add = [&](const char* key, const std::string& value) {
    if (!value.empty()) r.attributes.push_back({key, value});
  };
  add("k8s.pod.name", identity.pod);
  add("k8s.namespace.name", identity.namespace_);
  add("k8s.pod.uid", identity.pod_uid);
  add("k8s.node.name", identity.node);
  return r;
}

std::string encodeExportRequest(const Resource& resource, const std::vector<Span>& spans,
                                std::string_view scope_version) {
  ordered_json res;
  ordered_json attributes;
  res["droppedAttributesCount"] = keyValues(resource.attributes, kMaxAttributesPerSpan, attributes);
  res["attributes"] = std::move(attributes);

  ordered_json encoded = ordered_json::array();
  for (const Span& s : spans) encoded.push_back(encodeSpan(s));

  ordered_json scope_spans;
  scope_spans["scope"] = {{"name", "lameduck"}, {"version", std::string(scope_version)}};
  scope_spans["spans"] = std::move(encoded);

  ordered_json resource_spans;
  resource_spans["resource"] = std::move(res);
  resource_spans["scopeSpans"] = ordered_json::array({std::move(scope_spans)});

  ordered_json request;
  request["resourceSpans"] = ordered_json::array({std::move(resource_spans)});
  return request.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string unixNanos(WallTime t) {
  const int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return std::to_string(ns < 0 ? 0 : ns);
}

}  // namespace lameduck::trace
