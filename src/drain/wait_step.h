#pragma once

// The drain wait (Draining, after the app was told to drain): waits until
// the app is drained, and owns the summary sections `app` and `drain`.
//
// Drained means, all at once: in-flight work the app reports is 0 (when it
// has hooks), busy connections on app.ports are at most
// drain.max_connections (idle ones never count; see drain/activity.h), and
// no request bytes and no new connection arrived for drain.quiet_period
// (counted from the start of the wait, so it also covers the time endpoint
// removal takes to reach load balancers). Polls every
// poll_interval, bounded by max_wait and the phase deadline. Whatever cannot
// be read counts as not drained: the step then ends `deadline`, naming what
// held it.
//
// Runs on the exit thread only. The app client, the connection source and
// the observer are borrowed and must outlive the step.

#include "app/app_client.h"
#include "config/config.h"
#include "drain/connections.h"
#include "drain/report.h"
#include "exit/step.h"

namespace lameduck::drain {

class DrainWaitStep final : public exit::Step {
 public:
  // Either `app` or `connections` may be null (not configured).
  // `grace_period` (exit.grace_period) is only used to say how much of it
  // the app had left for its own shutdown when the wait ended.
  DrainWaitStep(app::AppClient* app, ConnectionSource* connections,
                const config::DrainConfig& config, Duration app_timeout, Duration grace_period,
                Observer& observer);
  std::string_view name() const override { return "drain_wait"; }
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  void publish(exit::StepContext& ctx);

  app::AppClient* app_;
  ConnectionSource* connections_;
  Duration timeout_;
  Duration grace_period_;
  config::DrainConfig drain_;
  Observer& observer_;
  AppFigures figures_;
  DrainReport report_;
};

// The sections as they stand before the drain wait ran (null figures).
exit::SectionDefault appSectionDefault();
exit::SectionDefault drainSectionDefault();

}  // namespace lameduck::drain
