// The goroutine dump parser: real dumps of the Go fixture (Go 1.19, Debian
// 12) and hand-made ones in the newer formats, plus hostile input.

#include "diag/goroutines.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace lameduck::diag {
namespace {

std::string data(const std::string& name) {
  std::ifstream in(std::string(LAMEDUCK_SOURCE_DIR) + "/tests/diag/data/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const Goroutine* find(const Dump& d, int64_t id) {
  for (const Goroutine& g : d.goroutines) {
    if (g.id == id) return &g;
  }
  return nullptr;
}

const Goroutine* withFrame(const Dump& d, const std::string& function) {
  for (const Goroutine& g : d.goroutines) {
    for (const Frame& f : g.frames) {
      if (f.function == function) return &g;
    }
  }
  return nullptr;
}

TEST(ParseHeader, ReadsIdReasonMinutesAndLock) {
  auto g = parseHeader("goroutine 18 [chan receive, 5 minutes, locked to thread]:");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->id, 18);
  EXPECT_EQ(g->wait_reason, "chan receive");
  EXPECT_EQ(g->wait_minutes, 5);
  EXPECT_TRUE(g->locked_to_thread);
}

TEST(ParseHeader, ReadsTheGpMVariant) {
  auto g = parseHeader("goroutine 1 gp=0xc000002380 m=0 mp=0x5f0ea0 [running]:");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->id, 1);
  EXPECT_EQ(g->wait_reason, "running");
  EXPECT_EQ(g->wait_minutes, 0);
  EXPECT_FALSE(g->locked_to_thread);
}

TEST(ParseHeader, KeepsReasonsWithParenthesesAndUnknownOnes) {
  EXPECT_EQ(parseHeader("goroutine 3 [chan receive (nil chan)]:")->wait_reason,
            "chan receive (nil chan)");
  EXPECT_EQ(parseHeader("goroutine 3 [select (no cases), 1 minutes]:")->wait_minutes, 1);
  EXPECT_EQ(parseHeader("goroutine 3 [a reason from Go 1.40, bubble 7]:")->wait_reason,
            "a reason from Go 1.40");
}

TEST(ParseHeader, RefusesWhatIsNotAHeader) {
  EXPECT_FALSE(parseHeader("goroutine profile: total 12"));
  EXPECT_FALSE(parseHeader("goroutine [running]:"));
  EXPECT_FALSE(parseHeader("goroutine 5 []:"));
  EXPECT_FALSE(parseHeader("goroutine 5 [running]"));
  EXPECT_FALSE(parseHeader("goroutine 5[running]:"));
  EXPECT_FALSE(parseHeader("goroutine 99999999999999999999999 [running]:"));
  EXPECT_FALSE(parseHeader("goroutine -1 [running]:"));
}

TEST(ParseGo119, ReadsEveryGoroutineOfTheRecordedInflightDump) {
  const std::string text = data("go1.19-inflight.txt");
  ASSERT_FALSE(text.empty());
  auto dump = parseGoroutines(text);
  ASSERT_TRUE(dump) << dump.error().message;
  size_t headers = 0;
  for (size_t p = 0; (p = text.find("\ngoroutine ", p)) != std::string::npos; ++p) ++headers;
  EXPECT_EQ(dump->goroutines.size(), headers + 1);  // the first one starts the text
  EXPECT_EQ(dump->unknown_lines, 0);
  EXPECT_FALSE(dump->truncated);

  // The sleeping handler: sleep, time.Sleep on top, the fixture's
  // sleepLoop with its file:line, created by the http server.
  const Goroutine* sleeper = nullptr;
  for (const Goroutine& g : dump->goroutines) {
    if (g.wait_reason == "sleep" && g.frames.size() > 3) sleeper = &g;
  }
  ASSERT_NE(sleeper, nullptr);
  EXPECT_EQ(sleeper->frames[0].function, "time.Sleep");
  EXPECT_EQ(sleeper->frames[1].function, "main.sleepLoop");
  EXPECT_TRUE(sleeper->frames[1].file.ends_with("tests/fixtures/goapp/main.go"));
  EXPECT_GT(sleeper->frames[1].line, 0);
  ASSERT_TRUE(sleeper->created_by);
  EXPECT_EQ(sleeper->created_by->function, "net/http.(*Server).Serve");
  EXPECT_TRUE(sleeper->created_by->file.ends_with("net/http/server.go"));
  EXPECT_FALSE(sleeper->created_in_goroutine);  // Go 1.19 does not print it

  // Inlined frames: "(...)" and a tab line without +0x.
  const Goroutine* locker = withFrame(*dump, "main.lockForever");
  ASSERT_NE(locker, nullptr);
  EXPECT_EQ(locker->wait_reason, "semacquire");  // Go 1.19 says semacquire for Mutex.Lock
  bool inlined = false;
  for (const Frame& f : locker->frames) {
    if (f.function == "sync.(*Mutex).Lock") {
      inlined = true;
      EXPECT_TRUE(f.file.ends_with("sync/mutex.go"));
      EXPECT_GT(f.line, 0);
    }
  }
  EXPECT_TRUE(inlined);

  const Goroutine* nil_chan = withFrame(*dump, "main.receiveNil");
  ASSERT_NE(nil_chan, nullptr);
  EXPECT_EQ(nil_chan->wait_reason, "chan receive (nil chan)");
  const Goroutine* empty_select = withFrame(*dump, "main.selectNothing");
  ASSERT_NE(empty_select, nullptr);
  EXPECT_EQ(empty_select->wait_reason, "select (no cases)");
  const Goroutine* reader = withFrame(*dump, "main.readForever");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->wait_reason, "IO wait");
  const Goroutine* polite = withFrame(*dump, "main.politeWait");
  ASSERT_NE(polite, nullptr);
  EXPECT_EQ(polite->wait_reason, "select");
}

TEST(ParseGo119, BaselineAndAfterSigtermDumpsParse) {
  for (const char* name : {"go1.19-baseline.txt", "go1.19-after-sigterm.txt"}) {
    auto dump = parseGoroutines(data(name));
    ASSERT_TRUE(dump) << name << ": " << dump.error().message;
    EXPECT_GT(dump->goroutines.size(), 8u) << name;
    EXPECT_EQ(dump->unknown_lines, 0) << name;
  }
}

TEST(ParseNewer, ReadsSyncReasonsCreatedInGoroutineElidedFramesAndAncestors) {
  auto dump = parseGoroutines(data("go1.24-handmade.txt"));
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_EQ(dump->goroutines.size(), 10u);
  EXPECT_EQ(dump->unknown_lines, 0);

  const Goroutine* g1 = find(*dump, 1);
  ASSERT_NE(g1, nullptr);
  EXPECT_EQ(g1->wait_reason, "running");

  const Goroutine* g7 = find(*dump, 7);
  ASSERT_NE(g7, nullptr);
  EXPECT_EQ(g7->wait_reason, "sync.Mutex.Lock");
  EXPECT_EQ(g7->wait_minutes, 3);
  ASSERT_EQ(g7->frames.size(), 7u);
  EXPECT_EQ(g7->frames[2].function, "sync.(*Mutex).Lock");
  EXPECT_EQ(g7->frames[2].location(), "/usr/local/go/src/sync/mutex.go:46");
  EXPECT_EQ(g7->frames[3].location(), "/src/shop/store/cache.go:57");
  ASSERT_TRUE(g7->created_by);
  EXPECT_EQ(g7->created_by->function, "net/http.(*Server).Serve");
  EXPECT_EQ(g7->created_by->location(), "/usr/local/go/src/net/http/server.go:3285");
  EXPECT_EQ(g7->created_in_goroutine, 9);

  ASSERT_NE(find(*dump, 12), nullptr) << "no goroutine 12 in the dump";
  EXPECT_EQ(find(*dump, 12)->wait_reason, "sync.WaitGroup.Wait");
  ASSERT_NE(find(*dump, 13), nullptr) << "no goroutine 13 in the dump";
  EXPECT_EQ(find(*dump, 13)->wait_reason, "sync.RWMutex.RLock");

  const Goroutine* g20 = find(*dump, 20);
  ASSERT_NE(g20, nullptr);
  EXPECT_TRUE(g20->locked_to_thread);
  EXPECT_EQ(g20->wait_minutes, 12);
  EXPECT_EQ(g20->elided_frames, 12);
  EXPECT_EQ(g20->frames.size(), 2u);
  EXPECT_EQ(g20->frames[1].location(), "/src/shop/cmd/shop/worker.go:25");

  ASSERT_NE(find(*dump, 21), nullptr) << "no goroutine 21 in the dump";
  EXPECT_EQ(find(*dump, 21)->wait_reason, "synctest.Wait (durable)");

  const Goroutine* g22 = find(*dump, 22);
  ASSERT_NE(g22, nullptr);
  EXPECT_EQ(g22->frames.size(), 1u);  // the ancestors' frames are not its own
  EXPECT_EQ(g22->ancestors, (std::vector<int64_t>{21, 1}));
  EXPECT_EQ(g22->created_by->function, "main.parent");

  // Tab lines with fp= sp= pc= (GOTRACEBACK=system).
  const Goroutine* g2 = find(*dump, 2);
  ASSERT_NE(g2, nullptr);
  EXPECT_EQ(g2->frames[0].location(), "/usr/local/go/src/runtime/proc.go:435");
  EXPECT_EQ(g2->created_by->function, "runtime.init.7");
}

TEST(ParseOlder, AdditionalFramesElidedCountsAsOne) {
  auto dump = parseGoroutines(
      "goroutine 4 [sleep]:\n"
      "time.Sleep(0x3b9aca00)\n"
      "\t/usr/lib/go/src/runtime/time.go:195 +0x135\n"
      "...additional frames elided...\n"
      "created by main.main\n"
      "\t/app/main.go:9 +0x25\n");
  ASSERT_TRUE(dump);
  ASSERT_EQ(dump->goroutines.size(), 1u);
  EXPECT_EQ(dump->goroutines[0].elided_frames, 1);
  EXPECT_EQ(dump->goroutines[0].created_by->location(), "/app/main.go:9");
}

TEST(ParseOlder, ToleratesCrlfPreambleAndPathsWithColons) {
  auto dump = parseGoroutines(
      "panic: boom\r\n\r\n"
      "goroutine 4 [IO wait]:\r\n"
      "main.read(...)\r\n"
      "\tC:/Program Files/app:v2/main.go:17\r\n");
  ASSERT_TRUE(dump) << dump.error().message;
  ASSERT_EQ(dump->goroutines.size(), 1u);
  EXPECT_EQ(dump->goroutines[0].frames[0].file, "C:/Program Files/app:v2/main.go");
  EXPECT_EQ(dump->goroutines[0].frames[0].line, 17);
}

TEST(ParseHostile, RefusesTextOverMaxBytes) {
  Limits limits;
  limits.max_bytes = 100;
  auto dump = parseGoroutines(std::string(101, 'x'), limits);
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(dump.error().message.find("101 bytes"), std::string::npos);
  EXPECT_NE(dump.error().message.find("100 bytes"), std::string::npos);
}

TEST(ParseHostile, RefusesGarbageQuotingItsStart) {
  auto dump = parseGoroutines("<html>\x01\x02 not found</html>");
  ASSERT_FALSE(dump);
  EXPECT_NE(dump.error().message.find("not a goroutine dump"), std::string::npos);
  EXPECT_NE(dump.error().message.find("<html>?? not found"), std::string::npos);
  EXPECT_FALSE(parseGoroutines(""));
}

TEST(ParseHostile, RefusesTheDebug1FormatSayingWhatToUse) {
  auto dump = parseGoroutines("goroutine profile: total 3\n1 @ 0x43 0x44\n");
  ASSERT_FALSE(dump);
  EXPECT_NE(dump.error().message.find("debug=2"), std::string::npos);
}

TEST(ParseHostile, BoundsGoroutinesAndFrames) {
  std::string text;
  for (int i = 1; i <= 50; ++i) {
    text += "goroutine " + std::to_string(i) + " [sleep]:\n";
    for (int f = 0; f < 20; ++f) text += "main.f(...)\n\t/a.go:1\n";
    text += "\n";
  }
  Limits limits;
  limits.max_goroutines = 10;
  limits.max_frames = 5;
  auto dump = parseGoroutines(text, limits);
  ASSERT_TRUE(dump);
  EXPECT_TRUE(dump->truncated);
  ASSERT_EQ(dump->goroutines.size(), 10u);
  EXPECT_EQ(dump->goroutines[0].frames.size(), 5u);
  EXPECT_EQ(dump->goroutines[0].elided_frames, 15);
}

TEST(ParseHostile, CountsLinesItDoesNotUnderstand) {
  auto dump = parseGoroutines(
      "goroutine 4 [sleep]:\n"
      "goroutine running on other thread; stack unavailable\n"
      "\tno location here\n"
      "created by \n"
      "main.f(((\n");
  ASSERT_TRUE(dump);
  EXPECT_EQ(dump->goroutines.size(), 1u);
  EXPECT_GE(dump->unknown_lines, 3);
}

}  // namespace
}  // namespace lameduck::diag
