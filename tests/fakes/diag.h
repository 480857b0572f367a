#pragma once

// Fakes for the exit diagnosis (src/diag): a goroutine dump source that
// answers from a script, and a stuck-shutdown observer that records what
// it was told. Not thread-safe: the diagnosis and the watcher call them on
// the thread that runs them; tests read them afterwards.

#include <optional>
#include <vector>

#include "common/clock.h"
#include "diag/diagnosis.h"
#include "diag/fetch.h"

namespace lameduck::fakes {

// Answers fetch N with answers[N] (kUnavailable "no more answers" past the
// end) and notes the timeout of every fetch.
class FakeDumpSource final : public diag::DumpSource {
 public:
  std::vector<Result<diag::Dump>> answers;  // one per fetch, in order
  std::vector<Duration> timeouts;           // one per fetch, in order

  Result<diag::Dump> fetch(Duration timeout) override;
  std::string source() const override;
  int fetches() const { return static_cast<int>(timeouts.size()); }
  // The timeout of the last fetch; zero before the first.
  Duration lastTimeout() const { return timeouts.empty() ? Duration{} : timeouts.back(); }
};

// Keeps the last stuck report and the last dump failure.
class RecordingStuckObserver final : public diag::StuckObserver {
 public:
  void onShutdownStuck(const diag::StuckReport& s) override { stuck = s; }
  void onShutdownDumpFailed(const Error& e) override { failed = e; }
  std::optional<diag::StuckReport> stuck;
  std::optional<Error> failed;
};

}  // namespace lameduck::fakes
