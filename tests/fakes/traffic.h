#pragma once

// Fakes for the traffic shift (src/traffic) in simulated time: a backend
// that records every weight change, a gate that answers from a script, and
// an observer that records what the shift told it. Not thread-safe: the
// shift calls them from the exit thread; tests read them after the exit.

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "traffic/backend.h"

namespace lameduck::fakes {

using namespace std::chrono_literals;

// Records every weight change; each call takes `takes` of simulated time
// (at most its timeout) and answers from `errors` first (one per call)
// while there are any.
class FakeTrafficBackend final : public traffic::Backend {
 public:
  explicit FakeTrafficBackend(SimulatedClock& clock) : clock_(clock) {}
  std::string_view name() const override { return "fake"; }
  Result<std::string> setWeight(int64_t percent, Duration timeout) override;

  struct Call {
    int64_t weight;
    TimePoint at;
  };
  std::vector<Call> calls;
  std::deque<Error> errors;
  Duration takes = 10ms;

 private:
  SimulatedClock& clock_;
};

// Answers from `readings` in order (the last one repeats) and notes when it
// was read.
class FakeGate final : public traffic::Gate {
 public:
  explicit FakeGate(SimulatedClock& clock) : clock_(clock) {}
  std::string_view name() const override { return "fake"; }
  Result<traffic::GateReading> read(Duration) override;

  std::deque<Result<traffic::GateReading>> readings{traffic::GateReading{0.0, "ok"}};
  std::vector<TimePoint> reads;

 private:
  SimulatedClock& clock_;
};

// Records the weights set, the step results and the gate checks, in order.
class RecordingShiftObserver final : public traffic::ShiftObserver {
 public:
  void onWeight(int64_t percent) override { weights.push_back(percent); }
  void onTrafficStep(std::string_view result) override { steps.emplace_back(result); }
  void onGateCheck(std::string_view result) override { checks.emplace_back(result); }
  std::vector<int64_t> weights;
  std::vector<std::string> steps;
  std::vector<std::string> checks;
};

}  // namespace lameduck::fakes
