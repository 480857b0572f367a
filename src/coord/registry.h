#pragma once

// Keeps this pod's registration and exit slot alive in the coordination
// store from a background thread:
//   - registers {service, pod, state, wait_for, updated_at, slot} on start
//     and again at once on every exit transition (it is an ExitObserver);
//   - refreshes the registration every `heartbeat`, with a TTL of three
//     heartbeats, so a pod that crashed disappears after its TTL;
//   - renews the exit slot the exit took (holdSlot) on the same beat, and
//     gives it back when the exit reaches Terminated.
// The store is advisory: a failed call is logged at warn (once per outage),
// counted, and tried again at the next beat; it never delays the exit,
// whose thread only records what changed and wakes this one.
//
// Ownership: the registry owns its backend and its thread; `clock` and
// `observer` are borrowed and must outlive it. Thread-safety: start() and
// stop() are called from one thread (the composition root's, the main
// thread); holdSlot() and onTransition() from any thread.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "coord/backend.h"
#include "coord/settings.h"
#include "exit/engine.h"

namespace lameduck::coord {

class Registry final : public exit::ExitObserver, public SlotKeeper {
 public:
  // `backend` is used by the registry's thread only.
  Registry(Clock& clock, std::unique_ptr<Backend> backend, const Settings& settings,
           Observer& observer);
  // Stops the thread (see stop()).
  ~Registry() override;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Starts the thread; the first registration (state Ready) is written at
  // once. Only when settings.service is set; otherwise a no-op.
  void start();
  // Writes what is still pending (the last state, a slot release), then
  // ends the thread. Bounded by one round of store calls. Idempotent.
  void stop();

  // The exit took exit slot `token`: renew it every beat until Terminated,
  // then release it. Thread-safe.
  void holdSlot(int64_t token) override;

  // exit::ExitObserver (called on the exit thread; only records and wakes).
  void onTransition(exit::State from, exit::State to) override;

 private:
  void run();
  // One round: publish, renew or release. Called without mu_ held.
  void beat(exit::State state, std::optional<int64_t> token, bool release);
  void failed(const std::string& what, const Error& e);
  void succeeded();

  Clock& clock_;
  std::unique_ptr<Backend> backend_;
  Settings settings_;
  Observer& observer_;

  std::mutex mu_;
  std::condition_variable cv_;
  exit::State state_ = exit::State::kReady;  // guarded by mu_
  std::optional<int64_t> slot_;              // guarded by mu_
  bool dirty_ = true;                        // guarded by mu_: write at once
  bool stopping_ = false;                    // guarded by mu_
  bool failing_ = false;                     // registry thread only
  std::thread thread_;
};

}  // namespace lameduck::coord
