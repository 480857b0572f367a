// The hand-off in a real exit: the sample app's compensations go to a real
// redis-server (or the spool), are acked only once durable, and the spool is
// replayed on the next start or by `lameduck spool replay`.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/daemon.h"
#include "redis/redis_client.h"
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
  EXPECT_EQ(ids.size(), static_cast<size_t>(n));
  for (int i = 1; i <= n; ++i) {
    auto it = ids.find("c-" + std::to_string(i));
    ASSERT_NE(it, ids.end()) << "c-" << i << " missing";
    EXPECT_EQ(it->second, 1) << "c-" << i;
  }
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
  EXPECT_LE(s["duration_ms"].get<double>(), 7000 + 500);
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
  RedisServer redis;
  std::string out = d.dir().file("replay.txt");
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

}  // namespace
}  // namespace lameduck::testing
