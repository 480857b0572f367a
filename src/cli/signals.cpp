#include "cli/signals.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include "cli/handled_signals.h"
#include "common/log.h"

namespace lameduck::cli {
namespace {

sigset_t handledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kHandledSignals) sigaddset(&set, sig);
  return set;
}

sigset_t listenerSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  return set;
}

const auto kProcessStart = std::chrono::steady_clock::now();

}  // namespace

void blockHandledSignals() {
  const sigset_t set = handledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

void unblockHandledSignals() {
  const sigset_t set = handledSignals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

sigset_t exitSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kExitSignals) sigaddset(&set, sig);
  return set;
}

std::string signalName(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGHUP:
      return "SIGHUP";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "signal " + std::to_string(sig);
  }
}

SignalListener::SignalListener() : thread_([this] { loop(); }) {}

SignalListener::~SignalListener() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  // Directed at the listener thread, so only its sigwait can take it.
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void SignalListener::setSnapshot(Snapshot snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snapshot);
}

void SignalListener::loop() {
  const sigset_t set = listenerSignals();
  for (;;) {
    int sig = 0;
    if (int rc = sigwait(&set, &sig); rc != 0) {
      log::error("waiting for SIGHUP/SIGUSR1 failed; they stay blocked",
                 {{"error", std::strerror(rc)}});
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    onSignal(sig);
  }
}

void SignalListener::onSignal(int sig) {
  if (sig == SIGHUP) {
    log::warn(
        "SIGHUP received: config reload is not supported; the running config stays "
        "(restart the pod to change it)",
        {{"signal", "SIGHUP"}});
    return;
  }
  std::string snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (snapshot_) snapshot = snapshot_();
  }
  const auto uptime = std::chrono::steady_clock::now() - kProcessStart;
  log::info(
      "SIGUSR1 received: state snapshot",
      {{"signal", "SIGUSR1"},
       {"pid", static_cast<int64_t>(getpid())},
       {"uptime_ms", static_cast<int64_t>(
                         std::chrono::duration_cast<std::chrono::milliseconds>(uptime).count())},
       {"snapshot", snapshot.empty() ? std::string("{}") : snapshot}});
}

}  // namespace lameduck::cli
