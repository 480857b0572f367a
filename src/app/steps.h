#pragma once

// Steps that drive the app through the drain protocol's hooks: tell it to
// drain, (without a hand-off) look at its pending compensations, and tell it
// to terminate. Each call is bounded by app.timeout and by what is left of
// the phase, and carries the traceparent of the step's own span. The step's
// span says which hook was called (app.hook), the HTTP status of the answer
// (http.response.status_code) and, when the call failed, the error
// (app.hook.error, app.hook.error_kind). A call that ran out of time ends
// the step `deadline`, any other failed call `failed`, with the client's
// error as the detail. They run on the exit thread; the app client is
// borrowed and must outlive them.

#include "app/app_client.h"
#include "exit/step.h"

namespace lameduck::app {

// POST <drain hook>: the app stops taking new work.
class DrainHookStep final : public exit::Step {
 public:
  DrainHookStep(AppClient& app, Duration timeout) : app_(app), timeout_(timeout) {}
  std::string_view name() const override { return "app_drain_hook"; }
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  AppClient& app_;
  Duration timeout_;
};

// GET <compensations hook>: records in the summary section `compensations`
// how many compensations are pending and how many entries were refused.
// Does not acknowledge anything: the plan of a sidecar with somewhere to
// write them uses the hand-off step (src/saga) instead.
class FetchCompensationsStep final : public exit::Step {
 public:
  FetchCompensationsStep(AppClient& app, Duration timeout) : app_(app), timeout_(timeout) {}
  std::string_view name() const override { return "app_compensations_fetch"; }
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  AppClient& app_;
  Duration timeout_;
};

// POST <terminate hook>.
class TerminateHookStep final : public exit::Step {
 public:
  TerminateHookStep(AppClient& app, Duration timeout) : app_(app), timeout_(timeout) {}
  std::string_view name() const override { return "app_terminate_hook"; }
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  AppClient& app_;
  Duration timeout_;
};

}  // namespace lameduck::app
