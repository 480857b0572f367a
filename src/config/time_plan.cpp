// How the grace period is shared between lameduck's exit and the app's own
// shutdown (declared in config.h).
//
// The kubelet's grace period covers both the preStop hook (lameduck's exit)
// and the app's SIGTERM handling, which starts when the hook answers. When
// the drain wait runs its whole drain.max_wait, the hook answers at the
// latest after the planned traffic holds, max_wait and the compensation
// reserve; what is left of the grace period is the app's. lameduck wants that
// to be at least exit.app_shutdown, plus exit.safety_margin.

#include <algorithm>

#include "common/parse.h"
#include "config/config.h"

namespace lameduck::config {

Duration plannedHolds(const Config& c) {
  if (c.traffic.backend == TrafficBackend::kNone) return Duration::zero();
  Duration sum = Duration::zero();
  for (const TrafficStep& s : c.traffic.steps) sum += s.hold;
  return sum;
}

Duration autoMaxWait(const Config& c) {
  const ExitConfig& e = c.exit;
  const Duration fits = e.draining() - e.app_shutdown - plannedHolds(c);
  return fits > Duration::zero() ? fits : e.draining();
}

Duration appShutdownLeft(const Config& c) {
  const ExitConfig& e = c.exit;
  // The drain wait ends at max_wait after the holds, or at the end of
  // Draining, whichever is first; compensation may take its whole reserve.
  const Duration drain_end = std::min(e.draining(), plannedHolds(c) + c.drain.max_wait);
  return e.grace_period - drain_end - e.compensation_reserve;
}

std::vector<std::string> warnings(const Config& c) {
  std::vector<std::string> out;
  const Duration left = appShutdownLeft(c);
  if (left >= c.exit.app_shutdown) return out;
  const Duration holds = plannedHolds(c);
  std::string m = "drain.max_wait " + formatDuration(c.drain.max_wait) +
                  (c.drain.max_wait_auto ? " (derived)" : "") + " leaves the app " +
                  formatDuration(std::max(left, Duration::zero())) + " of the " +
                  formatDuration(c.exit.grace_period) +
                  " grace period for its own shutdown when the drain runs out of time";
  if (holds > Duration::zero()) m += " after " + formatDuration(holds) + " of traffic holds";
  m += ", less than exit.app_shutdown " + formatDuration(c.exit.app_shutdown) +
       ": the kubelet may SIGKILL the app mid-shutdown. ";
  const Duration fits = c.exit.draining() - c.exit.app_shutdown - holds;
  if (fits > Duration::zero()) {
    m += "Lower drain.max_wait to " + formatDuration(fits) + " or raise exit.grace_period";
  } else {
    m += "Raise exit.grace_period, or lower exit.app_shutdown, exit.compensation_reserve or the "
         "traffic holds";
  }
  out.push_back(std::move(m));
  return out;
}

}  // namespace lameduck::config
