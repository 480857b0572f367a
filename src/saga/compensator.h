#pragma once

// The consumer side of the compensation stream (`lameduck compensator`):
// reads entries in a consumer group, calls the action's endpoint, XACKs on
// 2xx, retries failures with exponential backoff up to max_attempts
// (attempts are kept in Redis, so they survive a crash), then moves the
// entry to the dead-letter stream "<stream>:dead" with the last error.
// Entries a crashed consumer left pending are taken over with XAUTOCLAIM once
// idle for claim_idle. stop() finishes the call in flight and claims nothing
// new.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "config/config.h"
#include "redis/redis_client.h"

namespace lameduck::saga {

class CompensatorObserver {
 public:
  virtual ~CompensatorObserver() = default;
  virtual void onApplied() = 0;
  virtual void onRetry() = 0;
  virtual void onDeadLettered() = 0;
};

class Compensator {
 public:
  Compensator(const config::Config& config, std::string consumer, CompensatorObserver& observer);
  ~Compensator();

  // Runs until stop(). Errors only for what retrying cannot fix (no Redis
  // configured); a Redis outage is logged and retried.
  Status run();
  // Thread-safe; run() returns after the call in flight.
  void stop();

 private:
  struct Entry {
    std::string stream_id;
    std::map<std::string, std::string> fields;
  };
  Status ensureGroup(redis::RedisClient& redis);
  std::vector<Entry> claim(redis::RedisClient& redis);
  std::vector<Entry> readNew(redis::RedisClient& redis);
  // Applies one entry; returns false if a stop or a Redis failure
  // interrupted it (the entry then stays pending for whoever comes next).
  bool process(redis::RedisClient& redis, const Entry& entry);
  Result<int> call(const config::ActionConfig& action, const Entry& entry);
  // False when Redis did not take it (the entry then stays pending).
  bool deadLetter(redis::RedisClient& redis, const Entry& entry, int64_t attempts,
                  const std::string& error);
  bool sleepUnlessStopped(Duration d);

  config::Config config_;
  std::string consumer_;
  std::string attempts_key_;
  CompensatorObserver& observer_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace lameduck::saga
