// Exit ordering with a real redis-server and several real lameduck
// processes, each with its own sample app: wait_for, a crashed dependency,
// max_concurrent_exits, a dependency cycle, and Redis dying mid-wait.
// Orders are checked on the apps' CLOCK_MONOTONIC event stamps, which all
// processes on this machine share.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "integration/daemon.h"
#include "support/redis.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// heartbeat 200ms: a registration lives 600ms after its last refresh.
std::string coordYaml(const RedisServer& redis, const std::string& coordination,
                      const std::string& grace = "20s") {
  return "compensation: {redis: {address: \"unix:" + redis.socket() +
         "\", timeout: 500ms}}\n"
         "exit: {grace_period: " +
         grace +
         ", safety_margin: 1s, compensation_reserve: 2s}\n"
         "app: {timeout: 1s}\n"
         "drain: {poll_interval: 20ms}\n"
         "coordination: {" +
         coordination + "}\n";
}

std::unique_ptr<Daemon> pod(const RedisServer& redis, const std::string& name,
                            const std::string& coordination, const std::string& grace = "20s") {
  return std::make_unique<Daemon>(coordYaml(redis, coordination, grace), AppOptions{},
                                  std::map<std::string, std::string>{{"POD_NAME", name}});
}

// The state the registry holds for a pod ("" when it has none).
std::string registered(const RedisServer& redis, const std::string& service,
                       const std::string& pod) {
  std::string out = redis.cli({"HGET", "lameduck:coord:{" + service + "}:pod:" + pod, "state"});
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// CLOCK_MONOTONIC stamp of the app's first `name` event, or -1.
int64_t appEvent(Daemon& d, const std::string& name) {
  for (const json& j : jsonLines(d.app()->outputPath())) {
    if (j.value("event", "") == name) return j["mono_ns"].get<int64_t>();
  }
  return -1;
}

std::vector<json> audits(Daemon& d, const std::string& event) {
  std::vector<json> out;
  for (const json& j : jsonLines(d.lameduck().outputPath())) {
    if (j.value("audit", false) && j.value("event", "") == event) out.push_back(j);
  }
  return out;
}

json status(Daemon& d) {
  auto r = d.admin("/status");
  return r ? json::parse(r->body, nullptr, false) : json();
}

// Every step of an exit summary ran and ended before its deadline (none
// reports "deadline").
void expectNoStepCutByItsDeadline(const json& summary) {
  ASSERT_TRUE(summary.contains("steps") && summary["steps"].is_array()) << summary;
  EXPECT_FALSE(summary["steps"].empty()) << summary;
  for (const json& step : summary["steps"]) {
    EXPECT_NE(step.value("status", ""), "deadline") << step;
  }
}

// Runs /prestop in the background; the summary lands in `out`.
std::jthread prestop(Daemon& d, json& out) {
  return std::jthread([&d, &out] {
    auto r = d.admin("/prestop");
    out = r ? json::parse(r->body, nullptr, false) : json();
  });
}

TEST(Coordination, WaitForHoldsTheExitUntilTheDependencyTerminated) {
  RedisServer redis;
  auto users = pod(redis, "u-1", "service: users, heartbeat: 200ms");
  auto auth = pod(redis, "a-1", "service: auth, wait_for: [users], heartbeat: 200ms");
  ASSERT_GT(users->adminPort(), 0);
  ASSERT_GT(auth->adminPort(), 0);
  ASSERT_TRUE(waitUntil([&] { return registered(redis, "users", "u-1") == "Ready"; }, 10s));
  ASSERT_TRUE(waitUntil([&] { return registered(redis, "auth", "a-1") == "Ready"; }, 10s));
  // The registration says what the pod waits for.
  EXPECT_THAT(redis.cli({"HGET", "lameduck:coord:{auth}:pod:a-1", "wait_for"}), HasSubstr("users"));

  std::jthread work = slowAppRequest(*users, 1500);
  json auth_summary, users_summary;
  std::jthread auth_exit = prestop(*auth, auth_summary);
  // auth waits, and /status says for whom.
  json st;
  ASSERT_TRUE(waitUntil(
      [&] {
        st = status(*auth);
        return st["coordination"]["wait_for"]["status"] == "waiting" &&
               st["coordination"]["wait_for"]["alive"] == json::array({"users/u-1 (Ready)"});
      },
      10s))
      << st;
  EXPECT_TRUE(waitUntil([&] { return registered(redis, "auth", "a-1") == "Draining"; }, 10s));
  std::jthread users_exit = prestop(*users, users_summary);
  users_exit.join();
  auth_exit.join();
  work.join();

  EXPECT_EQ(users_summary["outcome"], "completed") << users_summary;
  EXPECT_EQ(auth_summary["outcome"], "completed") << auth_summary;
  EXPECT_EQ(auth_summary["coordination"]["wait_for"]["status"], "done");
  // Exit ordering runs first in Draining: the slot, then wait_for, then the drain.
  ASSERT_GE(auth_summary["steps"].size(), 3u);
  EXPECT_EQ(auth_summary["steps"][0]["step"], "coordination_slot");
  EXPECT_EQ(auth_summary["steps"][1]["step"], "coordination_wait_for");
  EXPECT_EQ(auth_summary["steps"][2]["step"], "app_drain_hook");
  // auth's app was told to drain only after users' app was told to
  // terminate: users' whole exit came first.
  const int64_t users_terminated = appEvent(*users, "terminate");
  const int64_t auth_drained = appEvent(*auth, "drain");
  ASSERT_GT(users_terminated, 0);
  ASSERT_GT(auth_drained, 0);
  EXPECT_LT(users_terminated, auth_drained);
  std::cout << "[ figures  ] users' terminate hook -> auth's drain hook: "
            << (auth_drained - users_terminated) / 1e6 << " ms\n";
  // The audit logs agree: users reached Terminated before auth left Draining.
  std::string users_terminated_at, auth_left_draining_at;
  for (const json& t : audits(*users, "transition")) {
    if (t["to"] == "Terminated") users_terminated_at = t["ts"];
  }
  for (const json& t : audits(*auth, "transition")) {
    if (t["from"] == "Draining") auth_left_draining_at = t["ts"];
  }
  ASSERT_FALSE(users_terminated_at.empty());
  EXPECT_LE(users_terminated_at, auth_left_draining_at);  // RFC 3339 UTC sorts as text
  EXPECT_EQ(auth->metric("lameduck_coordination_wait_seconds_count{reason=\"wait_for\"}"), 1);
  EXPECT_GT(auth->metric("lameduck_coordination_wait_seconds_sum{reason=\"wait_for\"}"), 0);
  EXPECT_TRUE(waitUntil([&] { return registered(redis, "users", "u-1") == "Terminated"; }, 10s));
}

TEST(Coordination, ACrashedDependencyReleasesTheWaiterAfterItsTtl) {
  RedisServer redis;
  // heartbeat 1s: the crashed pod's registration outlives it by up to 3 s.
  auto users = pod(redis, "u-1", "service: users, heartbeat: 1s");
  auto auth = pod(redis, "a-1", "service: auth, wait_for: [users], heartbeat: 1s");
  ASSERT_GT(auth->adminPort(), 0);
  ASSERT_TRUE(waitUntil([&] { return registered(redis, "users", "u-1") == "Ready"; }, 10s));
  json auth_summary;
  std::jthread auth_exit = prestop(*auth, auth_summary);
  ASSERT_TRUE(waitUntil(
      [&] { return status(*auth)["coordination"]["wait_for"]["status"] == "waiting"; }, 10s));
  users->lameduck().signal(SIGKILL);
  ASSERT_TRUE(users->lameduck().waitExit(10s));
  const int64_t killed = monoNs();
  // Right after the crash the registry still lists u-1: auth keeps waiting.
  json st = status(*auth);
  EXPECT_EQ(st["coordination"]["wait_for"]["alive"], json::array({"users/u-1 (Ready)"})) << st;
  auth_exit.join();
  EXPECT_EQ(auth_summary["outcome"], "completed") << auth_summary;
  EXPECT_EQ(auth_summary["coordination"]["wait_for"]["status"], "done");
  EXPECT_GT(appEvent(*auth, "drain"), killed);
  // u-1 never reached Terminated: it is gone because its TTL ran out.
  EXPECT_EQ(registered(redis, "users", "u-1"), "");
}

TEST(Coordination, MaxConcurrentExitsDrainsPodsOneAfterAnother) {
  RedisServer redis;
  std::vector<std::unique_ptr<Daemon>> web;
  for (int i = 1; i <= 3; ++i) {
    web.push_back(pod(redis, "w-" + std::to_string(i),
                      "service: web, max_concurrent_exits: 1, heartbeat: 200ms"));
    ASSERT_GT(web.back()->adminPort(), 0);
  }
  std::vector<std::jthread> work;
  // Long enough that slowAppRequest's polls see it in flight under ThreadSanitizer
  // on a busy machine (400 ms was not), and that the first pod still drains
  // while the others ask for the slot.
  for (auto& d : web) work.push_back(slowAppRequest(*d, 1500));
  std::vector<json> summaries(3);
  std::vector<std::jthread> exits;
  for (int i = 0; i < 3; ++i) exits.push_back(prestop(*web[i], summaries[i]));
  // While one drains, the others wait for a slot, and /status says who holds it.
  json waiting;
  EXPECT_TRUE(waitUntil(
      [&] {
        for (auto& d : web) {
          json st = status(*d);
          if (st["coordination"]["slot"]["status"] == "waiting" &&
              !st["coordination"]["slot"]["holders"].empty()) {
            waiting = st;
            return true;
          }
        }
        return false;
      },
      10s));
  EXPECT_THAT(waiting["coordination"]["slot"]["holders"][0].get<std::string>(),
              ::testing::MatchesRegex("w-[123] \\(token [0-9]+\\)"));
  for (auto& t : exits) t.join();
  for (auto& t : work) t.join();

  struct Interval {
    int64_t drain, terminate, token;
  };
  std::vector<Interval> intervals;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(summaries[i]["outcome"], "completed") << summaries[i];
    EXPECT_EQ(summaries[i]["coordination"]["slot"]["status"], "held");
    auto acquired = audits(*web[i], "coordination_slot_acquired");
    ASSERT_EQ(acquired.size(), 1u);
    // The registry thread releases the slot once the exit reached
    // Terminated, which may be just after /prestop answered.
    EXPECT_TRUE(
        waitUntil([&] { return audits(*web[i], "coordination_slot_released").size() == 1u; }, 10s))
        << "pod " << i;
    intervals.push_back({appEvent(*web[i], "drain"), appEvent(*web[i], "terminate"),
                         acquired[0]["token"].get<int64_t>()});
  }
  std::sort(intervals.begin(), intervals.end(),
            [](const Interval& a, const Interval& b) { return a.drain < b.drain; });
  for (size_t i = 0; i < intervals.size(); ++i) {
    ASSERT_GT(intervals[i].drain, 0);
    EXPECT_LT(intervals[i].drain, intervals[i].terminate);
    if (i == 0) continue;
    // No overlap: each app drained only after the previous one terminated,
    // and the fencing tokens grew in that order.
    EXPECT_LT(intervals[i - 1].terminate, intervals[i].drain) << "pods " << i - 1 << " and " << i;
    EXPECT_LT(intervals[i - 1].token, intervals[i].token);
    std::cout << "[ figures  ] slot hand-over, terminate hook -> next drain hook: "
              << (intervals[i].drain - intervals[i - 1].terminate) / 1e6 << " ms\n";
  }
}

TEST(Coordination, ACycleIsReportedAndResolvedInNameOrder) {
  RedisServer redis;
  auto a = pod(redis, "a-1", "service: a, wait_for: [b], heartbeat: 200ms");
  auto b = pod(redis, "b-1", "service: b, wait_for: [a], heartbeat: 200ms");
  ASSERT_GT(a->adminPort(), 0);
  ASSERT_GT(b->adminPort(), 0);
  ASSERT_TRUE(waitUntil([&] { return registered(redis, "a", "a-1") == "Ready"; }, 10s));
  ASSERT_TRUE(waitUntil([&] { return registered(redis, "b", "b-1") == "Ready"; }, 10s));
  json sa, sb;
  std::jthread ta = prestop(*a, sa);
  std::jthread tb = prestop(*b, sb);
  ta.join();
  tb.join();
  // Neither waited its budget out: both completed.
  EXPECT_EQ(sa["outcome"], "completed") << sa;
  EXPECT_EQ(sb["outcome"], "completed") << sb;
  // a sorts first on the cycle, so it went first, and said why.
  EXPECT_EQ(sa["coordination"]["wait_for"]["cycle"], "a -> b -> a") << sa;
  EXPECT_THAT(sa.dump(), HasSubstr("went ahead of b"));
  EXPECT_EQ(a->metric("lameduck_coordination_cycles_total"), 1);
  ASSERT_EQ(audits(*a, "coordination_cycle").size(), 1u);
  EXPECT_EQ(audits(*a, "coordination_cycle")[0]["goes_first"], "a");
  EXPECT_THAT(a->lameduck().output(), HasSubstr("dependency cycle between services"));
  // b waited for a.
  EXPECT_LT(appEvent(*a, "terminate"), appEvent(*b, "drain"));
}

TEST(Coordination, RedisKilledMidWaitExitsProceedWithinTheirBudgets) {
  RedisServer redis;
  // Budget 11 s, Draining 9 s: Redis may be unreachable 2.25 s before the
  // exit goes on without it.
  auto users = pod(redis, "u-1", "service: users, heartbeat: 200ms", "12s");
  auto auth = pod(redis, "a-1", "service: auth, wait_for: [users], heartbeat: 200ms", "12s");
  ASSERT_GT(auth->adminPort(), 0);
  ASSERT_TRUE(waitUntil([&] { return registered(redis, "users", "u-1") == "Ready"; }, 10s));
  json auth_summary;
  std::jthread auth_exit = prestop(*auth, auth_summary);
  ASSERT_TRUE(waitUntil(
      [&] { return status(*auth)["coordination"]["wait_for"]["status"] == "waiting"; }, 10s));
  redis.kill();
  auth_exit.join();
  EXPECT_EQ(auth_summary["outcome"], "completed") << auth_summary;
  EXPECT_EQ(auth_summary["coordination"]["wait_for"]["status"], "skipped");
  EXPECT_THAT(auth_summary["coordination"]["error"].get<std::string>(), HasSubstr("Redis"));
  // Within its budget by the sidecar's own verdict: outcome "completed"
  // means that no step ran into its deadline and every step after wait_for
  // still had time to run. The outage allowance itself is accounted on the
  // simulated clock (tests/coord); a wall-clock figure would measure the
  // machine.
  expectNoStepCutByItsDeadline(auth_summary);
  EXPECT_GE(auth->metric("lameduck_coordination_errors_total"), 1);
  EXPECT_THAT(auth->lameduck().output(), HasSubstr("coordination store unreachable"));

  // A pod whose exit starts with Redis already gone goes on without a slot.
  json users_summary = users->adminJson("/prestop");
  EXPECT_EQ(users_summary["outcome"], "completed") << users_summary;
  EXPECT_EQ(users_summary["coordination"]["slot"]["status"], "skipped");
  expectNoStepCutByItsDeadline(users_summary);
  EXPECT_GE(users->metric("lameduck_coordination_errors_total"), 1);
}

}  // namespace
}  // namespace lameduck::testing
