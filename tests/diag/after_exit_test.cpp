// The after-SIGTERM watch as an exit observer (simulated time, the shared
// fake dump source and stuck observer, a fake "alive" check), and the stuck
// app's span. The watch runs on its own thread; the fakes are read after
// waitOver(), which returns only once that thread has handed over its
// result.

#include "diag/after_exit.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include "diag/stuck_span.h"
#include "fakes/diag.h"

// Its own namespace: the fixture here shares names with watcher_test.cpp's,
// and the test binary is built as one translation unit.
namespace lameduck::diag::after_exit_tests {
namespace {

using namespace std::chrono_literals;

constexpr const char* kStuckDump =
    "goroutine 7 [sleep, 3 minutes]:\n"
    "time.Sleep(0x3b9aca00)\n\t/go/src/runtime/time.go:195 +0x135\n"
    "main.sleepLoop(...)\n\t/app/main.go:75\n"
    "created by main.main\n\t/app/main.go:9 +0x25\n";

// The exit as the engine hands it to observers: `elapsed` of `budget` used.
exit::Summary exitDone(Duration elapsed, Duration budget) {
  exit::Summary s;
  s.state = exit::State::kTerminated;
  s.outcome = exit::Outcome::kCompleted;
  s.elapsed = elapsed;
  s.budget = budget;
  return s;
}

// A dump source that answers every fetch with the stuck dump.
fakes::FakeDumpSource stuckSource() {
  fakes::FakeDumpSource source;
  source.answers.assign(16, *parseGoroutines(kStuckDump));
  return source;
}

struct Fixture {
  SimulatedClock clock;
  fakes::FakeDumpSource source = stuckSource();
  Diagnosis diagnosis{source};
  fakes::RecordingStuckObserver recorder;
  std::optional<TimePoint> gone_at;  // the app is alive until then
  AliveCheck alive = [this](Duration) { return !gone_at || clock.now() < *gone_at; };
  WatchSettings settings{5s, 2s, 100ms};

  std::unique_ptr<AfterExitWatch> watch() {
    return std::make_unique<AfterExitWatch>(diagnosis, clock, alive, settings,
                                            std::vector<StuckObserver*>{&recorder});
  }
};

TEST(AfterExitWatch, AnAppAliveAfterSigtermIsReportedAndWaitedFor) {
  Fixture f;
  const TimePoint done = f.clock.now();
  f.gone_at = done + 9s;
  auto watch = f.watch();
  watch->onExitDone(exitDone(3s, 30s));
  ASSERT_TRUE(watch->waitOver());
  ASSERT_TRUE(watch->result());
  EXPECT_EQ(watch->result()->outcome, WatchOutcome::kStuck);
  EXPECT_GE(f.clock.now(), done + 9s);  // it stayed until the app was gone
  ASSERT_TRUE(f.recorder.stuck);
  EXPECT_GE(f.recorder.stuck->after_hook, 5s);
}

TEST(AfterExitWatch, TheBudgetCountsFromTheStartOfTheExit) {
  Fixture f;
  const TimePoint done = f.clock.now();
  auto watch = f.watch();  // the app never goes
  watch->onExitDone(exitDone(22s, 30s));
  ASSERT_TRUE(watch->waitOver());
  EXPECT_EQ(watch->result()->outcome, WatchOutcome::kOutlived);
  EXPECT_EQ(f.clock.now(), done + 8s);  // 30 s budget, 22 s of it used by the exit
}

TEST(AfterExitWatch, OneWatchPerProcess) {
  Fixture f;
  f.gone_at = f.clock.now() + 1s;
  auto watch = f.watch();
  watch->onExitDone(exitDone(1s, 30s));
  ASSERT_TRUE(watch->waitOver());
  watch->onExitDone(exitDone(1s, 30s));  // ignored
  EXPECT_TRUE(watch->waitOver());
  EXPECT_EQ(watch->result()->outcome, WatchOutcome::kExited);
  EXPECT_EQ(f.source.fetches(), 0);
}

TEST(AfterExitWatch, WaitOverReturnsAtOnceWhenNoWatchStarted) {
  Fixture f;
  auto watch = f.watch();
  EXPECT_TRUE(watch->waitOver());
  EXPECT_FALSE(watch->result());
  watch->stop();
  watch->onExitDone(exitDone(1s, 30s));  // after stop(): nothing starts
  EXPECT_TRUE(watch->waitOver());
  EXPECT_FALSE(watch->result());
  EXPECT_EQ(f.source.fetches(), 0);
}

TEST(AfterExitWatch, StopEndsARunningWatch) {
  Fixture f;
  // The first alive check holds until the test has called stop().
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, released = false;
  f.alive = [&](Duration) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lock, 20s, [&] { return released; });
    return true;
  };
  auto watch = f.watch();
  watch->onExitDone(exitDone(1s, 30s));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return entered; }));
  }
  watch->stop();
  {
    std::lock_guard lock(mu);
    released = true;
  }
  cv.notify_all();
  ASSERT_TRUE(watch->waitOver());
  EXPECT_EQ(watch->result()->outcome, WatchOutcome::kStopped);
  EXPECT_EQ(f.source.fetches(), 0);
}

TEST(StuckSpan, CountsTheGoroutinesAndNamesWhereEachGroupWaits) {
  StuckReport stuck;
  stuck.report.goroutines_at_end = 12;
  stuck.report.groups = {Group{3, "sleep", 4, "main.sleepLoop", "/app/main.go:75", "main.main", false},
                         Group{2, "select", 0, "main.politeWait", "/app/main.go:115", "", true}};
  stuck.after_hook = 5200ms;
  stuck.taken = WallTime{} + std::chrono::seconds(1'700'000'000);
  stuck.fetch_took = 40ms;
  const trace::Span span = stuckSpan(stuck);
  EXPECT_EQ(span.name, "app_shutdown_stuck");
  EXPECT_TRUE(span.trace_id.empty());  // the tracer puts it into the exit's trace
  EXPECT_EQ(span.end, stuck.taken);
  EXPECT_EQ(span.end - span.start, std::chrono::milliseconds(40));
  EXPECT_EQ(span.status, trace::StatusCode::kError);
  std::map<std::string, exit::AttrValue> attrs;
  for (const exit::Attribute& a : span.attributes) attrs[a.key] = a.value;
  EXPECT_EQ(attrs.at("after_hook_ms"), exit::AttrValue(int64_t{5200}));
  EXPECT_EQ(attrs.at("goroutines"), exit::AttrValue(int64_t{12}));
  EXPECT_EQ(attrs.at("stuck_goroutines"), exit::AttrValue(int64_t{5}));
  EXPECT_EQ(attrs.at("not_cancellable"), exit::AttrValue(int64_t{3}));
  ASSERT_EQ(span.events.size(), 2u);
  EXPECT_EQ(span.events[0].name, "stuck_goroutines");
}

}  // namespace
}  // namespace lameduck::diag::after_exit_tests
