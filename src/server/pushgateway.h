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
// from the app's own shutdown after the hook returned. What must be part of
// the pod's last word but comes after the exit (the after-SIGTERM
// diagnosis's lameduck_app_goroutines) is waited for on that thread, through
// the `ready` wait the push is given. The sidecar waits for the push before
// leaving: `ready`, then at most metrics.pushgateway.timeout. A failed push
// is logged at warn (with the target, the error and the timeout) and counted
// in lameduck_pushgateway_push_failures_total.
//
// Ownership: FinalPush borrows the metrics and the clock, which must outlive
// it, and owns its push thread (joined by wait() or the destructor).
// Thread-safety: start() and onExitDone() from any thread; wait() from the
// owner's thread.

#include <functional>
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

// What the push waits for before it renders the metrics; called on the
// push thread. It must be bounded (the after-SIGTERM watch's waitOver() is,
// by the exit budget) and report its own failures.
using PushReady = std::function<void()>;

// An exit observer: the push starts when the exit is done. Put it after the
// metrics in the observer list, so that it pushes the final figures.
class FinalPush final : public exit::ExitObserver {
 public:
  // Registers lameduck_pushgateway_push_failures_total in `metrics`; pushes
  // `metrics.render()` once `ready` (when given) has returned. `config.url`
  // must be set. `metrics`, `clock` and what `ready` reads must outlive the
  // push.
  FinalPush(const config::PushgatewayConfig& config, PushGrouping grouping, Metrics& metrics,
            Clock& clock, PushReady ready = {});
  // Waits for a push in flight (bounded: `ready`, then the timeout).
  ~FinalPush() override;
  FinalPush(const FinalPush&) = delete;
  FinalPush& operator=(const FinalPush&) = delete;

  // Starts the push in the background: waits for `ready`, renders the
  // metrics, pushes them. Only the first call pushes; thread-safe; returns
  // at once.
  void start();
  void onExitDone(const exit::Summary&) override { start(); }

  // Waits for a started push to end; returns at once when none was started.
  // How it went is the push's own to report (the log and the failure
  // counter above), so there is nothing to return.
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::server
