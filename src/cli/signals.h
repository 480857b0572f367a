#pragma once

// The signals lameduck handles, and what each one means (docs/signals.md):
//
//   SIGTERM, SIGINT  start the exit (as /prestop does); the process ends
//                    when the exit is done.
//   SIGQUIT          the same as SIGTERM: starts the exit. Never an
//                    immediate death (no core dump, no lost hand-off).
//   SIGHUP           logged ("config reload is not supported") and otherwise
//                    ignored: the running config stays as it is.
//   SIGUSR1          logs a state snapshot (what the composition root gives
//                    setSnapshot(); until then the process facts).
//   SIGPIPE          ignored: a peer closing a socket is an error value from
//                    write(), never a reason to die.
//
// All of them except SIGPIPE are blocked in main() before anything else runs
// (config loading, logging, threads), so every thread inherits the mask and
// no thread ever meets one with its default action: a signal that arrives
// early stays pending until the command waits for it. Short commands
// (check-config, prestop, spool) unblock them again and keep the default
// actions. What the kernel delivers before main() (while the dynamic loader
// runs) cannot be caught by any code of ours.

#include <signal.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace lameduck::cli {

// Blocks every handled signal in the calling thread and ignores SIGPIPE.
// Call first in main(), before any thread exists. Never fails.
void blockHandledSignals();

// Unblocks them again (for commands that do not wait for signals): a
// pending SIGTERM then ends the process as it would have.
void unblockHandledSignals();

// The signals that start the exit: SIGTERM, SIGINT, SIGQUIT.
sigset_t exitSignals();

// "SIGTERM", "SIGQUIT", ...; "signal N" for others.
std::string signalName(int sig);

// A thread that waits for SIGHUP and SIGUSR1 and logs what they mean. Start
// it after logging is initialised. The listener owns its thread; the
// destructor stops and joins it. What a snapshot reads is borrowed (see
// Snapshot).
// Thread-safe: setSnapshot may be called from any thread at any time.
class SignalListener {
 public:
  // What SIGUSR1 logs, as one JSON object text; must be cheap, must not
  // block, and must be cleared (set to {}) before what it reads is gone.
  using Snapshot = std::function<std::string()>;

  SignalListener();
  ~SignalListener();
  SignalListener(const SignalListener&) = delete;
  SignalListener& operator=(const SignalListener&) = delete;

  void setSnapshot(Snapshot snapshot);

 private:
  void loop();
  void onSignal(int sig);

  std::mutex mu_;
  Snapshot snapshot_;
  bool stop_ = false;
  std::thread thread_;
};

// Gives a listener a snapshot for as long as the lease lives and clears it
// on destruction (a snapshot in progress finishes first: both hold the
// listener's lock). Make it a member of whatever the snapshot reads,
// declared after what it reads. The listener must outlive the lease.
class SnapshotLease {
 public:
  SnapshotLease(SignalListener& listener, SignalListener::Snapshot snapshot) : listener_(listener) {
    listener_.setSnapshot(std::move(snapshot));
  }
  ~SnapshotLease() { listener_.setSnapshot({}); }
  SnapshotLease(const SnapshotLease&) = delete;
  SnapshotLease& operator=(const SnapshotLease&) = delete;

 private:
  SignalListener& listener_;
};

}  // namespace lameduck::cli
