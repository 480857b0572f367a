#pragma once

// Fakes for the coordination component (src/coord) in simulated time: the
// store (FakeCoordinationBackend), the observer that records the waits, and
// the slot keeper that records the tokens it was handed.

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "coord/backend.h"
#include "coord/settings.h"

namespace lameduck::fakes {

using namespace std::chrono_literals;

// An in-memory store on a simulated clock. Changes can be scripted at
// offsets from the fake's creation; they apply before any call made at or
// after their time. `setDown(true)` makes every call fail as an
// unreachable Redis. Thread-safe (one mutex).
class FakeCoordinationBackend final : public coord::Backend {
 public:
  explicit FakeCoordinationBackend(SimulatedClock& clock) : clock_(clock), t0_(clock.now()) {}

  // --- setup and failure switches ---
  void put(coord::PodRecord p, Duration ttl = 1h);
  void remove(const std::string& service, const std::string& pod);
  void hold(const std::string& service, const std::string& holder, int64_t token,
            Duration ttl = 1h);
  void release(const std::string& service, const std::string& holder);
  // Runs `change` (with the fake's lock not held) before the first call
  // made `offset` or more after the fake was created.
  void at(Duration offset, std::function<void()> change);
  void setDown(bool down);

  // --- what happened ---
  // Calls of `what` ("publish", "pods", "acquire", "renew", "release")
  // that have returned; a call counts after its effect.
  int calls(const std::string& what);
  std::vector<coord::PodRecord> published();
  // Unexpired slot holders of `service` → their token.
  std::map<std::string, int64_t> holders(const std::string& service);

  Status publish(const coord::PodRecord& pod, Duration ttl) override;
  Result<std::vector<coord::PodRecord>> pods(const std::string& service) override;
  Result<coord::SlotAttempt> acquireSlot(const std::string& service, const std::string& holder,
                                         int64_t limit, Duration ttl) override;
  Result<bool> renewSlot(const std::string& service, const std::string& holder, int64_t token,
                         Duration ttl) override;
  Status releaseSlot(const std::string& service, const std::string& holder,
                     int64_t token) override;

 private:
  class Counted;
  void putLocked(coord::PodRecord p, Duration ttl);
  Status enter();

  SimulatedClock& clock_;
  TimePoint t0_;
  std::mutex mu_;
  bool down_ = false;
  int64_t fence_ = 0;
  std::map<std::string, std::map<std::string, std::pair<coord::PodRecord, TimePoint>>> pods_;
  std::map<std::string, std::map<std::string, std::pair<int64_t, TimePoint>>> slots_;
  std::vector<std::pair<Duration, std::function<void()>>> script_;
  std::map<std::string, int> calls_;
  std::vector<coord::PodRecord> published_;
};

// Records every coordination wait (reason, time taken), errors and cycles.
// Thread-safe: read `waits` under `mu`.
class RecordingCoordinationObserver final : public coord::Observer {
 public:
  void onCoordinationWait(std::string_view reason, Duration took) override {
    std::lock_guard lock(mu);
    waits.emplace_back(std::string(reason), took);
  }
  void onCoordinationError() override { errors++; }
  void onCoordinationCycle() override { cycles++; }
  std::mutex mu;
  std::vector<std::pair<std::string, Duration>> waits;
  std::atomic<int> errors{0}, cycles{0};
};

// Records the slot tokens it was asked to keep. Not thread-safe: read it
// after the exit.
class FakeSlotKeeper final : public coord::SlotKeeper {
 public:
  void holdSlot(int64_t token) override { held.push_back(token); }
  std::vector<int64_t> held;
};

}  // namespace lameduck::fakes
