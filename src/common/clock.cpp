#include "common/clock.h"

#include <cstdio>
#include <ctime>
#include <thread>

namespace lameduck {

TimePoint SystemClock::now() { return std::chrono::steady_clock::now(); }

WallTime SystemClock::wallNow() { return std::chrono::system_clock::now(); }

void SystemClock::sleepUntil(TimePoint deadline) { std::this_thread::sleep_until(deadline); }

bool SystemClock::waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            TimePoint deadline, const std::function<bool()>& wake) {
  return cv.wait_until(lock, deadline, wake);
}

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

SimulatedClock::SimulatedClock()
    : now_(TimePoint{} + std::chrono::hours(1)),
      wall_base_(WallTime{} + std::chrono::seconds(1'700'000'000)),
      mono_base_(now_) {}

TimePoint SimulatedClock::now() {
  std::lock_guard lock(mu_);
  return now_;
}

WallTime SimulatedClock::wallNow() {
  std::lock_guard lock(mu_);
  return wall_base_ + std::chrono::duration_cast<WallTime::duration>(now_ - mono_base_);
}

void SimulatedClock::sleepUntil(TimePoint deadline) {
  std::lock_guard lock(mu_);
  if (deadline > now_) now_ = deadline;
}

bool SimulatedClock::waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                               TimePoint deadline, const std::function<bool()>& wake) {
  // Simulated time moves in jumps made by other threads, which do not know
  // about `cv`: look again every millisecond of real time.
  while (!wake() && now() < deadline) cv.wait_for(lock, std::chrono::milliseconds(1));
  return wake();
}

void SimulatedClock::advance(Duration d) {
  std::lock_guard lock(mu_);
  if (d > Duration::zero()) now_ += d;
}

std::string formatRfc3339(WallTime t) {
  using namespace std::chrono;
  auto secs = time_point_cast<seconds>(t);
  auto ms = duration_cast<milliseconds>(t - secs).count();
  std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace lameduck
