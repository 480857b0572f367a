#pragma once

// Steps that drive the app through the drain protocol (DESIGN.md). Each call
// is bounded by app.timeout and by what is left of the phase.

#include "app/app_client.h"
#include "config/config.h"
#include "drain/connections.h"
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

// Waits until the app is drained: in-flight work the app reports is 0 (when
// it has hooks), established connections on app.ports are at most
// drain.max_connections, and no new connection arrived for
// drain.quiet_period (counted from the start of the wait, so it also covers
// the time endpoint removal takes to reach load balancers). Polls every
// poll_interval, bounded by max_wait and the phase deadline. Whatever cannot
// be read counts as not drained.
class DrainWaitStep final : public Step {
 public:
  // Either `app` or `connections` may be null (not configured).
  DrainWaitStep(app::AppClient* app, drain::ConnectionSource* connections,
                const config::Config& config);
  std::string_view name() const override { return "drain_wait"; }
  StepResult run(StepContext& ctx) override;

 private:
  app::AppClient* app_;
  drain::ConnectionSource* connections_;
  Duration timeout_;
  config::DrainConfig drain_;
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

// The plan for a configuration: the app hooks when `app` is given
// (app.base_url set), the drain wait when there is an app or tracked ports.
// Either pointer may be null; both must outlive the plan.
// `handoff` replaces the fetch-only compensation step when given.
ExitPlan makeAppPlan(const config::Config& config, app::AppClient* app,
                     drain::ConnectionSource* connections = nullptr,
                     std::unique_ptr<Step> handoff = nullptr);

}  // namespace lameduck::exit
