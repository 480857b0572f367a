// Compensation hand-off against a real redis-server: idempotent pipelined
// writes, the spool, replay, and failures (server down, killed mid-batch,
// paused past the timeout, wrong password). Every test checks every id.

#include "fakes/saga.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <latch>
#include <map>
#include <thread>

#include "fakes/ids.h"
#include "redis/redis_client.h"
#include "saga/handoff.h"
#include "saga/redis_stream.h"
#include "saga/spool.h"
#include "saga/stream_writer.h"
#include "support/redis.h"
#include "support/trickle.h"

namespace lameduck::saga {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::RedisServer;
using testing::TempDir;

using fakes::makeRecords;

TEST(StreamWriter, WritesEveryFieldOfTheContract) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config());
  ASSERT_TRUE(client) << client.error().message;
  StreamWriter writer("compensation_stream", 1000);
  WriteResult r = writer.write(**client, makeRecords(1));
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.written, 1);
  auto range = (*client)->command({"XRANGE", "compensation_stream", "-", "+"});
  ASSERT_TRUE(range);
  ASSERT_EQ(range->elements.size(), 1u);
  std::map<std::string, std::string> fields;
  for (const auto& [k, v] : redis::fieldsOf(range->elements[0])) fields[k] = v;
  EXPECT_EQ(fields["id"], "c-0");
  EXPECT_EQ(fields["saga_id"], "order-0");
  EXPECT_EQ(fields["step"], "payment");
  EXPECT_EQ(fields["action"], "refund");
  EXPECT_EQ(fields["payload"], "{\"amount\":0}");
  EXPECT_EQ(fields["service"], "shop");
  EXPECT_EQ(fields["namespace"], "prod");
  EXPECT_EQ(fields["pod"], "shop-1");
  EXPECT_EQ(fields["revision"], "7");
  EXPECT_EQ(fields["created_at"], "2026-11-24T20:00:00.000Z");
  EXPECT_EQ(fields["attempt"], "1");
  // The script names the fields itself: same names, same order as fields().
  EXPECT_EQ(redis::fieldsOf(range->elements[0]), makeRecords(1)[0].fields());
}

// A replay can carry spooled records of several exits in one write.
TEST(StreamWriter, RecordsOfDifferentOriginsKeepTheirOwnFields) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config());
  ASSERT_TRUE(client);
  auto records = makeRecords(250);
  for (size_t i = 0; i < records.size(); ++i) {
    if (i % 3 == 1) records[i].pod = "shop-" + std::to_string(i / 7);
    if (i % 5 == 2) records[i].attempt = 2;
    if (i % 11 == 3) records[i].created_at = "2026-11-24T21:00:00.000Z";
  }
  StreamWriter writer("s", 0);
  WriteResult r = writer.write(**client, records);
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.written, 250);
  auto range = (*client)->command({"XRANGE", "s", "-", "+"});
  ASSERT_TRUE(range);
  ASSERT_EQ(range->elements.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(redis::fieldsOf(range->elements[i]), records[i].fields()) << "record " << i;
  }
}

// An XADD that fails (here: the stream's key holds a string) must release
// the dedup key it claimed, or the retry would skip the record for good.
TEST(StreamWriter, AFailedXaddLeavesNoDedupKeyAndTheRetryWritesAll) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config());
  ASSERT_TRUE(client);
  ASSERT_TRUE((*client)->command({"SET", "s", "not a stream"}));
  StreamWriter writer("s", 0);
  auto records = makeRecords(300);
  WriteResult failed = writer.write(**client, records);
  ASSERT_TRUE(failed.error);
  EXPECT_THAT(failed.error->message, HasSubstr("WRONGTYPE"));
  EXPECT_TRUE(failed.confirmed.empty());
  auto keys = (*client)->command({"KEYS", "s:dedup:*"});
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->elements.empty()) << keys->elements.size() << " dedup keys left behind";
  ASSERT_TRUE((*client)->command({"DEL", "s"}));
  WriteResult retried = writer.write(**client, records);
  ASSERT_FALSE(retried.error) << retried.error->message;
  EXPECT_EQ(retried.written, 300);
  fakes::expectEveryIdOnce(redis.streamIds("s"), 300);
}

TEST(StreamWriter, TheSameBatchTwiceLeavesOneEntryPerId) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config());
  ASSERT_TRUE(client);
  StreamWriter writer("s", 0);
  auto records = makeRecords(200);
  WriteResult first = writer.write(**client, records);
  WriteResult second = writer.write(**client, records);
  EXPECT_EQ(first.written, 200);
  EXPECT_EQ(second.written, 0);
  EXPECT_EQ(second.duplicates, 200);
  EXPECT_EQ(second.confirmed.size(), 200u);  // duplicates are confirmed too
  fakes::expectEveryIdOnce(redis.streamIds("s"), 200);
}

// A replay and an exit (or two replays) writing the same ids at once: each
// id is added by exactly one of them, and both confirm all of them.
TEST(StreamWriter, ConcurrentWritersOfTheSameIdsAddEachOnce) {
  RedisServer redis;
  constexpr int kN = 3000;
  constexpr int kWriters = 3;
  auto records = makeRecords(kN);
  std::vector<WriteResult> results(kWriters);
  std::latch start(kWriters);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto client = redis::RedisClient::connect(redis.config(5000ms));
      if (!client) {
        ADD_FAILURE() << "writer " << w << " cannot connect: " << client.error().message;
        start.count_down();  // the others must not wait for it forever
        return;
      }
      // Each writer goes through the ids in another order, so their
      // batches overlap in every way.
      auto mine = records;
      if (w == 1) std::reverse(mine.begin(), mine.end());
      if (w == 2) std::rotate(mine.begin(), mine.begin() + kN / 2, mine.end());
      StreamWriter writer("s", 0);
      start.arrive_and_wait();
      results[w] = writer.write(**client, mine);
    });
  }
  for (auto& t : writers) t.join();
  int64_t written = 0;
  for (const WriteResult& r : results) {
    ASSERT_FALSE(r.error) << r.error->message;
    EXPECT_EQ(r.confirmed.size(), static_cast<size_t>(kN));
    EXPECT_EQ(r.written + r.duplicates, kN);
    written += r.written;
  }
  EXPECT_EQ(written, kN);
  fakes::expectEveryIdOnce(redis.streamIds("s"), kN);
}

// Ids are text: numbers beyond int64, "-1", "007" and "7" are four ids,
// each kept exactly and deduplicated by that exact text.
TEST(StreamWriter, NumericLookingIdsStayExactTextAndDedupeByText) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config());
  ASSERT_TRUE(client);
  auto records = makeRecords(4);
  records[0].id = "18446744073709551615";
  records[1].id = "-1";
  records[2].id = "007";
  records[3].id = "7";
  StreamWriter writer("s", 0);
  WriteResult first = writer.write(**client, records);
  ASSERT_FALSE(first.error) << first.error->message;
  EXPECT_EQ(first.written, 4);
  WriteResult again = writer.write(**client, records);
  EXPECT_EQ(again.duplicates, 4);
  auto ids = redis.streamIds("s");
  EXPECT_EQ(ids, (std::map<std::string, int>{
                     {"18446744073709551615", 1}, {"-1", 1}, {"007", 1}, {"7", 1}}));
}

TEST(StreamWriter, TenThousandInOneCall) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config(5000ms));
  ASSERT_TRUE(client);
  StreamWriter writer("s", 1'000'000);
  WriteResult r = writer.write(**client, makeRecords(10'000));
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.written, 10'000);
  fakes::expectEveryIdOnce(redis.streamIds("s"), 10'000);
}

TEST(StreamWriter, MaxlenTrimsApproximately) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config(5000ms));
  ASSERT_TRUE(client);
  StreamWriter writer("s", 100);
  ASSERT_FALSE(writer.write(**client, makeRecords(2000)).error);
  auto len = (*client)->command({"XLEN", "s"});
  ASSERT_TRUE(len);
  EXPECT_LT(len->integer, 2000);
  EXPECT_GE(len->integer, 100);
}

TEST(RedisClient, SendAndReceiveKeepRepliesInOrder) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config());
  ASSERT_TRUE(client);
  redis::RedisClient& c = **client;
  ASSERT_TRUE(c.send({{"SET", "k", "1"}, {"INCR", "k"}}));
  ASSERT_TRUE(c.send({{"INCR", "k"}}));
  // While replies are unread, a plain command would read someone else's.
  auto early = c.command({"GET", "k"});
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(c.receive(4).error->code, ErrorCode::kFailedPrecondition);
  redis::PipelineResult first = c.receive(2);
  ASSERT_FALSE(first.error);
  ASSERT_EQ(first.replies.size(), 2u);
  EXPECT_EQ(first.replies[1].integer, 2);
  redis::PipelineResult second = c.receive(1);
  ASSERT_EQ(second.replies.size(), 1u);
  EXPECT_EQ(second.replies[0].integer, 3);
  auto get = c.command({"GET", "k"});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->str, "3");
}

TEST(RedisClient, UnreachableServerIsUnavailable) {
  config::RedisConfig c;
  c.address = config::RedisAddress{"", 0, "/nonexistent/redis.sock"};
  auto client = redis::RedisClient::connect(c);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(client.error().message, HasSubstr("cannot connect"));
}

TEST(RedisClient, WrongPasswordIsAClearPermissionError) {
  RedisServer redis(false, "right");
  config::RedisConfig c = redis.config();
  c.password = "wrong";
  auto client = redis::RedisClient::connect(c);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(client.error().message, HasSubstr("authentication as \"default\" refused"));
  EXPECT_TRUE(redis::RedisClient::connect(redis.config()));  // the right one works
}

TEST(RedisClient, APausedServerEndsTheWriteAtItsTimeout) {
  RedisServer redis;
  auto client = redis::RedisClient::connect(redis.config(300ms));
  ASSERT_TRUE(client);
  redis.cli({"CLIENT", "PAUSE", "5000", "WRITE"});
  StreamWriter writer("s", 0);
  WriteResult r = writer.write(**client, makeRecords(10));
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->code, ErrorCode::kDeadlineExceeded) << r.error->message;
  EXPECT_TRUE(r.confirmed.empty());
  redis.cli({"CLIENT", "UNPAUSE"});
}

// A client's config for a fake Redis that trickles its replies.
config::RedisConfig tricklingRedis(const testing::TricklingServer& server, Duration timeout) {
  config::RedisConfig c;
  c.address = config::RedisAddress{"127.0.0.1", static_cast<uint16_t>(server.port()), ""};
  c.timeout = timeout;
  return c;
}

// A bulk string of 100000 bytes: at a byte per 50 ms, far longer than any
// test; every byte well within the per-read timeout.
std::string longBulkReply() { return "$100000\r\n" + std::string(100000, 'x') + "\r\n"; }

TEST(RedisClient, ReplyTrickledByteByByteEndsAtTheDeadlineNamingServerAndCommand) {
  testing::TricklingServer server(longBulkReply(), 50ms, testing::TrickleAfter::kFirstBytes);
  auto client = redis::RedisClient::connect(tricklingRedis(server, 400ms));
  ASSERT_TRUE(client) << client.error().message;
  auto r = (*client)->command({"GET", "key"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded) << r.error().message;
  EXPECT_THAT(r.error().message,
              HasSubstr("Redis 127.0.0.1:" + std::to_string(server.port()) +
                        ": no complete reply to GET within 400ms"));
  EXPECT_LT(server.sent(), 100000u) << "the server was still trickling";
  EXPECT_TRUE((*client)->broken());
}

TEST(RedisClient, StreamWriterScriptLoadTrickledEndsAtTheDeadline) {
  testing::TricklingServer server(longBulkReply(), 50ms, testing::TrickleAfter::kFirstBytes);
  auto client = redis::RedisClient::connect(tricklingRedis(server, 400ms));
  ASSERT_TRUE(client) << client.error().message;
  StreamWriter writer("s", 0);
  WriteResult r = writer.write(**client, makeRecords(3));
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->code, ErrorCode::kDeadlineExceeded) << r.error->message;
  EXPECT_THAT(r.error->message, HasSubstr("no complete reply to SCRIPT within 400ms"));
  EXPECT_TRUE(r.confirmed.empty());
}

TEST(RedisClient, AuthTrickledEndsAtTheConnectDeadline) {
  // "+OK" over and over, never a line end.
  testing::TricklingServer server("+OK", 50ms, testing::TrickleAfter::kFirstBytes);
  config::RedisConfig c = tricklingRedis(server, 400ms);
  c.password = "secret";
  c.db = 2;
  auto client = redis::RedisClient::connect(c);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, ErrorCode::kDeadlineExceeded) << client.error().message;
  EXPECT_THAT(client.error().message,
              HasSubstr("Redis 127.0.0.1:" + std::to_string(server.port()) +
                        ": cannot connect: no complete reply to AUTH within 400ms"));
}

TEST(RedisClient, HostNameIsLookedUpAndEachAddressTried) {
  // A fake answering PONG to everything, on 127.0.0.1 only: "localhost"
  // may come up as ::1 first, which refuses, and then as 127.0.0.1.
  testing::TricklingServer server("+PONG\r\n", 1ms, testing::TrickleAfter::kFirstBytes);
  config::RedisConfig c = tricklingRedis(server, 5000ms);
  c.address->host = "localhost";
  auto client = redis::RedisClient::connect(c);
  ASSERT_TRUE(client) << client.error().message;
  auto r = (*client)->command({"PING"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->str, "PONG");
}

TEST(Spool, AppendReadAndATornLastLineOnDisk) {
  TempDir dir;
  Spool spool(dir.file("spool"));
  ASSERT_TRUE(spool.append(makeRecords(3)));
  ASSERT_TRUE(spool.append(makeRecords(2, "d-")));
  // A crash in the middle of an append leaves a cut-off line.
  std::ofstream(spool.path(), std::ios::app) << "{\"id\":\"torn\",\"saga_";
  auto contents = spool.read();
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->records.size(), 5u);
  EXPECT_EQ(contents->torn_lines, 1);
  EXPECT_EQ(contents->records[3].id, "d-0");
  EXPECT_EQ(contents->records[0].payload, "{\"amount\":0}");
}

TEST(Spool, ReplayKeepsOnlyWhatTheStreamDidNotConfirm) {
  TempDir dir;
  Spool spool(dir.file("spool"));
  ASSERT_TRUE(spool.append(makeRecords(10)));
  // The first replay gets only half through.
  auto handed = spool.replay([](const std::vector<CompensationRecord>& records) {
    BatchOutcome o;
    for (size_t i = 0; i < records.size() / 2; ++i) o.confirmed.push_back(records[i].id);
    return o;
  });
  ASSERT_TRUE(handed);
  EXPECT_EQ(handed->handed, 5);
  auto left = spool.read();
  ASSERT_TRUE(left) << left.error().message;
  ASSERT_EQ(left->records.size(), 5u);
  EXPECT_EQ(left->records[0].id, "c-5");
  // The next takes the rest; the spool file is gone.
  auto rest = spool.replay([](const std::vector<CompensationRecord>& records) {
    BatchOutcome o;
    for (const auto& r : records) o.confirmed.push_back(r.id);
    return o;
  });
  EXPECT_EQ(rest->handed, 5);
  EXPECT_EQ(access(spool.path().c_str(), F_OK), -1);
}

TEST(Replay, SpoolIntoRedisExactlyOnceEvenAfterAPartialReplay) {
  RedisServer redis;
  TempDir dir;
  Spool spool(dir.file("spool"));
  ASSERT_TRUE(spool.append(makeRecords(1000)));
  config::CompensationConfig c;
  c.redis = redis.config(5000ms);
  c.stream = "s";
  // A partial replay already wrote the first 300 (its confirmations were lost).
  {
    auto client = redis::RedisClient::connect(c.redis);
    StreamWriter w("s", c.maxlen);
    auto first = makeRecords(300);
    ASSERT_FALSE(w.write(**client, first).error);
  }
  RedisStreamConnector stream(c);
  auto handed = replaySpool(stream, spool, nullptr);
  ASSERT_TRUE(handed) << handed.error().message;
  EXPECT_EQ(handed->handed, 1000);
  fakes::expectEveryIdOnce(redis.streamIds("s"), 1000);
  auto left = spool.read();
  ASSERT_TRUE(left) << left.error().message;
  EXPECT_TRUE(left->records.empty());
}

TEST(Replay, WithRedisDownTheSpoolStaysWhole) {
  TempDir dir;
  Spool spool(dir.file("spool"));
  ASSERT_TRUE(spool.append(makeRecords(5)));
  config::CompensationConfig c;
  c.redis.address = config::RedisAddress{"", 0, dir.file("no-redis.sock")};
  RedisStreamConnector stream(c);
  auto handed = replaySpool(stream, spool, nullptr);
  ASSERT_FALSE(handed);
  EXPECT_THAT(handed.error().message, HasSubstr("cannot connect"));
  auto left = spool.read();
  ASSERT_TRUE(left) << left.error().message;
  EXPECT_EQ(left->records.size(), 5u);
}

TEST(Replay, RedisKilledMidBatchThenEveryIdLandsExactlyOnce) {
  // As lameduck's main() does: a write to the killed server is an error.
  std::signal(SIGPIPE, SIG_IGN);
  RedisServer redis(/*persistent=*/true);
  TempDir dir;
  Spool spool(dir.file("spool"));
  config::CompensationConfig c;
  c.redis = redis.config(5000ms);
  c.stream = "s";
  constexpr int kN = 20'000;
  auto records = makeRecords(kN);
  // Kill the server once the batch is partly in the stream.
  // A jthread: the ASSERT below that returns early joins it (its wait is
  // bounded) rather than ending the run in std::terminate.
  std::jthread killer([&] {
    auto watcher = redis::RedisClient::connect(redis.config(5000ms));
    if (!watcher) {
      ADD_FAILURE() << "cannot watch the stream: " << watcher.error().message;
      redis.kill();
      return;
    }
    testing::waitUntil(
        [&] {
          auto len = (*watcher)->command({"XLEN", "s"});
          return !len || len->integer > 0;
        },
        20s, 1ms);
    redis.kill();
  });
  auto client = redis::RedisClient::connect(c.redis);
  ASSERT_TRUE(client);
  StreamWriter writer("s", 0);
  WriteResult r = writer.write(**client, records);
  killer.join();
  ASSERT_TRUE(r.error.has_value()) << "the batch finished before the kill; nothing was tested";
  EXPECT_LT(r.confirmed.size(), static_cast<size_t>(kN));
  // What the stream did not confirm goes to the spool (as the hand-off does).
  std::set<std::string> confirmed(r.confirmed.begin(), r.confirmed.end());
  std::vector<CompensationRecord> rest;
  for (const auto& rec : records) {
    if (!confirmed.count(rec.id)) rest.push_back(rec);
  }
  ASSERT_TRUE(spool.append(rest));
  ASSERT_TRUE(redis.start());  // back with its append-only file
  RedisStreamConnector stream(c);
  auto handed = replaySpool(stream, spool, nullptr);
  ASSERT_TRUE(handed) << handed.error().message;
  fakes::expectEveryIdOnce(redis.streamIds("s"), kN);
}

}  // namespace
}  // namespace lameduck::saga
