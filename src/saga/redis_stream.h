#pragma once

// The compensation stream over a real Redis: a StreamConnector (saga/sink.h)
// whose sinks write through StreamWriter (saga/stream_writer.h) on a
// connection of their own. Built by whoever owns the configuration (the
// composition root of `lameduck run`, `lameduck spool replay`) and injected
// into the hand-off and the replay, which know only the interface.
//
// Failure: connect() returns the connection's error (kUnavailable,
// kDeadlineExceeded, kPermissionDenied); a sink's write reports what it
// could not write in its WriteResult. Thread-safe: each connect() makes an
// independent connection; a sink has one owner.

#include "config/config.h"
#include "saga/sink.h"

namespace lameduck::saga {

class RedisStreamConnector final : public StreamConnector {
 public:
  // As configured in `compensation` (address, credentials, stream, maxlen).
  // The configured timeout is the longest any call may take.
  explicit RedisStreamConnector(config::CompensationConfig config);
  Result<std::unique_ptr<StreamSink>> connect(Duration timeout) override;

 private:
  config::CompensationConfig config_;
};

}  // namespace lameduck::saga
