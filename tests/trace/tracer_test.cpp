// The spans of an exit built from the engine's record, and the tracer that
// exports them (and later spans of the same trace) off the exit thread.

#include "trace/tracer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "support/otlp.h"
#include "fakes/trace.h"

namespace lameduck::trace {
namespace {

using namespace std::chrono_literals;
using fakes::CountingExportObserver;
using testing::OtlpCollector;
using testing::TempDir;

const WallTime kT0 = WallTime(std::chrono::seconds(1'700'000'000));

exit::Summary sampleSummary() {
  exit::Summary s;
  s.state = exit::State::kTerminated;
  s.outcome = exit::Outcome::kDeadline;
  s.reason = "drain: deadline: 2 connections still busy";
  s.trigger = "prestop";
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.span_id = "00f067aa0ba902b7";
  s.parent_span_id = "b7ad6b7169203331";
  s.started_wall = kT0;
  s.elapsed = 3s;
  s.budget = 28s;
  s.compensation_reserve = 5s;
  s.phases = {{exit::Phase::kDraining, 0ms, 2s, 23s, "1111111111111111", kT0 + 1ms},
              {exit::Phase::kCompensating, 2s, 900ms, 5s, "2222222222222222", kT0 + 2s}};
  exit::StepReport drain;
  drain.phase = exit::Phase::kDraining;
  drain.name = "drain";
  drain.status = exit::StepStatus::kDeadline;
  drain.detail = "2 connections still busy";
  drain.took = 1500ms;
  drain.span_id = "3333333333333333";
  drain.parent_span_id = "1111111111111111";
  drain.started_wall = kT0 + 100ms;
  drain.attributes = {{"lameduck.drain.busy", int64_t{2}},
                      {"lameduck.drain.source", std::string("netlink")}};
  drain.events = {
      {"quiet_period_restarted", kT0 + 700ms, {{"peer", std::string("10.0.0.9:51234")}}}};
  exit::StepReport handoff;
  handoff.phase = exit::Phase::kCompensating;
  handoff.name = "compensation";
  handoff.took = 800ms;
  handoff.span_id = "4444444444444444";
  handoff.parent_span_id = "2222222222222222";
  handoff.started_wall = kT0 + 2050ms;
  s.steps = {drain, handoff};
  return s;
}

const Span* byName(const std::vector<Span>& spans, const std::string& name) {
  for (const Span& s : spans)
    if (s.name == name) return &s;
  return nullptr;
}

bool hasAttribute(const Span& s, const std::string& key, const AttrValue& value) {
  for (const Attribute& a : s.attributes)
    if (a.key == key && a.value == value) return true;
  return false;
}

TEST(ExitSpans, RootPhasesAndStepsWithTheEnginesIdsAndTimes) {
  log::Identity who;
  who.pod = "checkout-0";
  who.namespace_ = "shop";
  const std::vector<Span> spans = exitSpans(sampleSummary(), who);
  ASSERT_EQ(spans.size(), 5u);

  const Span* root = byName(spans, "exit");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->span_id, "00f067aa0ba902b7");
  EXPECT_EQ(root->parent_span_id, "b7ad6b7169203331");  // the incoming traceparent
  EXPECT_TRUE(root->parent_is_remote);
  EXPECT_EQ(root->start, kT0);
  EXPECT_EQ(root->end, kT0 + 3s);
  EXPECT_EQ(root->status, StatusCode::kError);
  EXPECT_EQ(root->status_message, "deadline: drain: deadline: 2 connections still busy");
  EXPECT_TRUE(hasAttribute(*root, "lameduck.trigger", std::string("prestop")));
  EXPECT_TRUE(hasAttribute(*root, "lameduck.budget_ms", int64_t{28000}));
  EXPECT_TRUE(hasAttribute(*root, "k8s.pod.name", std::string("checkout-0")));

  const Span* draining = byName(spans, "draining");
  ASSERT_TRUE(draining);
  EXPECT_EQ(draining->parent_span_id, root->span_id);
  EXPECT_EQ(draining->end, kT0 + 1ms + 2s);
  EXPECT_EQ(draining->status, StatusCode::kError);  // its drain step ran out of time
  ASSERT_NE(byName(spans, "compensating"), nullptr) << "no span compensating";
  EXPECT_EQ(byName(spans, "compensating")->status, StatusCode::kOk);

  const Span* drain = byName(spans, "drain");
  ASSERT_TRUE(drain);
  EXPECT_EQ(drain->parent_span_id, "1111111111111111");
  EXPECT_EQ(drain->start, kT0 + 100ms);
  EXPECT_EQ(drain->end, kT0 + 1600ms);
  EXPECT_EQ(drain->status, StatusCode::kError);
  EXPECT_TRUE(hasAttribute(*drain, "lameduck.drain.busy", int64_t{2}));
  EXPECT_TRUE(hasAttribute(*drain, "lameduck.step.status", std::string("deadline")));
  ASSERT_EQ(drain->events.size(), 1u);
  EXPECT_EQ(drain->events[0].name, "quiet_period_restarted");
  for (const Span& s : spans) EXPECT_EQ(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(ExitSpans, CompletedExitIsOkAndHasNoParent) {
  exit::Summary s = sampleSummary();
  s.outcome = exit::Outcome::kCompleted;
  s.reason.clear();
  s.parent_span_id.clear();
  const std::vector<Span> spans = exitSpans(s, {});
  const Span* root = byName(spans, "exit");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, StatusCode::kOk);
  EXPECT_TRUE(root->parent_span_id.empty());
  EXPECT_FALSE(root->parent_is_remote);
}

// sampleSummary() with two finished parts recorded under the drain step.
exit::Summary summaryWithChildren() {
  exit::Summary s = sampleSummary();
  exit::StepReport& drain = s.steps[0];
  exit::ChildSpanReport first;
  first.span_id = "5555555555555555";
  first.name = "traffic_step";
  first.start = kT0 + 100ms;
  first.end = kT0 + 900ms;
  first.attributes = {{"traffic.weight", int64_t{50}}, {"traffic.gate.result", std::string("fail")}};
  first.events = {{"gate_held", kT0 + 400ms, {{"traffic.gate.error_rate", 0.2}}}};
  first.status = exit::SpanStatus::kOk;
  exit::ChildSpanReport second;
  second.span_id = "6666666666666666";
  second.name = "traffic_step";
  second.start = kT0 + 900ms;
  second.end = kT0 + 1500ms;
  second.attributes = {{"traffic.weight", int64_t{0}}};
  second.status = exit::SpanStatus::kError;
  second.status_message = "setting weight 0% failed";
  drain.children = {first, second};
  return s;
}

TEST(ExitSpans, ChildSpansOfAStepHangUnderItsSpanInsideItsTime) {
  const std::vector<Span> spans = exitSpans(summaryWithChildren(), {});
  ASSERT_EQ(spans.size(), 7u);
  const Span* drain = byName(spans, "drain");
  ASSERT_TRUE(drain);
  std::vector<const Span*> children;
  for (const Span& s : spans)
    if (s.parent_span_id == drain->span_id) children.push_back(&s);
  ASSERT_EQ(children.size(), 2u);
  for (const Span* c : children) {
    EXPECT_EQ(c->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_TRUE(isSpanId(c->span_id)) << c->span_id;
    EXPECT_NE(c->span_id, drain->span_id);
    EXPECT_GE(c->start, drain->start);
    EXPECT_LE(c->end, drain->end);
    EXPECT_EQ(c->name, "traffic_step");
  }
  EXPECT_EQ(children[0]->span_id, "5555555555555555");
  EXPECT_EQ(children[0]->status, StatusCode::kOk);
  EXPECT_TRUE(hasAttribute(*children[0], "traffic.weight", int64_t{50}));
  EXPECT_TRUE(hasAttribute(*children[0], "traffic.gate.result", std::string("fail")));
  ASSERT_EQ(children[0]->events.size(), 1u);
  EXPECT_EQ(children[0]->events[0].name, "gate_held");
  EXPECT_EQ(children[0]->events[0].time, kT0 + 400ms);
  EXPECT_EQ(children[1]->status, StatusCode::kError);
  EXPECT_EQ(children[1]->status_message, "setting weight 0% failed");
}


TEST(ExitTracer, ExportsTheExitAndLaterSpansInTheSameTrace) {
  TempDir dir;
  std::string error;
  auto collector = OtlpCollector::start(dir, error);
  ASSERT_TRUE(collector) << error;
  config::OtlpConfig config;
  config.endpoint = *parseHttpUrl(collector->endpoint());
  SimulatedClock clock;
  CountingExportObserver observer;
  ExitTracer tracer(config, clock, observer, Resource::forPod("", {}, "0.1.0"), {});

  Span late;
  late.name = "app_shutdown_stuck";
  EXPECT_FALSE(tracer.exportLater(late));  // no exit yet: nothing to attach to

  tracer.onExitDone(summaryWithChildren());
  late.start = kT0 + 8s;
  late.end = kT0 + 8s + 20ms;
  late.attributes = {{"lameduck.goroutines", int64_t{42}}};
  EXPECT_TRUE(tracer.exportLater(late));
  ASSERT_TRUE(collector->waitForRequests(2, 30s)) << collector->log();

  const auto requests = collector->requests();
  for (const auto& r : requests) EXPECT_EQ(r["errors"], nlohmann::json::array()) << r.dump(2);
  const auto spans = collector->spans();
  ASSERT_EQ(spans.size(), 8u);
  // The drain step's parts arrive under its span, as the collector read them.
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& span : spans) by_id[span["spanId"].get<std::string>()] = span;
  for (const char* id : {"5555555555555555", "6666666666666666"}) {
    ASSERT_TRUE(by_id.count(id)) << id;
    EXPECT_EQ(by_id[id]["name"], "traffic_step");
    EXPECT_EQ(by_id[id]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(by_id[id]["parentSpanId"], "3333333333333333");
  }
  EXPECT_EQ(by_id["5555555555555555"]["status"]["code"], 1);
  EXPECT_EQ(by_id["6666666666666666"]["status"]["code"], 2);
  EXPECT_EQ(spans[7]["name"], "app_shutdown_stuck");
  EXPECT_EQ(spans[7]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(spans[7]["parentSpanId"], "00f067aa0ba902b7");
  ASSERT_TRUE(tracer.flush(30s));
  std::lock_guard lock(observer.mu);
  EXPECT_EQ(observer.counts, (std::map<std::string, int>{{"ok", 2}}));
}

}  // namespace
}  // namespace lameduck::trace
