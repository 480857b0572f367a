#pragma once

// The compensation stream as the hand-off and the replay see it: a factory
// of connections (StreamConnector) and a connection that writes records
// (StreamSink). The hand-off and the replay never open Redis themselves: the
// caller injects the connector. RedisStreamConnector (saga/redis_stream.h)
// is the real one, built by the composition root and the `spool replay`
// command; tests use FakeStreamConnector (tests/fakes/saga.h) with failure
// switches (Redis down, a write cut off part-way, a refused write).
//
// Ownership: connect() hands the caller the sink. A sink may refer to the
// connector that made it (the fake's do), so it must not outlive it; the
// Redis sink owns its connection and a copy of the stream settings.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "saga/record.h"

namespace lameduck::saga {

// What one write did.
struct [[nodiscard]] WriteResult {
  // Ids the stream now holds (written by this call, or found already
  // written), in the order of the records given to write().
  std::vector<std::string> confirmed;
  int64_t written = 0;
  int64_t duplicates = 0;
  // Set when some records were not confirmed (transport error or an error
  // reply); every record not in `confirmed` must be treated as not written.
  std::optional<Error> error;
};

// One connection to the stream. Not thread-safe: one owner. Never throws.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Writes `records`, atomically and idempotently per id (a record whose id
  // is already in the stream is confirmed as a duplicate, not added again).
  // Every record not in the result's `confirmed` must be treated as not
  // written; `error` says why.
  virtual WriteResult write(const std::vector<CompensationRecord>& records) = 0;
  // After a transport error the sink is broken: connect again.
  virtual bool broken() const = 0;
};

// Thread-safe: each call makes an independent connection.
class StreamConnector {
 public:
  virtual ~StreamConnector() = default;
  // Connects within `timeout` (which also bounds every later exchange of the
  // sink). Errors: kUnavailable, kDeadlineExceeded, kPermissionDenied (bad
  // credentials; retrying cannot help), kInvalidArgument (not configured).
  virtual Result<std::unique_ptr<StreamSink>> connect(Duration timeout) = 0;
};

}  // namespace lameduck::saga
