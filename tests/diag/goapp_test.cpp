// The dump source, report and watcher against the real Go service: what a
// real Go 1.19 runtime prints is what the parser and the report read.

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "diag/diagnosis.h"
#include "diag/go_service.h"
#include "diag/watcher.h"
#include "fakes/diag.h"

namespace lameduck::testing {

namespace {

using diag::Group;

int64_t inflight(int port) {
  auto r = call(port, "GET", "/lameduck/status", {}, 2s);
  if (!r || r->status != 200) return -1;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  return j.is_object() ? j.value("inflight", int64_t{-1}) : -1;
}

const Group* group(const diag::Report& r, const std::string& function) {
  for (const Group& g : r.groups) {
    if (g.function == function) return &g;
  }
  return nullptr;
}

diag::HttpDumpSource sourceFor(const GoService& s) {
  return diag::HttpDumpSource(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(s.pprof_port),
                                      "/debug/pprof/goroutine?debug=2"},
                              16 << 20, SystemClock::instance());
}

TEST(GoService, StuckHandlersAreNamedWithWaitReasonAndLine) {
  TempDir dir;
  StuckRequests requests;  // joined after the service is gone
  auto app = startGoService(dir, "goapp", {});
  ASSERT_TRUE(app);
  auto source = sourceFor(*app);
  diag::Diagnosis diagnosis(source);
  for (const char* kind : {"sleep", "read", "mutex", "polite"}) {
    requests.start(app->port, kind, 30s);
  }
  ASSERT_TRUE(waitUntil([&] { return inflight(app->port) == 4; }, 10s));
  ASSERT_TRUE(diagnosis.takeBaseline(5s));

  auto report = diagnosis.diagnose(5s);
  ASSERT_TRUE(report) << report.error().message;
  const Group* sleeper = group(*report, "main.sleepLoop");
  ASSERT_NE(sleeper, nullptr);
  EXPECT_EQ(sleeper->wait_reason, "sleep");
  EXPECT_FALSE(sleeper->cancellable);
  EXPECT_NE(sleeper->location.find("fixtures/goapp/main.go:"), std::string::npos);
  EXPECT_EQ(sleeper->created_by, "net/http.(*Server).Serve");
  const Group* reader = group(*report, "main.readForever");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->wait_reason, "IO wait");
  EXPECT_FALSE(reader->cancellable);
  const Group* locker = group(*report, "main.lockForever");
  ASSERT_NE(locker, nullptr);
  EXPECT_FALSE(locker->cancellable);
  const Group* polite = group(*report, "main.politeWait");
  ASSERT_NE(polite, nullptr);
  EXPECT_TRUE(polite->cancellable);
  for (const Group& g : report->groups) {
    EXPECT_EQ(g.function.find("pprof"), std::string::npos) << g.function;
  }
}

TEST(GoService, AServiceHangingAfterSigtermIsReportedWithoutItsPoliteWorker) {
  TempDir dir;
  auto app = startGoService(
      dir, "goapp", {"-workers", "sleep,read,mutex,nilchan,select,polite", "-on-sigterm", "wait"});
  ASSERT_TRUE(app);
  auto source = sourceFor(*app);
  diag::Diagnosis diagnosis(source);
  ASSERT_TRUE(diagnosis.takeBaseline(5s));

  app->process->signal(SIGTERM);
  // The polite worker has returned once the service says so; only then is
  // "it is not in the report" a statement about the report.
  ASSERT_TRUE(waitForLine(
      app->process->outputPath(),
      [](const nlohmann::json& j) { return j.value("event", "") == "polite_stopped"; }, 20s))
      << app->process->output();
  const TimePoint hook = SystemClock::instance().now();
  fakes::RecordingStuckObserver recorder;
  const uint16_t pprof = static_cast<uint16_t>(app->pprof_port);
  // after_sigterm 300 ms, fetch bound 1 s, deadline 3 s: the dump is taken
  // at after_sigterm (the deadline leaves room for the fetch).
  diag::ShutdownWatcher watcher(
      diagnosis, SystemClock::instance(),
      [pprof](Duration timeout) { return diag::tcpAccepts("127.0.0.1", pprof, timeout); },
      diag::WatchSettings{300ms, 1s, 50ms}, {&recorder});
  // The app never exits by itself: the watch ends at the deadline.
  auto result = watcher.run(hook, hook + 3s);
  EXPECT_EQ(result.outcome, diag::WatchOutcome::kOutlived);
  ASSERT_TRUE(recorder.stuck) << result.detail;
  const diag::Report& r = recorder.stuck->report;
  for (const char* f : {"main.sleepLoop", "main.readForever", "main.lockForever", "main.receiveNil",
                        "main.selectNothing"}) {
    const Group* g = group(r, f);
    ASSERT_NE(g, nullptr) << f << " missing from " << diag::renderJson(r);
    EXPECT_FALSE(g->cancellable) << f;
    EXPECT_EQ(g->created_by, "main.main") << f;
  }
  EXPECT_EQ(group(r, "main.politeWait"), nullptr) << diag::renderJson(r);
  EXPECT_TRUE(app->process->running());
}

TEST(GoService, AWellBehavedServiceExitsAndIsNotDumped) {
  TempDir dir;
  auto app = startGoService(dir, "goapp", {"-workers", "polite", "-on-sigterm", "exit"});
  ASSERT_TRUE(app);
  auto source = sourceFor(*app);
  diag::Diagnosis diagnosis(source);
  ASSERT_TRUE(diagnosis.takeBaseline(5s));
  app->process->signal(SIGTERM);
  const TimePoint hook = SystemClock::instance().now();
  fakes::RecordingStuckObserver recorder;
  const uint16_t pprof = static_cast<uint16_t>(app->pprof_port);
  diag::ShutdownWatcher watcher(
      diagnosis, SystemClock::instance(),
      [pprof](Duration timeout) { return diag::tcpAccepts("127.0.0.1", pprof, timeout); },
      diag::WatchSettings{20s, 5s, 20ms}, {&recorder});
  auto result = watcher.run(hook, hook + 30s);
  EXPECT_EQ(result.outcome, diag::WatchOutcome::kExited) << result.detail;
  EXPECT_FALSE(recorder.stuck);
  EXPECT_EQ(app->process->waitExit(10s), 0);
}

}  // namespace
}  // namespace lameduck::testing
