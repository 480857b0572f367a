#pragma once

// Exit ordering in Redis (the Redis of compensation.redis).
//
// Key layout; every key of a service carries the hash tag {<service>}, so a
// service's keys share one Redis Cluster slot and one script may touch them:
//
//   lameduck:coord:{<service>}:pod:<pod>   HASH  service, pod, state,
//       wait_for (comma-separated), updated_at (RFC 3339), slot (token, if
//       held). PEXPIRE ttl at every write: a pod that stops refreshing
//       (crashed, SIGKILLed, partitioned) disappears after its TTL.
//   lameduck:coord:{<service>}:pods        ZSET  pod -> expiry (Redis server
//       time, ms). The index of the service's pods; members past their expiry
//       are pruned by every write and read, and the key itself expires with
//       the longest-lived member.
//   lameduck:coord:{<service>}:slots       ZSET  holder pod -> lease expiry
//       (server ms). At most max_concurrent_exits members after pruning.
//   lameduck:coord:{<service>}:slot_tokens HASH  holder pod -> fencing token.
//   lameduck:coord:{<service>}:fence       STRING counter, INCR'd for every
//       slot given out; never expires, so tokens only grow.
//
// Every operation is one Lua script (EVAL), so pruning, counting and taking
// a slot are atomic. Expiry uses the Redis server's clock (TIME), never the
// pods' clocks, so clock skew between nodes cannot stretch or cut a TTL.

#include <memory>

#include "config/config.h"
#include "coord/backend.h"
#include "redis/redis_client.h"

namespace lameduck::coord {

// "lameduck:coord:{<service>}:"; the keys above append to it.
std::string keyPrefix(const std::string& service);

// How the scripts' replies are read. Redis answers are outside input: any
// shape gives a value or kBadResponse ("Redis answered a pod list with
// something unexpected"), never a crash. Pure; public for the tests and the
// fuzz target.
//   pods:        an array of HGETALL-style [field, value, ...] arrays; entries
//                without a pod name are skipped, a bad slot is left unset;
//                sorted by pod.
//   acquireSlot: [1, token] when taken, else [0, holder, token, ...].
//   renewSlot:   an integer, 1 when the lease was renewed.
Result<std::vector<PodRecord>> podsFromReply(const redis::RedisReply& reply);
Result<SlotAttempt> slotAttemptFromReply(const redis::RedisReply& reply);
Result<bool> renewalFromReply(const redis::RedisReply& reply);

// Connects on first use and again after a transport error; each call is
// bounded by config.timeout (plus the connect). Errors as Backend says, and
// kPermissionDenied for credentials Redis refuses. Owns its connection and
// a copy of the config. Not thread-safe.
class RedisBackend final : public Backend {
 public:
  explicit RedisBackend(config::RedisConfig config);
  ~RedisBackend() override;

  Status publish(const PodRecord& pod, Duration ttl) override;
  Result<std::vector<PodRecord>> pods(const std::string& service) override;
  Result<SlotAttempt> acquireSlot(const std::string& service, const std::string& holder,
                                  int64_t limit, Duration ttl) override;
  Result<bool> renewSlot(const std::string& service, const std::string& holder, int64_t token,
                         Duration ttl) override;
  Status releaseSlot(const std::string& service, const std::string& holder, int64_t token) override;

 private:
  // EVAL of `script` (the shared prelude is prepended); an error reply is
  // an Error (kBadResponse).
  Result<redis::RedisReply> eval(const std::string& script, const std::vector<std::string>& keys,
                                 const std::vector<std::string>& args);

  config::RedisConfig config_;
  std::unique_ptr<redis::RedisClient> client_;
};

}  // namespace lameduck::coord
