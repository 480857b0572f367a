#pragma once

// The consumer side of the compensation stream (`lameduck compensator`):
// reads entries in a consumer group, calls the action's endpoint, XACKs on
// 2xx, retries failures with exponential backoff up to max_attempts
// (attempts are kept in Redis, so they survive a crash), then moves the
// entry to the dead-letter stream "<stream>:dead" with the last error.
// Entries a crashed consumer left pending are taken over with XAUTOCLAIM once
// idle for claim_idle.
//
// Dead-lettered at once, never called: entries without an id or saga_id
// ("invalid entry"), entries whose action has no endpoint, and entries the
// endpoint refused for good (HTTP 4xx other than 408 and 429).
// Every value substituted into an action URL is percent-encoded, so stream
// content can never change the URL's path, add a query or inject headers.
//
// Degraded modes (each logged at warn and counted through the observer,
// then retried with backoff on the injected clock, 100 ms doubling to 5 s):
// Redis unreachable; an XAUTOCLAIM or XREADGROUP error; the stream or the
// group deleted under it (NOGROUP), which recreates the group with
// XGROUP CREATE ... MKSTREAM.
//
// Ownership: the observer and the clock are borrowed and must outlive the
// compensator. Thread-safety: run() on one thread; stop() from any thread.
// All waiting goes through the clock (Clock::waitUntil), so stop() ends a
// backoff at once.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "config/config.h"
#include "redis/redis_client.h"

namespace lameduck::saga {

// Notified of what the compensator does (metrics). Thread-safe
// implementations; the degraded-mode calls have no-op defaults.
class CompensatorObserver {
 public:
  virtual ~CompensatorObserver() = default;
  virtual void onApplied() = 0;
  virtual void onRetry() = 0;
  virtual void onDeadLettered() = 0;
  // An entry without id or saga_id (also counted as dead-lettered).
  virtual void onInvalid() {}
  // A Redis command failed (or Redis could not be reached: "connect").
  virtual void onRedisError(std::string_view command) { (void)command; }
  // The stream or the group was gone and the group was created again.
  virtual void onGroupRecreated() {}
};

// ---- pure helpers, exposed for tests and the fuzz target -----------------

// Why an entry cannot be a compensation (no id, no saga_id, an id with a
// control character, which the Idempotency-Key header cannot carry), or
// nullopt.
std::optional<std::string> invalidEntry(const std::map<std::string, std::string>& fields);

// `tmpl` with {{id}}, {{saga_id}}, {{step}} and {{action}} replaced by the
// entry's values, each percent-encoded (everything but A-Z a-z 0-9 - _ ~;
// '.' and '/' too, so "../admin" stays one path segment).
std::string fillActionUrl(std::string_view tmpl, const std::map<std::string, std::string>& fields);

// What to do after calling an action's endpoint.
enum class CallVerdict {
  kApplied,    // 2xx
  kRetry,      // no answer, 5xx, 408, 429, anything else
  kPermanent,  // 4xx other than 408 and 429: retrying cannot help
};
CallVerdict classifyCall(const Result<int>& status);

// Connects to Redis; the caller injects it (`lameduck compensator` gives
// redis::RedisClient::connect, tests a fake that fails on demand).
using RedisConnect =
    std::function<Result<std::unique_ptr<redis::RedisClient>>(const config::RedisConfig&)>;

class Compensator {
 public:
  // `observer` and `clock` must outlive the compensator; `connect` is
  // called for every (re)connection, from the thread that runs run().
  Compensator(const config::Config& config, std::string consumer, CompensatorObserver& observer,
              Clock& clock, RedisConnect connect);
  ~Compensator();

  // Runs until stop(). Expects compensation.redis.address set (the command
  // checks it first); kInternal without it. A Redis outage is logged,
  // counted and retried.
  Status run();
  // Thread-safe; run() returns after the call in flight.
  void stop();

 private:
  struct Entry {
    std::string stream_id;
    std::map<std::string, std::string> fields;
  };
  Status ensureGroup(redis::RedisClient& redis);
  Result<std::vector<Entry>> claim(redis::RedisClient& redis);
  Result<std::vector<Entry>> readNew(redis::RedisClient& redis);
  // Logs and counts a failed read; recreates the group when it is gone.
  void readFailed(redis::RedisClient& redis, std::string_view command, const Error& error);
  // Applies one entry; returns false if a stop or a Redis failure
  // interrupted it (the entry then stays pending for whoever comes next).
  bool process(redis::RedisClient& redis, const Entry& entry);
  Result<int> call(const config::ActionConfig& action, const Entry& entry);
  // False when Redis did not take it (the entry then stays pending).
  bool deadLetter(redis::RedisClient& redis, const Entry& entry, int64_t attempts,
                  const std::string& error);
  // Waits `d` on the clock; false when stop() was called.
  bool sleepUnlessStopped(Duration d);
  // The next degraded-mode wait (100 ms doubling to 5 s).
  bool backOff();

  config::Config config_;
  std::string consumer_;
  std::string attempts_key_;
  CompensatorObserver& observer_;
  Clock& clock_;
  RedisConnect connect_;
  Duration error_backoff_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace lameduck::saga
