// The OTLP/HTTP JSON encoding of exit spans (field names, types, enums, ids,
// bounds) and W3C traceparent parsing.

#include "trace/otlp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace lameduck::trace {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

WallTime at(int64_t unix_ns) { return WallTime(std::chrono::nanoseconds(unix_ns)); }

Span rootSpan() {
  Span s;
  s.trace_id = "0af7651916cd43dd8448eb211c80319c";
  s.span_id = "b7ad6b7169203331";
  s.name = "exit";
  s.start = at(1'700'000'000'123'456'789);
  s.end = at(1'700'000'002'000'000'000);
  s.attributes = {{"lameduck.trigger", std::string("prestop")},
                  {"lameduck.budget_ms", int64_t{28000}},
                  {"lameduck.ratio", 0.25},
                  {"lameduck.drained", true}};
  s.events = {{"quiet_period_restarted", at(1'700'000'001'000'000'000), {{"port", int64_t{8080}}}}};
  s.status = StatusCode::kError;
  s.status_message = "deadline: drain did not finish";
  return s;
}

json encodeOne(const Span& s, const Resource& r = {}) {
  return json::parse(encodeExportRequest(r, {s}, "1.2.3"));
}

TEST(OtlpEncoding, RequestHasResourceScopeAndSpanInOtlpJsonShape) {
  log::Identity who;
  who.pod = "checkout-0";
  who.namespace_ = "shop";
  who.pod_uid = "0b1c";
  who.node = "node-7";
  const json body = encodeOne(rootSpan(), Resource::forPod("checkout", who, "1.2.3"));

  ASSERT_EQ(body.size(), 1u);
  ASSERT_EQ(body["resourceSpans"].size(), 1u);
  const json& rs = body["resourceSpans"][0];
  const json& attrs = rs["resource"]["attributes"];
  std::map<std::string, std::string> resource;
  for (const json& kv : attrs) resource[kv["key"]] = kv["value"]["stringValue"];
  EXPECT_EQ(resource, (std::map<std::string, std::string>{{"service.name", "checkout"},
                                                          {"service.version", "1.2.3"},
                                                          {"k8s.pod.name", "checkout-0"},
                                                          {"k8s.namespace.name", "shop"},
                                                          {"k8s.pod.uid", "0b1c"},
                                                          {"k8s.node.name", "node-7"}}));
  ASSERT_EQ(rs["scopeSpans"].size(), 1u);
  EXPECT_EQ(rs["scopeSpans"][0]["scope"], json({{"name", "lameduck"}, {"version", "1.2.3"}}));

  const json& span = rs["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["traceId"], "0af7651916cd43dd8448eb211c80319c");  // hex, not base64
  EXPECT_EQ(span["spanId"], "b7ad6b7169203331");
  EXPECT_FALSE(span.contains("parentSpanId"));
  EXPECT_EQ(span["name"], "exit");
  EXPECT_EQ(span["kind"], 1);  // an integer enum: SPAN_KIND_INTERNAL
  EXPECT_EQ(span["startTimeUnixNano"], "1700000000123456789");  // decimal string
  EXPECT_EQ(span["endTimeUnixNano"], "1700000002000000000");
  EXPECT_EQ(span["status"], json({{"code", 2}, {"message", "deadline: drain did not finish"}}));
  EXPECT_EQ(span["flags"], 0x101);  // sampled, parent remoteness known (none)
  EXPECT_EQ(span["attributes"],
            json::parse(R"([{"key":"lameduck.trigger","value":{"stringValue":"prestop"}},
                            {"key":"lameduck.budget_ms","value":{"intValue":"28000"}},
                            {"key":"lameduck.ratio","value":{"doubleValue":0.25}},
                            {"key":"lameduck.drained","value":{"boolValue":true}}])"));
  EXPECT_EQ(span["events"],
            json::parse(R"([{"name":"quiet_period_restarted","timeUnixNano":"1700000001000000000",
                             "droppedAttributesCount":0,
                             "attributes":[{"key":"port","value":{"intValue":"8080"}}]}])"));
  EXPECT_EQ(span["droppedAttributesCount"], 0);
  EXPECT_EQ(span["droppedEventsCount"], 0);
  EXPECT_EQ(span["links"], json::array());
}

TEST(OtlpEncoding, PodIdentityLeftOutWhenUnknownAndServiceDefaultsToLameduck) {
  const Resource r = Resource::forPod("", log::Identity{}, "0.1.0");
  ASSERT_EQ(r.attributes.size(), 2u);
  EXPECT_EQ(r.attributes[0].key, "service.name");
  EXPECT_EQ(std::get<std::string>(r.attributes[0].value), "lameduck");
  EXPECT_EQ(r.attributes[1].key, "service.version");
}

TEST(OtlpEncoding, ChildOfARemoteParentSaysSo) {
  Span s = rootSpan();
  s.parent_span_id = "00f067aa0ba902b7";
  s.parent_is_remote = true;
  s.status = StatusCode::kOk;
  const json span = encodeOne(s)["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["parentSpanId"], "00f067aa0ba902b7");
  EXPECT_EQ(span["flags"], 0x301);
  EXPECT_EQ(span["status"], json({{"code", 1}}));  // a message only goes with an error
}

TEST(OtlpEncoding, OutsideValuesAreBoundedAndNeverBreakTheJson) {
  Span s = rootSpan();
  s.attributes.clear();
  for (size_t i = 0; i < kMaxAttributesPerSpan + 5; ++i) {
    s.attributes.push_back({"a" + std::to_string(i), int64_t(i)});
  }
  s.attributes.push_back({"huge", std::string(100'000, 'x')});
  s.events.assign(kMaxEventsPerSpan + 3, SpanEvent{"tick", s.start, {}});
  s.name = "bad \xff utf8 \"quoted\"\n";
  s.attributes[0].value = std::numeric_limits<double>::quiet_NaN();
  s.attributes[1].value = -std::numeric_limits<double>::infinity();
  s.attributes[2].value = int64_t{-9'223'372'036'854'775'807 - 1};
  const json span = encodeOne(s)["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["attributes"].size(), kMaxAttributesPerSpan);
  EXPECT_EQ(span["droppedAttributesCount"], 6);
  EXPECT_EQ(span["events"].size(), kMaxEventsPerSpan);
  EXPECT_EQ(span["droppedEventsCount"], 3);
  EXPECT_EQ(span["attributes"][0]["value"]["doubleValue"], "NaN");
  EXPECT_EQ(span["attributes"][1]["value"]["doubleValue"], "-Infinity");
  EXPECT_EQ(span["attributes"][2]["value"]["intValue"], "-9223372036854775808");
  EXPECT_THAT(span["name"].get<std::string>(), ::testing::StartsWith("bad "));

  Span big = rootSpan();
  big.attributes = {{"huge", std::string(100'000, 'x')}};
  const json b = encodeOne(big)["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(b["attributes"][0]["value"]["stringValue"].get<std::string>().size(),
            kMaxStringValueBytes);
}

TEST(OtlpEncoding, TimesBeforeTheEpochClampToZero) {
  EXPECT_EQ(unixNanos(at(-5)), "0");
  EXPECT_EQ(unixNanos(at(0)), "0");
  EXPECT_EQ(unixNanos(at(1)), "1");
}

TEST(TraceIds, FreshIdsAreLowercaseHexOfTheRightLengthAndDiffer) {
  const std::string t1 = newTraceId(), t2 = newTraceId(), s1 = newSpanId();
  EXPECT_TRUE(isTraceId(t1)) << t1;
  EXPECT_TRUE(isSpanId(s1)) << s1;
  EXPECT_NE(t1, t2);
  EXPECT_FALSE(isTraceId(std::string(32, '0')));
  EXPECT_FALSE(isSpanId("B7AD6B7169203331"));
  EXPECT_FALSE(isSpanId("b7ad6b716920333"));
}

TEST(Traceparent, ValidHeaderIsParsedAndFormattedBack) {
  auto ctx = TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(ctx->span_id, "b7ad6b7169203331");
  EXPECT_EQ(ctx->flags, 1);
  EXPECT_EQ(ctx->traceparent(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  // A future version may carry more fields after a dash.
  EXPECT_TRUE(TraceContext::parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-what"));
}

TEST(Traceparent, InvalidHeadersAreRefused) {
  for (const char* bad : {
           "", "garbage",
           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  // v00 is exact
           "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",        // forbidden version
           "00-00000000000000000000000000000000-b7ad6b7169203331-01",        // zero trace id
           "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",        // zero span id
           "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",        // upper case
           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",        // bad flags
           "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",        // separator
           "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",       // no dash after
       }) {
    EXPECT_FALSE(TraceContext::parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace lameduck::trace
