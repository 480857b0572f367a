// The exit engine in simulated time: budgets, outcomes, the compensation
// reserve, idempotent triggers, summary sections and the exit's spans. The
// engine knows only steps: these tests use steps of their own and link
// nothing but the engine and common. No test here sleeps.

#include "exit/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fakes/exit.h"

namespace lameduck::exit {
namespace {

using namespace std::chrono_literals;
using fakes::findStep;
using fakes::RecordingObserver;
using fakes::TimedStep;

// The Step subclasses written in this file are the behaviour under test (what
// a step reports, fails or claims), not stand-ins: they stay here, not in
// tests/fakes.

// A step that writes a section, span attributes and an event, and looks at
// the steps before it.
class ReportingStep final : public Step {
 public:
  explicit ReportingStep(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  StepResult run(StepContext& ctx) override {
    traceparent = ctx.traceparent;
    saw_earlier = ctx.earlier ? ctx.earlier->size() : 0;
    ctx.record.section(name_, R"({"runs":1})");
    ctx.record.attribute("weight", int64_t{5});
    ctx.record.attribute("weight", int64_t{0});  // replaces the first
    ctx.record.event("gate_held", {{"error_rate", 0.5}});
    return StepResult::ok("reported");
  }
  std::string traceparent;
  size_t saw_earlier = 0;

 private:
  std::string name_;
};

TEST(ExitEngine, CompensationReserveIsKeptWhenDrainingOverruns) {
  SimulatedClock clock;
  RecordingObserver obs;
  Budget e{30s, 2s, 5s};
  ExitPlan plan;
  // Draining runs 4 s past its own deadline (a call that could not be cut).
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "overrun", std::nullopt, 4s));
  auto comp = std::make_unique<TimedStep>(clock, "handoff", 1s);
  TimedStep* comp_ptr = comp.get();
  plan.compensating.push_back(std::move(comp));
  ExitEngine engine(clock, e, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  EXPECT_EQ(s.phases[1].phase, Phase::kCompensating);
  EXPECT_EQ(s.phases[1].started_at, 27s);
  // 1 s of budget was left, but compensation still got the full reserve.
  EXPECT_EQ(comp_ptr->given, 5s);
  ASSERT_NE(findStep(s, "handoff"), nullptr) << "no step handoff in the summary";
  EXPECT_EQ(findStep(s, "handoff")->status, StepStatus::kOk);
}

TEST(ExitEngine, CompensationGetsTheRestOfTheBudgetWhenDrainingIsQuick) {
  SimulatedClock clock;
  RecordingObserver obs;
  Budget e{30s, 2s, 5s};
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "quick", 1s));
  auto comp = std::make_unique<TimedStep>(clock, "handoff", 1s);
  TimedStep* comp_ptr = comp.get();
  plan.compensating.push_back(std::move(comp));
  ExitEngine engine(clock, e, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  EXPECT_EQ(comp_ptr->given, 27s);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
}

TEST(ExitEngine, StepsAfterAnExhaustedBudgetAreReportedNotRun) {
  SimulatedClock clock;
  RecordingObserver obs;
  Budget e{10s, 1s, 2s};
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "eats-budget", std::nullopt));
  auto second = std::make_unique<TimedStep>(clock, "never-runs", 1s);
  TimedStep* second_ptr = second.get();
  plan.draining.push_back(std::move(second));
  ExitEngine engine(clock, e, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  const StepReport* r = findStep(s, "never-runs");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, StepStatus::kDeadline);
  EXPECT_EQ(second_ptr->given, Duration::zero());  // run() was never called
  EXPECT_EQ(s.outcome, Outcome::kDeadline);
}

TEST(ExitEngine, ReadinessFlipsBeforeTriggerReturns) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, ExitPlan{}, obs);
  EXPECT_EQ(engine.state(), State::kReady);
  engine.trigger("prestop");
  EXPECT_NE(engine.state(), State::kReady);
  engine.await();
  EXPECT_EQ(engine.state(), State::kTerminated);
}

TEST(ExitEngine, SnapshotBeforeAnyTriggerIsReady) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, ExitPlan{}, obs);
  Summary s = engine.snapshot();
  EXPECT_EQ(s.state, State::kReady);
  EXPECT_EQ(s.outcome, Outcome::kNone);
  auto j = nlohmann::json::parse(toJson(s));
  EXPECT_EQ(j["state"], "Ready");
  EXPECT_TRUE(j["outcome"].is_null());
}

TEST(ExitEngine, ManyConcurrentTriggersStartOneExitAndShareOneSummary) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "drain", 1s));
  plan.terminating.push_back(std::make_unique<TimedStep>(clock, "terminate", 1ms));
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, std::move(plan), obs);
  constexpr int kCallers = 64;
  std::vector<std::string> summaries(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      engine.trigger(i % 2 ? "prestop" : "SIGTERM");
      summaries[i] = toJson(engine.await());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(obs.exits, 1);
  EXPECT_EQ(obs.started.size(), 1u);
  EXPECT_EQ(obs.steps.size(), 2u);  // each step ran once
  for (const std::string& s : summaries) EXPECT_EQ(s, summaries[0]);
  EXPECT_EQ(obs.transitions.size(), 3u);
}

TEST(ExitEngine, TransitionsAndPhasesAreAnnouncedInOrder) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, ExitPlan{}, obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  ASSERT_EQ(obs.transitions.size(), 3u);
  EXPECT_EQ(obs.transitions[0], std::pair(State::kReady, State::kDraining));
  EXPECT_EQ(obs.transitions[1], std::pair(State::kDraining, State::kCompensating));
  EXPECT_EQ(obs.transitions[2], std::pair(State::kCompensating, State::kTerminated));
  ASSERT_EQ(s.phases.size(), 3u);
  EXPECT_EQ(s.phases[0].phase, Phase::kDraining);
  EXPECT_EQ(s.phases[0].budget, 23s);  // 30 s - 2 s margin - 5 s reserve
  ASSERT_EQ(obs.phases_started.size(), 3u);
  ASSERT_EQ(obs.phases_done.size(), 3u);
  EXPECT_EQ(obs.phases_done[2].phase, Phase::kTerminating);
}

TEST(ExitEngine, NoStepsCompletesAtOnce) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, ExitPlan{}, obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_TRUE(s.steps.empty());
  EXPECT_EQ(s.elapsed, Duration::zero());
}

TEST(ExitEngine, FailedStepFailsTheExitButTheExitGoesOn) {
  // The failing step is the behaviour under test (see the top of the file).
  class Failing final : public Step {
   public:
    std::string_view name() const override { return "refused"; }
    StepResult run(StepContext&) override { return StepResult::failed("answered 500"); }
  };
  SimulatedClock clock;
  RecordingObserver obs;
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<Failing>());
  plan.terminating.push_back(std::make_unique<TimedStep>(clock, "terminate", 1ms));
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  EXPECT_EQ(s.outcome, Outcome::kFailed);
  EXPECT_EQ(s.reason, "refused: answered 500");
  ASSERT_NE(findStep(s, "terminate"), nullptr) << "no step terminate in the summary";
  EXPECT_EQ(findStep(s, "terminate")->status, StepStatus::kOk);
}

TEST(ExitEngine, StepsOwnTheirSectionsInDeclaredOrder) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<ReportingStep>("second"));
  plan.sections = {{"first", R"({"runs":0})"}, {"second", "null"}};
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, std::move(plan), obs);
  // Declared sections are there before the exit starts.
  auto before = nlohmann::ordered_json::parse(toJson(engine.snapshot()));
  EXPECT_EQ(before["first"]["runs"], 0);
  EXPECT_TRUE(before["second"].is_null());
  engine.trigger("prestop");
  Summary s = engine.await();
  auto j = nlohmann::ordered_json::parse(toJson(s));
  EXPECT_EQ(j["first"]["runs"], 0);  // nobody wrote it: the default stays
  EXPECT_EQ(j["second"]["runs"], 1);
  // The declared order is kept: first before second.
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  auto pos = [&](const std::string& k) { return std::find(keys.begin(), keys.end(), k); };
  EXPECT_LT(pos("first"), pos("second"));
}

TEST(ExitEngine, EveryStepIsASpanWithItsOwnTraceparent) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitPlan plan;
  auto first = std::make_unique<ReportingStep>("first");
  auto second = std::make_unique<ReportingStep>("second");
  ReportingStep* first_ptr = first.get();
  ReportingStep* second_ptr = second.get();
  plan.draining.push_back(std::move(first));
  plan.compensating.push_back(std::move(second));
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();

  ASSERT_EQ(s.trace_id.size(), 32u);
  ASSERT_EQ(s.span_id.size(), 16u);
  EXPECT_TRUE(s.parent_span_id.empty());
  ASSERT_EQ(obs.started.size(), 1u);
  EXPECT_EQ(obs.started[0].trace_id, s.trace_id);
  EXPECT_EQ(obs.started[0].span_id, s.span_id);
  const StepReport* r1 = findStep(s, "first");
  const StepReport* r2 = findStep(s, "second");
  ASSERT_TRUE(r1 && r2);
  // Each step's calls carry its own span, in the exit's trace.
  EXPECT_EQ(first_ptr->traceparent, "00-" + s.trace_id + "-" + r1->span_id + "-01");
  EXPECT_EQ(second_ptr->traceparent, "00-" + s.trace_id + "-" + r2->span_id + "-01");
  EXPECT_NE(r1->span_id, r2->span_id);
  // A step's parent is its phase's span.
  EXPECT_EQ(r1->parent_span_id, s.phases[0].span_id);
  EXPECT_EQ(r2->parent_span_id, s.phases[1].span_id);
  // Attributes (the later value wins) and events.
  ASSERT_EQ(r1->attributes.size(), 1u);
  EXPECT_EQ(r1->attributes[0].key, "weight");
  EXPECT_EQ(std::get<int64_t>(r1->attributes[0].value), 0);
  ASSERT_EQ(r1->events.size(), 1u);
  EXPECT_EQ(r1->events[0].name, "gate_held");
  EXPECT_GE(r1->events[0].at, s.started_wall);
  // The second step saw the first.
  EXPECT_EQ(first_ptr->saw_earlier, 0u);
  EXPECT_EQ(second_ptr->saw_earlier, 1u);
  ASSERT_EQ(obs.steps.size(), 2u);
  EXPECT_EQ(obs.steps[0].span_id, r1->span_id);
}

// A step that does its work in parts and records each as a child span:
// one inside its time, one claiming to start before the step and end in
// the future, and more than the engine keeps.
class PartsStep final : public Step {
 public:
  PartsStep(SimulatedClock& clock, size_t parts) : clock_(clock), parts_(parts) {}
  std::string_view name() const override { return "parts"; }
  StepResult run(StepContext& ctx) override {
    clock_.advance(1s);
    const TimePoint a = clock_.now();
    clock_.advance(2s);
    ChildSpan first{"part", a, clock_.now(), {{"part.index", int64_t{0}}}, {}, SpanStatus::kOk,
                    ""};
    first.events.push_back({"held", a + 1s, {{"check", int64_t{1}}}});
    first.events.push_back({"late", clock_.now() + 1h, {}});  // kept inside the span
    ctx.record.span(std::move(first));
    ctx.record.span(ChildSpan{"wild", a - 1h, clock_.now() + 1h, {}, {}, SpanStatus::kError,
                              "weight refused"});
    for (size_t i = 2; i < parts_; ++i) ctx.record.span(ChildSpan{"more", a, a, {}, {}, {}, ""});
    clock_.advance(1s);
    return StepResult::ok();
  }

 private:
  SimulatedClock& clock_;
  size_t parts_;
};

TEST(ExitEngine, ChildSpansAreRecordedUnderTheStepInsideItsTime) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "before", 500ms));
  plan.draining.push_back(std::make_unique<PartsStep>(clock, kMaxChildSpans + 5));
  plan.draining.push_back(std::make_unique<ReportingStep>("after"));
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();

  const StepReport* r = findStep(s, "parts");
  ASSERT_TRUE(r);
  const WallTime step_start = r->started_wall;
  const WallTime step_end = r->started_wall + r->took;
  EXPECT_EQ(step_start, s.started_wall + 500ms);
  ASSERT_EQ(r->children.size(), kMaxChildSpans);  // the rest were dropped
  const ChildSpanReport& part = r->children[0];
  EXPECT_EQ(part.name, "part");
  EXPECT_EQ(part.start, step_start + 1s);
  EXPECT_EQ(part.end, step_start + 3s);
  EXPECT_EQ(part.status, SpanStatus::kOk);
  ASSERT_EQ(part.attributes.size(), 1u);
  EXPECT_EQ(part.attributes[0].key, "part.index");
  ASSERT_EQ(part.events.size(), 2u);
  EXPECT_EQ(part.events[0].name, "held");
  EXPECT_EQ(part.events[0].at, step_start + 2s);
  EXPECT_EQ(part.events[1].at, part.end);
  // Times outside the step are moved to its bounds: its start, and the
  // moment the span was recorded.
  const ChildSpanReport& wild = r->children[1];
  EXPECT_EQ(wild.start, step_start);
  EXPECT_EQ(wild.end, step_start + 3s);
  EXPECT_EQ(wild.status, SpanStatus::kError);
  EXPECT_EQ(wild.status_message, "weight refused");
  std::set<std::string> ids{r->span_id};
  for (const ChildSpanReport& c : r->children) {
    EXPECT_EQ(c.span_id.size(), 16u);
    EXPECT_TRUE(ids.insert(c.span_id).second) << "span id used twice: " << c.span_id;
    EXPECT_GE(c.start, step_start);
    EXPECT_LE(c.end, step_end);
  }
  // Observers get them with the step; other steps have none.
  ASSERT_EQ(obs.steps.size(), 3u);
  EXPECT_EQ(obs.steps[1].children.size(), kMaxChildSpans);
  EXPECT_EQ(obs.steps[1].children[0].span_id, part.span_id);
  ASSERT_NE(findStep(s, "after"), nullptr) << "no step after in the summary";
  EXPECT_TRUE(findStep(s, "after")->children.empty());
  ASSERT_NE(findStep(s, "before"), nullptr) << "no step before in the summary";
  EXPECT_TRUE(findStep(s, "before")->children.empty());
}

TEST(ExitEngine, AValidIncomingTraceparentMakesTheExitItsChild) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitEngine engine(clock, Budget{30s, 2s, 5s}, ExitPlan{}, obs);
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  engine.trigger("prestop", "00-" + trace + "-00f067aa0ba902b7-01");
  Summary s = engine.await();
  EXPECT_EQ(s.trace_id, trace);
  EXPECT_EQ(s.parent_span_id, "00f067aa0ba902b7");
  EXPECT_NE(s.span_id, "00f067aa0ba902b7");
}

TEST(ExitEngine, AnInvalidIncomingTraceparentIsIgnored) {
  for (std::string bad : {"garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"}) {
    SimulatedClock clock;
    RecordingObserver obs;
    ExitEngine engine(clock, Budget{30s, 2s, 5s}, ExitPlan{}, obs);
    engine.trigger("prestop", bad);
    Summary s = engine.await();
    EXPECT_TRUE(s.parent_span_id.empty()) << bad;
    EXPECT_EQ(s.trace_id.size(), 32u) << bad;
    EXPECT_NE(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736") << bad;
  }
}

TEST(ExitEngine, AStepWithGraceStillRunsAfterThePhaseDeadline) {
  // The step with grace is the behaviour under test (see the top of the file).
  class Explains final : public Step {
   public:
    std::string_view name() const override { return "explain"; }
    StepResult run(StepContext& ctx) override {
      given = ctx.remaining();
      return StepResult::ok();
    }
    Duration grace() const override { return 2s; }
    Duration given{};
  };
  SimulatedClock clock;
  RecordingObserver obs;
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "eats-budget", std::nullopt));
  auto explain = std::make_unique<Explains>();
  Explains* explain_ptr = explain.get();
  plan.draining.push_back(std::move(explain));
  ExitEngine engine(clock, Budget{10s, 1s, 2s}, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  ASSERT_NE(findStep(s, "explain"), nullptr) << "no step explain in the summary";
  EXPECT_EQ(findStep(s, "explain")->status, StepStatus::kOk);
  EXPECT_EQ(explain_ptr->given, 2s);
}

TEST(Summary, JsonCarriesOutcomePhasesStepsAndFigures) {
  Summary s;
  s.state = State::kTerminated;
  s.outcome = Outcome::kDeadline;
  s.reason = "app_inflight_wait: in-flight still \"3\"\n";
  s.trigger = "prestop";
  s.trace_id = std::string(32, 'a');
  PhaseTiming phase;
  phase.phase = Phase::kDraining;
  phase.took = 1500ms;
  phase.budget = 23s;
  s.phases.push_back(phase);
  StepReport step;
  step.phase = Phase::kDraining;
  step.name = "app_drain_hook";
  step.took = 2ms;
  s.steps.push_back(step);
  s.sections.push_back({"app", R"({"inflight":3,"connections":null})"});
  s.sections.push_back({"traffic", ""});
  auto j = nlohmann::json::parse(toJson(s));
  EXPECT_EQ(j["outcome"], "deadline");
  EXPECT_EQ(j["reason"], s.reason);
  EXPECT_EQ(j["phases"]["draining"]["duration_ms"], 1500.0);
  EXPECT_EQ(j["steps"][0]["step"], "app_drain_hook");
  EXPECT_EQ(j["app"]["inflight"], 3);
  EXPECT_TRUE(j["app"]["connections"].is_null());
  EXPECT_TRUE(j["traffic"].is_null());  // a section without a value
  EXPECT_EQ(outcomeFromJson(toJson(s)).value(), Outcome::kDeadline);
  EXPECT_FALSE(outcomeFromJson("not json").has_value());
}

// The prestop command reads this from the network: an answer nested far
// deeper than a summary ever is used to overflow the stack when the outcome
// was quoted back in the error.
TEST(SummaryJson, RefusesAnAnswerNestedTooDeepInsteadOfOverflowingTheStack) {
  const size_t depth = 300000;
  const std::string deep =
      R"({"outcome":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  auto outcome = outcomeFromJson(deep);
  ASSERT_FALSE(outcome.has_value());
  EXPECT_EQ(outcome.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(outcome.error().message.find("deeper"), std::string::npos) << outcome.error().message;
}

TEST(SummaryJson, NamesAnUnknownOutcomeAndWhatWouldBeAccepted) {
  EXPECT_EQ(outcomeFromJson(R"({"outcome":null})").value(), Outcome::kNone);
  EXPECT_EQ(outcomeFromJson(R"({"state":"draining"})").value(), Outcome::kNone);
  auto odd = outcomeFromJson(R"({"outcome":["completed"]})");
  ASSERT_FALSE(odd.has_value());
  EXPECT_NE(odd.error().message.find(R"(unknown outcome ["completed"])"), std::string::npos)
      << odd.error().message;
  EXPECT_NE(odd.error().message.find("known: completed"), std::string::npos);
  EXPECT_FALSE(outcomeFromJson("[1]").has_value());
}

TEST(Traceparent, HasW3CShape) {
  std::string t = newTraceparent();
  ASSERT_EQ(t.size(), 55u);
  EXPECT_EQ(t.substr(0, 3), "00-");
  EXPECT_EQ(t[35], '-');
  EXPECT_EQ(t.substr(52), "-01");
  EXPECT_NE(newTraceparent(), t);
  EXPECT_TRUE(TraceContext::parse(t).has_value());
}

}  // namespace
}  // namespace lameduck::exit
