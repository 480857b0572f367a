// Every branch of the hand-off in simulated time, over fakes with failure
// switches: the app (pages, failing fetches and acks), the stream (down,
// cut off mid-write, refusing, wrong password) and the spool's file system
// (full disk, failing fsync). The rule under test everywhere: an id is acked
// only once it is in the stream or fsync'd in the spool, and never twice in
// the stream.
//
// Each branch of src/saga/handoff.cpp and its test:
// - Redis attempts: down, backoff, then the spool (RedisDownMeansSpool...);
//   backoff capped at 1 s (TheBackoff...StopsGrowingAtOneSecond); not retried
//   on kPermissionDenied (AWrongPassword...) or kInvalidArgument
//   (AnInvalidRedisSetting...); write cut off and retried (...IsRetried
//   WithoutDuplicates) or the rest spooled (...SpoolsTheRestAndAcksAll);
//   refused until the slice for the spool (RedisRefusingWrites...); already
//   there (Duplicates...); no time left at all (NoTimeLeftForRedis...).
// - Pages and chunks: rejected entries (Rejected..., ManyRejected...); an app
//   that does not page (AnAppThatIgnoresPaging...) and a chunk of it failing
//   (AnAppThatDoesNotPageStopsAtTheChunk...); page size 0 (PageSizeZero...);
//   no Redis configured (NoRedisConfigured..., WithoutRedis...).
// - Spool fails (SpoolWriteFails..., SpoolFsyncFails..., WhenTheSpoolFails...);
//   ack fails after the stream (AckFailsTheRecordsStayDurable...) or the spool
//   (AckFailingAfterTheSpoolTookThem...).
// - Paging: first fetch fails or times out (TheFirstFetchFailing...); a later
//   one (ALaterPageFailing..., ALaterPageTimingOut...); a cursor that does not
//   move (ACursorThatDoesNotMove...) or an empty page naming one
//   (AnEmptyPageNamingANextCursor...); the phase ending (RunningOutOfTime...).
// - The step: counts and events (HandoffTrace.*) for ok, failed, deadline and
//   nothing-fetched runs.
// - replaySpool: all, cut off, connection closed between batches, Redis down,
//   spool unreadable, no Redis configured (Replay.*).

#include "saga/handoff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exit/engine.h"
#include "fakes/exit.h"
#include "fakes/ids.h"
#include "fakes/saga.h"

namespace lameduck::saga {
namespace {

using namespace std::chrono_literals;
using fakes::FakeAppClient;
using fakes::FakeStreamConnector;
using fakes::makeCompensations;
using fakes::MemorySpoolFiles;
using fakes::RecordingHandoffObserver;
using ::testing::HasSubstr;

// One exit's world: app, stream, spool, clock.
struct World {
  SimulatedClock clock;
  FakeAppClient app;
  FakeStreamConnector stream;
  MemorySpoolFiles files;
  Spool spool{"/spool", files};
  RecordingHandoffObserver observer;
  HandoffOptions options;
  bool with_redis = true;
  Duration app_timeout = 2s;  // the app calls' own timeout
  exit::Summary summary;      // of the last runStep()

  explicit World(int n, HandoffOptions o = {}) : World(makeCompensations(n), o) {}
  explicit World(std::vector<app::Compensation> entries, HandoffOptions o = {})
      : app(std::move(entries)), options(o) {
    stream.clock = &clock;
    app.clock = &clock;
  }

  HandoffResult run(Duration budget = 10s) { return run(stream, budget); }
  HandoffResult run(StreamConnector& connector, Duration budget = 10s) {
    CompensationHandoff h(app, app_timeout, with_redis ? &connector : nullptr,
                          Origin{"shop", "prod", "shop-1", "7"}, spool, observer, options);
    return h.run({clock, clock.now() + budget, ""});
  }
  // The hand-off as the only step of an exit; returns the step's report
  // (its span: attributes and events).
  exit::StepReport runStep() {
    exit::ExitPlan plan;
    plan.compensating.push_back(std::make_unique<CompensationHandoffStep>(
        app, app_timeout, with_redis ? &stream : nullptr, Origin{"shop", "prod", "shop-1", "7"},
        spool, observer, options));
    fakes::RecordingObserver recorded;
    exit::ExitEngine engine(clock, exit::Budget{30s, 2s, 5s}, std::move(plan), recorded);
    engine.trigger("test");
    summary = engine.await();
    const exit::StepReport* r = fakes::findStep(summary, "compensation_handoff");
    EXPECT_TRUE(r);
    return r ? *r : exit::StepReport{};
  }
  std::set<std::string> spooledIds() {
    std::set<std::string> ids;
    auto c = spool.read();
    EXPECT_TRUE(c);
    if (c) {
      for (const auto& r : c->records) ids.insert(r.id);
    }
    return ids;
  }
  // At every ack: each acked id is in the stream or the spool already.
  void checkDurabilityAtEachAck() {
    app.on_ack = [this](const std::vector<std::string>& ids) {
      std::set<std::string> spooled = spooledIds();
      for (const std::string& id : ids) {
        EXPECT_TRUE(stream.has(id) || spooled.count(id)) << id << " acked before it was durable";
      }
    };
  }
};

TEST(Handoff, PagesGoToTheStreamAndEachPageIsAckedOnceDurable) {
  World w(2500, {.page_size = 1000});
  w.checkDurabilityAtEachAck();
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.pages, 3);
  EXPECT_EQ(r.report.pending, 2500);
  EXPECT_EQ(r.report.written, 2500);
  EXPECT_EQ(r.report.acked, 2500);
  EXPECT_EQ(w.app.ackCalls(), 3);  // one ack per page
  EXPECT_EQ(w.app.largestPage(), 1000u);
  auto requests = w.app.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_FALSE(requests[0].after);
  EXPECT_EQ(requests[0].limit, 1000);
  EXPECT_EQ(requests[1].after, "999");
  fakes::expectEveryIdOnce(w.stream.entries(), 2500);
  EXPECT_EQ(w.observer.written("redis"), 2500);
  EXPECT_EQ(w.app.acked().size(), 2500u);
}

TEST(Handoff, AnAppThatIgnoresPagingAnswersEverythingOnceAndStillWorks) {
  World w(2500, {.page_size = 1000});
  w.app.pages = false;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.pages, 1);
  EXPECT_EQ(w.app.requests().size(), 1u);
  EXPECT_EQ(r.report.acked, 2500);
  // Handed off and acked a page's worth at a time all the same.
  EXPECT_EQ(w.app.ackCalls(), 3);
  EXPECT_EQ(w.stream.writes(), 3);
  fakes::expectEveryIdOnce(w.stream.entries(), 2500);
}

TEST(Handoff, RedisDownMeansSpoolThenAckAndLaterPagesSkipRedis) {
  World w(300, {.page_size = 100});
  w.stream.down = true;
  w.checkDurabilityAtEachAck();
  const TimePoint t0 = w.clock.now();
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.spooled, 300);
  EXPECT_EQ(r.report.acked, 300);
  EXPECT_EQ(r.report.written, 0);
  // Four attempts with backoff 100 + 200 + 400 ms on the first page, none
  // for the next two.
  EXPECT_EQ(w.stream.connects(), 4);
  EXPECT_EQ(w.clock.now() - t0, 700ms);
  EXPECT_EQ(w.spooledIds().size(), 300u);
  EXPECT_EQ(w.observer.written("spool"), 300);
  EXPECT_EQ(w.observer.failures("unavailable"), 4);
  EXPECT_EQ(w.observer.spoolSize(), 300);
}

TEST(Handoff, NoRedisConfiguredMeansTheSpoolIsTheSink) {
  World w(50);
  w.with_redis = false;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.spooled, 50);
  EXPECT_EQ(r.report.acked, 50);
  EXPECT_EQ(w.stream.connects(), 0);
}

TEST(Handoff, AStreamWriteCutOffPartWaySpoolsTheRestAndAcksAll) {
  World w(100);
  w.stream.cut_next_write_after = 40;
  w.checkDurabilityAtEachAck();
  w.stream.down_after_connects = 1;  // Redis answers one connection and then is gone
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.written, 40);
  EXPECT_EQ(r.report.spooled, 60);
  EXPECT_EQ(r.report.acked, 100);
  fakes::expectEveryIdOnce(w.stream.entries(), 40);
  std::set<std::string> spooled = w.spooledIds();
  EXPECT_EQ(spooled.size(), 60u);
  EXPECT_TRUE(spooled.count("c-40"));
  EXPECT_FALSE(spooled.count("c-39"));
}

TEST(Handoff, AStreamWriteCutOffPartWayIsRetriedWithoutDuplicates) {
  World w(100);
  w.stream.cut_next_write_after = 40;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.written, 100);
  EXPECT_EQ(r.report.spooled, 0);
  EXPECT_EQ(w.stream.connects(), 2);
  fakes::expectEveryIdOnce(w.stream.entries(), 100);
}

TEST(Handoff, SpoolWriteFailsNothingOfItIsAcked) {
  World w(100);
  w.stream.down = true;
  w.files.capacity = 500;  // a few records fit, then the disk is full
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_THAT(r.detail, HasSubstr("100 not durable and not acked"));
  EXPECT_THAT(r.detail, HasSubstr("No space left on device"));
  EXPECT_EQ(r.report.acked, 0);
  EXPECT_EQ(w.app.ackCalls(), 0);
  // The failed append was cut back: nothing half-written stays behind.
  EXPECT_EQ(w.files.content(w.spool.path()), "");
  EXPECT_EQ(w.observer.failures("spool"), 1);
}

TEST(Handoff, SpoolFsyncFailsNothingOfItIsAcked) {
  World w(10);
  w.with_redis = false;
  w.files.fail_sync = true;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_THAT(r.detail, HasSubstr("cannot fsync"));
  EXPECT_EQ(w.app.ackCalls(), 0);
  EXPECT_EQ(w.files.content(w.spool.path()), "");
}

TEST(Handoff, WhenTheSpoolFailsOnlyWhatTheStreamConfirmedIsAcked) {
  World w(100);
  w.stream.cut_next_write_after = 30;
  w.files.capacity = 0;
  w.stream.down_after_connects = 1;  // Redis answers one connection and then is gone
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_EQ(r.report.acked, 30);
  auto acked = w.app.acked();
  ASSERT_EQ(acked.size(), 30u);
  for (const std::string& id : acked) EXPECT_TRUE(w.stream.has(id)) << id;
}

TEST(Handoff, AckFailsTheRecordsStayDurableAndPagingStops) {
  World w(250, {.page_size = 100});
  w.app.ack_error = ErrorCode::kUnavailable;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_THAT(r.detail, HasSubstr("ack failed"));
  EXPECT_EQ(r.report.acked, 0);
  EXPECT_EQ(w.app.requests().size(), 1u);  // no second page after a failed ack
  fakes::expectEveryIdOnce(w.stream.entries(), 100);
  // The app offers them again at the next exit: the stream deduplicates.
  w.app.ack_error.reset();
  HandoffResult again = w.run();
  EXPECT_EQ(again.verdict, HandoffResult::Verdict::kOk) << again.detail;
  EXPECT_EQ(again.report.duplicates, 100);
  EXPECT_EQ(again.report.written, 150);
  fakes::expectEveryIdOnce(w.stream.entries(), 250);
}

TEST(Handoff, DuplicatesAreConfirmedAckedAndNotWrittenTwice) {
  World w(20);
  {
    auto sink = w.stream.connect(1s);
    ASSERT_TRUE(sink);
    std::vector<CompensationRecord> some = fakes::makeRecords(5);
    ASSERT_FALSE((*sink)->write(some).error);
  }
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.duplicates, 5);
  EXPECT_EQ(r.report.written, 15);
  EXPECT_EQ(r.report.acked, 20);
  fakes::expectEveryIdOnce(w.stream.entries(), 20);
}

TEST(Handoff, RejectedEntriesAreReportedCountedAndNeverAcked) {
  World w(3);
  w.app.rejected = {"entry 3: missing or empty id", "entry 4: saga_id must be a string"};
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.rejected, 2);
  EXPECT_EQ(r.report.pending, 3);
  EXPECT_EQ(r.report.acked, 3);
  EXPECT_THAT(r.report.rejected_reasons,
              ::testing::ElementsAre(HasSubstr("missing or empty id"), HasSubstr("saga_id")));
  EXPECT_THAT(r.detail, HasSubstr("first rejected: entry 3"));
  EXPECT_EQ(w.observer.failures("rejected"), 2);
  EXPECT_THAT(toJson(r.report), HasSubstr("\"rejected\":2"));
}

TEST(Handoff, ManyRejectedKeepABoundedListOfReasons) {
  World w(0);
  for (int i = 0; i < 1000; ++i) w.app.rejected.push_back("entry " + std::to_string(i));
  HandoffResult r = w.run();
  EXPECT_EQ(r.report.rejected, 1000);
  EXPECT_EQ(r.report.rejected_reasons.size(), CompensationReport::kMaxRejectedReasons);
}

// 100,000 refused entries cost a counter: ten audit lines of their own and
// one summary line, not one line each.
TEST(Handoff, AFloodOfRejectedEntriesLogsAFewAndOneSummary) {
  World w(3);
  for (size_t i = 0; i < app::kMaxRejectedListed; ++i) {
    w.app.rejected.push_back("entry " + std::to_string(i) + ": not a JSON object");
  }
  w.app.rejected_unlisted = 100'000 - app::kMaxRejectedListed;
  ::testing::internal::CaptureStdout();
  HandoffResult r = w.run();
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(r.report.rejected, 100'000);
  EXPECT_EQ(r.report.acked, 3);
  EXPECT_EQ(w.observer.failures("rejected"), 100'000);
  size_t one_by_one = 0;
  size_t summaries = 0;
  const std::string each = "\"event\":\"compensation_rejected\"";
  const std::string summary = "\"event\":\"compensations_rejected\"";
  for (size_t at = 0; (at = out.find(each, at)) != std::string::npos; ++at) {
    ++one_by_one;
  }
  for (size_t at = 0; (at = out.find(summary, at)) != std::string::npos; ++at) {
    ++summaries;
  }
  EXPECT_EQ(one_by_one, 10u) << out.substr(0, 2000);
  EXPECT_EQ(summaries, 1u);
  EXPECT_NE(out.find("\"count\":100000"), std::string::npos);
  EXPECT_NE(out.find("entry 9: not a JSON object"), std::string::npos);
  EXPECT_EQ(out.find("entry 10: not a JSON object"), std::string::npos);
}

TEST(Handoff, TheFirstFetchFailingLeavesEverythingWithTheApp) {
  World w(10);
  w.app.fetch_error = ErrorCode::kUnavailable;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_FALSE(r.fetched);
  EXPECT_EQ(w.stream.writes(), 0);
  w.app.fetch_error = ErrorCode::kDeadlineExceeded;
  EXPECT_EQ(w.run().verdict, HandoffResult::Verdict::kDeadline);
}

TEST(Handoff, ALaterPageFailingKeepsWhatWasHandedAndSaysSo) {
  World w(250, {.page_size = 100});
  w.app.fail_fetch_of_page = 2;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_THAT(r.detail, HasSubstr("fetching page 2 failed"));
  EXPECT_EQ(r.report.acked, 100);
  fakes::expectEveryIdOnce(w.stream.entries(), 100);
}

TEST(Handoff, ACursorThatDoesNotMoveStopsTheLoop) {
  World w(250, {.page_size = 100});
  w.app.stuck_cursor = "same";
  ::testing::internal::CaptureStdout();
  HandoffResult r = w.run();
  const std::string logged = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(w.app.requests().size(), 2u);
  EXPECT_EQ(r.report.pages, 2);
  // What the app may still hold was not handed off: a failed hand-off.
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed) << r.detail;
  EXPECT_THAT(r.detail, HasSubstr("named a next page without moving on"));
  EXPECT_EQ(r.report.acked, 200);  // both pages it did get are durable and acked
  fakes::expectEveryIdOnce(w.stream.entries(), 200);
  EXPECT_THAT(logged, HasSubstr("the app named a next page without moving on"));
}

TEST(Handoff, RunningOutOfTimeBetweenPagesIsADeadlineAndTheAppKeepsTheRest) {
  World w(500, {.page_size = 100});
  w.app.fetch_takes = 3s;
  HandoffResult r = w.run(5s);
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kDeadline) << r.detail;
  EXPECT_EQ(r.report.acked, 200);
  EXPECT_THAT(r.detail, HasSubstr("the app still holds the rest"));
  // Page 2 came back after the deadline: no time left for Redis, so the
  // spool took it (NoTimeLeftForRedisSpoolsAtOnce has the details).
  EXPECT_EQ(r.report.written, 100);
  EXPECT_EQ(r.report.spooled, 100);
}

// Redis failing in a way that retrying cannot fix (credentials,
// configuration): one attempt, no backoff, and the spool takes the 5 entries
// of `w`, which are then acked.
void expectTriedOnceThenSpooled(World& w, const std::string& failure_reason) {
  const TimePoint t0 = w.clock.now();
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(w.stream.connects(), 1);
  EXPECT_EQ(w.clock.now() - t0, 0s);
  EXPECT_EQ(r.report.written, 0);
  EXPECT_EQ(r.report.spooled, 5);
  EXPECT_EQ(r.report.acked, 5);
  EXPECT_EQ(w.spooledIds().size(), 5u);
  EXPECT_EQ(w.observer.failures(failure_reason), 1);
}

TEST(Handoff, AWrongPasswordIsTriedOnceThenSpools) {
  World w(5);
  w.stream.wrong_password = true;
  expectTriedOnceThenSpooled(w, "auth");
}

TEST(Handoff, AnInvalidRedisSettingIsTriedOnceThenSpools) {
  World w(5);
  w.stream.connect_error = ErrorCode::kInvalidArgument;
  expectTriedOnceThenSpooled(w, "other");
}

TEST(Handoff, RedisRefusingWritesSpoolsWithinTheBudget) {
  World w(5);
  w.stream.refuse_writes = true;
  w.stream.write_takes = 2s;
  const TimePoint t0 = w.clock.now();
  HandoffResult r = w.run(4s);
  EXPECT_EQ(r.report.spooled, 5);
  EXPECT_EQ(r.report.acked, 5);
  EXPECT_LE(w.clock.now() - t0, 4s + 2s);  // at most one write past the slice
}

TEST(Handoff, TheBackoffBetweenRedisAttemptsStopsGrowingAtOneSecond) {
  World w(10, {.page_size = 1000, .redis_attempts = 7});
  w.stream.down = true;
  const TimePoint t0 = w.clock.now();
  HandoffResult r = w.run(60s);
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  EXPECT_EQ(w.stream.connects(), 7);
  // 100 + 200 + 400 + 800 ms, then 1 s twice (not 1.6 and 3.2 s).
  EXPECT_EQ(w.clock.now() - t0, 3500ms);
  EXPECT_EQ(r.report.spooled, 10);
  EXPECT_EQ(r.report.acked, 10);
  EXPECT_EQ(w.observer.failures("unavailable"), 7);
}

// The first page comes back right at the deadline: Redis is not even tried,
// the spool takes the page, and the ack (no time left for it) fails, so the
// records stay durable in the spool and unacked at the app.
TEST(Handoff, NoTimeLeftForRedisSpoolsAtOnce) {
  World w(20);
  w.app.honours_timeout = true;
  w.app.fetch_takes = 2s;
  ::testing::internal::CaptureStdout();
  HandoffResult r = w.run(2s);
  const std::string logged = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(w.stream.connects(), 0);
  EXPECT_EQ(r.report.written, 0);
  EXPECT_EQ(r.report.spooled, 20);
  EXPECT_EQ(w.spooledIds().size(), 20u);
  EXPECT_THAT(logged, HasSubstr("compensations spooled because Redis did not take them"));
  EXPECT_THAT(logged, HasSubstr("no time left for Redis"));
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_THAT(r.detail, HasSubstr("ack failed"));
  EXPECT_THAT(r.detail, HasSubstr("no answer to the ack within 0 ms"));
  EXPECT_EQ(w.app.ackCalls(), 1);
  EXPECT_EQ(r.report.acked, 0);
  EXPECT_TRUE(w.app.acked().empty());
}

TEST(Handoff, ALaterPageTimingOutIsADeadlineAndKeepsWhatWasHanded) {
  World w(250, {.page_size = 100});
  w.app.fail_fetch_of_page = 2;
  w.app.fail_fetch_code = ErrorCode::kDeadlineExceeded;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kDeadline) << r.detail;
  EXPECT_TRUE(r.fetched);
  EXPECT_THAT(r.detail, HasSubstr("fetching page 2 failed (the app still holds the rest)"));
  EXPECT_EQ(r.report.pages, 1);
  EXPECT_EQ(r.report.acked, 100);
  EXPECT_EQ(w.app.acked().front(), "c-0");
  EXPECT_EQ(w.app.acked().back(), "c-99");
  fakes::expectEveryIdOnce(w.stream.entries(), 100);
  EXPECT_FALSE(w.files.fileExists(w.spool.path()));

  // The same through the app's own timeout: page 2 is asked for with the 2 s
  // the phase has left and would take 3.
  World slow(250, {.page_size = 100});
  slow.app_timeout = 5s;
  slow.app.honours_timeout = true;
  slow.app.fetch_takes = 3s;
  HandoffResult late = slow.run(5s);
  EXPECT_EQ(late.verdict, HandoffResult::Verdict::kDeadline) << late.detail;
  EXPECT_THAT(late.detail, HasSubstr("no answer to the compensations fetch within 2000 ms"));
  EXPECT_EQ(late.report.acked, 100);
  fakes::expectEveryIdOnce(slow.stream.entries(), 100);
}

// An empty page that names a next cursor would loop until the deadline: the
// hand-off stops there with what it handed off, logs why, and fails (the app
// may still hold the rest).
TEST(Handoff, AnEmptyPageNamingANextCursorStopsTheLoop) {
  World w(250, {.page_size = 100});
  w.app.empty_page_with_next = 2;
  ::testing::internal::CaptureStdout();
  HandoffResult r = w.run();
  const std::string logged = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed) << r.detail;
  EXPECT_THAT(r.detail, HasSubstr("named a next page without moving on"));
  EXPECT_EQ(w.app.requests().size(), 2u);
  EXPECT_EQ(r.report.pages, 2);
  EXPECT_EQ(r.report.acked, 100);
  EXPECT_EQ(w.app.ackCalls(), 1);  // the empty page acks nothing
  fakes::expectEveryIdOnce(w.stream.entries(), 100);
  EXPECT_THAT(logged, HasSubstr("the app named a next page without moving on"));
  EXPECT_THAT(logged, HasSubstr("skip-2"));
}

// An app that does not page answers everything at once; a chunk that fails
// stops the hand-off there: the chunks before it are acked, the ones after
// it are never written.
TEST(Handoff, AnAppThatDoesNotPageStopsAtTheChunkWhoseAckFails) {
  World w(2500, {.page_size = 1000});
  w.app.pages = false;
  w.app.fail_ack_call = 2;
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_THAT(r.detail, HasSubstr("ack failed"));
  EXPECT_THAT(r.detail, HasSubstr("ack call 2 failed"));
  EXPECT_EQ(w.app.requests().size(), 1u);
  EXPECT_EQ(r.report.pending, 2500);
  EXPECT_EQ(r.report.written, 2000);
  EXPECT_EQ(r.report.acked, 1000);
  EXPECT_EQ(w.app.acked().back(), "c-999");
  EXPECT_EQ(w.app.ackCalls(), 2);
  EXPECT_EQ(w.stream.writes(), 2);
  fakes::expectEveryIdOnce(w.stream.entries(), 2000);  // the failed chunk stays durable
  EXPECT_FALSE(w.stream.has("c-2000"));
}

// What a failed run says and did: `why` in its detail, how many entries it
// spooled and acked, and how many ack calls the app saw.
struct SpooledAndAcked {
  int64_t spooled;
  int64_t acked;
};
void expectAFailedRun(const World& w, const HandoffResult& r, const std::string& why,
                      SpooledAndAcked counts, int ack_calls) {
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kFailed);
  EXPECT_THAT(r.detail, HasSubstr(why));
  EXPECT_EQ(r.report.spooled, counts.spooled);
  EXPECT_EQ(r.report.acked, counts.acked);
  EXPECT_EQ(w.app.ackCalls(), ack_calls);
}

TEST(Handoff, AnAppThatDoesNotPageStopsAtTheChunkTheSpoolCannotTake) {
  World w(2500, {.page_size = 1000});
  w.app.pages = false;
  w.stream.down = true;
  // The disk fills up with the first chunk.
  w.app.on_ack = [&w](const std::vector<std::string>&) {
    w.files.capacity = static_cast<int64_t>(w.files.content(w.spool.path()).size());
  };
  HandoffResult r = w.run();
  expectAFailedRun(w, r, "1000 not durable and not acked", {.spooled = 1000, .acked = 1000}, 1);
  EXPECT_EQ(w.stream.connects(), 4);  // the first chunk only; then Redis counts as failed
  std::set<std::string> spooled = w.spooledIds();
  EXPECT_EQ(spooled.size(), 1000u);
  EXPECT_TRUE(spooled.count("c-999"));
  EXPECT_FALSE(spooled.count("c-1000"));
  EXPECT_EQ(w.observer.failures("spool"), 1);
}

TEST(Handoff, AckFailingAfterTheSpoolTookThemLeavesThemSpooled) {
  World w(100);
  w.stream.down = true;
  w.app.ack_error = ErrorCode::kUnavailable;
  HandoffResult r = w.run();
  expectAFailedRun(w, r, "ack failed (the entries are durable", {.spooled = 100, .acked = 0}, 1);
  EXPECT_EQ(w.spooledIds().size(), 100u);
  // The next exit: Redis is back and the app offers them again. The spool
  // keeps its copies; replaying it adds nothing twice.
  w.stream.down = false;
  w.app.ack_error.reset();
  HandoffResult again = w.run();
  EXPECT_EQ(again.verdict, HandoffResult::Verdict::kOk) << again.detail;
  EXPECT_EQ(again.report.written, 100);
  EXPECT_EQ(again.report.acked, 100);
  EXPECT_EQ(w.spooledIds().size(), 100u);
  auto replayed = replaySpool(w.stream, w.spool, nullptr);
  ASSERT_TRUE(replayed) << replayed.error().message;
  EXPECT_EQ(replayed->handed, 100);
  fakes::expectEveryIdOnce(w.stream.entries(), 100);
  EXPECT_FALSE(w.files.fileExists(w.spool.path()));
}

TEST(Handoff, PageSizeZeroAsksForEverythingAndAcksItAtOnce) {
  World w(2500, {.page_size = 0});
  HandoffResult r = w.run();
  EXPECT_EQ(r.verdict, HandoffResult::Verdict::kOk) << r.detail;
  auto requests = w.app.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].limit, 0);
  EXPECT_EQ(w.app.largestPage(), 2500u);
  EXPECT_EQ(w.stream.writes(), 1);
  EXPECT_EQ(w.app.ackCalls(), 1);
  EXPECT_EQ(r.report.acked, 2500);
  fakes::expectEveryIdOnce(w.stream.entries(), 2500);
}

TEST(Handoff, FailureReasonsAreShortLabels) {
  EXPECT_EQ(failureReason({ErrorCode::kDeadlineExceeded, ""}), "timeout");
  EXPECT_EQ(failureReason({ErrorCode::kPermissionDenied, ""}), "auth");
  EXPECT_EQ(failureReason({ErrorCode::kUnavailable, ""}), "unavailable");
  EXPECT_EQ(failureReason({ErrorCode::kBadResponse, ""}), "refused");
  EXPECT_EQ(failureReason({ErrorCode::kInvalidArgument, ""}), "other");
}

// Ids are text: numbers beyond int64, negative numbers and leading zeros
// are all different ids and stay exactly as the app sent them.
TEST(Handoff, IdsAreExactTextEndToEnd) {
  std::vector<app::Compensation> entries;
  for (std::string id : {"18446744073709551615", "-1", "007", "7", "1e3", "1000"}) {
    entries.push_back({id, "s-" + id, "step", "refund", "{}"});
  }
  World w(entries);
  HandoffResult r = w.run();
  EXPECT_EQ(r.report.written, 6);
  auto ids = w.stream.entries();
  for (const auto& e : entries) EXPECT_EQ(ids[e.id], 1) << e.id;
  // And through the spool.
  World s(entries);
  s.with_redis = false;
  ASSERT_EQ(s.run().report.spooled, 6);
  auto spooled = s.spooledIds();
  for (const auto& e : entries) EXPECT_TRUE(spooled.count(e.id)) << e.id;
}

using fakes::attributeAs;

TEST(HandoffTrace, TheStepSpanCarriesTheCounts) {
  World w(2500, {.page_size = 1000});
  w.app.rejected = {"entry 7: no id"};
  const exit::StepReport r = w.runStep();
  EXPECT_EQ(r.status, exit::StepStatus::kOk) << r.detail;
  EXPECT_EQ(attributeAs<std::string>(r.attributes, "compensation.sink"), "redis");
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.fetched"), 2501);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.rejected"), 1);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.written"), 2500);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.duplicates"), 0);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.spooled"), 0);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.acked"), 2500);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.pages"), 3);
  EXPECT_TRUE(r.events.empty());
}

TEST(HandoffTrace, EachBatchTheSpoolTookFromAFailedRedisIsAnEventWithTheReason) {
  World w(300, {.page_size = 100});
  w.stream.down = true;
  const exit::StepReport r = w.runStep();
  EXPECT_EQ(r.status, exit::StepStatus::kOk) << r.detail;
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.spooled"), 300);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.written"), 0);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.acked"), 300);
  ASSERT_EQ(r.events.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const exit::SpanEvent& e = r.events[i];
    EXPECT_EQ(e.name, "fell_back_to_spool");
    EXPECT_EQ(attributeAs<int64_t>(e.attributes, "compensation.spooled"), 100);
    EXPECT_EQ(attributeAs<int64_t>(e.attributes, "compensation.page"), static_cast<int64_t>(i + 1));
    EXPECT_GE(e.at, r.started_wall);
    EXPECT_LE(e.at, r.started_wall + r.took);
  }
  // The first batch after four attempts; the later ones at once, saying why.
  const std::string first =
      attributeAs<std::string>(r.events[0].attributes, "compensation.reason").value_or("");
  EXPECT_THAT(first, HasSubstr("cannot connect (down)"));
  EXPECT_THAT(attributeAs<std::string>(r.events[1].attributes, "compensation.reason").value_or(""),
              HasSubstr("Redis already failed in this exit: " + first));
}

TEST(HandoffTrace, WithoutRedisTheSpoolIsTheSinkNotAFallback) {
  World w(50);
  w.with_redis = false;
  const exit::StepReport r = w.runStep();
  EXPECT_EQ(attributeAs<std::string>(r.attributes, "compensation.sink"), "spool");
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.spooled"), 50);
  EXPECT_TRUE(r.events.empty());
}

TEST(HandoffTrace, NothingFetchedIsAFailedOrDeadlineStepWithoutCounts) {
  World w(10);
  w.app.fetch_error = ErrorCode::kUnavailable;
  const exit::StepReport r = w.runStep();
  EXPECT_EQ(r.status, exit::StepStatus::kFailed);
  EXPECT_THAT(r.detail, HasSubstr("compensations hook failed"));
  EXPECT_EQ(attributeAs<std::string>(r.attributes, "compensation.sink"), "redis");
  EXPECT_FALSE(attributeAs<int64_t>(r.attributes, "compensation.fetched"));
  EXPECT_FALSE(attributeAs<int64_t>(r.attributes, "compensation.acked"));
  EXPECT_EQ(w.summary.section(kCompensationsSection), nullptr);
  EXPECT_EQ(w.stream.connects(), 0);
  EXPECT_EQ(w.app.ackCalls(), 0);

  World late(10);
  late.app.fetch_error = ErrorCode::kDeadlineExceeded;
  const exit::StepReport d = late.runStep();
  EXPECT_EQ(d.status, exit::StepStatus::kDeadline);
  EXPECT_FALSE(attributeAs<int64_t>(d.attributes, "compensation.fetched"));
  EXPECT_EQ(late.summary.section(kCompensationsSection), nullptr);
}

// A step that fetched something and did not end ok: its status and why (on
// the step and as the exit's reason), and its counts (on its span and in the
// summary's section).
void expectAStepWithTheCounts(const World& w, const exit::StepReport& r, exit::StepStatus status,
                              const std::string& why, int64_t acked) {
  EXPECT_EQ(r.status, status);
  EXPECT_THAT(r.detail, HasSubstr(why));
  EXPECT_THAT(w.summary.reason, HasSubstr(why));
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.acked"), acked);
  const std::string* section = w.summary.section(kCompensationsSection);
  ASSERT_NE(section, nullptr);
  EXPECT_THAT(*section, HasSubstr("\"acked\":" + std::to_string(acked)));
}

TEST(HandoffTrace, AFailedHandOffIsAFailedStepThatStillCarriesTheCounts) {
  World w(100);
  w.stream.down = true;
  w.files.capacity = 0;
  const exit::StepReport r = w.runStep();
  expectAStepWithTheCounts(w, r, exit::StepStatus::kFailed, "100 not durable and not acked", 0);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.fetched"), 100);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.spooled"), 0);
  EXPECT_EQ(w.app.ackCalls(), 0);
}

TEST(HandoffTrace, ALaterPageTimingOutIsADeadlineStepWithTheCounts) {
  World w(250, {.page_size = 100});
  w.app.fail_fetch_of_page = 2;
  w.app.fail_fetch_code = ErrorCode::kDeadlineExceeded;
  const exit::StepReport r = w.runStep();
  expectAStepWithTheCounts(w, r, exit::StepStatus::kDeadline, "fetching page 2 failed", 100);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.pages"), 1);
  EXPECT_EQ(attributeAs<int64_t>(r.attributes, "compensation.written"), 100);
}

// A spool of `n` records "c-0".."c-<n - 1>" on a fake disk, the stream to
// replay it into (with an observer), and the spool file as it was before.
struct Spooled {
  MemorySpoolFiles files;
  Spool spool{"/spool", files};
  FakeStreamConnector stream;
  RecordingHandoffObserver observer;
  std::string before;

  explicit Spooled(int n) {
    EXPECT_TRUE(spool.append(fakes::makeRecords(n)));
    before = files.content(spool.path());
  }
  bool untouched() const { return files.content(spool.path()) == before; }
  Result<ReplayReport> replay() { return replaySpool(stream, spool, &observer); }
};

// After a replay that stopped part-way: the spool keeps "c-<first>" to
// "c-<total - 1>" in order, and the next replay hands exactly those to the
// stream, so every id is in it once.
void expectTheRestKeptThenReplayedOnce(Spooled& s, int first, int total) {
  auto left = s.spool.read();
  ASSERT_TRUE(left);
  ASSERT_EQ(left->records.size(), static_cast<size_t>(total - first));
  EXPECT_EQ(left->records.front().id, "c-" + std::to_string(first));
  EXPECT_EQ(left->records.back().id, "c-" + std::to_string(total - 1));
  auto rest = replaySpool(s.stream, s.spool, nullptr);
  ASSERT_TRUE(rest) << rest.error().message;
  EXPECT_EQ(rest->handed, total - first);
  fakes::expectEveryIdOnce(s.stream.entries(), total);
}

TEST(Replay, HandsTheSpoolToTheStreamInBatchesAndKeepsWhatFailed) {
  Spooled s(2500);
  auto report = s.replay();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->handed, 2500);
  fakes::expectEveryIdOnce(s.stream.entries(), 2500);
  EXPECT_EQ(s.stream.writes(), 3);  // batches of 1000
  EXPECT_FALSE(s.files.fileExists(s.spool.path()));
}

TEST(Replay, AStreamCutOffMidReplayKeepsTheRestSpooledInOrder) {
  Spooled s(2500);
  s.stream.cut_next_write_after = 700;
  auto report = s.replay();
  ASSERT_FALSE(report);
  EXPECT_THAT(report.error().message, HasSubstr("replayed 700 record(s), 1800 stay"));
  EXPECT_EQ(s.observer.spoolSize(), 1800);
  // The next replay takes the rest, exactly once.
  expectTheRestKeptThenReplayedOnce(s, 700, 2500);
}

// A replay that cannot start: an error saying why, nothing written, the
// spool file as it was.
void expectReplayRefusedSpoolUntouched(Spooled& s, const std::string& why) {
  auto report = s.replay();
  ASSERT_FALSE(report);
  EXPECT_THAT(report.error().message, HasSubstr(why));
  EXPECT_EQ(s.stream.writes(), 0);
  EXPECT_TRUE(s.untouched());
}

TEST(Replay, RedisDownLeavesTheSpoolWhole) {
  Spooled s(5);
  s.stream.down = true;
  expectReplayRefusedSpoolUntouched(s, "cannot connect");
}

// The server closes the connection after a batch it confirmed: no write
// error, but the sink is broken, so the replay stops and keeps the rest.
TEST(Replay, AConnectionClosedBetweenBatchesKeepsTheRestSpooled) {
  Spooled s(2500);
  s.stream.close_after_next_write = true;
  auto report = s.replay();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->handed, 1000);
  EXPECT_EQ(report->kept, 1500);
  EXPECT_EQ(s.stream.writes(), 1);  // nothing written on the closed connection
  fakes::expectEveryIdOnce(s.stream.entries(), 1000);
  EXPECT_EQ(s.observer.written("redis"), 1000);
  EXPECT_EQ(s.observer.spoolSize(), 1500);
  expectTheRestKeptThenReplayedOnce(s, 1000, 2500);
}

TEST(Replay, AnUnreadableSpoolIsAnErrorAndNothingIsWritten) {
  Spooled s(5);
  s.files.fail_read = true;
  expectReplayRefusedSpoolUntouched(s, "cannot read");
}

// Replay without Redis configured is the `spool replay` command's check:
// tests/integration/handoff_test.cpp.

}  // namespace
}  // namespace lameduck::saga
