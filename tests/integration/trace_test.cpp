// The exit trace end to end: the real lameduck binary runs a full exit
// against the sample app and exports it to a real OTLP receiver
// (TestCollector, checked against the OpenTelemetry JS encoder).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <set>

#include "integration/daemon.h"
#include "support/otlp.h"
#include "support/redis.h"
#include "support/webhook.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// kShortExit without the quiet period: the exit ends as soon as the app is idle.
constexpr const char* kShortExitNoQuietPeriod =
    "exit: {grace_period: 6s, safety_margin: 1s, compensation_reserve: 1s}\n"
    "app: {timeout: 500ms}\n"
    "drain: {poll_interval: 20ms, quiet_period: 0s}\n";

const std::map<std::string, std::string> kPodEnv{{"POD_NAME", "web-0"},
                                                 {"POD_NAMESPACE", "shop"},
                                                 {"POD_UID", "6f1c-uid"},
                                                 {"NODE_NAME", "node-a"}};

std::string str(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

uint64_t nanos(const json& span, const char* key) {
  return std::stoull(span[key].get<std::string>());
}

// A span attribute's OTLP value ({"intValue": "3"}, {"stringValue": ...});
// null when the span has no such attribute.
json attrOf(const json& span, const std::string& key) {
  for (const json& kv : span.value("attributes", json::array())) {
    if (kv.value("key", "") == key) return kv.value("value", json());
  }
  return json();
}
// An int64 attribute (a decimal string on the wire); -1 when missing.
int64_t intAttr(const json& span, const std::string& key) {
  const json v = attrOf(span, key);
  return v.contains("intValue") ? std::stoll(str(v["intValue"])) : -1;
}
std::string strAttr(const json& span, const std::string& key) {
  const json v = attrOf(span, key);
  return v.contains("stringValue") ? str(v["stringValue"]) : "";
}

std::map<std::string, std::string> resourceOf(const json& span) {
  std::map<std::string, std::string> out;
  for (const json& kv : span["resource"]["attributes"]) {
    if (kv["value"].contains("stringValue")) out[str(kv["key"])] = str(kv["value"]["stringValue"]);
  }
  return out;
}

struct Trace {
  std::vector<json> spans;
  std::map<std::string, json> by_id;
  const json* root = nullptr;

  explicit Trace(std::vector<json> all) : spans(std::move(all)) {
    for (const json& s : spans) by_id[str(s["spanId"])] = s;
    for (const json& s : spans) {
      if (!s.contains("parentSpanId") || !by_id.count(str(s["parentSpanId"]))) {
        if (s["name"] == "exit") root = &by_id[str(s["spanId"])];
      }
    }
  }
  std::vector<json> childrenOf(const std::string& id) const {
    std::vector<json> out;
    for (const json& s : spans)
      if (s.value("parentSpanId", "") == id) out.push_back(s);
    return out;
  }
};

// The traceparent each hook call carried, by sample-app event name.
std::vector<std::pair<std::string, std::string>> hookTraceparents(Daemon& d) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const json& j : jsonLines(d.app()->outputPath())) {
    if (j.contains("traceparent")) out.emplace_back(str(j["event"]), str(j["traceparent"]));
  }
  return out;
}

class TraceTest : public ::testing::Test {
 protected:
  std::unique_ptr<OtlpCollector> startCollector(const OtlpCollector::Options& options = {}) {
    std::string error;
    auto c = OtlpCollector::start(collector_dir_, options, error);
    EXPECT_TRUE(c) << error;
    return c;
  }
  // Runs /prestop and returns the summary.
  json prestop(Daemon& d, const http::Headers& headers = {}) {
    auto r = call(d.adminPort(), "POST", "/prestop", headers, 60s);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : r.error().message);
    json summary = r ? json::parse(r->body, nullptr, false) : json();
    EXPECT_TRUE(summary.is_object()) << (r ? r->body : "");
    return summary;
  }

  TempDir collector_dir_;
};

TEST_F(TraceTest, FullExitIsOneTraceWithEveryPhaseAndStepUnderItsParent) {
  auto collector = startCollector();
  ASSERT_TRUE(collector);
  // The traffic shift over a webhook, gated on the app's own error rate.
  WebhookReceiver lb;
  ASSERT_GT(lb.port(), 0);
  Daemon d(std::string(kShortExitNoQuietPeriod) +
               "traffic:\n"
               "  backend: webhook\n"
               "  webhook: {url: \"" +
               lb.url() +
               "\"}\n"
               "  steps: [{weight: 50, hold: 300ms}, {weight: 0}]\n"
               "  gate: {source: app, max_error_rate: 0.01, on_fail: continue}\n",
           AppOptions{"ok", 3}, kPodEnv, {"trace.otlp.endpoint=" + collector->endpoint()});
  ASSERT_GT(d.adminPort(), 0);
  // Requests before the exit, so that the gate's first reading is a rate
  // (0: none failed); by the second there were none (no data).
  for (int i = 0; i < 5; ++i) {
    auto r = call(d.appPort(), "GET", "/", {}, 5s);
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : r.error().message);
  }

  const json summary = prestop(d);
  const std::string trace_id = summary.value("trace_id", "");
  ASSERT_EQ(trace_id.size(), 32u) << summary.dump(2);
  EXPECT_EQ(summary.value("outcome", ""), "completed") << summary.dump(2);
  ASSERT_TRUE(collector->waitForRequests(1, 30s)) << d.lameduck().output();
  for (const json& r : collector->requests()) {
    EXPECT_EQ(r["errors"], json::array()) << r.dump(2);
    EXPECT_EQ(r["status"], 200);
  }

  Trace t(collector->spans());
  ASSERT_FALSE(t.spans.empty());
  for (const json& s : t.spans) EXPECT_EQ(s["traceId"], trace_id) << s.dump();
  int roots = 0;
  for (const json& s : t.spans) roots += !s.contains("parentSpanId");
  EXPECT_EQ(roots, 1);
  ASSERT_TRUE(t.root);
  const json& root = *t.root;
  EXPECT_EQ(root["status"]["code"], 1) << root.dump(2);  // completed: OK

  // A child span per phase, a grandchild per step, each inside its parent;
  // under a step only the parts it recorded.
  std::set<std::string> phases;
  size_t steps = 0, parts = 0;
  std::map<std::string, json> step_by_name;
  std::map<std::string, std::vector<json>> parts_of;
  for (const json& phase : t.childrenOf(str(root["spanId"]))) {
    phases.insert(str(phase["name"]));
    EXPECT_GE(nanos(phase, "startTimeUnixNano"), nanos(root, "startTimeUnixNano")) << phase["name"];
    EXPECT_LE(nanos(phase, "endTimeUnixNano"), nanos(root, "endTimeUnixNano")) << phase["name"];
    for (const json& step : t.childrenOf(str(phase["spanId"]))) {
      ++steps;
      step_by_name[str(step["name"])] = step;
      EXPECT_GE(nanos(step, "startTimeUnixNano"), nanos(phase, "startTimeUnixNano"))
          << step["name"];
      EXPECT_LE(nanos(step, "endTimeUnixNano"), nanos(phase, "endTimeUnixNano")) << step["name"];
      for (const json& part : t.childrenOf(str(step["spanId"]))) {
        ++parts;
        parts_of[str(step["name"])].push_back(part);
        EXPECT_EQ(str(part["spanId"]).size(), 16u);
        EXPECT_GE(nanos(part, "startTimeUnixNano"), nanos(step, "startTimeUnixNano"));
        EXPECT_LE(nanos(part, "endTimeUnixNano"), nanos(step, "endTimeUnixNano"));
        EXPECT_TRUE(t.childrenOf(str(part["spanId"])).empty()) << part["name"];
      }
    }
  }
  EXPECT_EQ(phases, (std::set<std::string>{"draining", "compensating", "terminating"}));
  EXPECT_EQ(t.spans.size(), 1 + phases.size() + steps + parts);  // nothing hangs elsewhere
  ASSERT_TRUE(summary.contains("steps")) << summary.dump(2);
  EXPECT_EQ(steps, summary["steps"].size());

  // The traffic shift: a span per weight, with its hold and what the gate
  // said, and the weights really went to the load balancer.
  ASSERT_EQ(parts_of.size(), 1u) << "only the traffic shift records parts";
  const std::vector<json>& weights = parts_of["traffic_shift"];
  ASSERT_EQ(weights.size(), 2u);
  EXPECT_EQ(lb.received().size(), 2u);
  for (const json& w : weights) EXPECT_EQ(w["name"], "traffic_step");
  EXPECT_EQ(intAttr(weights[0], "traffic.weight"), 50);
  EXPECT_EQ(intAttr(weights[0], "traffic.attempts"), 1);
  EXPECT_EQ(intAttr(weights[0], "traffic.gate.checks"), 1);
  EXPECT_EQ(strAttr(weights[0], "traffic.gate.result"), "pass") << weights[0].dump(2);
  EXPECT_TRUE(attrOf(weights[0], "traffic.gate.error_rate").contains("doubleValue"))
      << weights[0].dump(2);
  EXPECT_EQ(strAttr(weights[0], "traffic.result"), "passed");
  EXPECT_GT(intAttr(weights[0], "traffic.planned_hold_ms"), 0);
  EXPECT_GE(nanos(weights[0], "endTimeUnixNano") - nanos(weights[0], "startTimeUnixNano"),
            uint64_t{300'000'000});  // held for its hold
  EXPECT_EQ(intAttr(weights[1], "traffic.weight"), 0);
  EXPECT_EQ(strAttr(weights[1], "traffic.gate.result"), "inconclusive");
  EXPECT_EQ(strAttr(weights[1], "traffic.result"), "continued");
  EXPECT_GE(nanos(weights[1], "startTimeUnixNano"), nanos(weights[0], "endTimeUnixNano"));
  for (const json& w : weights) EXPECT_EQ(w["status"]["code"], 1) << w.dump(2);

  // The hand-off: its counts (no Redis here, so the spool is the sink).
  ASSERT_TRUE(step_by_name.count("compensation_handoff"));
  const json& handoff = step_by_name["compensation_handoff"];
  EXPECT_EQ(strAttr(handoff, "compensation.sink"), "spool");
  EXPECT_EQ(intAttr(handoff, "compensation.fetched"), 3);
  EXPECT_EQ(intAttr(handoff, "compensation.spooled"), 3);
  EXPECT_EQ(intAttr(handoff, "compensation.written"), 0);
  EXPECT_EQ(intAttr(handoff, "compensation.acked"), 3);
  EXPECT_EQ(intAttr(handoff, "compensation.pages"), 1);
  // The hooks: the HTTP status of each answer.
  for (const char* hook : {"app_drain_hook", "app_terminate_hook"}) {
    ASSERT_TRUE(step_by_name.count(hook)) << hook;
    EXPECT_EQ(intAttr(step_by_name[hook], "http.response.status_code"), 200) << hook;
  }
  EXPECT_EQ(attrOf(step_by_name["drain_wait"], "drain.drained"), (json{{"boolValue", true}}));

  // Resource: the service and the pod from the downward API.
  const auto resource = resourceOf(root);
  EXPECT_EQ(resource.at("service.name"), "lameduck");
  EXPECT_EQ(resource.at("k8s.pod.name"), "web-0");
  EXPECT_EQ(resource.at("k8s.namespace.name"), "shop");
  EXPECT_EQ(resource.at("k8s.pod.uid"), "6f1c-uid");
  EXPECT_EQ(resource.at("k8s.node.name"), "node-a");
  EXPECT_TRUE(resource.count("service.version"));

  // Each hook call carried the traceparent of its own step's span.
  const std::map<std::string, std::string> hook_phase{{"drain", "draining"},
                                                      {"compensations", "compensating"},
                                                      {"ack", "compensating"},
                                                      {"terminate", "terminating"}};
  std::set<std::string> hooks_seen;
  for (const auto& [hook, traceparent] : hookTraceparents(d)) {
    SCOPED_TRACE(hook + " " + traceparent);
    ASSERT_EQ(traceparent.size(), 55u);
    EXPECT_EQ(traceparent.substr(3, 32), trace_id);
    const std::string span_id = traceparent.substr(36, 16);
    ASSERT_TRUE(t.by_id.count(span_id));
    const json& step = t.by_id[span_id];
    ASSERT_TRUE(t.by_id.count(str(step["parentSpanId"])));
    const json& phase = t.by_id[str(step["parentSpanId"])];
    EXPECT_EQ(phase["parentSpanId"], root["spanId"]);  // a step span, not a phase or the root
    if (hook_phase.count(hook)) {
      EXPECT_EQ(phase["name"], hook_phase.at(hook));
    }
    hooks_seen.insert(hook);
  }
  EXPECT_EQ(hooks_seen, (std::set<std::string>{"drain", "compensations", "ack", "terminate"}));

  EXPECT_TRUE(
      waitUntil([&] { return d.metric("lameduck_trace_exports_total{result=\"ok\"}") == 1; }, 10s));
}

TEST_F(TraceTest, IncomingTraceparentMakesTheExitItsChild) {
  auto collector = startCollector({.fail_first = 1, .fail_status = 503, .retry_after = 0});
  ASSERT_TRUE(collector);
  // coordination.service names the service in the trace; exit ordering
  // needs its Redis.
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  Daemon d(kShortExitNoQuietPeriod, AppOptions{"ok", 0}, kPodEnv,
           {"trace.otlp.endpoint=" + collector->endpoint(), "coordination.service=checkout",
            "compensation.redis.address=unix:" + redis.socket()});
  ASSERT_GT(d.adminPort(), 0);
  const std::string caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string caller_span = "00f067aa0ba902b7";

  const json summary =
      prestop(d, {{"traceparent", "00-" + caller_trace + "-" + caller_span + "-01"}});
  EXPECT_EQ(summary.value("trace_id", ""), caller_trace);
  ASSERT_TRUE(collector->waitForRequests(2, 30s)) << d.lameduck().output();

  // The first attempt got 503 and was retried within the bound.
  const auto requests = collector->requests();
  EXPECT_EQ(requests[0]["status"], 503);
  EXPECT_EQ(requests[1]["status"], 200);
  Trace t(collector->spans());
  ASSERT_TRUE(t.root) << collector->log();
  EXPECT_EQ((*t.root)["traceId"], caller_trace);
  EXPECT_EQ((*t.root)["parentSpanId"], caller_span);
  EXPECT_EQ((*t.root)["flags"].get<int>() & 0x300, 0x300);  // the parent is remote
  EXPECT_EQ(resourceOf(*t.root).at("service.name"), "checkout");
}

TEST_F(TraceTest, InvalidTraceparentIsIgnored) {
  auto collector = startCollector();
  ASSERT_TRUE(collector);
  Daemon d(kShortExitNoQuietPeriod, std::nullopt, kPodEnv,
           {"trace.otlp.endpoint=" + collector->endpoint()});
  ASSERT_GT(d.adminPort(), 0);
  const std::string upper = "4BF92F3577B34DA6A3CE929D0E0E4736";

  const json summary = prestop(d, {{"traceparent", "00-" + upper + "-00f067aa0ba902b7-01"}});
  const std::string trace_id = summary.value("trace_id", "");
  EXPECT_EQ(trace_id.size(), 32u);
  EXPECT_NE(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  ASSERT_TRUE(collector->waitForRequests(1, 30s)) << d.lameduck().output();
  Trace t(collector->spans());
  ASSERT_TRUE(t.root);
  EXPECT_EQ((*t.root)["traceId"], trace_id);
  EXPECT_FALSE(t.root->contains("parentSpanId"));
}

TEST_F(TraceTest, ADeadEndpointIsGivenUpWhenARetryWouldNotFitTheTimeoutAndIsCounted) {
  const RefusingPort refusing;  // connections to it are refused
  ASSERT_GT(refusing.port(), 0);
  Daemon d(kShortExitNoQuietPeriod, AppOptions{"ok", 0}, kPodEnv,
           {"trace.otlp.endpoint=" + refusing.url(), "trace.otlp.timeout=500ms"});
  ASSERT_GT(d.adminPort(), 0);

  const json summary = prestop(d);
  EXPECT_EQ(summary.value("outcome", ""), "completed") << summary.dump(2);
  auto warn = waitForLine(
      d.lameduck().outputPath(),
      [](const json& j) { return j.value("msg", "") == "trace export failed"; }, 30s);
  ASSERT_TRUE(warn) << d.lameduck().output();
  EXPECT_EQ((*warn)["level"], "warn");
  EXPECT_EQ((*warn)["result"], "failed");
  EXPECT_THAT((*warn)["error"].get<std::string>(),
              HasSubstr("would not fit in the export timeout of 500ms"));
  EXPECT_EQ(d.metric("lameduck_trace_exports_total{result=\"failed\"}"), 1);
}

}  // namespace
}  // namespace lameduck::testing
