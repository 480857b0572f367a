#pragma once

// Time as lameduck sees it. Every deadline and every wait goes through a
// Clock so that tests can run the exit engine in simulated time.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

namespace lameduck {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

// Thread-safe. now() is monotonic; wallNow() is only for timestamps shown to
// people (RFC 3339 in logs and summaries), never for deadlines.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() = 0;
  virtual WallTime wallNow() = 0;
  // Blocks until now() >= deadline. Returns at once when the deadline is past.
  virtual void sleepUntil(TimePoint deadline) = 0;

  void sleepFor(Duration d) { sleepUntil(now() + d); }

  // For background threads that must stop promptly: blocks until `wake()`
  // holds or now() >= deadline, re-checking `wake` whenever `cv` is
  // notified. `lock` holds the mutex guarding what `wake` reads. Returns
  // wake(). Unlike sleepUntil it never moves a simulated clock: a background
  // wait lasts until someone else advances time (or wakes it).
  virtual bool waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         TimePoint deadline, const std::function<bool()>& wake) = 0;
};

// The real clock: steady_clock and system_clock.
class SystemClock final : public Clock {
 public:
  TimePoint now() override;
  WallTime wallNow() override;
  void sleepUntil(TimePoint deadline) override;
  bool waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline, const std::function<bool()>& wake) override;

  // A process-wide instance; stateless, so sharing it is safe.
  static SystemClock& instance();
};

// Simulated time for tests: sleeping advances the clock at once instead of
// waiting, so a 30 s exit budget runs in microseconds. Thread-safe; time only
// moves forward.
class SimulatedClock final : public Clock {
 public:
  SimulatedClock();
  TimePoint now() override;
  WallTime wallNow() override;
  void sleepUntil(TimePoint deadline) override;
  bool waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline, const std::function<bool()>& wake) override;
  void advance(Duration d);

 private:
  std::mutex mu_;
  TimePoint now_;
  WallTime wall_base_;
  TimePoint mono_base_;
};

// "2026-11-24T20:56:01.123Z" (UTC, milliseconds).
std::string formatRfc3339(WallTime t);

// Seconds as a double, for metrics and JSON.
inline double toSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline double toMillis(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace lameduck
