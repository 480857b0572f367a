#pragma once

// Pushes lameduck's final exit metrics to a Prometheus Pushgateway: a pod
// that is gone is never scraped again, so without the push the outcome and
// durations of its exit would vanish with it.
//
// One group per pod: PUT <url>/metrics/job/<job>/namespace/<ns>/pod/<pod>
// with the text exposition of every lameduck metric (PUT replaces the whole
// group: it is the pod's last word). The pod name comes from POD_NAME (the
// host name without it), the namespace from POD_NAMESPACE (left out of the
// group when unset).
//
// The push starts when the exit ends, after the final figures are recorded,
// on a thread of its own: it never delays /prestop, and so never takes time
// from the app's own shutdown after the hook returned. The sidecar waits for
// it before leaving, at most metrics.pushgateway.timeout. A failed push is
// logged at warn and counted in lameduck_pushgateway_push_failures_total.
//
// Ownership: FinalPush borrows the metrics and the clock, which must outlive
// it, and owns its push thread (joined by wait() or the destructor).
// Thread-safety: start() and onExitDone() from any thread; wait() from the
// owner's thread.

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "config/config.h"
#include "server/metrics.h"

namespace lameduck::server {

struct PushGrouping {
  std::string job;
  std::string namespace_;  // empty: not part of the group
  std::string pod;
};

// The group's path below the Pushgateway's base URL. A label value with
// characters outside [A-Za-z0-9._-] (or an empty one) is sent in the
// Pushgateway's base64url form ("/pod@base64/<value>").
std::string pushgatewayGroupPath(const PushGrouping& grouping);

// The grouping of this process: job from config, pod and namespace from the
// downward API (log::identity()), the host name when POD_NAME is unset.
PushGrouping podGrouping(const config::PushgatewayConfig& config);

// An exit observer: the push starts when the exit is done. Put it after the
// metrics in the observer list, so that it pushes the final figures.
class FinalPush final : public exit::ExitObserver {
 public:
  // Registers lameduck_pushgateway_push_failures_total in `metrics`; pushes
  // `metrics.render()`. `config.url` must be set.
  FinalPush(const config::PushgatewayConfig& config, PushGrouping grouping, Metrics& metrics,
            Clock& clock);
  ~FinalPush() override;  // waits for a push in flight (bounded by the timeout)
  FinalPush(const FinalPush&) = delete;
  FinalPush& operator=(const FinalPush&) = delete;

  // Renders the metrics now and starts pushing them in the background.
  // Only the first call pushes; thread-safe; returns at once.
  void start();
  void onExitDone(const exit::Summary&) override { start(); }

  // Waits for a started push to end and returns how it went (ok when none
  // was started). The push itself is bounded by the configured timeout.
  Status wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::server
