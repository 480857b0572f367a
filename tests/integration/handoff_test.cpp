// The hand-off in a real exit: the sample app's compensations go to a real
// redis-server (or the spool), are acked only once durable, and the spool is
// replayed on the next start or by `lameduck spool replay`.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "fakes/ids.h"
#include "integration/daemon.h"
#include "redis/redis_client.h"
#include "saga/record.h"
#include "saga/spool.h"
#include "support/redis.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string redisConfig(const RedisServer& redis) {
  return "compensation: {redis: {address: \"unix:" + redis.socket() +
         "\", timeout: 500ms}}\n"
         "exit: {grace_period: 20s, safety_margin: 1s, compensation_reserve: 5s}\n";
}

void expectEveryIdOnce(const std::map<std::string, int>& ids, int n) {
  fakes::expectEveryIdOnce(ids, n, "c-", 1);  // the sample app counts from 1
}

json ackEvent(Daemon& d) {
  for (const json& j : jsonLines(d.app()->outputPath())) {
    if (j.value("event", "") == "ack") return j;
  }
  return nullptr;
}

TEST(Handoff, WritesToRedisAndAcksEveryValidId) {
  RedisServer redis;
  Daemon d(redisConfig(redis), AppOptions{.compensations = 50, .bad_compensations = 2});
  ASSERT_GT(d.adminPort(), 0);
  json s = d.adminJson("/prestop");
  EXPECT_EQ(s["outcome"], "completed") << s;
  EXPECT_EQ(s["compensations"]["pending"], 50);
  EXPECT_EQ(s["compensations"]["written"], 50);
  EXPECT_EQ(s["compensations"]["rejected"], 2);
  EXPECT_EQ(s["compensations"]["acked"], 50);
  EXPECT_THAT(s["compensations"]["rejected_reasons"][0].get<std::string>(),
              HasSubstr("missing or empty id"));
  expectEveryIdOnce(redis.streamIds("compensation_stream"), 50);
  EXPECT_EQ(ackEvent(d)["count"], 50);
  EXPECT_EQ(d.metric("lameduck_compensations_written_total{sink=\"redis\"}"), 50);
  EXPECT_EQ(d.metric("lameduck_compensation_failures_total{reason=\"rejected\"}"), 2);
  // The rejections are in the audit log too.
  int audited = 0;
  for (const json& j : jsonLines(d.lameduck().outputPath())) {
    audited += j.value("event", "") == "compensation_rejected";
  }
  EXPECT_EQ(audited, 2);
}

TEST(Handoff, TenThousandCompensationsInOneExit) {
  RedisServer redis;
  Daemon d(redisConfig(redis), AppOptions{.compensations = 10'000});
  ASSERT_GT(d.adminPort(), 0);
  json s = d.adminJson("/prestop");
  EXPECT_EQ(s["compensations"]["written"], 10'000) << s;
  EXPECT_EQ(s["compensations"]["acked"], 10'000);
  expectEveryIdOnce(redis.streamIds("compensation_stream"), 10'000);
}

TEST(Handoff, RedisDownMeansSpoolFsyncBeforeAckThenReplayOnRestart) {
  RedisServer redis(/*persistent=*/true);
  redis.kill();  // configured, but not there when the pod exits
  const std::string yaml = redisConfig(redis);
  std::string spool_dir;
  {
    Daemon d(yaml, AppOptions{.compensations = 200});
    ASSERT_GT(d.adminPort(), 0);
    spool_dir = d.spoolDir();
    json s = d.adminJson("/prestop");
    EXPECT_EQ(s["outcome"], "completed") << s;
    EXPECT_EQ(s["compensations"]["spooled"], 200);
    EXPECT_EQ(s["compensations"]["acked"], 200);
    // When the app got its ack, every acked id was already in the spool file.
    json ack = ackEvent(d);
    EXPECT_EQ(ack["count"], 200);
    EXPECT_EQ(ack["in_spool"], 200);
    EXPECT_EQ(d.metric("lameduck_compensations_spooled"), 200);
    EXPECT_GE(d.metric("lameduck_compensation_failures_total{reason=\"unavailable\"}"), 1);

    // Redis is back; the next lameduck on this node replays the spool at start.
    ASSERT_TRUE(redis.start());
    Process next({lameduckBinary(), "run", "--config", d.dir().file("lameduck.yaml"), "--set",
                  "admin.listen=127.0.0.1:0", "--set", "metrics.listen=127.0.0.1:0", "--set",
                  "compensation.spool=" + spool_dir, "--set", "app.ports=[]"},
                 d.dir().file("next.log"));
    auto replayed = waitForLine(
        next.outputPath(),
        [](const json& j) {
          return j.value("msg", "") == "spooled compensations replayed into the stream";
        },
        20s);
    ASSERT_TRUE(replayed) << next.output();
    EXPECT_EQ((*replayed)["count"], 200);
    expectEveryIdOnce(redis.streamIds("compensation_stream"), 200);
    EXPECT_NE(access((spool_dir + "/compensations.jsonl").c_str(), F_OK), 0);
  }
}

TEST(Handoff, PausedRedisSpoolsWithinTheBudgetWithoutHanging) {
  RedisServer redis;
  redis.cli({"CLIENT", "PAUSE", "60000", "WRITE"});
  Daemon d("compensation: {redis: {address: \"unix:" + redis.socket() +
               "\", timeout: 300ms}}\n"
               "exit: {grace_period: 8s, safety_margin: 1s, compensation_reserve: 3s}\n",
           AppOptions{.compensations = 20});
  ASSERT_GT(d.adminPort(), 0);
  json s = d.adminJson("/prestop");
  EXPECT_EQ(s["compensations"]["spooled"], 20) << s;
  EXPECT_EQ(s["compensations"]["acked"], 20);
  // Bounded, not hung: the exit answered while the test still held Redis
  // paused (60 s, longer than the call's 30 s timeout, lifted only below),
  // and it says why it spooled: Redis timed out. The accounting of the
  // budget itself is tested in simulated time (tests/saga); a wall-clock
  // figure here would measure the machine.
  EXPECT_GE(d.metric("lameduck_compensation_failures_total{reason=\"timeout\"}"), 1);
  redis.cli({"CLIENT", "UNPAUSE"});
}

TEST(Handoff, WrongPasswordIsLoggedClearlyAndSpools) {
  RedisServer redis(false, "right");
  Daemon d("compensation: {redis: {address: \"unix:" + redis.socket() +
               "\", password: wrong, timeout: 500ms}}\n",
           AppOptions{.compensations = 5});
  ASSERT_GT(d.adminPort(), 0);
  json s = d.adminJson("/prestop");
  EXPECT_EQ(s["compensations"]["spooled"], 5) << s;
  EXPECT_THAT(d.lameduck().output(), HasSubstr("authentication as \\\"default\\\" refused"));
  EXPECT_EQ(d.metric("lameduck_compensation_failures_total{reason=\"auth\"}"), 1);
}

TEST(Handoff, NoRedisConfiguredMeansTheSpoolIsTheSinkAndReplayCommandEmptiesIt) {
  Daemon d("", AppOptions{.compensations = 30});
  ASSERT_GT(d.adminPort(), 0);
  json s = d.adminJson("/prestop");
  EXPECT_EQ(s["compensations"]["spooled"], 30) << s;
  EXPECT_EQ(ackEvent(d)["in_spool"], 30);
  // Without Redis configured the command refuses, naming the key, and the
  // spool stays whole (the replay below finds all 30).
  std::string out = d.dir().file("replay.txt");
  EXPECT_EQ(runCommand(
                {lameduckBinary(), "spool", "replay", "--set", "compensation.spool=" + d.spoolDir()},
                out),
            1);
  EXPECT_THAT(readFile(out), HasSubstr("compensation.redis.address: not set"));
  RedisServer redis;
  EXPECT_EQ(runCommand(
                {lameduckBinary(), "spool", "replay", "--set", "compensation.spool=" + d.spoolDir(),
                 "--set", "compensation.redis.address=unix:" + redis.socket()},
                out),
            0)
      << readFile(out);
  EXPECT_THAT(readFile(out), HasSubstr("replayed 30 of 30"));
  expectEveryIdOnce(redis.streamIds("compensation_stream"), 30);
  // A second replay finds nothing and writes nothing twice.
  EXPECT_EQ(runCommand(
                {lameduckBinary(), "spool", "replay", "--set", "compensation.spool=" + d.spoolDir(),
                 "--set", "compensation.redis.address=unix:" + redis.socket()},
                out),
            0);
  expectEveryIdOnce(redis.streamIds("compensation_stream"), 30);
}

TEST(Handoff, MalformedCompensationsAnswerFailsWithoutAckingAnything) {
  Daemon d("exit: {grace_period: 6s, safety_margin: 1s, compensation_reserve: 1s}\n",
           AppOptions{.hooks = "garbage"});
  ASSERT_GT(d.adminPort(), 0);
  json s = d.adminJson("/prestop");
  EXPECT_THAT(s["reason"].get<std::string>(), HasSubstr("not valid JSON"));
  EXPECT_TRUE(ackEvent(d).is_null());
}

// A sample app that pages (--pages): lameduck asks for 1,000 at a time and
// acks each page once it is in the stream.
TEST(Handoff, LargeBatchesArePagedAndEachPageIsAckedOnceDurable) {
  RedisServer redis;
  TempDir app_dir;
  Process app({sampleAppBinary(), "--listen", "127.0.0.1:0", "--pages", "--compensations", "2500",
               "--bad-compensations", "1"},
              app_dir.file("app.log"));
  auto port = waitForAppPort(app);
  ASSERT_TRUE(port) << app.output();
  Daemon d(redisConfig(redis), std::nullopt, {},
           {"app.base_url=http://127.0.0.1:" + std::to_string(*port)});
  ASSERT_GT(d.adminPort(), 0);
  auto res = d.admin("/prestop");
  auto parsed = jsonBody(res, "GET /prestop");
  ASSERT_TRUE(parsed) << d.lameduck().output();
  json s = *parsed;
  EXPECT_EQ(s["outcome"], "completed") << s;
  EXPECT_EQ(s["compensations"]["pending"], 2500);
  EXPECT_EQ(s["compensations"]["written"], 2500);
  EXPECT_EQ(s["compensations"]["acked"], 2500);
  EXPECT_EQ(s["compensations"]["rejected"], 1);
  expectEveryIdOnce(redis.streamIds("compensation_stream"), 2500);
  int fetches = 0;
  std::vector<int64_t> acks;
  for (const json& j : jsonLines(app.outputPath())) {
    fetches += j.value("event", "") == "compensations";
    if (j.value("event", "") == "ack") acks.push_back(j.value("count", int64_t{0}));
  }
  EXPECT_EQ(fetches, 3);
  EXPECT_EQ(acks, (std::vector<int64_t>{1000, 1000, 500}));
}

// Unreadable lines are kept, counted, and make `spool replay` exit 1.
TEST(Handoff, SpoolReplayReportsUnreadableLinesAndExitsNonZero) {
  Daemon d("", AppOptions{.compensations = 30});
  ASSERT_GT(d.adminPort(), 0);
  auto summary = jsonBody(d.admin("/prestop"), "GET /prestop");
  ASSERT_TRUE(summary) << d.lameduck().output();
  EXPECT_EQ((*summary)["compensations"]["spooled"], 30);
  const std::string spool = d.spoolDir() + "/compensations.jsonl";
  {
    std::ofstream out(spool, std::ios::app);
    out << "{\"id\": \"half a record\n";
  }
  RedisServer redis;
  std::string out = d.dir().file("replay.txt");
  EXPECT_EQ(runCommand(
                {lameduckBinary(), "spool", "replay", "--set", "compensation.spool=" + d.spoolDir(),
                 "--set", "compensation.redis.address=unix:" + redis.socket()},
                out),
            1)
      << readFile(out);
  EXPECT_THAT(readFile(out), HasSubstr("replayed 30 of 30"));
  EXPECT_THAT(readFile(out), HasSubstr("1 unreadable line(s) kept in"));
  expectEveryIdOnce(redis.streamIds("compensation_stream"), 30);
  EXPECT_EQ(readFile(spool), "{\"id\": \"half a record\n");
}


// A spool file of `n` records "c-1".."c-<n>" of realistic size (~300 bytes a
// line: a payload, the origin, a timestamp), written as append() writes it.
void writeSpool(const std::string& dir, int n) {
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0) << dir;
  std::ofstream out(dir + "/compensations.jsonl", std::ios::binary);
  for (int i = 1; i <= n; ++i) {
    saga::CompensationRecord r;
    r.id = "c-" + std::to_string(i);
    r.saga_id = "order-" + std::to_string(i / 3);
    r.step = "reserve_stock";
    r.action = "release_stock";
    r.payload = R"({"order_id":")" + std::to_string(i / 3) + R"(","sku":"SKU-42","qty":3})";
    r.service = "orders";
    r.namespace_ = "shop";
    r.pod = "orders-7d9f8b6c5-x2x4q";
    r.revision = "7d9f8b6c5";
    r.created_at = "2026-12-02T16:00:00Z";
    out << saga::toJsonLine(r) << '\n';
  }
  ASSERT_TRUE(out.flush()) << dir;
}

// The start-up replay streams the spool: 100,000 spooled records (~30 MB of
// file) all reach the stream, once each, the spool is emptied, and the
// sidecar's peak memory stays far below the chart's 64Mi limit (a replay
// that read the whole file would follow its size, be OOM-killed and
// restarted, again and again).
TEST(Handoff, HundredThousandSpooledRecordsReplayAtStartInBoundedMemory) {
  constexpr int kRecords = 100'000;
  RedisServer redis;
  TempDir spool;
  const std::string spool_dir = spool.file("spool");
  ASSERT_NO_FATAL_FAILURE(writeSpool(spool_dir, kRecords));
  Daemon d(redisConfig(redis), std::nullopt, {},
           {"compensation.spool=" + spool_dir, "compensation.redis.timeout=10s"});
  ASSERT_GT(d.adminPort(), 0) << d.lameduck().output();
  auto replayed = waitForLine(
      d.lameduck().outputPath(),
      [](const json& j) {
        return j.value("msg", "") == "spooled compensations replayed into the stream" ||
               j.value("msg", "") == "spool replay failed; the records stay in the spool";
      },
      120s);
  ASSERT_TRUE(replayed) << d.lameduck().output().substr(0, 4000);
  EXPECT_EQ((*replayed)["count"], kRecords) << replayed->dump();
  expectEveryIdOnce(redis.streamIds("compensation_stream"), kRecords);
  EXPECT_NE(access((spool_dir + "/compensations.jsonl").c_str(), F_OK), 0);
  EXPECT_NE(access((spool_dir + "/compensations.jsonl.tmp").c_str(), F_OK), 0);
  EXPECT_EQ(d.metric("lameduck_compensations_written_total{sink=\"redis\"}"), kRecords);
  EXPECT_EQ(d.metric("lameduck_compensations_spooled"), 0);
  const int64_t peak_kb = peakRssKb(d.lameduck().pid());
  ASSERT_GT(peak_kb, 0);
  std::cout << "lameduck peak RSS after replaying " << kRecords << " records: " << peak_kb
            << " kB\n";
  if (kMemoryBoundChecked) {
    EXPECT_LT(peak_kb, 48 * 1024) << "peak RSS " << peak_kb << " kB, over 48 MiB";
  }
}


// One exit of 100,000 compensations that the app answers all at once (~10 MB,
// over the default app.max_response_bytes, which such an app has to raise)
// into Redis or, with `redis` null, into the spool: everything is acked and
// durable, and lameduck's peak memory stays far below the chart's 64Mi.
void handOffHundredThousandAtOnce(const RedisServer* redis) {
  constexpr int kCompensations = 100'000;
  const std::string yaml =
      redis ? "compensation: {redis: {address: \"unix:" + redis->socket() + "\", timeout: 10s}}\n"
            : std::string();
  // The sample app of its own: the Daemon's would check each acked id
  // against the whole spool file (--check-spool), 100,000 times over.
  TempDir app_dir;
  Process app({sampleAppBinary(), "--listen", "127.0.0.1:0", "--compensations",
               std::to_string(kCompensations)},
              app_dir.file("app.log"));
  auto port = waitForAppPort(app);
  ASSERT_TRUE(port) << app.output();
  Daemon d(yaml, std::nullopt, {},
           {"app.base_url=http://127.0.0.1:" + std::to_string(*port),
            "app.max_response_bytes=16777216", "app.timeout=60s", "exit.grace_period=120s"});
  ASSERT_GT(d.adminPort(), 0) << d.lameduck().output();
  auto r = call(d.adminPort(), "GET", "/prestop", {}, 180s);
  ASSERT_TRUE(r) << r.error().message;
  const json s = json::parse(r->body);
  EXPECT_EQ(s["outcome"], "completed") << r->body.substr(0, 2000);
  EXPECT_EQ(s["compensations"]["acked"], kCompensations) << r->body.substr(0, 2000);
  if (redis) {
    EXPECT_EQ(s["compensations"]["written"], kCompensations);
    expectEveryIdOnce(redis->streamIds("compensation_stream"), kCompensations);
  } else {
    EXPECT_EQ(s["compensations"]["spooled"], kCompensations);
    auto spooled = saga::Spool(d.spoolDir()).scan();
    ASSERT_TRUE(spooled) << spooled.error().message;
    EXPECT_EQ(spooled->records, kCompensations);
    EXPECT_EQ(spooled->unreadable, 0);
  }
  const int64_t peak_kb = peakRssKb(d.lameduck().pid());
  ASSERT_GT(peak_kb, 0);
  std::cout << "lameduck peak RSS after handing off " << kCompensations << " compensations to "
            << (redis ? "Redis" : "the spool") << ": " << peak_kb << " kB\n";
  if (kMemoryBoundChecked) {
    EXPECT_LT(peak_kb, 48 * 1024) << "peak RSS " << peak_kb << " kB, over 48 MiB";
  }
}

TEST(Handoff, HundredThousandAnsweredAtOnceGoToRedisInBoundedMemory) {
  RedisServer redis;
  ASSERT_NO_FATAL_FAILURE(handOffHundredThousandAtOnce(&redis));
}

TEST(Handoff, HundredThousandAnsweredAtOnceGoToTheSpoolInBoundedMemory) {
  ASSERT_NO_FATAL_FAILURE(handOffHundredThousandAtOnce(nullptr));
}

}  // namespace
}  // namespace lameduck::testing
