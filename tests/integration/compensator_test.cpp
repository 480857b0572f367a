// `lameduck compensator` against a real redis-server and a real HTTP
// endpoint: applies, retries, dead-letters, takes over a crashed consumer's
// entries, and stops gracefully. Every test checks every id.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "redis/redis_client.h"
#include "saga/stream_writer.h"
#include "support/harness.h"
#include "support/redis.h"

namespace lameduck::testing {
namespace {

using ::testing::HasSubstr;

// The service a compensation action calls, counting calls per id.
class Target {
 public:
  int fail_first = 0;  // per id
  bool always_fail = false;
  int status_for_failures = 500;

  // While held, a call waits (at most 30 s) until release(): a call in
  // flight for as long as the test needs it.
  void hold() {
    std::lock_guard lock(gate_mu_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(gate_mu_);
      held_ = false;
    }
    gate_.notify_all();
  }

  Target() {
    server_.routePrefix("POST", "/refund/", [this](const http::Request& req) {
      ++started_;
      {
        std::unique_lock lock(gate_mu_);
        gate_.wait_for(lock, std::chrono::seconds(30), [this] { return !held_; });
      }
      std::lock_guard lock(mu_);
      const std::string key = req.header("Idempotency-Key");
      int n = ++calls_[key];
      paths_[key] = req.path;
      if (always_fail || n <= fail_first) return http::Response{status_for_failures, "boom"};
      ++applied_;
      return http::Response{200, "{}", "application/json"};
    });
    // What an unescaped "../../admin/purge-all" in a URL would reach.
    server_.routePrefix("POST", "/admin/", [this](const http::Request&) {
      ++admin_calls_;
      return http::Response{200, "{}", "application/json"};
    });
    port_ = server_.bind(HostPort{"127.0.0.1", 0}).value();
    EXPECT_TRUE(server_.start());
  }
  // Lets a held call go and stops the server before the members its
  // handlers use are gone.
  ~Target() {
    release();
    server_.stop();
  }
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  int port() const { return port_; }
  int calls(const std::string& id) {
    std::lock_guard lock(mu_);
    return calls_[id];
  }
  std::string path(const std::string& id) {
    std::lock_guard lock(mu_);
    return paths_[id];
  }
  int applied() {
    std::lock_guard lock(mu_);
    return applied_;
  }
  int started() const { return started_; }
  int adminCalls() const { return admin_calls_; }
  int totalCalls() {
    std::lock_guard lock(mu_);
    int n = 0;
    for (auto& [k, v] : calls_) n += v;
    return n;
  }

 private:
  http::Server server_{http::ServerOptions{.threads = 4}};
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, int> calls_;
  std::map<std::string, std::string> paths_;
  int applied_ = 0;
  std::atomic<int> started_{0};
  std::atomic<int> admin_calls_{0};
  std::mutex gate_mu_;
  std::condition_variable gate_;
  bool held_ = false;
};

void writeEntries(const RedisServer& redis, int n, const std::string& action = "refund") {
  auto client = redis::RedisClient::connect(redis.config(5000ms));
  ASSERT_TRUE(client);
  std::vector<saga::CompensationRecord> records;
  for (int i = 0; i < n; ++i) {
    saga::CompensationRecord r;
    r.id = "c-" + std::to_string(i);
    r.saga_id = "order-" + std::to_string(i);
    r.action = action;
    r.payload = "{\"amount\":1}";
    records.push_back(r);
  }
  saga::StreamWriter writer("compensation_stream", 0);
  ASSERT_FALSE(writer.write(**client, records).error);
}

int64_t pending(const RedisServer& redis) {
  auto client = redis::RedisClient::connect(redis.config(5000ms));
  if (!client) return -1;
  auto r = (*client)->command({"XPENDING", "compensation_stream", "lameduck-compensator"});
  if (!r || r->isError() || r->elements.empty()) return -1;
  return r->elements[0].integer;
}

class CompensatorProcess {
 public:
  CompensatorProcess(const RedisServer& redis, const Target& target, const std::string& extra) {
    std::string cfg =
        dir_.write("c.yaml", "compensation: {redis: {address: \"unix:" + redis.socket() +
                                 "\"}}\n"
                                 "compensator:\n"
                                 "  listen: 127.0.0.1:0\n"
                                 "  backoff: 10ms\n"
                                 "  actions:\n"
                                 "    refund: {url: \"http://127.0.0.1:" +
                                 std::to_string(target.port()) +
                                 "/refund/{{saga_id}}\", timeout: 5s}\n" + extra);
    process_ = std::make_unique<Process>(
        std::vector<std::string>{lameduckBinary(), "compensator", "--config", cfg},
        dir_.file("c.log"));
    metrics_port_ = waitForLameduckPort(*process_, "metrics").value_or(0);
  }
  Process& process() { return *process_; }
  double metric(const std::string& series) { return metricValue(metrics_port_, series); }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int metrics_port_ = 0;
};

TEST(Compensator, AppliesEveryEntryOnceAndAcksIt) {
  RedisServer redis;
  Target target;
  writeEntries(redis, 50);
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil([&] { return target.applied() == 50 && pending(redis) == 0; }, 30s))
      << c.process().output();
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(target.calls("c-" + std::to_string(i)), 1) << i;
    EXPECT_EQ(target.path("c-" + std::to_string(i)), "/refund/order-" + std::to_string(i));
  }
  // The compensator counts an entry after Redis acknowledged its XACK, so
  // the last count may come a moment after the stream shows nothing pending.
  EXPECT_TRUE(
      waitUntil([&] { return c.metric("lameduck_compensations_applied_total") == 50; }, 10s))
      << c.metric("lameduck_compensations_applied_total");
  c.process().signal(SIGTERM);
  EXPECT_EQ(c.process().waitExit(10s), 0);
}

TEST(Compensator, RetriesWithBackoffThenSucceeds) {
  RedisServer redis;
  Target target;
  target.fail_first = 2;
  writeEntries(redis, 10);
  CompensatorProcess c(redis, target, "  max_attempts: 5\n");
  ASSERT_TRUE(waitUntil([&] { return target.applied() == 10 && pending(redis) == 0; }, 30s))
      << c.process().output();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(target.calls("c-" + std::to_string(i)), 3) << i;
  EXPECT_EQ(c.metric("lameduck_compensation_retries_total"), 20);
  EXPECT_EQ(redis.cli({"XLEN", "compensation_stream:dead"}), "0\n");
}

TEST(Compensator, DeadLettersAfterMaxAttemptsWithTheLastError) {
  RedisServer redis;
  Target target;
  target.always_fail = true;
  writeEntries(redis, 8);
  CompensatorProcess c(redis, target, "  max_attempts: 3\n");
  ASSERT_TRUE(waitUntil(
      [&] {
        return redis.cli({"XLEN", "compensation_stream:dead"}) == "8\n";
      },
      30s))
      << c.process().output();
  EXPECT_TRUE(waitUntil([&] { return pending(redis) == 0; }, 10s));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(target.calls("c-" + std::to_string(i)), 3) << i;
  std::string dead = redis.cli({"XRANGE", "compensation_stream:dead", "-", "+"});
  EXPECT_THAT(dead, HasSubstr("HTTP 500"));
  EXPECT_THAT(dead, HasSubstr("last_error"));
  for (int i = 0; i < 8; ++i) EXPECT_THAT(dead, HasSubstr("c-" + std::to_string(i) + "\n"));
  EXPECT_TRUE(
      waitUntil([&] { return c.metric("lameduck_compensations_dead_lettered_total") == 8; }, 10s))
      << c.metric("lameduck_compensations_dead_lettered_total");
}

TEST(Compensator, AnActionWithoutAnEndpointIsDeadLetteredAtOnce) {
  RedisServer redis;
  Target target;
  writeEntries(redis, 4, "release_inventory");
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil(
      [&] {
        return redis.cli({"XLEN", "compensation_stream:dead"}) == "4\n";
      },
      30s))
      << c.process().output();
  EXPECT_EQ(target.started(), 0);
  EXPECT_THAT(redis.cli({"XRANGE", "compensation_stream:dead", "-", "+"}),
              HasSubstr("no endpoint configured for action \"release_inventory\""));
  EXPECT_TRUE(waitUntil([&] { return pending(redis) == 0; }, 10s));
}

TEST(Compensator, TakesOverTheEntriesOfACrashedConsumer) {
  RedisServer redis;
  Target target;
  writeEntries(redis, 20);
  // Another consumer read everything and died before acking.
  redis.cli({"XGROUP", "CREATE", "compensation_stream", "lameduck-compensator", "0"});
  redis.cli({"XREADGROUP", "GROUP", "lameduck-compensator", "crashed", "COUNT", "100", "STREAMS",
             "compensation_stream", ">"});
  ASSERT_EQ(pending(redis), 20);
  CompensatorProcess c(redis, target, "  claim_idle: 200ms\n");
  ASSERT_TRUE(waitUntil([&] { return target.applied() == 20 && pending(redis) == 0; }, 30s))
      << c.process().output();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(target.calls("c-" + std::to_string(i)), 1) << i;
}

TEST(Compensator, SigtermFinishesTheCallInFlightAndTakesNothingNew) {
  RedisServer redis;
  Target target;
  target.hold();
  writeEntries(redis, 5);
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil([&] { return target.started() >= 1; }, 20s)) << c.process().output();
  c.process().signal(SIGTERM);
  // The first call ends only once the compensator has taken the signal.
  const bool signalled = waitForLine(
      c.process().outputPath(),
      [](const nlohmann::json& j) {
        return j.value("msg", "") == "signal received; finishing the call in flight";
      },
      20s).has_value();
  target.release();
  ASSERT_TRUE(signalled) << c.process().output();
  auto code = c.process().waitExit(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(target.applied(), 1);  // the call in flight finished ...
  EXPECT_EQ(target.started(), 1);  // ... and nothing else was started
  EXPECT_EQ(pending(redis), 4);    // the rest waits for the next consumer
}

// Deleting the stream (and with it the group) used to make the compensator
// spin on NOGROUP errors and never consume again.
TEST(Compensator, RecreatesADeletedStreamAndGroupThenConsumesNewEntries) {
  RedisServer redis;
  Target target;
  writeEntries(redis, 5);
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil([&] { return target.applied() == 5 && pending(redis) == 0; }, 30s))
      << c.process().output();
  redis.cli({"DEL", "compensation_stream"});
  ASSERT_TRUE(waitUntil(
      [&] { return c.metric("lameduck_compensator_group_recreated_total") >= 1; }, 30s))
      << c.process().output();
  // Which command met the missing group depends on where the compensator
  // was; a series that never counted is absent (-1 here), not 0.
  auto counted = [&](const char* command) {
    return std::max(0.0, c.metric(std::string("lameduck_compensator_redis_errors_total{command=\"") +
                                  command + "\"}"));
  };
  EXPECT_GE(counted("XAUTOCLAIM") + counted("XREADGROUP"), 1);
  EXPECT_THAT(c.process().output(), HasSubstr("consumer group is gone; creating it again"));
  // New entries (ids that were never applied) are consumed again.
  {
    auto client = redis::RedisClient::connect(redis.config(5000ms));
    ASSERT_TRUE(client);
    std::vector<saga::CompensationRecord> records;
    for (int i = 100; i < 103; ++i) {
      saga::CompensationRecord r;
      r.id = "c-" + std::to_string(i);
      r.saga_id = "order-" + std::to_string(i);
      r.action = "refund";
      records.push_back(r);
    }
    saga::StreamWriter writer("compensation_stream", 0);
    ASSERT_FALSE(writer.write(**client, records).error);
  }
  ASSERT_TRUE(waitUntil([&] { return target.applied() == 8; }, 30s)) << c.process().output();
  for (int i = 100; i < 103; ++i) EXPECT_EQ(target.calls("c-" + std::to_string(i)), 1) << i;
}

// Only the consumer group is destroyed, the stream stays: the group is
// created again (from the start of the stream, so the entries it had
// acknowledged are delivered again and the endpoint sees their ids again)
// and new entries are consumed.
TEST(Compensator, RecreatesADestroyedGroupOnAStreamThatStayed) {
  RedisServer redis;
  Target target;
  writeEntries(redis, 2);
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil([&] { return target.applied() == 2 && pending(redis) == 0; }, 30s))
      << c.process().output();
  redis.cli({"XGROUP", "DESTROY", "compensation_stream", "lameduck-compensator"});
  ASSERT_TRUE(waitUntil(
      [&] { return c.metric("lameduck_compensator_group_recreated_total") >= 1; }, 30s))
      << c.process().output();
  redis.cli({"XADD", "compensation_stream", "*", "id", "c-new", "saga_id", "o-new", "action",
             "refund"});
  ASSERT_TRUE(waitUntil([&] { return target.calls("c-new") == 1; }, 30s)) << c.process().output();
}

// The stream's key holds a string: creating the group fails every time. The
// compensator backs off (100 ms doubling to 5 s) instead of spinning: over
// a few seconds Redis sees a handful of commands from it, not thousands.
TEST(Compensator, AGroupThatCannotBeCreatedIsRetriedWithBackoffNotSpun) {
  RedisServer redis;
  Target target;
  redis.cli({"SET", "compensation_stream", "not a stream"});
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil(
      [&] { return c.metric("lameduck_compensator_redis_errors_total{command=\"XGROUP\"}") >= 3; },
      30s))
      << c.process().output();
  auto processed = [&] {
    const std::string info = redis.cli({"INFO", "stats"});
    const size_t at = info.find("total_commands_processed:");
    return at == std::string::npos ? -1 : std::stoll(info.substr(at + 25));
  };
  const long long before = processed();
  ASSERT_GE(before, 0);
  // Wait until the compensator has failed three more times (at least 0.8 s
  // of backoff at 100 ms doubling), then compare with the command count.
  const double errors = c.metric("lameduck_compensator_redis_errors_total{command=\"XGROUP\"}");
  ASSERT_TRUE(waitUntil(
      [&] {
        return c.metric("lameduck_compensator_redis_errors_total{command=\"XGROUP\"}") >=
               errors + 3;
      },
      60s))
      << c.process().output();
  // Each failed round is a connect (AUTH/SELECT at most) and one XGROUP;
  // the INFO calls of this test count too. A spinning loop would be
  // thousands.
  EXPECT_LT(processed() - before, 100) << c.process().output();
  EXPECT_THAT(c.process().output(), HasSubstr("compensator cannot reach Redis; retrying"));
}

TEST(Compensator, EntriesWithoutIdOrSagaIdAreDeadLetteredAsInvalid) {
  RedisServer redis;
  Target target;
  redis.cli({"XADD", "compensation_stream", "*", "saga_id", "o-1", "action", "refund"});
  redis.cli({"XADD", "compensation_stream", "*", "id", "c-2", "action", "refund"});
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil(
      [&] { return redis.cli({"XLEN", "compensation_stream:dead"}) == "2\n"; }, 30s))
      << c.process().output();
  EXPECT_EQ(target.started(), 0);
  const std::string dead = redis.cli({"XRANGE", "compensation_stream:dead", "-", "+"});
  EXPECT_THAT(dead, HasSubstr("invalid entry: no id"));
  EXPECT_THAT(dead, HasSubstr("invalid entry: no saga_id"));
  EXPECT_EQ(c.metric("lameduck_compensations_invalid_total"), 2);
  EXPECT_TRUE(waitUntil([&] { return pending(redis) == 0; }, 10s));
}

// The id is sent as the Idempotency-Key header: one with a line break would
// add a header or smuggle a second request on the connection. It is
// dead-lettered as invalid, and the target sees no request at all.
TEST(Compensator, AnIdThatWouldBreakTheIdempotencyHeaderIsDeadLetteredUncalled) {
  RedisServer redis;
  Target target;
  redis.cli({"XADD", "compensation_stream", "*", "id", "c-1\r\nX-Injected: 1", "saga_id", "o-1",
             "action", "refund"});
  redis.cli({"XADD", "compensation_stream", "*", "id",
             "c-2\r\nContent-Length: 0\r\n\r\nPOST /admin/purge-all HTTP/1.1\r\nHost: x",
             "saga_id", "o-2", "action", "refund"});
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil(
      [&] { return redis.cli({"XLEN", "compensation_stream:dead"}) == "2\n"; }, 30s))
      << c.process().output();
  EXPECT_EQ(target.started(), 0);
  EXPECT_EQ(target.adminCalls(), 0);
  EXPECT_THAT(redis.cli({"XRANGE", "compensation_stream:dead", "-", "+"}),
              HasSubstr("invalid entry: the id contains a control character"));
  EXPECT_EQ(c.metric("lameduck_compensations_invalid_total"), 2);
}

TEST(Compensator, StreamValuesAreEncodedIntoTheActionUrl) {
  RedisServer redis;
  Target target;
  redis.cli({"XADD", "compensation_stream", "*", "id", "c-1", "saga_id", "../../admin/purge-all",
             "action", "refund"});
  redis.cli({"XADD", "compensation_stream", "*", "id", "c-2", "saga_id",
             "x\r\nX-Injected: 1\r\n", "action", "refund"});
  CompensatorProcess c(redis, target, "");
  ASSERT_TRUE(waitUntil([&] { return target.applied() == 2 && pending(redis) == 0; }, 30s))
      << c.process().output();
  EXPECT_EQ(target.adminCalls(), 0);
  EXPECT_EQ(target.calls("c-1"), 1);
  // The whole value stayed inside the one path segment after /refund/.
  EXPECT_EQ(target.path("c-1"), "/refund/../../admin/purge-all");
  EXPECT_EQ(target.path("c-2"), "/refund/x\r\nX-Injected: 1\r\n");
}

TEST(Compensator, PermanentErrorsAreDeadLetteredAtOnce) {
  RedisServer redis;
  Target target;
  target.always_fail = true;
  target.status_for_failures = 404;
  writeEntries(redis, 3);
  CompensatorProcess c(redis, target, "  max_attempts: 5\n");
  ASSERT_TRUE(waitUntil(
      [&] { return redis.cli({"XLEN", "compensation_stream:dead"}) == "3\n"; }, 30s))
      << c.process().output();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(target.calls("c-" + std::to_string(i)), 1) << i;
  EXPECT_THAT(redis.cli({"XRANGE", "compensation_stream:dead", "-", "+"}),
              HasSubstr("HTTP 404 (permanent: not retried)"));
  EXPECT_EQ(c.metric("lameduck_compensation_retries_total"), 0);
}

}  // namespace
}  // namespace lameduck::testing
