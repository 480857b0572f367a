#pragma once

// The exit steps of exit diagnosis (docs/diagnosis.md):
// - BaselineStep, the first Draining step: dump (1), the baseline.
// - DeadlineDumpStep, right after the drain wait: when the wait ended in
//   deadline, dump (2) reported as the summary section `diagnosis`. Its
//   grace lets it run when the Draining budget is used up; the fetch is
//   bounded by app.timeout.
// Dump (3), after SIGTERM, is the ShutdownWatcher's (diag/watcher.h).
//
// Thread-safety: steps run on the exit thread; the Diagnosis they share is
// thread-safe.

#include <string>

#include "diag/diagnosis.h"
#include "exit/step.h"

namespace lameduck::diag {

// The summary section of dump (2).
inline constexpr std::string_view kDiagnosisSection = "diagnosis";

class BaselineStep final : public exit::Step {
 public:
  // `diagnosis` must outlive the step; `timeout` is app.timeout.
  BaselineStep(Diagnosis& diagnosis, Duration timeout) : diagnosis_(diagnosis), timeout_(timeout) {}
  std::string_view name() const override { return "diagnosis_baseline"; }
  // ok; a failed fetch is `skipped` with the error (never `failed`: a
  // diagnosis does not change the exit's outcome; later reports then have
  // no baseline).
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  Diagnosis& diagnosis_;
  Duration timeout_;
};

class DeadlineDumpStep final : public exit::Step {
 public:
  // `diagnosis` must outlive the step; `drain_step` is the name of the drain
  // wait step whose deadline triggers the dump.
  DeadlineDumpStep(Diagnosis& diagnosis, Duration timeout, std::string drain_step)
      : diagnosis_(diagnosis), timeout_(timeout), drain_step_(std::move(drain_step)) {}
  std::string_view name() const override { return "diagnosis"; }
  Duration grace() const override { return timeout_; }
  // skipped when the drain wait did not end in deadline; ok with the
  // report's summary line and the section `diagnosis`; skipped with the
  // error (and the section holding {source, error}) when the dump could not
  // be taken.
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  Diagnosis& diagnosis_;
  Duration timeout_;
  std::string drain_step_;
};

}  // namespace lameduck::diag
