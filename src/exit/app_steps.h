#pragma once

// Steps that drive the app through the drain protocol (DESIGN.md). Each call
// is bounded by app.timeout and by what is left of the phase.

#include "app/app_client.h"
#include "config/config.h"
#include "exit/step.h"

namespace lameduck::exit {

// POST <drain hook>: the app stops taking new work.
class DrainHookStep final : public Step {
 public:
  DrainHookStep(app::AppClient& app, Duration timeout) : app_(app), timeout_(timeout) {}
  std::string_view name() const override { return "app_drain_hook"; }
  StepResult run(StepContext& ctx) override;

 private:
  app::AppClient& app_;
  Duration timeout_;
};

// Polls the status hook every poll_interval until in-flight work is 0,
// bounded by max_wait and the phase deadline. A status that cannot be read
// counts as not drained.
class InflightWaitStep final : public Step {
 public:
  InflightWaitStep(app::AppClient& app, Duration timeout, Duration poll_interval, Duration max_wait)
      : app_(app), timeout_(timeout), poll_(poll_interval), max_wait_(max_wait) {}
  std::string_view name() const override { return "app_inflight_wait"; }
  StepResult run(StepContext& ctx) override;

 private:
  app::AppClient& app_;
  Duration timeout_;
  Duration poll_;
  Duration max_wait_;
};

// GET <compensations hook>: records how many compensations are pending and
// how many entries were refused. Does not acknowledge anything.
class FetchCompensationsStep final : public Step {
 public:
  FetchCompensationsStep(app::AppClient& app, Duration timeout) : app_(app), timeout_(timeout) {}
  std::string_view name() const override { return "app_compensations_fetch"; }
  StepResult run(StepContext& ctx) override;

 private:
  app::AppClient& app_;
  Duration timeout_;
};

// POST <terminate hook>.
class TerminateHookStep final : public Step {
 public:
  TerminateHookStep(app::AppClient& app, Duration timeout) : app_(app), timeout_(timeout) {}
  std::string_view name() const override { return "app_terminate_hook"; }
  StepResult run(StepContext& ctx) override;

 private:
  app::AppClient& app_;
  Duration timeout_;
};

// The plan for a configuration: the app hooks when app.base_url is set.
// `app` may be null when no app is configured.
ExitPlan makeAppPlan(const config::Config& config, app::AppClient* app);

}  // namespace lameduck::exit
