#include "coord/registry.h"

#include "common/log.h"

namespace lameduck::coord {

Registry::Registry(Clock& clock, std::unique_ptr<Backend> backend, const Settings& settings,
                   Observer& observer)
    : clock_(clock), backend_(std::move(backend)), settings_(settings), observer_(observer) {}

Registry::~Registry() { stop(); }

void Registry::start() {
  if (!settings_.registers() || thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Registry::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Registry::holdSlot(int64_t token) {
  {
    std::lock_guard lock(mu_);
    slot_ = token;
    dirty_ = true;  // the registration shows the slot
  }
  cv_.notify_all();
}

void Registry::onTransition(exit::State, exit::State to) {
  {
    std::lock_guard lock(mu_);
    state_ = to;
    dirty_ = true;
  }
  cv_.notify_all();
}

void Registry::run() {
  std::unique_lock lock(mu_);
  TimePoint next = clock_.now();
  for (;;) {
    const bool stopping = stopping_;
    if (dirty_ || clock_.now() >= next || stopping) {
      dirty_ = false;
      const exit::State state = state_;
      const std::optional<int64_t> slot = slot_;
      const bool release = state == exit::State::kTerminated;
      lock.unlock();
      next = clock_.now() + settings_.heartbeat;
      beat(state, slot, release);
      lock.lock();
      if (release && slot_ == slot) slot_.reset();
    }
    if (stopping) return;
    clock_.waitUntil(cv_, lock, next, [this] { return dirty_ || stopping_; });
  }
}

void Registry::beat(exit::State state, std::optional<int64_t> token, bool release) {
  PodRecord me{settings_.service,
               settings_.pod,
               std::string(exit::stateName(state)),
               settings_.wait_for,
               formatRfc3339(clock_.wallNow()),
               release ? std::nullopt : token};
  bool ok = true;
  if (auto s = backend_->publish(me, settings_.ttl()); !s) {
    failed("registering the pod", s.error());
    ok = false;
  }
  if (token && release) {
    if (auto s = backend_->releaseSlot(settings_.service, settings_.pod, *token); !s) {
      // The lease runs out by itself within its TTL.
      failed("releasing the exit slot", s.error());
      ok = false;
    } else {
      log::audit("coordination_slot_released",
                 {{"service", settings_.service}, {"pod", settings_.pod}, {"token", *token}});
    }
  } else if (token) {
    auto renewed = backend_->renewSlot(settings_.service, settings_.pod, *token, settings_.ttl());
    if (!renewed) {
      failed("renewing the exit slot", renewed.error());
      ok = false;
    } else if (!*renewed) {
      observer_.onCoordinationError();
      log::warn("exit slot lease lost (it expired before it was renewed); the exit goes on",
                {{"service", settings_.service}, {"token", *token}});
      std::lock_guard lock(mu_);
      if (slot_ == token) slot_.reset();
    }
  }
  if (ok) succeeded();
}

void Registry::failed(const std::string& what, const Error& e) {
  observer_.onCoordinationError();
  if (!failing_) {
    log::warn("coordination store unreachable; retrying every heartbeat",
              {{"during", what}, {"error", e.message}});
  }
  failing_ = true;
}

void Registry::succeeded() {
  if (failing_) log::info("coordination store reachable again");
  failing_ = false;
}

}  // namespace lameduck::coord
