#pragma once

// The store behind exit ordering: a registry of live pods and a capped
// lease ("exit slot") per service. The exit steps and the registry thread
// see only this interface; RedisBackend implements it, tests use fakes.
// Records are plain values; the interface says below how calls fail and
// that an instance has one owner thread.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace lameduck::coord {

// One pod as the registry holds it.
struct PodRecord {
  std::string service;
  std::string pod;
  std::string state;                  // "Ready", "Draining", "Compensating", "Terminated"
  std::vector<std::string> wait_for;  // the services this pod's exit waits for
  std::string updated_at;             // RFC 3339, the pod's own wall clock (for people)
  std::optional<int64_t> slot;        // fencing token of the exit slot it holds
};

// What an attempt to take an exit slot found.
struct SlotAttempt {
  bool acquired = false;
  int64_t token = 0;  // when acquired: the fencing token, larger than any given before
  // When not acquired: who holds the slots, as "pod (token N)".
  std::vector<std::string> holders;
};

// Not thread-safe: one owner (thread) per instance. Every call is bounded
// by the backend's own timeout; errors are kUnavailable or
// kDeadlineExceeded when the store cannot be reached (retrying may help),
// kBadResponse when it answered something unusable.
class Backend {
 public:
  virtual ~Backend() = default;

  // Writes or refreshes `pod`; it disappears `ttl` after the last call.
  virtual Status publish(const PodRecord& pod, Duration ttl) = 0;
  // The pods of `service` whose registration has not expired, in pod-name
  // order.
  virtual Result<std::vector<PodRecord>> pods(const std::string& service) = 0;

  // Takes one of `limit` exit slots of `service` for `holder`, with a lease
  // of `ttl`. Leases past their expiry are dropped first. A holder that
  // already holds one gets it back, renewed, with its token.
  virtual Result<SlotAttempt> acquireSlot(const std::string& service, const std::string& holder,
                                          int64_t limit, Duration ttl) = 0;
  // Extends the lease to `ttl` from now. false: the lease is gone (expired,
  // maybe given to another pod); the holder no longer has a slot.
  virtual Result<bool> renewSlot(const std::string& service, const std::string& holder,
                                 int64_t token, Duration ttl) = 0;
  // Gives the slot back. A token that no longer holds the slot changes
  // nothing (it expired and may belong to someone else now).
  virtual Status releaseSlot(const std::string& service, const std::string& holder,
                             int64_t token) = 0;
};

}  // namespace lameduck::coord
