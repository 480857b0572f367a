// The report: which goroutines held the app up, grouped where the app's own
// code waits.

#include "diag/report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace lameduck::diag {
namespace {

Dump load(const std::string& name) {
  std::ifstream in(std::string(LAMEDUCK_SOURCE_DIR) + "/tests/diag/data/" + name);
  std::stringstream s;
  s << in.rdbuf();
  auto dump = parseGoroutines(s.str());
  EXPECT_TRUE(dump) << name;
  return dump ? *dump : Dump{};
}

const Group* group(const Report& r, const std::string& function) {
  for (const Group& g : r.groups) {
    if (g.function == function) return &g;
  }
  return nullptr;
}

TEST(StandardLibrary, FirstPathElementWithoutADotAndKnownIsStd) {
  EXPECT_TRUE(isStandardLibrary("net/http.(*conn).serve"));
  EXPECT_TRUE(isStandardLibrary("time.Sleep"));
  EXPECT_TRUE(isStandardLibrary("sync.(*Mutex).Lock"));
  EXPECT_TRUE(isStandardLibrary("internal/poll.runtime_pollWait"));
  EXPECT_TRUE(isStandardLibrary("runtime.gopark"));
  EXPECT_TRUE(isStandardLibrary("vendor/golang.org/x/net/http2.(*Framer).ReadFrame"));
  EXPECT_FALSE(isStandardLibrary("main.sleepLoop"));
  EXPECT_FALSE(isStandardLibrary("main.main.func1"));
  EXPECT_FALSE(isStandardLibrary("github.com/lib/pq.(*conn).recv"));
  EXPECT_FALSE(isStandardLibrary("example.com/shop/store.(*Cache).Get"));
  EXPECT_FALSE(isStandardLibrary("myapp/config.Current"));  // a module path without a dot
  EXPECT_FALSE(isStandardLibrary("golang.org/x/sync/errgroup.(*Group).Wait"));
  EXPECT_FALSE(isStandardLibrary(""));
  EXPECT_TRUE(isRuntime("runtime.gopark"));
  EXPECT_TRUE(isRuntime("runtime/internal/atomic.Load"));
  EXPECT_FALSE(isRuntime("runtimex.Foo"));
}

TEST(Cancellable, WaitsAContextCannotEndAreFalse) {
  for (const char* r :
       {"sleep", "IO wait", "semacquire", "sync.Mutex.Lock", "sync.RWMutex.Lock",
        "sync.RWMutex.RLock", "sync.WaitGroup.Wait", "sync.Cond.Wait", "chan receive (nil chan)",
        "chan send (nil chan)", "select (no cases)", "syscall"}) {
    EXPECT_FALSE(isCancellable(r)) << r;
  }
  for (const char* r : {"select", "chan receive", "chan send", "a reason from the future"}) {
    EXPECT_TRUE(isCancellable(r)) << r;
  }
}

TEST(Report, AfterSigtermNamesTheStuckWorkersNotThePoliteOneNorMachinery) {
  const Dump baseline = load("go1.19-baseline.txt");
  const Dump after = load("go1.19-after-sigterm.txt");
  const Report r =
      buildReport(&baseline, after, "http://127.0.0.1:6060/debug/pprof/goroutine?debug=2");
  EXPECT_EQ(r.goroutines_at_start, static_cast<int64_t>(baseline.goroutines.size()));
  EXPECT_EQ(r.goroutines_at_end, static_cast<int64_t>(after.goroutines.size()));

  const Group* sleeper = group(r, "main.sleepLoop");
  ASSERT_NE(sleeper, nullptr);
  EXPECT_EQ(sleeper->wait_reason, "sleep");
  EXPECT_FALSE(sleeper->cancellable);
  EXPECT_EQ(sleeper->count, 1);  // the handler started after the baseline is not counted
  EXPECT_NE(sleeper->location.find("tests/fixtures/goapp/main.go:"), std::string::npos);
  EXPECT_EQ(sleeper->created_by, "main.main");

  const Group* reader = group(r, "main.readForever");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->wait_reason, "IO wait");
  EXPECT_FALSE(reader->cancellable);
  EXPECT_EQ(group(r, "main.lockForever")->wait_reason, "semacquire");
  EXPECT_EQ(group(r, "main.receiveNil")->wait_reason, "chan receive (nil chan)");
  EXPECT_EQ(group(r, "main.selectNothing")->wait_reason, "select (no cases)");

  EXPECT_EQ(group(r, "main.politeWait"), nullptr);
  for (const Group& g : r.groups) {
    EXPECT_FALSE(isStandardLibrary(g.function)) << g.function;
    EXPECT_EQ(g.function.find("pprof"), std::string::npos) << g.function;
  }
  // The shutdown goroutine started after SIGTERM is not in the baseline.
  EXPECT_EQ(group(r, "main.main.func4"), nullptr);
}

TEST(Report, WithoutABaselineInflightHandlersAreGroupedByWaitAndFunction) {
  const Dump now = load("go1.19-inflight.txt");
  const Report r = buildReport(nullptr, now, "src");
  EXPECT_FALSE(r.goroutines_at_start);
  const Group* sleeper = group(r, "main.sleepLoop");
  ASSERT_NE(sleeper, nullptr);
  EXPECT_EQ(sleeper->count, 2);  // the background worker and the handler, same wait and line
  const Group* polite = group(r, "main.politeWait");
  ASSERT_NE(polite, nullptr);
  EXPECT_TRUE(polite->cancellable);
  EXPECT_EQ(polite->wait_reason, "select");
}

TEST(Report, NewerFormatGroupsByAppFrameAndKeepsLongestWait) {
  const Dump now = load("go1.24-handmade.txt");
  const Report r = buildReport(nullptr, now, "src");
  const Group* cache = group(r, "example.com/shop/store.(*Cache).Get");
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->count, 2);
  EXPECT_EQ(cache->minutes, 5);
  EXPECT_EQ(cache->wait_reason, "sync.Mutex.Lock");
  EXPECT_EQ(cache->location, "/src/shop/store/cache.go:57");
  EXPECT_FALSE(cache->cancellable);
  EXPECT_EQ(r.groups.front().function, cache->function);  // the biggest group first

  EXPECT_EQ(group(r, "myapp/config.Current")->wait_reason, "sync.RWMutex.RLock");
  EXPECT_EQ(group(r, "main.main")->wait_reason, "sync.WaitGroup.Wait");
  EXPECT_EQ(group(r, "main.futureWait")->wait_reason, "synctest.Wait (durable)");
  EXPECT_EQ(group(r, "main.spin"), nullptr);              // runnable: not parked
  EXPECT_EQ(group(r, "runtime.forcegchelper"), nullptr);  // the runtime's own
}

TEST(Report, RendersTheSummaryShape) {
  Report r;
  r.source = "http://127.0.0.1:6060/debug/pprof/goroutine?debug=2";
  r.goroutines_at_start = 12;
  r.goroutines_at_end = 14;
  r.groups.push_back(Group{3, "sleep", 2, "main.sleepLoop", "/app/main.go:75", "main.main", false});
  auto j = nlohmann::json::parse(renderJson(r));
  EXPECT_EQ(j["source"], r.source);
  EXPECT_EQ(j["goroutines_at_start"], 12);
  EXPECT_EQ(j["goroutines_at_end"], 14);
  ASSERT_EQ(j["groups"].size(), 1u);
  const auto& g = j["groups"][0];
  EXPECT_EQ(g["count"], 3);
  EXPECT_EQ(g["wait_reason"], "sleep");
  EXPECT_EQ(g["minutes"], 2);
  EXPECT_EQ(g["function"], "main.sleepLoop");
  EXPECT_EQ(g["location"], "/app/main.go:75");
  EXPECT_EQ(g["created_by"], "main.main");
  EXPECT_EQ(g["cancellable"], false);

  r.goroutines_at_start.reset();
  r.groups[0].function = "main.\xff\xfe";  // invalid UTF-8 from a hostile dump
  auto k = nlohmann::json::parse(renderJson(r));
  EXPECT_TRUE(k["goroutines_at_start"].is_null());
}

}  // namespace
}  // namespace lameduck::diag
