#pragma once

// A clock that tells the time of another and records every sleep asked of
// it: for code that runs on the real clock (real servers, real sockets)
// where a test must prove that something did not wait, without a
// wall-clock bound. Thread-safe (the sleeps are recorded under a mutex).

#include <mutex>
#include <vector>

#include "common/clock.h"

namespace lameduck::fakes {

class SleepRecordingClock final : public Clock {
 public:
  explicit SleepRecordingClock(Clock& inner) : inner_(inner) {}
  TimePoint now() override { return inner_.now(); }
  WallTime wallNow() override { return inner_.wallNow(); }
  void sleepUntil(TimePoint deadline) override {
    {
      std::lock_guard lock(mu_);
      sleeps_.push_back(deadline - inner_.now());
    }
    inner_.sleepUntil(deadline);
  }
  bool waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline, const std::function<bool()>& wake) override {
    return inner_.waitUntil(cv, lock, deadline, wake);
  }
  // How long each sleepUntil was asked to sleep (from when it was called),
  // in order.
  std::vector<Duration> sleeps() const {
    std::lock_guard lock(mu_);
    return sleeps_;
  }

 private:
  Clock& inner_;
  mutable std::mutex mu_;
  std::vector<Duration> sleeps_;
};

}  // namespace lameduck::fakes
