#pragma once

// Writes compensation records to a Redis stream, atomically and idempotently
// per record id: a Lua script claims each record's dedup key with SET NX and
// XADDs (with MAXLEN ~ when configured) in the same atomic step, releasing
// the key if the XADD fails. So a retry after a timeout or a crash never adds
// a second entry, two writers of the same id (a replay and an exit) never
// both add it, and a failed XADD leaves nothing behind. One script call
// carries up to 100 records of one origin, ten calls make a round trip, and
// two round trips are in flight, so Redis never waits for the next batch to
// be built.
//
// Failure: write() never throws; a transport error or an error reply ends
// the write with `error` set, and only the ids in `confirmed` are in the
// stream (a NOSCRIPT reply makes the next write load the script again).
// Ownership: the RedisClient is borrowed for the call. Thread-safety: not
// thread-safe (it caches the script's SHA); one writer per connection. Ids
// are compared and deduplicated as exact text.

#include <chrono>
#include <string>
#include <vector>

#include "redis/redis_client.h"
#include "saga/record.h"
#include "saga/sink.h"

namespace lameduck::saga {

class StreamWriter {
 public:
  // Dedup keys ("<stream>:dedup:<id>") live `dedup_ttl`; a retry later than
  // that would write again.
  StreamWriter(std::string stream, int64_t maxlen,
               std::chrono::seconds dedup_ttl = std::chrono::hours(24 * 7));

  // Writes `records` in pipelined batches over `client`.
  WriteResult write(redis::RedisClient& client, const std::vector<CompensationRecord>& records);

  const std::string& stream() const { return stream_; }

 private:
  // One pipeline round trip: script calls and the record range of each.
  struct Round {
    std::vector<std::vector<std::string>> commands;
    std::vector<std::pair<size_t, size_t>> groups;
  };

  Status loadScript(redis::RedisClient& client);
  // The round starting at records[next]; advances `next` past it.
  Round nextRound(const std::vector<CompensationRecord>& records, size_t& next) const;

  std::string stream_;
  int64_t maxlen_;
  std::chrono::seconds dedup_ttl_;
  std::string sha_;
};

}  // namespace lameduck::saga
