// The after-SIGTERM watcher in simulated time: a fake dump source and a fake
// "alive" check that turns false at a chosen time.

#include "diag/watcher.h"

#include <gtest/gtest.h>

#include <optional>

#include "fakes/diag.h"

namespace lameduck::diag {
namespace {

using namespace std::chrono_literals;

constexpr const char* kBaseline =
    "goroutine 7 [sleep]:\n"
    "time.Sleep(0x3b9aca00)\n\t/go/src/runtime/time.go:195 +0x135\n"
    "main.sleepLoop(...)\n\t/app/main.go:75\n"
    "created by main.main\n\t/app/main.go:9 +0x25\n\n"
    "goroutine 8 [select]:\n"
    "main.politeWait(0x1)\n\t/app/main.go:115 +0xce\n"
    "created by main.main\n\t/app/main.go:9 +0x25\n";
constexpr const char* kAfter =
    "goroutine 7 [sleep]:\n"
    "time.Sleep(0x3b9aca00)\n\t/go/src/runtime/time.go:195 +0x135\n"
    "main.sleepLoop(...)\n\t/app/main.go:75\n"
    "created by main.main\n\t/app/main.go:9 +0x25\n";

using fakes::FakeDumpSource;
using fakes::RecordingStuckObserver;

Dump parsed(const char* text) { return *parseGoroutines(text); }

struct Fixture {
  SimulatedClock clock;
  FakeDumpSource source;
  Diagnosis diagnosis{source};
  RecordingStuckObserver recorder;
  std::optional<TimePoint> gone_at;  // the app is alive until then
  int alive_checks = 0;
  WatchSettings settings{5s, 2s, 100ms};

  ShutdownWatcher watcher() {
    return ShutdownWatcher(diagnosis, clock,
                           [this](Duration) {
                             ++alive_checks;
                             return !gone_at || clock.now() < *gone_at;
                           },
                           settings, {&recorder});
  }
};

TEST(Watcher, AnAppThatExitsBeforeAfterSigtermIsNotDumped) {
  Fixture f;
  f.source.answers = {parsed(kBaseline)};
  ASSERT_TRUE(f.diagnosis.takeBaseline(1s));
  const TimePoint hook = f.clock.now();
  f.gone_at = hook + 1s;
  auto result = f.watcher().run(hook, hook + 20s);
  EXPECT_EQ(result.outcome, WatchOutcome::kExited);
  EXPECT_FALSE(result.reported);
  EXPECT_EQ(f.source.fetches(), 1);  // the baseline only
  EXPECT_FALSE(f.recorder.stuck);
  EXPECT_LT(f.clock.now(), hook + 2s);
}

TEST(Watcher, AnAppAliveAfterSigtermIsDumpedOnceAndWaitedFor) {
  Fixture f;
  f.source.answers = {parsed(kBaseline), parsed(kAfter)};
  ASSERT_TRUE(f.diagnosis.takeBaseline(1s));
  const TimePoint hook = f.clock.now();
  f.gone_at = hook + 12s;
  auto result = f.watcher().run(hook, hook + 20s);
  EXPECT_EQ(result.outcome, WatchOutcome::kStuck);
  EXPECT_TRUE(result.reported);
  EXPECT_EQ(f.source.fetches(), 2);
  EXPECT_EQ(f.source.lastTimeout(), 2s);  // app.timeout
  ASSERT_TRUE(f.recorder.stuck);
  EXPECT_GE(f.recorder.stuck->after_hook, 5s);
  ASSERT_EQ(f.recorder.stuck->report.groups.size(), 1u);
  EXPECT_EQ(f.recorder.stuck->report.groups[0].function, "main.sleepLoop");
  EXPECT_FALSE(f.recorder.stuck->report.groups[0].cancellable);
  EXPECT_EQ(f.recorder.stuck->report.goroutines_at_start, 2);
  // It stayed up until the app was gone, not longer.
  EXPECT_GE(f.clock.now(), hook + 12s);
  EXPECT_LT(f.clock.now(), hook + 13s);
  EXPECT_NE(result.detail.find("main.sleepLoop"), std::string::npos);
}

TEST(Watcher, TheDeadlineBoundsTheStay) {
  Fixture f;
  f.source.answers = {parsed(kBaseline), parsed(kAfter)};
  ASSERT_TRUE(f.diagnosis.takeBaseline(1s));
  const TimePoint hook = f.clock.now();
  auto result = f.watcher().run(hook, hook + 8s);  // never gone
  EXPECT_EQ(result.outcome, WatchOutcome::kOutlived);
  EXPECT_TRUE(result.reported);
  EXPECT_EQ(f.clock.now(), hook + 8s);
}

TEST(Watcher, ADeadlineBeforeAfterSigtermStillDumpsWithinIt) {
  Fixture f;
  f.source.answers = {parsed(kAfter)};
  const TimePoint hook = f.clock.now();
  auto result = f.watcher().run(hook, hook + 3s);
  EXPECT_TRUE(result.reported);
  EXPECT_EQ(f.source.lastTimeout(), 2s);  // taken early enough for a whole app.timeout
  EXPECT_LT(f.recorder.stuck->after_hook, 3s);
  EXPECT_FALSE(f.recorder.stuck->report.goroutines_at_start);  // no baseline taken
  EXPECT_EQ(f.clock.now(), hook + 3s);
}

TEST(Watcher, AFailedDumpIsReportedToObserversAndTheSidecarStillWaits) {
  Fixture f;
  f.source.answers = {makeError(ErrorCode::kBadResponse, "garbage")};
  const TimePoint hook = f.clock.now();
  f.gone_at = hook + 7s;
  auto result = f.watcher().run(hook, hook + 20s);
  EXPECT_EQ(result.outcome, WatchOutcome::kDumpFailed);
  EXPECT_FALSE(result.reported);
  ASSERT_TRUE(f.recorder.failed);
  EXPECT_EQ(f.recorder.failed->message, "garbage");
  EXPECT_GE(f.clock.now(), hook + 7s);
}

TEST(Watcher, StopEndsTheWatch) {
  Fixture f;
  const TimePoint hook = f.clock.now();
  auto w = f.watcher();
  w.stop();
  EXPECT_EQ(w.run(hook, hook + 20s).outcome, WatchOutcome::kStopped);
}

TEST(Summaries, CountsByWaitReasonAndDescribe) {
  Report r;
  r.groups = {Group{2, "sleep", 0, "main.a", "/a.go:1", "", false},
              Group{1, "IO wait", 0, "main.b", "/b.go:2", "", false},
              Group{3, "sleep", 0, "main.c", "", "", false}};
  auto counts = countsByWaitReason(r);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0], (std::pair<std::string, int64_t>{"IO wait", 1}));
  EXPECT_EQ(counts[1], (std::pair<std::string, int64_t>{"sleep", 5}));
  EXPECT_EQ(describe(Report{}), "no goroutine of the app's own is parked");
  EXPECT_NE(describe(r).find("2 sleep main.a (/a.go:1, not cancellable)"), std::string::npos);
}

TEST(TcpAccepts, TrueForAListenerFalseForAClosedPort) {
  // Covered against real sockets in the fetch tests' server; here the
  // refused case: port 1 on loopback has no listener in the test sandbox.
  EXPECT_FALSE(tcpAccepts("127.0.0.1", 1, 200ms));
}

}  // namespace
}  // namespace lameduck::diag
