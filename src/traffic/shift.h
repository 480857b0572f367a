#pragma once

// The traffic shift: the first thing the Draining phase does before the app
// is told to drain. For each configured step it sets the weight (retrying
// transient errors with backoff), holds it, and checks the error-rate gate;
// a gate that does not pass is re-checked every gate.interval while the step
// holds (on_fail: hold) or ignored (on_fail: continue). Both cases are logged
// and counted. No data is inconclusive, never a pass.
//
// Budget: the plan gets what is left of the Draining phase minus what the
// drain after it needs at least (the quiet period plus one app call). When
// the configured holds do not fit, every hold is scaled down by the same
// factor and the summary says so. Each step's share of that time is in
// proportion to its hold; with on_fail: hold a gate that keeps failing holds
// the weight until the step's share ends, then the shift moves on (the pod
// is going away either way), recorded as "held".
//
// Trace: each traffic step is a child span `traffic_step` of the shift's
// span (weight, planned hold, attempts, gate result, error rate and checks,
// result; a `gate_held` event for each check that held the weight), and the
// shift's span says when the holds were shortened (`budget_shortened`).
//
// Failure: a weight that cannot be set (retries spent, or a permanent
// refusal) ends the step `failed`, naming the weight and the backend's
// error; nothing throws. Ownership: the step owns its backend and gate and
// borrows the observer (and, through them, the app client and clock given
// to makeShiftStep), which must outlive it. Thread-safety: runs on the exit
// thread only.

#include <memory>
#include <optional>

#include "app/app_client.h"
#include "config/config.h"
#include "exit/step.h"
#include "traffic/backend.h"
#include "traffic/report.h"

namespace lameduck::traffic {

// How the plan's holds fit into `available`. Pure; exposed for tests.
struct FittedPlan {
  Duration configured{};  // sum of the configured holds
  bool shortened = false;
  std::vector<Duration> holds;   // per step, after scaling
  std::vector<Duration> shares;  // per step: hold plus its part of any slack
};
FittedPlan fitPlan(const std::vector<config::TrafficStep>& steps, Duration available);

class ShiftStep final : public exit::Step {
 public:
  // `gate` may be null (gate.source none). `reserve_after` is kept free for
  // the drain that follows.
  ShiftStep(const config::TrafficConfig& config, Duration reserve_after,
            std::unique_ptr<Backend> backend, std::unique_ptr<Gate> gate, ShiftObserver& observer);
  std::string_view name() const override { return "traffic_shift"; }
  exit::StepResult run(exit::StepContext& ctx) override;
  // What the last run reported (the `traffic` section); nullopt before the
  // first run. Exit thread only.
  const std::optional<TrafficReport>& lastReport() const { return last_; }

 private:
  // Sets the weight, retrying transient errors until `until`.
  Result<std::string> setWeight(exit::StepContext& ctx, int64_t percent, TimePoint until,
                                TrafficStepReport& report);
  // One gate check; records it. Returns true when it passed.
  bool checkGate(exit::StepContext& ctx, TimePoint until, TrafficStepReport& report);
  // A fresh report for this shift (last_), its span attributes, and the
  // budget_shortened event when the holds had to shrink.
  void startReport(exit::StepContext& ctx, const FittedPlan& plan, Duration available);
  // One weight step: set it (retried), hold it, check the gate; its report,
  // metrics and child span. An error when the weight could not be set.
  Status runStep(exit::StepContext& ctx, const config::TrafficStep& step, Duration planned,
                 TimePoint share_end);
  // The gate after a step's hold: checked once, and with on_fail: hold
  // again every gate.interval until it passes or the step's share ends.
  // Sets cur.result; gate_held events go to `held`.
  void gateStep(exit::StepContext& ctx, TimePoint share_end, TrafficStepReport& cur,
                std::vector<exit::ChildSpan::Event>& held);

  config::TrafficConfig config_;
  Duration reserve_after_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Gate> gate_;
  ShiftObserver& observer_;
  std::optional<TrafficReport> last_;
};

}  // namespace lameduck::traffic

namespace lameduck::traffic {

// The shift step for a configuration, with the real backend and gate; null
// when traffic.backend is none. `app` (may be null) serves gate.source app,
// which needs it: the loader requires app.base_url for that source, so a null
// `app` there is the caller's mistake (kInternal).
// The kubernetes backend reads the cluster configuration here, so a missing
// token or CA fails at start, not during an exit.
Result<std::unique_ptr<exit::Step>> makeShiftStep(const config::Config& config, app::AppClient* app,
                                                  const std::string& pod,
                                                  const std::string& namespace_, Clock& clock,
                                                  ShiftObserver& observer);

}  // namespace lameduck::traffic
