// Fetching a dump over HTTP: every failure is an error value naming what
// happened, and the fetch never outlasts its timeout's error.

#include "diag/fetch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

#include "http/http.h"
#include "support/harness.h"

namespace lameduck::diag {
namespace {

using namespace std::chrono_literals;

constexpr const char* kDump =
    "goroutine 7 [sleep]:\n"
    "time.Sleep(0x3b9aca00)\n"
    "\t/usr/lib/go/src/runtime/time.go:195 +0x135\n"
    "main.sleepLoop(...)\n"
    "\t/app/main.go:75\n"
    "created by main.main\n"
    "\t/app/main.go:9 +0x25\n";

class FetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.route("GET", "/debug/pprof/goroutine", [this](const http::Request& req) {
      if (req.params.count("debug") == 0 || req.params.at("debug") != "2") {
        return http::Response(400, "want debug=2");
      }
      return http::Response(200, kDump);
    });
    server_.route("GET", "/garbage",
                  [](const http::Request&) { return http::Response(200, "<html>hello</html>"); });
    server_.route("GET", "/big", [](const http::Request&) {
      return http::Response(200, std::string(kDump) + std::string(8192, '\n'));
    });
    server_.route("GET", "/error",
                  [](const http::Request&) { return http::Response(500, "oops"); });
    server_.route("GET", "/slow", [this](const http::Request&) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, 10s, [this] { return released_; });
      return http::Response(200, kDump);
    });
    auto port = server_.bind(HostPort{"127.0.0.1", 0});
    ASSERT_TRUE(port);
    port_ = static_cast<uint16_t>(*port);
    ASSERT_TRUE(server_.start());
  }
  void TearDown() override {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    server_.stop();
  }

  HttpDumpSource source(const std::string& path, size_t max_bytes = 1 << 20) {
    return HttpDumpSource(HttpUrl{"http", "127.0.0.1", port_, path}, max_bytes,
                          SystemClock::instance());
  }

  http::Server server_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

TEST_F(FetchTest, FetchesAndParsesTheDump) {
  auto s = source("/debug/pprof/goroutine?debug=2");
  auto dump = s.fetch(5s);
  ASSERT_TRUE(dump) << dump.error().message;
  ASSERT_EQ(dump->goroutines.size(), 1u);
  EXPECT_EQ(dump->goroutines[0].frames[1].location(), "/app/main.go:75");
  EXPECT_EQ(s.source(),
            "http://127.0.0.1:" + std::to_string(port_) + "/debug/pprof/goroutine?debug=2");
}

TEST_F(FetchTest, AUrlWithoutPathUsesTheDefaultPprofPath) {
  auto s = source("");
  auto dump = s.fetch(5s);
  ASSERT_TRUE(dump) << dump.error().message;
  EXPECT_NE(s.source().find(kDefaultGoroutinePath), std::string::npos);
}

TEST_F(FetchTest, NotFoundSaysPprofIsNotMounted) {
  auto dump = source("/nothing").fetch(5s);
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, ErrorCode::kNotFound);
  EXPECT_NE(dump.error().message.find("/nothing"), std::string::npos);
  EXPECT_NE(dump.error().message.find("net/http/pprof"), std::string::npos);
}

TEST_F(FetchTest, ServerErrorNamesTheStatus) {
  auto dump = source("/error").fetch(5s);
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(dump.error().message.find("status 500"), std::string::npos);
}

TEST_F(FetchTest, GarbageIsNotADump) {
  auto dump = source("/garbage").fetch(5s);
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(dump.error().message.find("not a goroutine dump"), std::string::npos);
  EXPECT_NE(dump.error().message.find("<html>hello"), std::string::npos);
}

TEST_F(FetchTest, AnAnswerOverMaxBytesIsRefused) {
  auto dump = source("/big", 4096).fetch(5s);
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(dump.error().message.find("app.diagnostics.max_bytes (4096)"), std::string::npos);
}

TEST_F(FetchTest, ASlowAnswerEndsAtTheTimeout) {
  auto dump = source("/slow").fetch(200ms);
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_NE(dump.error().message.find("goroutine dump from http://127.0.0.1"), std::string::npos);
}

TEST(Fetch, NothingListeningIsUnavailable) {
  const testing::RefusingPort dead;
  ASSERT_GT(dead.port(), 0);
  HttpDumpSource s(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(dead.port()), ""}, 1 << 20,
                   SystemClock::instance());
  auto dump = s.fetch(2s);
  ASSERT_FALSE(dump);
  EXPECT_EQ(dump.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace lameduck::diag
