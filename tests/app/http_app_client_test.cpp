// The drain-protocol client against real HTTP servers on loopback: parsing,
// timeouts, refused and closed connections, garbage answers, metrics hook.

#include "app/http_app_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "support/harness.h"
#include "support/trickle.h"

namespace lameduck::app {
namespace {

using namespace std::chrono_literals;

TEST(ParseStatus, ReadsKnownFiguresAndIgnoresUnknownOnes) {
  auto f = parseStatus(R"({"inflight": 3, "connections": 12, "queued": 0, "extra": "x"})");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->inflight, 3);
  EXPECT_EQ(f->connections, 12);
  EXPECT_EQ(f->queued, 0);
  auto partial = parseStatus(R"({"connections": 1})");
  ASSERT_TRUE(partial);
  EXPECT_FALSE(partial->inflight.has_value());
}

TEST(ParseStatus, ReadsTheErrorRateForTheTrafficGate) {
  auto f = parseStatus(R"({"inflight": 0, "error_rate": 0.25})");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->error_rate, 0.25);
  auto none = parseStatus(R"({"inflight": 0, "error_rate": null})");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->error_rate.has_value());  // no traffic: the gate says inconclusive
  auto bad = parseStatus(R"({"error_rate": 1.5})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("error_rate: expected a number from 0 to 1"),
            std::string::npos);
  EXPECT_FALSE(parseStatus(R"({"error_rate": "0.1"})"));
}

TEST(ParseStatus, RefusesGarbageWithAQuote) {
  auto bad = parseStatus("<html>oops");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(bad.error().message.find("not valid JSON: \"<html>oops\""), std::string::npos);
  EXPECT_FALSE(parseStatus("[1,2]"));
  EXPECT_FALSE(parseStatus(R"({"inflight": -1})"));
  EXPECT_FALSE(parseStatus(R"({"inflight": "3"})"));
  EXPECT_FALSE(parseStatus(R"({"inflight": 1.5})"));
}

TEST(ParseCompensations, KeepsValidEntriesAndExplainsRejectedOnes) {
  auto b = parseCompensations(R"({"compensations": [
      {"id": "c1", "saga_id": "s1", "step": "pay", "action": "refund", "payload": {"amount": 5}},
      {"saga_id": "s2", "action": "refund"},
      {"id": "c3", "saga_id": "", "action": "refund"},
      "junk",
      {"id": 44, "saga_id": "s4", "action": "release"}]})");
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->valid.size(), 2u);
  EXPECT_EQ(b->valid[0].id, "c1");
  EXPECT_EQ(b->valid[0].payload_json, R"({"amount":5})");
  EXPECT_EQ(b->valid[1].id, "44");
  EXPECT_EQ(b->valid[1].payload_json, "{}");
  ASSERT_EQ(b->rejected.size(), 3u);
  EXPECT_EQ(b->rejected[0], "entry 1: missing or empty id");
  EXPECT_EQ(b->rejected[1], "entry 2 (id c3): missing or empty saga_id");
  EXPECT_EQ(b->rejected[2], "entry 3: not a JSON object");
  EXPECT_FALSE(parseCompensations(R"({"items": []})"));
  EXPECT_FALSE(parseCompensations("{"));
}

// The answer is read event by event, not as a document; it must still mean
// what the document means.
TEST(ParseCompensations, ReadsTheAnswerAsADocumentWouldBeRead) {
  auto b = parseCompensations(R"({"compensations": [{"id": "old"}], "x": {"compensations": 1},
      "compensations": [
        {"id": "c1", "id": "c2", "saga_id": "s", "action": "a", "step": 7,
         "meta": {"id": "inner", "saga_id": ""},
         "payload": {"z": [1, {"k": null}, "s\n"], "a": 1.5, "a": 2, "b": {}}},
        {"id": "c3", "saga_id": "s", "action": "a", "payload": null, "step": {"x": 1}},
        {"id": "c4", "saga_id": "s", "action": "a", "payload": "text"},
        {"id": {"no": 1}, "saga_id": "s", "action": "a"},
        {"id": 18446744073709551615, "saga_id": true, "action": "a"},
        [1, 2],
        {"id": "c6", "saga_id": "s", "action": "a", "payload": [], "payload": [3]}]})");
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->valid.size(), 4u);
  EXPECT_EQ(b->valid[0].id, "c2");  // the last of duplicate keys wins
  EXPECT_EQ(b->valid[0].step, "7");
  EXPECT_EQ(b->valid[0].payload_json, R"({"a":2,"b":{},"z":[1,{"k":null},"s\n"]})");
  EXPECT_EQ(b->valid[1].id, "c3");
  EXPECT_EQ(b->valid[1].step, "");
  EXPECT_EQ(b->valid[1].payload_json, "{}");
  EXPECT_EQ(b->valid[2].payload_json, R"("text")");
  EXPECT_EQ(b->valid[3].id, "c6");
  EXPECT_EQ(b->valid[3].payload_json, "[3]");
  ASSERT_EQ(b->rejected.size(), 3u);
  EXPECT_EQ(b->rejected[0], "entry 3: missing or empty id");
  EXPECT_EQ(b->rejected[1], "entry 4 (id 18446744073709551615): missing or empty saga_id");
  EXPECT_EQ(b->rejected[2], "entry 5: not a JSON object");

  EXPECT_FALSE(parseCompensations(R"({"compensations": [], "compensations": {}})"));
  EXPECT_FALSE(parseCompensations(R"([{"compensations": []}])"));
  EXPECT_FALSE(parseCompensations(R"({"compensations": []} trailing)"));
  EXPECT_FALSE(parseCompensations(R"({"compensations": [{"id": "c1", "saga_id": "s"]})"));
}

// Ids are strings: a numeric id keeps its exact text, so ids beyond 64 bits
// never collapse into one another or into a real "-1".
TEST(ParseCompensations, NumericIdsKeepTheirExactText) {
  auto b = parseCompensations(R"({"compensations": [
      {"id": 18446744073709551615, "saga_id": "s", "action": "a"},
      {"id": -1, "saga_id": "s", "action": "a"},
      {"id": 123456789012345678901234567890, "saga_id": 9223372036854775807, "action": "a"},
      {"id": 1.50, "saga_id": "s", "action": "a"}]})");
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->valid.size(), 4u);
  EXPECT_EQ(b->valid[0].id, "18446744073709551615");
  EXPECT_EQ(b->valid[1].id, "-1");
  EXPECT_EQ(b->valid[2].id, "123456789012345678901234567890");
  EXPECT_EQ(b->valid[2].saga_id, "9223372036854775807");
  EXPECT_EQ(b->valid[3].id, "1.50");
}

// "-0" and "0" are two ids: the JSON reader hands both over as the integer
// 0, and the exact text is taken back from the answer, also where numbers,
// strings that look like numbers and payloads come before them.
TEST(ParseCompensations, NegativeZeroIsAnIdOfItsOwn) {
  auto b = parseCompensations(R"({"n": [-0, 0, "-0\" -0"], "compensations": [
      {"id": -0, "saga_id": -0, "action": "a", "step": 0},
      {"payload": {"x": -0, "y": [-0.0, -1]}, "id": 0, "saga_id": "s", "action": "a"},
      {"id": "-0", "saga_id": -0e1, "action": "a", "step": -0}]})");
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->valid.size(), 3u);
  EXPECT_EQ(b->valid[0].id, "-0");
  EXPECT_EQ(b->valid[0].saga_id, "-0");
  EXPECT_EQ(b->valid[0].step, "0");
  EXPECT_EQ(b->valid[1].id, "0");
  EXPECT_EQ(b->valid[1].payload_json, R"({"x":0,"y":[-0.0,-1]})");
  EXPECT_EQ(b->valid[2].id, "-0");
  EXPECT_EQ(b->valid[2].saga_id, "-0e1");
  EXPECT_EQ(b->valid[2].step, "-0");
}

TEST(ParseCompensations, DeepNestingIsRefusedNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto b = parseCompensations(R"({"compensations": [{"id": "c", "saga_id": "s", "action": "a",
      "payload": )" + deep + "}]}");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(b.error().message.find("nested deeper than 64 levels"), std::string::npos)
      << b.error().message;
  auto s = parseStatus(R"({"inflight": 0, "x": )" + deep + "}");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("nested deeper"), std::string::npos);
}

TEST(ParseStatus, WrongTypeNamesTheFieldAndBothTypes) {
  auto s = parseStatus(R"({"inflight": "3"})");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message,
            "status hook answer: inflight: expected a non-negative integer, got a string \"3\"");
  auto big = parseStatus(R"({"queued": 18446744073709551615})");
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("queued"), std::string::npos);
}

TEST(ParseAnswers, TooLongIsRefusedNamingTheBound) {
  const std::string body = R"({"inflight": 0, "pad": ")" + std::string(5000, 'x') + "\"}";
  auto s = parseStatus(body, 4096);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("more than the bound of 4096"), std::string::npos);
  auto c = parseCompensations(R"({"compensations": []})" + std::string(5000, ' '), 4096);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("more than the bound of 4096"), std::string::npos);
}

// The status answer is read for its four figures only: unknown members of
// any size or shape are skipped, never built.
TEST(ParseStatus, UnknownMembersOfManyTinyValuesCostNothing) {
  std::string body = R"({"inflight": 2, "x": [)";
  for (int i = 0; i < 1'000'000; ++i) body += i == 0 ? "{}" : ",{}";
  body += R"(], "queued": 1, "pad": ")" + std::string(1 << 20, 'x') + "\"}";
  auto f = parseStatus(body);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->inflight, 2);
  EXPECT_EQ(f->queued, 1);
  // The last of duplicate keys wins; a long wrong-typed value is quoted short.
  auto dup = parseStatus(R"({"inflight": 1, "inflight": 4})");
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->inflight, 4);
  auto bad = parseStatus(R"({"inflight": ")" + std::string(5000, 'y') + "\"}");
  ASSERT_FALSE(bad);
  EXPECT_LT(bad.error().message.size(), 200u) << bad.error().message;
  EXPECT_NE(bad.error().message.find("inflight: expected a non-negative integer, got a string"),
            std::string::npos);
  auto inner = parseStatus(R"({"nested": {"inflight": "x"}, "connections": [1]})");
  ASSERT_FALSE(inner);
  EXPECT_EQ(inner.error().message,
            "status hook answer: connections: expected a non-negative integer, got an array");
}

// 100,000 non-entries: bounded rejections (the first ones listed with their
// index, the rest counted), and a valid entry after them still counts.
TEST(ParseCompensations, ManyRejectedEntriesAreListedUpToABoundAndCounted) {
  std::string body = R"({"compensations": [)";
  for (int i = 0; i < 100'000; ++i) body += "0,";
  body += R"({"id": "c", "saga_id": "s", "action": "a"}]})";
  auto b = parseCompensations(body);
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->valid.size(), 1u);
  EXPECT_EQ(b->valid[0].id, "c");
  ASSERT_EQ(b->rejected.size(), kMaxRejectedListed);
  EXPECT_EQ(b->rejected[0], "entry 0: not a JSON object");
  EXPECT_EQ(b->rejected[99], "entry 99: not a JSON object");
  EXPECT_EQ(b->rejected_unlisted, 100'000u - kMaxRejectedListed);
  EXPECT_EQ(b->rejectedCount(), 100'000u);
}

TEST(ParseCompensations, AnEntryOverABoundIsRejectedAndTheOthersKept) {
  std::string many = "[";
  for (size_t i = 0; i <= kMaxPayloadValues; ++i) many += i == 0 ? "{}" : ",{}";
  many += "]";
  const std::string huge = "\"" + std::string(kMaxCompensationBytes, 'z') + "\"";
  const std::string long_id(kMaxCompensationBytes + 1, '7');
  auto b = parseCompensations(R"({"compensations": [
      {"id": "c1", "saga_id": "s", "action": "a", "payload": )" + many + R"(},
      {"id": "c2", "saga_id": "s", "action": "a", "payload": {"k": )" + huge + R"(}},
      {"id": ")" + long_id + R"(", "saga_id": "s", "action": "a"},
      {"id": "c4", "saga_id": "s", "action": "a", "payload": {"k": [1, 2]}}]})");
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_EQ(b->valid.size(), 1u);
  EXPECT_EQ(b->valid[0].id, "c4");
  EXPECT_EQ(b->valid[0].payload_json, R"({"k":[1,2]})");
  ASSERT_EQ(b->rejected.size(), 3u);
  EXPECT_EQ(b->rejected[0], "entry 0 (id c1): payload has more than 16384 JSON values");
  EXPECT_EQ(b->rejected[1],
            "entry 1 (id c2): more than 1048576 bytes (id, saga_id, step, action and payload "
            "together)");
  // The message quotes the start of the id, not all of it.
  EXPECT_EQ(b->rejected[2].rfind("entry 2 (id " + std::string(100, '7') + "...): more than", 0),
            0u)
      << b->rejected[2].substr(0, 200);
}

// The streamed reading hands the entries over a chunk at a time, and only
// once the whole answer is known to be good.
TEST(StreamCompensations, HandsEntriesOverInChunksAfterCheckingTheWholeAnswer) {
  std::vector<std::vector<std::string>> chunks;
  EntryChunkSink sink = [&](std::vector<Compensation>& entries) {
    std::vector<std::string> ids;
    for (Compensation& c : entries) ids.push_back(c.id);
    chunks.push_back(ids);
  };
  auto entry = [](const std::string& id) {
    return R"({"id": ")" + id + R"(", "saga_id": "s", "action": "a"})";
  };
  const std::string body = R"({"compensations": [)" + entry("old") + R"(], "next": "n7",
      "compensations": [)" + entry("c1") + "," + entry("c2") + ", 5, " + entry("c3") + "," +
                           entry("c4") + "," + entry("c5") + "]}";
  auto page = streamCompensationsAnswer(body, 1 << 20, 2, sink);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->next, "n7");
  EXPECT_TRUE(page->batch.valid.empty());
  ASSERT_EQ(page->batch.rejected.size(), 1u);
  EXPECT_EQ(page->batch.rejected[0], "entry 2: not a JSON object");
  const std::vector<std::vector<std::string>> want{{"c1", "c2"}, {"c3", "c4"}, {"c5"}};
  EXPECT_EQ(chunks, want);  // the first "compensations" member does not count

  chunks.clear();
  for (const std::string& refused : std::vector<std::string>{
           body.substr(0, body.size() - 1), R"({"compensations": [], "compensations": 1})",
        R"({"compensations": [)" + entry("c1") + R"(], "next": 5})", std::string("[]")}) {
    EXPECT_FALSE(streamCompensationsAnswer(refused, 1 << 20, 2, sink)) << refused;
  }
  EXPECT_TRUE(chunks.empty());  // nothing of a refused answer was handed over
}

// A real HTTP server standing in for the app, with one behaviour per path.
// With `hang_`, the status hook holds each request on a gate the test keeps
// closed until the server is destroyed (bounded at 10 s, so that a broken
// test cannot keep the server from stopping), and counts what it held and
// what it answered.
class AppServer {
 public:
  AppServer() {
    server_.route("POST", "/lameduck/drain", [](const http::Request& r) {
      return r.header("traceparent").empty() ? http::Response{400, "no traceparent"}
                                             : http::Response{200, "{}", "application/json"};
    });
    server_.route("GET", "/lameduck/status", [this](const http::Request&) {
      if (hang_) {
        std::unique_lock lock(mu_);
        ++held_;
        cv_.wait_for(lock, 10s, [this] { return released_; });
        ++answered_after_hold_;
      }
      return http::Response{200, status_body_, "application/json"};
    });
    server_.route("POST", "/lameduck/terminate", [](const http::Request&) {
      return http::Response{500, "boom"};
    });
    port_ = server_.bind(HostPort{"127.0.0.1", 0}).value();
    EXPECT_TRUE(server_.start());
  }
  ~AppServer() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    server_.stop();
  }
  config::AppConfig config() const {
    config::AppConfig c;
    c.base_url = HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(port_), ""};
    return c;
  }
  std::string status_body_ = R"({"inflight": 0})";
  std::atomic<bool> hang_{false};
  // Requests the status hook has held on the gate, and how many of those it
  // has answered since.
  int held() {
    std::lock_guard lock(mu_);
    return held_;
  }
  int answeredAfterHold() {
    std::lock_guard lock(mu_);
    return answered_after_hold_;
  }

 private:
  http::Server server_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  int held_ = 0;
  int answered_after_hold_ = 0;
};

struct Observed {
  std::mutex mu;
  std::vector<std::string> codes;
  HookObserver observer() {
    return [this](std::string_view hook, std::string_view code) {
      std::lock_guard lock(mu);
      codes.push_back(std::string(hook) + ":" + std::string(code));
    };
  }
};

TEST(HttpAppClient, CallsHooksWithTraceparentAndCountsCodes) {
  AppServer app;
  Observed seen;
  HttpAppClient client(app.config(), SystemClock::instance(), seen.observer());
  Call call{2s, "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"};
  EXPECT_TRUE(client.drain(call));
  auto figures = client.status(call);
  ASSERT_TRUE(figures);
  EXPECT_EQ(figures->inflight, 0);
  auto term = client.terminate(call);
  ASSERT_FALSE(term);
  EXPECT_EQ(term.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(term.error().message.find("answered HTTP 500"), std::string::npos)
      << term.error().message;
  EXPECT_EQ(seen.codes, (std::vector<std::string>{"drain:200", "status:200", "terminate:500"}));
}

TEST(HttpAppClient, TellsTheCallerTheHttpStatusOfEachAnswer) {
  AppServer app;
  HttpAppClient client(app.config(), SystemClock::instance(), {});
  const std::string traceparent = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";
  int status = 0;
  EXPECT_TRUE(client.drain({2s, traceparent, &status}));
  EXPECT_EQ(status, 200);
  EXPECT_FALSE(client.terminate({2s, traceparent, &status}));
  EXPECT_EQ(status, 500);  // a refusal has its status too
}

TEST(HttpAppClient, LeavesTheHttpStatusAloneWhenNoAnswerCame) {
  const testing::RefusingPort dead;
  config::AppConfig c;
  c.base_url = HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(dead.port()), ""};
  HttpAppClient client(c, SystemClock::instance(), {});
  int status = 0;
  EXPECT_FALSE(client.drain({1s, "", &status}));
  EXPECT_EQ(status, 0);
}

TEST(HttpAppClient, AHangingAppEndsTheCallAtItsTimeoutWhileTheAppStillHangs) {
  AppServer app;
  app.hang_ = true;
  Observed seen;
  HttpAppClient client(app.config(), SystemClock::instance(), seen.observer());
  const auto started = std::chrono::steady_clock::now();
  auto r = client.status({300ms, ""});
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
  EXPECT_NE(r.error().message.find("status hook"), std::string::npos);
  // The call reached the app, which held it, and gave up by itself: it
  // returned while the gate was still closed (the test opens it only when
  // `app` is destroyed), so no answer ended it, however slow the machine.
  // (On a loaded machine the server may reach the handler only after the
  // client gave up: poll for it, with a bound.)
  EXPECT_TRUE(testing::waitUntil([&] { return app.held() == 1; }, 10s))
      << "the request never reached the app";
  EXPECT_EQ(app.answeredAfterHold(), 0) << "the app answered before the call returned";
  // And it waited for the timeout, not a quick failure.
  EXPECT_GE(took, 300ms);
  EXPECT_EQ(seen.codes, std::vector<std::string>{"status:timeout"});
}

TEST(HttpAppClient, GarbageAnswerIsABadResponse) {
  AppServer app;
  app.status_body_ = "not json at all";
  HttpAppClient client(app.config(), SystemClock::instance(), nullptr);
  auto r = client.status({2s, ""});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadResponse);
}

TEST(HttpAppClient, AnswerLongerThanMaxResponseBytesIsRefused) {
  AppServer app;
  app.status_body_ = R"({"inflight": 0, "pad": ")" + std::string(100000, 'x') + "\"}";
  config::AppConfig c = app.config();
  c.max_response_bytes = 4096;
  HttpAppClient client(c, SystemClock::instance(), nullptr);
  auto r = client.status({2s, ""});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(r.error().message.find("longer than the bound of 4096 bytes"), std::string::npos)
      << r.error().message;
  // It names the setting that sets the bound.
  EXPECT_NE(r.error().message.find("(app.max_response_bytes)"), std::string::npos)
      << r.error().message;
  app.status_body_ = R"({"inflight": 2})";
  auto ok = client.status({2s, ""});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->inflight, 2);
}

// An app that sends its headers one byte at a time costs the call's timeout,
// not forever (the per-read timeout alone never fires).
TEST(HttpAppClient, TricklingHeadersEndTheCallAtItsTimeout) {
  // A header byte every 20 ms: every read is well within any per-read
  // timeout, and in 300 ms the head stays far below its byte bound, so only
  // the call's deadline can end it.
  testing::TricklingServer app("HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa", 20ms);
  config::AppConfig c;
  c.base_url = HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(app.port()), ""};
  HttpAppClient client(c, SystemClock::instance(), nullptr);
  auto r = client.status({300ms, ""});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
}

TEST(HttpAppClient, RefusedConnectionIsUnavailable) {
  const testing::RefusingPort dead;
  config::AppConfig c;
  c.base_url = HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(dead.port()), ""};
  Observed seen;
  HttpAppClient client(c, SystemClock::instance(), seen.observer());
  auto r = client.drain({1s, ""});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("cannot connect"), std::string::npos) << r.error().message;
  EXPECT_EQ(seen.codes, std::vector<std::string>{"drain:unreachable"});
}

TEST(HttpAppClient, ConnectionClosedWithoutAnswerIsUnavailable) {
  int port = 0;
  int fd = testing::listenOnLoopback(port);
  ASSERT_GE(fd, 0);
  std::thread closer([fd] {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) > 0) {
      int c = accept(fd, nullptr, nullptr);
      char buf[1024];
      (void)!read(c, buf, sizeof buf);
      close(c);
    }
  });
  config::AppConfig c;
  c.base_url = HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(port), ""};
  HttpAppClient client(c, SystemClock::instance(), nullptr);
  auto r = client.status({2s, ""});
  closer.join();
  close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
  EXPECT_NE(r.error().message.find("connection closed"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace lameduck::app
