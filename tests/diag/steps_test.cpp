// The diagnosis steps with a fake dump source and a recording ExitRecorder.

#include "diag/steps.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "fakes/diag.h"
#include "fakes/exit.h"

// Its own namespace: its Fixture shares a name with watcher_test.cpp's,
// and the test binary is built as one translation unit.
namespace lameduck::diag::step_tests {
namespace {

using namespace std::chrono_literals;

constexpr const char* kDump =
    "goroutine 7 [sleep]:\n"
    "time.Sleep(0x3b9aca00)\n\t/go/src/runtime/time.go:195 +0x135\n"
    "main.sleepLoop(...)\n\t/app/main.go:75\n"
    "created by net/http.(*Server).Serve\n\t/go/src/net/http/server.go:3102 +0x4db\n";

using fakes::FakeDumpSource;
using fakes::RecordingExitRecorder;

struct Fixture {
  SimulatedClock clock;
  FakeDumpSource source;
  Diagnosis diagnosis{source};
  RecordingExitRecorder recorder;
  std::vector<exit::StepReport> earlier;

  exit::StepContext context(Duration left) {
    return exit::StepContext{clock, clock.now(), clock.now() + left, "", recorder, &earlier};
  }
  void drainEnded(exit::StepStatus status) {
    exit::StepReport r;
    r.name = "drain_wait";
    r.status = status;
    earlier.push_back(r);
  }
};

TEST(BaselineStep, TakesTheBaselineWithinAppTimeout) {
  Fixture f;
  f.source.answers = {*parseGoroutines(kDump)};
  BaselineStep step(f.diagnosis, 2s);
  auto ctx = f.context(10s);
  auto result = step.run(ctx);
  EXPECT_EQ(result.status, exit::StepStatus::kOk) << result.detail;
  EXPECT_TRUE(f.diagnosis.hasBaseline());
  EXPECT_EQ(f.source.timeouts.at(0), 2s);
}

TEST(BaselineStep, AFailedFetchSkipsTheStepWithTheReason) {
  Fixture f;
  f.source.answers = {makeError(ErrorCode::kNotFound, "404 Not Found")};
  BaselineStep step(f.diagnosis, 2s);
  auto ctx = f.context(1s);
  auto result = step.run(ctx);
  EXPECT_EQ(result.status, exit::StepStatus::kSkipped);
  EXPECT_NE(result.detail.find("404 Not Found"), std::string::npos);
  EXPECT_EQ(f.source.timeouts.at(0), 1s);  // what was left of the phase
  EXPECT_FALSE(f.diagnosis.hasBaseline());
}

TEST(DeadlineDumpStep, SkippedWhenTheDrainFinished) {
  Fixture f;
  f.drainEnded(exit::StepStatus::kOk);
  DeadlineDumpStep step(f.diagnosis, 2s, "drain_wait");
  auto ctx = f.context(5s);
  EXPECT_EQ(step.run(ctx).status, exit::StepStatus::kSkipped);
  EXPECT_TRUE(f.source.timeouts.empty());
  EXPECT_TRUE(f.recorder.sections.empty());
  EXPECT_EQ(step.grace(), 2s);
}

TEST(DeadlineDumpStep, ReportsTheStuckWorkAsTheDiagnosisSection) {
  Fixture f;
  f.source.answers = {*parseGoroutines(kDump), *parseGoroutines(kDump)};
  BaselineStep baseline(f.diagnosis, 2s);
  auto ctx0 = f.context(10s);
  ASSERT_EQ(baseline.run(ctx0).status, exit::StepStatus::kOk);
  f.drainEnded(exit::StepStatus::kDeadline);
  DeadlineDumpStep step(f.diagnosis, 2s, "drain_wait");
  auto ctx = f.context(2s);  // the grace: the phase's budget is used up
  auto result = step.run(ctx);
  EXPECT_EQ(result.status, exit::StepStatus::kOk) << result.detail;
  EXPECT_NE(result.detail.find("main.sleepLoop"), std::string::npos);
  auto j = nlohmann::json::parse(f.recorder.sections.at("diagnosis"));
  EXPECT_EQ(j["goroutines_at_start"], 1);
  ASSERT_EQ(j["groups"].size(), 1u);
  EXPECT_EQ(j["groups"][0]["function"], "main.sleepLoop");
  EXPECT_EQ(j["groups"][0]["wait_reason"], "sleep");
  EXPECT_EQ(j["groups"][0]["location"], "/app/main.go:75");
  EXPECT_EQ(j["groups"][0]["cancellable"], false);
  EXPECT_EQ(std::get<int64_t>(f.recorder.attributes.at("diagnosis.not_cancellable")), 1);
}

TEST(DeadlineDumpStep, AFailedDumpIsInTheSectionAndTheDetail) {
  Fixture f;
  f.source.answers = {makeError(ErrorCode::kDeadlineExceeded, "no complete answer within 2s")};
  f.drainEnded(exit::StepStatus::kDeadline);
  DeadlineDumpStep step(f.diagnosis, 2s, "drain_wait");
  auto ctx = f.context(5s);
  auto result = step.run(ctx);
  EXPECT_EQ(result.status, exit::StepStatus::kSkipped);
  EXPECT_NE(result.detail.find("no complete answer within 2s"), std::string::npos);
  auto j = nlohmann::json::parse(f.recorder.sections.at("diagnosis"));
  EXPECT_EQ(j["source"], f.source.source());
  EXPECT_NE(j["error"].get<std::string>().find("no complete answer"), std::string::npos);
  EXPECT_EQ(f.source.timeouts.at(0), 2s);
}

}  // namespace
}  // namespace lameduck::diag::step_tests
