// The traffic shift in simulated time: plan fitting, retries, gates, budget.

#include "traffic/shift.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exit/engine.h"
#include "fakes/exit.h"
#include "fakes/traffic.h"
#include "traffic/gate.h"
#include "traffic/kubernetes.h"

namespace lameduck::traffic {
namespace {

using namespace std::chrono_literals;

using fakes::FakeGate;
using fakes::FakeTrafficBackend;
using fakes::NullExitObserver;
using fakes::RecordingShiftObserver;

GateReading rate(double r) { return GateReading{r, "read " + std::to_string(r)}; }
GateReading noData() { return GateReading{std::nullopt, "empty result"}; }
using fakes::attributeAs;

struct Fixture {
  SimulatedClock clock;
  config::Config config;
  RecordingShiftObserver observer;
  NullExitObserver exit_observer;
  FakeTrafficBackend* backend = nullptr;
  FakeGate* gate = nullptr;

  Fixture() {
    config.exit.grace_period = 60s;
    config.exit.safety_margin = 2s;
    config.exit.compensation_reserve = 5s;  // Draining gets 53 s
    config.traffic.steps = {{50, 10s}, {5, 10s}, {0, 0s}};
    config.traffic.gate.max_error_rate = 0.01;
    config.traffic.gate.interval = 1s;
  }

  // The summary of an exit and the shift's typed report (what its
  // `traffic` section was rendered from).
  struct Run : exit::Summary {
    std::optional<TrafficReport> traffic;
  };

  // Runs a whole exit whose only step is the shift; returns the summary.
  Run run(bool with_gate = true, Duration reserve_after = 2s) {
    auto b = std::make_unique<FakeTrafficBackend>(clock);
    backend = b.get();
    std::unique_ptr<Gate> g;
    if (with_gate) {
      auto fg = std::make_unique<FakeGate>(clock);
      gate = fg.get();
      g = std::move(fg);
    }
    configure();
    exit::ExitPlan plan;
    auto step = std::make_unique<ShiftStep>(config.traffic, reserve_after, std::move(b),
                                            std::move(g), observer);
    ShiftStep* shift = step.get();
    plan.draining.push_back(std::move(step));
    // The engine owns the plan (and so the fakes): it lives as long as the
    // fixture.
    engine = std::make_unique<exit::ExitEngine>(
        clock,
        exit::Budget{config.exit.grace_period, config.exit.safety_margin,
                     config.exit.compensation_reserve},
        std::move(plan), exit_observer);
    start = clock.now();
    engine->trigger("test");
    Run r{engine->await(), shift->lastReport()};
    // The section is exactly the typed report, rendered.
    if (r.traffic) {
      const std::string* section = r.section(kTrafficSection);
      EXPECT_TRUE(section && *section == toJson(*r.traffic));
    }
    return r;
  }
  std::unique_ptr<exit::ExitEngine> engine;
  std::function<void()> configure = [] {};
  TimePoint start;
};

TEST(FitPlan, KeepsHoldsThatFitAndSharesOutTheSlack) {
  FittedPlan p = fitPlan({{50, 10s}, {5, 30s}, {0, 0s}}, 80s);
  EXPECT_FALSE(p.shortened);
  EXPECT_EQ(p.configured, 40s);
  EXPECT_EQ(p.holds, (std::vector<Duration>{10s, 30s, 0s}));
  EXPECT_EQ(p.shares, (std::vector<Duration>{20s, 60s, 0s}));
}

TEST(FitPlan, ScalesEveryHoldDownWhenTheBudgetIsShort) {
  FittedPlan p = fitPlan({{50, 10s}, {5, 30s}, {0, 0s}}, 20s);
  EXPECT_TRUE(p.shortened);
  EXPECT_EQ(p.holds, (std::vector<Duration>{5s, 15s, 0s}));
  EXPECT_EQ(p.shares, p.holds);
}

TEST(FitPlan, NoBudgetLeftMeansNoHolds) {
  FittedPlan p = fitPlan({{5, 30s}, {0, 0s}}, -3s);
  EXPECT_TRUE(p.shortened);
  EXPECT_EQ(p.holds, (std::vector<Duration>{0s, 0s}));
}

TEST(ShiftStep, SetsEachWeightInOrderAndHoldsIt) {
  Fixture f;
  auto s = f.run();
  ASSERT_EQ(f.backend->calls.size(), 3u);
  EXPECT_EQ(f.backend->calls[0].weight, 50);
  EXPECT_EQ(f.backend->calls[1].weight, 5);
  EXPECT_EQ(f.backend->calls[2].weight, 0);
  // The second weight comes only after the first was held for 10 s.
  EXPECT_GE(f.backend->calls[1].at - f.backend->calls[0].at, 10s);
  EXPECT_EQ(f.observer.weights, (std::vector<int64_t>{50, 5, 0}));
  EXPECT_EQ(f.observer.steps, (std::vector<std::string>{"passed", "passed", "passed"}));
  ASSERT_TRUE(s.traffic);
  EXPECT_FALSE(s.traffic->shortened);
  EXPECT_EQ(s.traffic->weight, 0);
  ASSERT_EQ(s.traffic->steps.size(), 3u);
  EXPECT_EQ(s.traffic->steps[0].backend_detail, "set 50");
  EXPECT_EQ(s.traffic->steps[0].gate, "pass");
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
}

TEST(ShiftStep, ShortensHoldsToFitTheBudgetAndSaysSo) {
  Fixture f;
  f.config.exit.grace_period = 20s;  // Draining: 20 - 2 - 5 = 13 s, minus 3 s for the drain
  auto s = f.run(true, 3s);
  ASSERT_TRUE(s.traffic);
  EXPECT_TRUE(s.traffic->shortened);
  EXPECT_EQ(s.traffic->configured, 20s);
  EXPECT_LE(s.traffic->available, 10s);
  EXPECT_LE(s.traffic->steps[0].planned, 5s);
  // The plan ended in time to leave the drain its reserve.
  EXPECT_LE(f.backend->calls.back().at - f.start, 10s + 100ms);
  EXPECT_NE(s.steps[0].detail.find("holds shortened"), std::string::npos) << s.steps[0].detail;
}

TEST(ShiftStep, RetriesTransientErrorsWithBackoff) {
  Fixture f;
  f.configure = [&f] {
    f.backend->errors = {Error{ErrorCode::kUnavailable, "connection refused"},
                         Error{ErrorCode::kDeadlineExceeded, "timed out"}};
  };
  auto s = f.run();
  ASSERT_GE(f.backend->calls.size(), 5u);
  EXPECT_EQ(f.backend->calls[0].weight, 50);
  EXPECT_EQ(f.backend->calls[2].weight, 50);
  EXPECT_GE(f.backend->calls[1].at - f.backend->calls[0].at, 100ms);
  EXPECT_GE(f.backend->calls[2].at - f.backend->calls[1].at, 200ms);
  EXPECT_EQ(s.traffic->steps[0].attempts, 3);
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
}

TEST(ShiftStep, StopsAtOnceOnARefusalAndFailsTheExit) {
  Fixture f;
  f.configure = [&f] {
    f.backend->errors = {Error{ErrorCode::kPermissionDenied, "forbidden: patch ingresses"}};
  };
  auto s = f.run();
  ASSERT_EQ(f.backend->calls.size(), 1u);
  EXPECT_EQ(f.observer.steps, (std::vector<std::string>{"failed"}));
  EXPECT_EQ(s.outcome, exit::Outcome::kFailed);
  EXPECT_NE(s.reason.find("forbidden: patch ingresses"), std::string::npos) << s.reason;
  EXPECT_EQ(s.traffic->steps[0].result, "failed");
}

TEST(ShiftStep, AFailingGateHoldsTheWeightUntilTheStepShareEnds) {
  Fixture f;
  f.configure = [&f] { f.gate->readings = {rate(0.5)}; };
  auto s = f.run();
  // Draining 53 s minus 2 s for the drain: shares 25.5 s, 25.5 s, 0.
  ASSERT_EQ(f.backend->calls.size(), 3u);
  EXPECT_GE(f.backend->calls[1].at - f.backend->calls[0].at, 25s);
  EXPECT_EQ(s.traffic->steps[0].result, "held");
  EXPECT_GT(s.traffic->steps[0].gate_checks, 10);  // re-checked every second
  EXPECT_EQ(s.traffic->steps[0].gate, "fail");
  ASSERT_TRUE(s.traffic->steps[0].error_rate);
  EXPECT_DOUBLE_EQ(*s.traffic->steps[0].error_rate, 0.5);
  EXPECT_EQ(f.observer.steps[0], "held");
  EXPECT_EQ(f.observer.checks[0], "fail");
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
}

TEST(ShiftStep, MovesOnAsSoonAsAHeldGatePasses) {
  Fixture f;
  f.configure = [&f] { f.gate->readings = {rate(0.5), rate(0.5), rate(0.001)}; };
  auto s = f.run();
  EXPECT_EQ(s.traffic->steps[0].result, "passed");
  EXPECT_EQ(s.traffic->steps[0].gate_checks, 3);
  // 10 s hold plus two re-checks a second apart.
  EXPECT_LT(f.backend->calls[1].at - f.backend->calls[0].at, 13s);
}

TEST(ShiftStep, NoDataIsInconclusiveNotAPass) {
  Fixture f;
  f.configure = [&f] { f.gate->readings = {noData()}; };
  auto s = f.run();
  EXPECT_EQ(s.traffic->steps[0].gate, "inconclusive");
  EXPECT_EQ(s.traffic->steps[0].result, "held");
  EXPECT_FALSE(s.traffic->steps[0].error_rate);
  EXPECT_EQ(f.observer.checks[0], "inconclusive");
}

TEST(ShiftStep, AGateErrorIsInconclusiveToo) {
  Fixture f;
  f.configure = [&f] {
    f.gate->readings = {std::unexpected(Error{ErrorCode::kUnavailable, "prometheus down"})};
  };
  auto s = f.run();
  EXPECT_EQ(s.traffic->steps[0].gate, "inconclusive");
  EXPECT_EQ(s.traffic->steps[0].detail, "prometheus down");
}

TEST(ShiftStep, NaNIsInconclusive) {
  Fixture f;
  f.configure = [&f] { f.gate->readings = {rate(std::nan(""))}; };
  auto s = f.run();
  EXPECT_EQ(s.traffic->steps[0].gate, "inconclusive");
}

TEST(ShiftStep, OnFailContinueGoesOnAfterOneCheck) {
  Fixture f;
  f.config.traffic.gate.on_fail = config::GateOnFail::kContinue;
  f.configure = [&f] { f.gate->readings = {noData()}; };
  auto s = f.run();
  EXPECT_EQ(s.traffic->steps[0].result, "continued");
  EXPECT_EQ(s.traffic->steps[0].gate_checks, 1);
  EXPECT_LT(f.backend->calls[1].at - f.backend->calls[0].at, 11s);
  EXPECT_EQ(f.observer.steps, (std::vector<std::string>{"continued", "continued", "continued"}));
}

TEST(ShiftStep, WithoutAGateEveryStepPassesAfterItsHold) {
  Fixture f;
  auto s = f.run(/*with_gate=*/false);
  EXPECT_EQ(s.traffic->steps[0].gate, "none");
  EXPECT_EQ(s.traffic->steps[0].gate_checks, 0);
  EXPECT_EQ(f.observer.steps, (std::vector<std::string>{"passed", "passed", "passed"}));
}

TEST(ShiftTrace, EachTrafficStepIsAChildSpanWithWeightHoldAndGate) {
  Fixture f;
  f.configure = [&f] { f.gate->readings = {rate(0.002), noData()}; };
  f.config.traffic.gate.on_fail = config::GateOnFail::kContinue;
  auto s = f.run();
  ASSERT_EQ(s.steps.size(), 1u);
  const exit::StepReport& shift = s.steps[0];
  ASSERT_EQ(shift.children.size(), 3u);
  const int64_t weights[] = {50, 5, 0};
  const int64_t planned[] = {10'000, 10'000, 0};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const exit::ChildSpanReport& c = shift.children[i];
    EXPECT_EQ(c.name, "traffic_step");
    EXPECT_EQ(attributeAs<int64_t>(c.attributes, "traffic.weight"), weights[i]);
    EXPECT_EQ(attributeAs<int64_t>(c.attributes, "traffic.planned_hold_ms"), planned[i]);
    EXPECT_EQ(attributeAs<int64_t>(c.attributes, "traffic.attempts"), 1);
    EXPECT_EQ(attributeAs<int64_t>(c.attributes, "traffic.gate.checks"), 1);
    EXPECT_EQ(c.status, exit::SpanStatus::kOk);
    EXPECT_GE(c.start, shift.started_wall);
    EXPECT_LE(c.end, shift.started_wall + shift.took);
    if (i > 0) {
      EXPECT_GE(c.start, shift.children[i - 1].end);
    }
  }
  // The first check read a rate and passed; the next had no data.
  const exit::ChildSpanReport& first = shift.children[0];
  EXPECT_EQ(attributeAs<std::string>(first.attributes, "traffic.gate.result"), "pass");
  EXPECT_EQ(attributeAs<double>(first.attributes, "traffic.gate.error_rate"), 0.002);
  EXPECT_EQ(attributeAs<std::string>(first.attributes, "traffic.result"), "passed");
  // The weight was held for its hold before the gate was read.
  EXPECT_GE(first.end - first.start, 10s);
  const exit::ChildSpanReport& second = shift.children[1];
  EXPECT_EQ(attributeAs<std::string>(second.attributes, "traffic.gate.result"), "inconclusive");
  EXPECT_FALSE(attributeAs<double>(second.attributes, "traffic.gate.error_rate"));
  EXPECT_EQ(attributeAs<std::string>(second.attributes, "traffic.result"), "continued");
  EXPECT_TRUE(second.events.empty());  // on_fail continue holds nothing
  // The shift's own span: the backend, the last weight, not shortened.
  EXPECT_EQ(attributeAs<std::string>(shift.attributes, "traffic.backend"), "fake");
  EXPECT_EQ(attributeAs<int64_t>(shift.attributes, "traffic.weight"), 0);
  EXPECT_EQ(attributeAs<bool>(shift.attributes, "traffic.shortened"), false);
  EXPECT_TRUE(shift.events.empty());
}

TEST(ShiftTrace, EveryCheckThatHeldTheWeightIsAnEvent) {
  Fixture f;
  f.configure = [&f] { f.gate->readings = {rate(0.5), rate(0.5), rate(0.001)}; };
  auto s = f.run();
  const exit::ChildSpanReport& first = s.steps.at(0).children.at(0);
  EXPECT_EQ(attributeAs<int64_t>(first.attributes, "traffic.gate.checks"), 3);
  EXPECT_EQ(attributeAs<std::string>(first.attributes, "traffic.gate.result"), "pass");
  EXPECT_EQ(attributeAs<std::string>(first.attributes, "traffic.result"), "passed");
  ASSERT_EQ(first.events.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const exit::SpanEvent& e = first.events[i];
    EXPECT_EQ(e.name, "gate_held");
    EXPECT_EQ(attributeAs<std::string>(e.attributes, "traffic.gate.result"), "fail");
    EXPECT_EQ(attributeAs<double>(e.attributes, "traffic.gate.error_rate"), 0.5);
    EXPECT_EQ(attributeAs<int64_t>(e.attributes, "traffic.gate.check"), static_cast<int64_t>(i + 1));
    EXPECT_GE(e.at, first.start);
    EXPECT_LE(e.at, first.end);
  }
  // A second apart (gate.interval).
  EXPECT_EQ(first.events[1].at - first.events[0].at, 1s);
  EXPECT_TRUE(s.steps[0].children[1].events.empty());
}

TEST(ShiftTrace, AGateThatNeverPassesEndsHeldWithItsChecksAsEvents) {
  Fixture f;
  f.configure = [&f] { f.gate->readings = {rate(0.5)}; };
  auto s = f.run();
  const exit::ChildSpanReport& first = s.steps.at(0).children.at(0);
  EXPECT_EQ(attributeAs<std::string>(first.attributes, "traffic.result"), "held");
  const auto checks = attributeAs<int64_t>(first.attributes, "traffic.gate.checks");
  ASSERT_TRUE(checks);
  EXPECT_EQ(static_cast<int64_t>(first.events.size()), *checks);
}

TEST(ShiftTrace, ShortenedHoldsAreAnEventOfTheShiftWithPlannedAndActualLengths) {
  Fixture f;
  f.config.exit.grace_period = 20s;  // Draining 13 s, minus 3 s for the drain
  auto s = f.run(true, 3s);
  const exit::StepReport& shift = s.steps.at(0);
  EXPECT_EQ(attributeAs<bool>(shift.attributes, "traffic.shortened"), true);
  ASSERT_EQ(shift.events.size(), 1u);
  const exit::SpanEvent& e = shift.events[0];
  EXPECT_EQ(e.name, "budget_shortened");
  EXPECT_EQ(attributeAs<int64_t>(e.attributes, "traffic.configured_hold_ms"), 20'000);
  const auto fitted = attributeAs<int64_t>(e.attributes, "traffic.planned_hold_ms");
  ASSERT_TRUE(fitted);
  EXPECT_LE(*fitted, 10'000);
  EXPECT_GT(*fitted, 0);
  // Each traffic step says the hold it really got.
  EXPECT_LE(attributeAs<int64_t>(shift.children.at(0).attributes, "traffic.planned_hold_ms"), 5'000);
  EXPECT_EQ(attributeAs<int64_t>(shift.children.at(0).attributes, "traffic.hold_ms"), 10'000);
}

TEST(ShiftTrace, AWeightThatCouldNotBeSetIsAnErrorSpan) {
  Fixture f;
  f.configure = [&f] {
    f.backend->errors = {Error{ErrorCode::kPermissionDenied, "forbidden: patch ingresses"}};
  };
  auto s = f.run();
  const exit::StepReport& shift = s.steps.at(0);
  ASSERT_EQ(shift.children.size(), 1u);
  const exit::ChildSpanReport& c = shift.children[0];
  EXPECT_EQ(c.status, exit::SpanStatus::kError);
  EXPECT_NE(c.status_message.find("forbidden: patch ingresses"), std::string::npos)
      << c.status_message;
  EXPECT_EQ(attributeAs<std::string>(c.attributes, "traffic.result"), "failed");
  EXPECT_EQ(attributeAs<int64_t>(c.attributes, "traffic.attempts"), 1);
  EXPECT_FALSE(attributeAs<std::string>(c.attributes, "traffic.gate.result"));  // never checked
}

TEST(PrometheusAnswer, TakesTheWorstSeries) {
  auto r = parsePrometheusAnswer(
      R"({"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"job":"a"},"value":[1700000000.1,"0.002"]},
        {"metric":{"job":"b"},"value":[1700000000.1,"0.04"]}]}})");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->error_rate);
  EXPECT_DOUBLE_EQ(*r->error_rate, 0.04);
}

TEST(PrometheusAnswer, EmptyVectorAndNaNAreNoData) {
  auto empty =
      parsePrometheusAnswer(R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->error_rate);
  auto nan = parsePrometheusAnswer(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}})");
  ASSERT_TRUE(nan);
  EXPECT_FALSE(nan->error_rate);
  auto scalar = parsePrometheusAnswer(
      R"({"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}})");
  ASSERT_TRUE(scalar);
  EXPECT_FALSE(scalar->error_rate);
}

TEST(PrometheusAnswer, GarbageAndErrorsAreClearErrors) {
  auto garbage = parsePrometheusAnswer("<html>bad gateway</html>");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("not a JSON object"), std::string::npos);
  auto failed = parsePrometheusAnswer(
      R"({"status":"error","errorType":"bad_data","error":"parse error at char 5"})");
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("parse error at char 5"), std::string::npos);
  auto matrix =
      parsePrometheusAnswer(R"({"status":"success","data":{"resultType":"matrix","result":[]}})");
  ASSERT_FALSE(matrix);
  EXPECT_NE(matrix.error().message.find("matrix"), std::string::npos);
}

// `status`, `error` and `resultType` of any other type than a string: a
// clear error naming the field, the type expected and the one found (the
// fuzz corpus only shows it does not crash).
// Words from outside (Prometheus' error, the API server's Status message)
// are cut in messages: a message never grows with what a peer sent.
TEST(PrometheusAnswer, AHugeErrorIsCutInTheMessage) {
  const std::string huge(100000, 'e');
  auto answer = parsePrometheusAnswer(R"({"status":"error","error":")" + huge + R"("})");
  ASSERT_FALSE(answer);
  EXPECT_LT(answer.error().message.size(), 400u);
  EXPECT_NE(answer.error().message.find("status error: eeee"), std::string::npos);
  const std::string described = kube::describeApiAnswer(
      403, R"({"kind":"Status","reason":")" + huge + R"(","message":")" + huge + R"("})");
  EXPECT_LT(described.size(), 400u);
  EXPECT_EQ(described.rfind("403 eee", 0), 0u) << described.substr(0, 40);
}

TEST(PrometheusAnswer, FieldsOfTheWrongTypeAreClearErrors) {
  struct Case {
    std::string body;
    std::string says;
  };
  std::vector<Case> cases;
  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"42", "got an integer 42"},
      {"0.5", "got a number 0.5"},
      {"{\"a\":1}", "got an object"},
      {"null", "got null"},
      {"[\"success\"]", "got an array"}};
  for (const auto& [value, kind] : wrong) {
    cases.push_back({R"({"status":)" + value + R"(,"data":{"resultType":"vector","result":[]}})",
                     "prometheus query answer: status: expected a string, " + kind});
    cases.push_back({R"({"status":"error","errorType":"bad_data","error":)" + value + "}",
                     "prometheus query answer: error: expected a string, " + kind});
    cases.push_back({R"({"status":"success","data":{"resultType":)" + value + R"(,"result":[]}})",
                     "prometheus query answer: data.resultType: expected a string, " + kind});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = parsePrometheusAnswer(c.body);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kBadResponse);
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
}

// Such an answer read by the gate: the check is inconclusive (the shift
// holds), and its detail is the parse error.
TEST(ShiftStep, AnAnswerWithAFieldOfTheWrongTypeIsAnInconclusiveCheck) {
  auto answer = parsePrometheusAnswer(R"({"status":["success"]})");
  ASSERT_FALSE(answer);
  Fixture f;
  f.configure = [&f, &answer] { f.gate->readings = {answer}; };
  auto s = f.run();
  ASSERT_TRUE(s.traffic);
  ASSERT_FALSE(s.traffic->steps.empty());
  EXPECT_EQ(s.traffic->steps[0].gate, "inconclusive");
  EXPECT_EQ(s.traffic->steps[0].result, "held");
  EXPECT_FALSE(s.traffic->steps[0].error_rate);
  EXPECT_EQ(s.traffic->steps[0].detail,
            "prometheus query answer: status: expected a string, got an array");
  EXPECT_EQ(f.observer.checks[0], "inconclusive");
}

TEST(RenderPatch, FillsEveryPlaceholder) {
  auto r = renderPatch(
      R"({"w":"{{weight}}","i":{{ inverse_weight }},"p":"{{pod_name}}","n":"{{namespace}}"})",
      config::PatchType::kMerge, {5, "web-0", "shop"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, R"({"w":"5","i":95,"p":"web-0","n":"shop"})");
}

// The API server's answer to a PATCH is outside input: what the step's
// detail takes from it is bounded, and an answer of any shape still
// describes the change.
TEST(DescribePatched, NamesTheObjectAndABoundedResourceVersion) {
  const kube::ObjectRef ref{"networking.k8s.io/v1", "Ingress", "shop", "web-canary", ""};
  const std::string name = "patched " + ref.describe();
  EXPECT_EQ(describePatched(ref, R"({"metadata":{"resourceVersion":"48213"}})"),
            name + " (resourceVersion 48213)");
  EXPECT_EQ(describePatched(ref, R"({"metadata":{"resourceVersion":")" +
                                     std::string(100000, '7') + R"("}})"),
            name + " (resourceVersion " + std::string(64, '7') + "...)");
  for (const std::string& answer : std::vector<std::string>{
           "", "not json", "[]", R"({"metadata":[]})", R"({"metadata":{"resourceVersion":7}})",
        std::string(100000, '[') + std::string(100000, ']')}) {
    EXPECT_EQ(describePatched(ref, answer), name) << answer.substr(0, 40);
  }
}

TEST(RenderPatch, NamesAnUnknownPlaceholderAndBadJson) {
  auto unknown = renderPatch(R"({"w":"{{wieght}}"})", config::PatchType::kMerge, {});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown placeholder {{wieght}}"), std::string::npos);
  auto unclosed = renderPatch(R"({"w":"{{weight"})", config::PatchType::kMerge, {});
  ASSERT_FALSE(unclosed);
  EXPECT_NE(unclosed.error().message.find("never closed"), std::string::npos);
  auto broken = renderPatch(R"({"w":{{weight}})", config::PatchType::kMerge, {});
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("not valid JSON"), std::string::npos);
  auto shape = renderPatch(R"({"op":"replace"})", config::PatchType::kJson, {});
  ASSERT_FALSE(shape);
  EXPECT_NE(shape.error().message.find("array of operations"), std::string::npos);
  auto op = renderPatch(R"([{"op":"replace"}])", config::PatchType::kJson, {});
  ASSERT_FALSE(op);
  EXPECT_NE(op.error().message.find("needs \"op\" and \"path\""), std::string::npos);
}

// A template nested far deeper than a patch ever is used to overflow the
// stack when the bad operation was quoted back in the error.
TEST(RenderPatch, RefusesATemplateNestedTooDeepInsteadOfOverflowingTheStack) {
  const size_t depth = 300000;
  const std::string deep = "[" + std::string(depth, '[') + std::string(depth, ']') + "]";
  auto r = renderPatch(deep, config::PatchType::kJson, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("traffic.kubernetes.patch"), std::string::npos);
  EXPECT_NE(r.error().message.find("deeper"), std::string::npos) << r.error().message;
}

TEST(RenderPatch, TheShippedKubernetesExamplesRender) {
  setenv("POD_NAMESPACE", "shop", 1);
  for (const char* f :
       {"traffic-ingress-nginx.yaml", "traffic-httproute.yaml", "traffic-istio.yaml"}) {
    auto c = config::loadFile(std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/" + f);
    ASSERT_TRUE(c) << f << ": " << c.error().message;
    for (int64_t w : {50, 0}) {
      auto r = renderPatch(c->traffic.kubernetes.patch, c->traffic.kubernetes.patch_type,
                           {w, "web-0", "shop"});
      EXPECT_TRUE(r) << f << ": " << r.error().message;
    }
  }
  unsetenv("POD_NAMESPACE");
}

}  // namespace
}  // namespace lameduck::traffic
