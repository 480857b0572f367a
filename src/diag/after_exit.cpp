#include "diag/after_exit.h"

#include "common/log.h"

namespace lameduck::diag {

AfterExitWatch::AfterExitWatch(Diagnosis& diagnosis, Clock& clock, AliveCheck alive,
                               WatchSettings settings, std::vector<StuckObserver*> observers)
    : clock_(clock),
      settings_(settings),
      watcher_(diagnosis, clock, std::move(alive), settings, std::move(observers)) {}

AfterExitWatch::~AfterExitWatch() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void AfterExitWatch::onExitDone(const exit::Summary& summary) {
  const TimePoint answered = clock_.now();
  // The budget counts from the start of the exit.
  const TimePoint deadline = answered - summary.elapsed + summary.budget;
  std::lock_guard lock(mu_);
  if (started_ || stopped_) return;  // one exit per process
  started_ = true;
  // The watcher returns by the deadline plus at most one dump fetch and one
  // alive check (each bounded by fetch_timeout, resp. poll).
  wait_bound_ = std::max(answered, deadline) + settings_.fetch_timeout + settings_.poll;
  thread_ = std::thread([this, answered, deadline] {
    WatchResult watched = watcher_.run(answered, deadline);
    log::info("after-SIGTERM watch done",
              {{"outcome", watchOutcomeName(watched.outcome)}, {"detail", watched.detail}});
    {
      std::lock_guard done(mu_);
      result_ = std::move(watched);
    }
    over_cv_.notify_all();
  });
}

void AfterExitWatch::stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  watcher_.stop();
}

bool AfterExitWatch::waitOver() {
  std::unique_lock lock(mu_);
  if (!started_) return true;
  return clock_.waitUntil(over_cv_, lock, wait_bound_, [this] { return result_.has_value(); });
}

std::optional<WatchResult> AfterExitWatch::result() const {
  std::lock_guard lock(mu_);
  return result_;
}

}  // namespace lameduck::diag
