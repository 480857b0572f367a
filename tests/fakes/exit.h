#pragma once

// Fakes and helpers for tests of the exit engine and of steps: an observer
// that records what it was told, the one observer that ignores everything,
// a recorder that keeps what a step reported, steps that use simulated time
// or note the time they were given, and readers of a summary.

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "exit/engine.h"

namespace lameduck::fakes {

using namespace std::chrono_literals;
using exit::Phase;
using exit::State;
using exit::StepReport;
using exit::Summary;

// Records transitions, phases, steps and exits. Thread-safe.
class RecordingObserver final : public exit::ExitObserver {
 public:
  void onExitStarted(const exit::ExitStart& s) override {
    std::lock_guard lock(mu);
    started.push_back(s);
  }
  void onTransition(State from, State to) override {
    std::lock_guard lock(mu);
    transitions.emplace_back(from, to);
  }
  void onPhaseStarted(const exit::PhaseTiming& p) override {
    std::lock_guard lock(mu);
    phases_started.push_back(p);
  }
  void onStepDone(const StepReport& r) override {
    std::lock_guard lock(mu);
    steps.push_back(r);
  }
  void onPhaseDone(const exit::PhaseTiming& p) override {
    std::lock_guard lock(mu);
    phases_done.push_back(p);
  }
  void onExitDone(const Summary&) override { exits++; }

  std::mutex mu;
  std::vector<exit::ExitStart> started;
  std::vector<std::pair<State, State>> transitions;
  std::vector<exit::PhaseTiming> phases_started;
  std::vector<exit::PhaseTiming> phases_done;
  std::vector<StepReport> steps;
  std::atomic<int> exits{0};
};

// An exit observer that ignores everything: for an engine whose
// notifications the test does not look at.
class NullExitObserver final : public exit::ExitObserver {};

// An ExitRecorder that keeps the sections and span attributes a step
// reported (a later one replaces an earlier one of the same name), for
// tests that run a step without an engine. Not thread-safe: read it after
// the step returned.
class RecordingExitRecorder final : public exit::ExitRecorder {
 public:
  void section(std::string_view name, std::string json) override {
    sections[std::string(name)] = std::move(json);
  }
  void attribute(std::string key, exit::AttrValue value) override {
    attributes[std::move(key)] = std::move(value);
  }
  void event(std::string, exit::Attributes) override {}
  void span(exit::ChildSpan) override {}

  std::map<std::string, std::string> sections;
  std::map<std::string, exit::AttrValue> attributes;
};

// A step standing in for a later one (a drain after the steps under
// test): notes how much time it was given and succeeds at once. `given`
// must outlive the step.
class StandInStep final : public exit::Step {
 public:
  StandInStep(std::string name, Duration& given) : name_(std::move(name)), given_(given) {}
  std::string_view name() const override { return name_; }
  exit::StepResult run(exit::StepContext& ctx) override {
    given_ = ctx.remaining();
    return exit::StepResult::ok();
  }

 private:
  std::string name_;
  Duration& given_;
};

// A step that uses time: it takes `takes`, or overruns its deadline by `overrun`.
class TimedStep final : public exit::Step {
 public:
  TimedStep(SimulatedClock& clock, std::string name, std::optional<Duration> takes,
            Duration overrun = 0s)
      : clock_(clock), name_(std::move(name)), takes_(takes), overrun_(overrun) {}
  std::string_view name() const override { return name_; }
  exit::StepResult run(exit::StepContext& ctx) override {
    given = ctx.remaining();
    if (takes_) {
      clock_.advance(*takes_);
      return exit::StepResult::ok();
    }
    clock_.sleepUntil(ctx.deadline + overrun_);
    return exit::StepResult::deadline("waited until the deadline");
  }
  Duration given{};

 private:
  SimulatedClock& clock_;
  std::string name_;
  std::optional<Duration> takes_;
  Duration overrun_;
};

// The value of the span attribute `key` as a T; nullopt when it is missing
// or of another type.
template <typename T>
std::optional<T> attributeAs(const exit::Attributes& attributes, std::string_view key) {
  for (const exit::Attribute& a : attributes) {
    if (a.key == key && std::holds_alternative<T>(a.value)) return std::get<T>(a.value);
  }
  return std::nullopt;
}
template <typename T>
std::optional<T> attributeAs(const StepReport& step, std::string_view key) {
  return attributeAs<T>(step.attributes, key);
}

// The report of the step called `name`; null when there is none.
const StepReport* findStep(const Summary& s, std::string_view name);

// A section of the summary as parsed JSON text, for assertions (an empty
// string when the section is missing: parse it and the test fails with a
// message). Use with nlohmann::json::parse.
std::string sectionText(const Summary& s, std::string_view name);

}  // namespace lameduck::fakes
