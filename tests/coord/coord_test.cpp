// Exit ordering: the slot and wait_for steps and the registry against a fake
// store in simulated time (no test here sleeps), and the Redis store against
// a real redis-server.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "coord/redis_backend.h"
#include "coord/registry.h"
#include "coord/steps.h"
#include "exit/engine.h"
#include "fakes/coord.h"
#include "fakes/exit.h"
#include "redis/redis_client.h"
#include "support/harness.h"
#include "support/redis.h"

namespace lameduck::coord {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using fakes::FakeCoordinationBackend;
using fakes::RecordingCoordinationObserver;
using fakes::FakeSlotKeeper;
using fakes::NullExitObserver;
using fakes::StandInStep;

// budget 28 s (30 - 2), Draining 23 s, so coordination may wait 17.25 s and
// the outage allowance is 5 s.
config::ExitConfig exitConfig() { return config::ExitConfig{30s, 2s, 5s}; }
exit::Budget budgetOf(const config::ExitConfig& e) {
  return {e.grace_period, e.safety_margin, e.compensation_reserve};
}

// The summary of an exit and the coordination steps' typed report (what
// the `coordination` section was rendered from).
struct CoordRun : exit::Summary {
  std::optional<CoordinationReport> coordination;
};

Settings settingsFor(std::string service, std::string pod, std::vector<std::string> wait_for = {},
                     int64_t max_concurrent = 1) {
  config::Config c;
  c.exit = exitConfig();
  c.coordination.service = std::move(service);
  c.coordination.wait_for = std::move(wait_for);
  c.coordination.max_concurrent_exits = max_concurrent;
  c.coordination.heartbeat = 1s;
  return Settings::from(c, std::move(pod));
}

using fakes::findStep;
using fakes::attributeAs;

// One exit whose Draining phase is the coordination steps and a stand-in
// for the drain. `during` (if set) runs at `during_at` into the exit, on
// the exit thread, with the engine at hand (to look at /status).
struct ExitRun {
  ExitRun(SimulatedClock& c, FakeCoordinationBackend& b, Settings s)
      : clock(c), backend(b), settings(std::move(s)) {}
  SimulatedClock& clock;
  FakeCoordinationBackend& backend;
  Settings settings;
  RecordingCoordinationObserver observer;
  FakeSlotKeeper keeper;
  Duration drain_given{-1};  // what the drain after the coordination steps got

  CoordRun run(std::optional<Duration> during_at = std::nullopt,
               std::function<void(exit::ExitEngine&)> during = {}) {
    ExitCoordination session(backend, settings, observer, &keeper);
    exit::ExitPlan plan;
    plan.draining.push_back(std::make_unique<StandInStep>("drain_stand_in", drain_given));
    auto steps = makeSteps(session);
    plan.draining.insert(plan.draining.begin(), std::make_move_iterator(steps.begin()),
                         std::make_move_iterator(steps.end()));
    plan.sections = {sectionDefault()};
    NullExitObserver null_observer;
    exit::ExitEngine engine(clock, budgetOf(exitConfig()), std::move(plan), null_observer);
    if (during) backend.at(*during_at, [&] { during(engine); });
    engine.trigger("prestop");
    CoordRun r{engine.await(), std::nullopt};
    const std::string* section = r.section(kCoordinationSection);
    if (section && *section != "null") {
      r.coordination = session.report();
      // The section is exactly the typed report, rendered.
      EXPECT_EQ(*section, toJson(session.report()));
    }
    return r;
  }
};

PodRecord pod(std::string service, std::string name, std::string state,
              std::vector<std::string> wait_for = {}) {
  return PodRecord{std::move(service), std::move(name), std::move(state), std::move(wait_for), "",
                   std::nullopt};
}

TEST(SlotStep, TakesAFreeSlotAtOnceAndHandsItToTheKeeper) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  ExitRun r{clock, backend, settingsFor("web", "w-1")};
  auto s = r.run();
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
  const exit::StepReport* slot = findStep(s, "coordination_slot");
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(slot->status, exit::StepStatus::kOk);
  EXPECT_THAT(slot->detail, HasSubstr("exit slot 1 of web taken after 0s"));
  EXPECT_THAT(r.keeper.held, ElementsAre(1));
  ASSERT_TRUE(s.coordination);
  EXPECT_EQ(s.coordination->slot, "held");
  EXPECT_EQ(s.coordination->slot_token, 1);
  // The slot is the first step, before anything else of Draining.
  EXPECT_EQ(s.steps.front().name, "coordination_slot");
  EXPECT_EQ(r.observer.waits.size(), 1u);
  EXPECT_EQ(r.observer.waits[0].first, "slot");
}

TEST(SlotStep, WaitsWhileAllSlotsAreHeldAndShowsTheHoldersInStatus) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.hold("web", "w-2", 7);
  backend.at(3s, [&] { backend.release("web", "w-2"); });
  ExitRun r{clock, backend, settingsFor("web", "w-1")};
  nlohmann::json status;
  auto s =
      r.run(1s, [&](exit::ExitEngine& e) { status = nlohmann::json::parse(toJson(e.snapshot())); });
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
  // While it waited, /status named who held the slot.
  EXPECT_EQ(status["coordination"]["slot"]["status"], "waiting") << status;
  EXPECT_EQ(status["coordination"]["slot"]["holders"][0], "w-2 (token 7)");
  EXPECT_GT(status["coordination"]["slot"]["wait_ms"].get<double>(), 0);
  // Taken at the first poll after the release (polls are 100 ms apart).
  ASSERT_TRUE(s.coordination->slot_wait);
  EXPECT_GE(*s.coordination->slot_wait, 3s);
  EXPECT_LE(*s.coordination->slot_wait, 3s + 100ms);
  EXPECT_EQ(s.coordination->slot_token, 8);
  EXPECT_TRUE(s.coordination->slot_holders.empty());
  EXPECT_EQ(r.observer.waits.at(0).second, *s.coordination->slot_wait);
  // The slot step's span: the token, what it waited for and how long.
  const exit::StepReport* slot = findStep(s, "coordination_slot");
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(attributeAs<std::string>(*slot, "coordination.service"), "web");
  EXPECT_EQ(attributeAs<std::string>(*slot, "coordination.waited_for"), "exit slot");
  EXPECT_EQ(attributeAs<int64_t>(*slot, "coordination.max_concurrent_exits"), 1);
  EXPECT_EQ(attributeAs<std::string>(*slot, "coordination.result"), "held");
  EXPECT_EQ(attributeAs<int64_t>(*slot, "coordination.slot_token"), 8);
  EXPECT_EQ(attributeAs<int64_t>(*slot, "coordination.waited_ms"),
            std::chrono::duration_cast<std::chrono::milliseconds>(*s.coordination->slot_wait)
                .count());
  EXPECT_FALSE(attributeAs<std::string>(*slot, "coordination.held_by"));  // nobody, once taken
}

TEST(SlotStep, NoFreeSlotEndsInDeadlineNamingTheHoldersAndStillLeavesTimeToDrain) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.hold("web", "w-2", 4);
  backend.hold("web", "w-3", 5);
  ExitRun r{clock, backend, settingsFor("web", "w-1", {}, 2)};
  auto s = r.run();
  EXPECT_EQ(s.outcome, exit::Outcome::kDeadline);
  const exit::StepReport* slot = findStep(s, "coordination_slot");
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(slot->status, exit::StepStatus::kDeadline);
  EXPECT_THAT(slot->detail, HasSubstr("no exit slot of web came free (max_concurrent_exits 2)"));
  EXPECT_THAT(slot->detail, HasSubstr("held by w-2 (token 4), w-3 (token 5)"));
  EXPECT_THAT(s.reason, HasSubstr("coordination_slot"));
  EXPECT_EQ(s.coordination->slot, "deadline");
  // The wait used three quarters of the 23 s Draining budget; the drain
  // still got the last quarter.
  EXPECT_EQ(slot->took, 17250ms);
  EXPECT_EQ(r.drain_given, 23s - 17250ms);
  EXPECT_TRUE(r.keeper.held.empty());
  // The span names the holders too.
  EXPECT_EQ(attributeAs<std::string>(*slot, "coordination.result"), "deadline");
  EXPECT_EQ(attributeAs<std::string>(*slot, "coordination.held_by"),
            "w-2 (token 4), w-3 (token 5)");
  EXPECT_EQ(attributeAs<int64_t>(*slot, "coordination.waited_ms"), 17250);
  EXPECT_FALSE(attributeAs<int64_t>(*slot, "coordination.slot_token"));
}

TEST(SlotStep, UnreachableStoreMeansTheExitGoesOnAfterTheAllowance) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.setDown(true);
  ExitRun r{clock, backend, settingsFor("web", "w-1", {"db"})};
  auto s = r.run();
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);  // coordination is advisory
  const exit::StepReport* slot = findStep(s, "coordination_slot");
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(slot->status, exit::StepStatus::kSkipped);
  EXPECT_THAT(slot->detail, HasSubstr("coordination store unreachable for 5s"));
  EXPECT_THAT(slot->detail, HasSubstr("cannot connect); went on without an exit slot"));
  EXPECT_EQ(slot->took, 5s);
  // The outage is shared: wait_for does not wait another allowance.
  const exit::StepReport* wait = findStep(s, "coordination_wait_for");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->status, exit::StepStatus::kSkipped);
  EXPECT_EQ(wait->took, Duration::zero());
  EXPECT_EQ(s.coordination->slot, "skipped");
  EXPECT_EQ(s.coordination->wait_for_status, "skipped");
  EXPECT_THAT(s.coordination->error, HasSubstr("cannot connect"));
  EXPECT_GT(r.observer.errors, 10);  // every failed poll is counted
  EXPECT_EQ(r.drain_given, 23s - 5s);
}

TEST(WaitForStep, WaitsUntilEveryPodIsTerminatedOrGone) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.put(pod("users", "u-1", "Draining"));
  backend.put(pod("users", "u-2", "Ready"));
  backend.put(pod("other", "o-1", "Ready"));  // not waited for
  backend.at(2s, [&] { backend.put(pod("users", "u-1", "Terminated")); });
  backend.at(4s, [&] { backend.remove("users", "u-2"); });  // its TTL ran out
  ExitRun r{clock, backend, settingsFor("auth", "a-1", {"users"}, 0)};
  nlohmann::json status;
  auto s =
      r.run(3s, [&](exit::ExitEngine& e) { status = nlohmann::json::parse(toJson(e.snapshot())); });
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
  EXPECT_EQ(findStep(s, "coordination_slot"), nullptr);  // max_concurrent_exits 0: no cap
  const exit::StepReport* wait = findStep(s, "coordination_wait_for");
  ASSERT_NE(wait, nullptr);
  EXPECT_THAT(wait->detail, HasSubstr("every pod of users Terminated or gone after 4s"));
  EXPECT_GE(wait->took, 4s);
  EXPECT_LE(wait->took, 4s + 100ms);
  EXPECT_EQ(status["coordination"]["wait_for"]["status"], "waiting") << status;
  EXPECT_EQ(status["coordination"]["wait_for"]["alive"],
            nlohmann::json::array({"users/u-2 (Ready)"}));
  EXPECT_EQ(s.coordination->wait_for_status, "done");
  EXPECT_TRUE(s.coordination->alive.empty());
  ASSERT_EQ(r.observer.waits.size(), 1u);
  EXPECT_EQ(r.observer.waits[0].first, "wait_for");
}

TEST(WaitForStep, NothingRegisteredMeansNoWait) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  ExitRun r{clock, backend, settingsFor("", "a-1", {"users", "billing"})};
  auto s = r.run();
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
  ASSERT_NE(findStep(s, "coordination_wait_for"), nullptr) << "no step coordination_wait_for in the summary";
  EXPECT_EQ(findStep(s, "coordination_wait_for")->took, Duration::zero());
  EXPECT_EQ(findStep(s, "coordination_slot"), nullptr);  // no service: no slot
}

TEST(WaitForStep, DeadlineNamesWhoWasStillAlive) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.put(pod("users", "u-1", "Draining"));
  backend.put(pod("users", "u-2", "Terminated"));
  backend.put(pod("billing", "b-7", "Compensating"));
  ExitRun r{clock, backend, settingsFor("auth", "a-1", {"users", "billing"}, 0)};
  auto s = r.run();
  EXPECT_EQ(s.outcome, exit::Outcome::kDeadline);
  const exit::StepReport* wait = findStep(s, "coordination_wait_for");
  EXPECT_THAT(wait->detail,
              HasSubstr("still alive after waiting 17250ms: users/u-1 (Draining), billing/b-7 "
                        "(Compensating)"));
  EXPECT_THAT(s.reason, HasSubstr("coordination_wait_for: still alive"));
  EXPECT_EQ(s.coordination->wait_for_status, "deadline");
  EXPECT_EQ(r.drain_given, 23s - 17250ms);
}

TEST(WaitForStep, StoreLostMidWaitGoesOnAfterTheAllowance) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.put(pod("users", "u-1", "Draining"));
  backend.at(1s, [&] { backend.setDown(true); });
  ExitRun r{clock, backend, settingsFor("", "a-1", {"users"})};
  auto s = r.run();
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
  const exit::StepReport* wait = findStep(s, "coordination_wait_for");
  EXPECT_EQ(wait->status, exit::StepStatus::kSkipped);
  EXPECT_THAT(wait->detail, HasSubstr("went on without waiting for users"));
  EXPECT_GE(wait->took, 6s);
  EXPECT_LE(wait->took, 6s + 100ms);
  // What it last saw stays in the record.
  EXPECT_EQ(s.coordination->alive, std::vector<std::string>{"users/u-1 (Draining)"});
  // The span: what it waited for, who was alive, the store's error.
  EXPECT_FALSE(attributeAs<std::string>(*wait, "coordination.service"));
  EXPECT_EQ(attributeAs<std::string>(*wait, "coordination.waited_for"), "users");
  EXPECT_EQ(attributeAs<std::string>(*wait, "coordination.result"), "skipped");
  EXPECT_EQ(attributeAs<std::string>(*wait, "coordination.alive"), "users/u-1 (Draining)");
  EXPECT_THAT(attributeAs<std::string>(*wait, "coordination.error").value_or(""),
              HasSubstr("cannot connect"));
  EXPECT_GE(attributeAs<int64_t>(*wait, "coordination.waited_ms").value_or(0), 6000);
}

TEST(WaitForStep, StoreBackWithinTheAllowanceKeepsWaiting) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.put(pod("users", "u-1", "Draining"));
  backend.at(1s, [&] { backend.setDown(true); });
  backend.at(4s, [&] { backend.setDown(false); });
  backend.at(8s, [&] { backend.put(pod("users", "u-1", "Terminated")); });
  ExitRun r{clock, backend, settingsFor("", "a-1", {"users"})};
  auto s = r.run();
  const exit::StepReport* wait = findStep(s, "coordination_wait_for");
  EXPECT_EQ(wait->status, exit::StepStatus::kOk) << wait->detail;
  EXPECT_GE(wait->took, 8s);
  EXPECT_GT(r.observer.errors, 0);
}

TEST(WaitForStep, CycleTheFirstServiceByNameGoesAhead) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.put(pod("b", "b-1", "Draining", {"a"}));
  ExitRun r{clock, backend, settingsFor("a", "a-1", {"b"}, 0)};
  auto s = r.run();
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
  const exit::StepReport* wait = findStep(s, "coordination_wait_for");
  EXPECT_EQ(wait->took, Duration::zero());  // no wait until the budget ends
  EXPECT_THAT(wait->detail, HasSubstr("dependency cycle a -> b -> a: went ahead of b"));
  EXPECT_EQ(s.coordination->cycle, "a -> b -> a");
  EXPECT_EQ(r.observer.cycles, 1);
  // On the span: the cycle as an attribute and an event.
  EXPECT_EQ(attributeAs<std::string>(*wait, "coordination.result"), "done");
  EXPECT_EQ(attributeAs<std::string>(*wait, "coordination.cycle"), "a -> b -> a");
  ASSERT_EQ(wait->events.size(), 1u);
  EXPECT_EQ(wait->events[0].name, "dependency_cycle");
}

TEST(WaitForStep, CycleTheOthersWaitForTheFirstToTerminate) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  backend.put(pod("a", "a-1", "Draining", {"b"}));
  backend.at(2s, [&] { backend.put(pod("a", "a-1", "Terminated", {"b"})); });
  ExitRun r{clock, backend, settingsFor("b", "b-1", {"a"}, 0)};
  auto s = r.run();
  EXPECT_EQ(s.outcome, exit::Outcome::kCompleted);
  const exit::StepReport* wait = findStep(s, "coordination_wait_for");
  EXPECT_GE(wait->took, 2s);
  EXPECT_LE(wait->took, 2s + 100ms);
  EXPECT_THAT(wait->detail, HasSubstr("dependency cycle b -> a -> b: waited for a to go first"));
  EXPECT_EQ(r.observer.cycles, 1);  // reported once, not at every poll
}

TEST(CoordinationTrace, ALongListOfPodsIsCutWithACount) {
  SimulatedClock clock;
  FakeCoordinationBackend backend(clock);
  for (int i = 0; i < 25; ++i) backend.put(pod("users", "u-" + std::to_string(i), "Draining"));
  backend.at(500ms, [&] { backend.setDown(true); });  // ends the wait after the allowance
  ExitRun r{clock, backend, settingsFor("", "a-1", {"users"})};
  auto s = r.run();
  const exit::StepReport* wait = findStep(s, "coordination_wait_for");
  ASSERT_NE(wait, nullptr);
  const std::string alive = attributeAs<std::string>(*wait, "coordination.alive").value_or("");
  EXPECT_THAT(alive, HasSubstr(" and 5 more")) << alive;
}

TEST(FindCycles, FollowsDrainingPodsTransitively) {
  RegistryView view{{"b", {pod("b", "b-1", "Draining", {"c"})}},
                    {"c", {pod("c", "c-1", "Draining", {"d", "a"})}},
                    {"d", {pod("d", "d-1", "Draining", {"a"})}}};
  auto cycles = findCycles("a", {"b"}, view);
  ASSERT_EQ(cycles.size(), 1u);
  EXPECT_THAT(cycles["b"], ElementsAre("a", "b", "c", "a"));  // the shortest way back
  // Only Draining pods wait: a Ready pod's wait_for is no edge yet.
  view["c"][0].state = "Ready";
  EXPECT_TRUE(findCycles("a", {"b"}, view).empty());
  // A pod that only waits (no service) can be on no cycle.
  EXPECT_TRUE(findCycles("", {"b"}, view).empty());
}

TEST(Settings, OutageAllowanceAndPollFollowTheBudgetAndHeartbeat) {
  config::Config c;
  c.coordination.heartbeat = 50ms;
  Settings s = Settings::from(c, "p");
  EXPECT_EQ(s.outage_allowance, 5s);  // default Draining budget 23 s: a quarter is 5.75 s
  EXPECT_EQ(s.poll, 50ms);
  EXPECT_EQ(s.ttl(), 150ms);
  c.exit = config::ExitConfig{10s, 1s, 3s};  // Draining budget 6 s
  EXPECT_EQ(Settings::from(c, "p").outage_allowance, 1500ms);
}

// --- the registry thread -------------------------------------------------

TEST(Registry, RegistersAtStartAtEveryTransitionAndEveryHeartbeat) {
  SimulatedClock clock;
  RecordingCoordinationObserver observer;
  auto owned = std::make_unique<FakeCoordinationBackend>(clock);
  FakeCoordinationBackend& store = *owned;
  Registry registry(clock, std::move(owned), settingsFor("web", "w-1", {"db"}), observer);
  registry.start();
  ASSERT_TRUE(testing::waitUntil([&] { return store.calls("publish") >= 1; }, 10s));
  EXPECT_EQ(store.published()[0].state, "Ready");
  EXPECT_EQ(store.published()[0].wait_for, std::vector<std::string>{"db"});
  // A transition is written at once, without waiting for the next beat.
  registry.onTransition(exit::State::kReady, exit::State::kDraining);
  ASSERT_TRUE(
      testing::waitUntil([&] { return store.published().back().state == "Draining"; }, 10s));
  // The next beat comes when simulated time reaches it.
  const int before = store.calls("publish");
  clock.advance(1s);
  ASSERT_TRUE(testing::waitUntil([&] { return store.calls("publish") > before; }, 10s));
  registry.stop();
}

TEST(Registry, RenewsTheSlotEveryBeatAndReleasesItAtTerminated) {
  SimulatedClock clock;
  RecordingCoordinationObserver observer;
  auto owned = std::make_unique<FakeCoordinationBackend>(clock);
  FakeCoordinationBackend& store = *owned;
  Settings settings = settingsFor("web", "w-1");
  auto first = store.acquireSlot("web", "w-1", 1, settings.ttl());
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->acquired);
  Registry registry(clock, std::move(owned), settings, observer);
  registry.start();
  registry.holdSlot(1);
  ASSERT_TRUE(testing::waitUntil([&] { return store.calls("renew") >= 1; }, 10s));
  EXPECT_EQ(store.published().back().slot, 1);
  // Ten heartbeats later the lease (TTL 3 s) still holds: it was renewed.
  for (int i = 0; i < 10; ++i) {
    const int renewed = store.calls("renew");
    clock.advance(1s);
    ASSERT_TRUE(testing::waitUntil([&] { return store.calls("renew") > renewed; }, 10s));
  }
  EXPECT_EQ(store.holders("web").count("w-1"), 1u);
  registry.onTransition(exit::State::kCompensating, exit::State::kTerminated);
  ASSERT_TRUE(testing::waitUntil([&] { return store.calls("release") == 1; }, 10s));
  EXPECT_TRUE(store.holders("web").empty());
  registry.stop();
  EXPECT_EQ(store.published().back().state, "Terminated");
  EXPECT_FALSE(store.published().back().slot);
  EXPECT_EQ(observer.errors, 0);
}

TEST(Registry, StopsPromptlyAndRetriesAFailingStoreEveryBeat) {
  SimulatedClock clock;
  RecordingCoordinationObserver observer;
  auto owned = std::make_unique<FakeCoordinationBackend>(clock);
  FakeCoordinationBackend& store = *owned;
  store.setDown(true);
  Settings settings = settingsFor("web", "w-1");
  settings.heartbeat = 1h;  // stop() must not wait for the next beat
  Registry registry(clock, std::move(owned), settings, observer);
  registry.start();
  ASSERT_TRUE(testing::waitUntil([&] { return observer.errors >= 1; }, 10s));
  clock.advance(1h);
  ASSERT_TRUE(testing::waitUntil([&] { return observer.errors >= 2; }, 10s));
  store.setDown(false);
  registry.stop();  // writes the last state on the way out
  EXPECT_EQ(store.calls("publish"), 3);
  EXPECT_EQ(store.published().size(), 1u);
}

// --- the Redis store -----------------------------------------------------

class RedisStore : public ::testing::Test {
 protected:
  testing::RedisServer redis;
  RedisBackend backend{redis.config(2000ms)};
};

TEST_F(RedisStore, RegistrationIsListedAndDisappearsAfterItsTtl) {
  PodRecord me{"users", "u-1", "Draining", {"db", "cache"}, "2026-01-01T00:00:00.000Z", 4};
  // Long enough to outlive the checks below on a loaded machine; the wait
  // for its expiry allows 10 s.
  ASSERT_TRUE(backend.publish(me, 2s));
  ASSERT_TRUE(backend.publish(PodRecord{"users", "u-2", "Ready", {}, "", std::nullopt}, 1h));
  auto pods = backend.pods("users");
  ASSERT_TRUE(pods) << pods.error().message;
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0].pod, "u-1");
  EXPECT_EQ((*pods)[0].state, "Draining");
  EXPECT_EQ((*pods)[0].wait_for, (std::vector<std::string>{"db", "cache"}));
  EXPECT_EQ((*pods)[0].slot, 4);
  EXPECT_EQ((*pods)[1].wait_for, std::vector<std::string>{});
  EXPECT_FALSE((*pods)[1].slot);
  // The documented layout.
  EXPECT_THAT(redis.cli({"HGET", "lameduck:coord:{users}:pod:u-1", "state"}),
              HasSubstr("Draining"));
  EXPECT_THAT(redis.cli({"ZSCORE", "lameduck:coord:{users}:pods", "u-2"}),
              ::testing::Not(HasSubstr("nil")));
  // u-1 stops refreshing: gone after its TTL, from the list and the index.
  ASSERT_TRUE(testing::waitUntil(
      [&] {
        auto p = backend.pods("users");
        return p && p->size() == 1;
      },
      10s));
  auto users = backend.pods("users");
  ASSERT_TRUE(users) << users.error().message;
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ(users->at(0).pod, "u-2");
  EXPECT_THAT(redis.cli({"ZCARD", "lameduck:coord:{users}:pods"}), HasSubstr("1"));
  auto nobody = backend.pods("nobody");
  ASSERT_TRUE(nobody) << nobody.error().message;
  EXPECT_TRUE(nobody->empty());
}

TEST_F(RedisStore, SlotsAreCappedAndFencingTokensOnlyGrow) {
  auto a = backend.acquireSlot("web", "w-a", 2, 1h);
  auto b = backend.acquireSlot("web", "w-b", 2, 1h);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->acquired && b->acquired);
  EXPECT_LT(a->token, b->token);
  auto c = backend.acquireSlot("web", "w-c", 2, 1h);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->acquired);
  EXPECT_THAT(c->holders, ElementsAre("w-a (token " + std::to_string(a->token) + ")",
                                      "w-b (token " + std::to_string(b->token) + ")"));
  // A retried request (its answer was lost) gets the same slot back.
  auto again = backend.acquireSlot("web", "w-a", 2, 1h);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->acquired);
  EXPECT_EQ(again->token, a->token);
  // A stale token releases nothing; the right one does.
  ASSERT_TRUE(backend.releaseSlot("web", "w-a", a->token + 100));
  auto still_full = backend.acquireSlot("web", "w-c", 2, 1h);
  ASSERT_TRUE(still_full) << still_full.error().message;
  EXPECT_FALSE(still_full->acquired);
  ASSERT_TRUE(backend.releaseSlot("web", "w-a", a->token));
  auto c2 = backend.acquireSlot("web", "w-c", 2, 1h);
  ASSERT_TRUE(c2) << c2.error().message;
  EXPECT_TRUE(c2->acquired);
  EXPECT_GT(c2->token, b->token);
  auto renewed = backend.renewSlot("web", "w-c", c2->token, 1h);
  ASSERT_TRUE(renewed) << renewed.error().message;
  EXPECT_TRUE(*renewed);
  auto lost = backend.renewSlot("web", "w-a", a->token, 1h);
  ASSERT_TRUE(lost) << lost.error().message;
  EXPECT_FALSE(*lost);  // released: lost
  // Other services have slots of their own.
  auto db = backend.acquireSlot("db", "d-1", 1, 1h);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_TRUE(db->acquired);
}

TEST_F(RedisStore, ACrashedHoldersLeaseExpiresAndCannotBeRenewedAfter) {
  auto a = backend.acquireSlot("web", "w-a", 1, 2s);  // outlives the next line
  ASSERT_TRUE(a && a->acquired);
  auto refused = backend.acquireSlot("web", "w-b", 1, 1h);
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_FALSE(refused->acquired);
  Result<SlotAttempt> b = SlotAttempt{};
  ASSERT_TRUE(testing::waitUntil(
      [&] {
        b = backend.acquireSlot("web", "w-b", 1, 1h);
        return b && b->acquired;
      },
      10s, 50ms));
  EXPECT_GT(b->token, a->token);
  auto renewed = backend.renewSlot("web", "w-a", a->token, 1h);
  ASSERT_TRUE(renewed) << renewed.error().message;
  EXPECT_FALSE(*renewed);
}

TEST_F(RedisStore, UnreachableRedisIsAnUnavailableError) {
  redis.kill();
  auto pods = backend.pods("users");
  ASSERT_FALSE(pods);
  EXPECT_EQ(pods.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(backend.publish(PodRecord{"users", "u-1", "Ready", {}, "", std::nullopt}, 1s));
  // Back again: the next call reconnects.
  ASSERT_TRUE(redis.start());
  EXPECT_TRUE(backend.pods("users"));
}

TEST(RedisReplies, ScriptAnswersAreReadFromRespAndAnythingElseIsRefusedWithAMessage) {
  auto pods = redis::parseReply(
      "*2\r\n*4\r\n$3\r\npod\r\n$5\r\npod-b\r\n$4\r\nslot\r\n$2\r\nxx\r\n"
      "*6\r\n$3\r\npod\r\n$5\r\npod-a\r\n$8\r\nwait_for\r\n$5\r\nx,,yz\r\n"
      "$4\r\nslot\r\n$1\r\n7\r\n");
  ASSERT_TRUE(pods.has_value()) << pods.error().message;
  auto read = podsFromReply(*pods);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].pod, "pod-a");  // sorted
  EXPECT_THAT((*read)[0].wait_for, ElementsAre("x", "yz"));
  EXPECT_EQ((*read)[0].slot, 7);
  EXPECT_FALSE((*read)[1].slot.has_value());  // "xx" is no token

  auto taken = redis::parseReply("*2\r\n:1\r\n:42\r\n");
  ASSERT_TRUE(taken.has_value());
  auto slot = slotAttemptFromReply(*taken);
  ASSERT_TRUE(slot.has_value());
  EXPECT_TRUE(slot->acquired);
  EXPECT_EQ(slot->token, 42);

  auto status = redis::parseReply("+OK\r\n");
  ASSERT_TRUE(status.has_value());
  EXPECT_THAT(podsFromReply(*status).error().message,
              HasSubstr("Redis answered a pod list with something unexpected"));
  EXPECT_FALSE(slotAttemptFromReply(*status).has_value());
  EXPECT_FALSE(renewalFromReply(*status).has_value());

  EXPECT_FALSE(redis::parseReply("*2\r\n:1\r\n").has_value());     // cut off
  EXPECT_FALSE(redis::parseReply(":1\r\n:2\r\n").has_value());     // bytes follow
  EXPECT_FALSE(redis::parseReply("?garbage\r\n").has_value());     // not RESP
}

TEST(RedisReplies, AReplyOverTheBoundsIsRefusedBeforeItIsAllocated) {
  // hiredis would allocate 3.6 GB for this array's element table at once.
  auto huge = redis::parseReply("*455555555\r\n:1\r\n");
  ASSERT_FALSE(huge.has_value());
  EXPECT_THAT(huge.error().message, HasSubstr("over lameduck's bounds"));
  // Every array under the element bound, but too many values in all.
  std::string many = "*3\r\n";
  for (int i = 0; i < 3; ++i) {
    many += "*" + std::to_string(redis::kMaxReplyElements) + "\r\n";
    for (int j = 0; j < redis::kMaxReplyElements; ++j) many += ":1\r\n";
  }
  auto refused = redis::parseReply(many);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().message, HasSubstr("over lameduck's bounds"));
  // The largest array allowed is read.
  std::string largest = "*" + std::to_string(redis::kMaxReplyElements) + "\r\n";
  for (int j = 0; j < redis::kMaxReplyElements; ++j) largest += ":1\r\n";
  auto read = redis::parseReply(largest);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_EQ(read->elements.size(), static_cast<size_t>(redis::kMaxReplyElements));
}

// A server that answers every command with `answer` (then `tail`, once).
class HostileRedis {
 public:
  HostileRedis(std::string answer, size_t tail_bytes)
      : answer_(std::move(answer)), tail_bytes_(tail_bytes) {
    fd_ = testing::listenOnLoopback(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~HostileRedis() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    if (::recv(c, buf, sizeof buf, 0) > 0) {
      (void)!::send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
      const std::string chunk(64 * 1024, 'x');
      for (size_t sent = 0; sent < tail_bytes_; sent += chunk.size()) {
        if (::send(c, chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0) break;
      }
    }
    ::close(c);
  }
  std::string answer_;
  size_t tail_bytes_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(RedisReplies, TheClientRefusesAHostileServersHugeReplyWithAMessage) {
  for (auto [answer, tail] : {std::pair<std::string, size_t>{"*455555555\r\n", 0},
                              std::pair<std::string, size_t>{"$100000000\r\n", 20u << 20}}) {
    HostileRedis server(answer, tail);
    config::RedisConfig cfg;
    cfg.address = config::RedisAddress{"127.0.0.1", static_cast<uint16_t>(server.port()), ""};
    cfg.timeout = 10s;
    auto client = redis::RedisClient::connect(cfg);
    ASSERT_TRUE(client.has_value()) << client.error().message;
    auto r = (*client)->command({"PING"});
    ASSERT_FALSE(r.has_value()) << answer;
    EXPECT_EQ(r.error().code, ErrorCode::kBadResponse) << r.error().message;
    EXPECT_THAT(r.error().message, HasSubstr("PING got a reply over lameduck's bounds"));
    EXPECT_TRUE((*client)->broken());
  }
}

}  // namespace
}  // namespace lameduck::coord
