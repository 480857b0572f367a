#include "traffic/gate.h"
#include "traffic/haproxy.h"
#include "traffic/kubernetes.h"
#include "traffic/shift.h"
#include "traffic/webhook.h"

namespace lameduck::traffic {

Result<std::unique_ptr<exit::Step>> makeShiftStep(const config::Config& config, app::AppClient* app,
                                                  const std::string& pod,
                                                  const std::string& namespace_, Clock& clock,
                                                  ShiftObserver& observer) {
  const config::TrafficConfig& t = config.traffic;
  std::unique_ptr<Backend> backend;
  switch (t.backend) {
    case config::TrafficBackend::kNone:
      return nullptr;
    case config::TrafficBackend::kHaproxy:
      backend = std::make_unique<HaproxyBackend>(t.haproxy, clock);
      break;
    case config::TrafficBackend::kWebhook:
      backend = std::make_unique<WebhookBackend>(t.webhook, pod, namespace_, clock);
      break;
    case config::TrafficBackend::kKubernetes: {
      // Read at start, so that a missing token or CA fails the sidecar's
      // start, not the exit. The object and the patch template were
      // checked with the config.
      auto cluster = kube::clusterConfig(t.kubernetes);
      if (!cluster) return std::unexpected(cluster.error());
      backend = std::make_unique<KubernetesBackend>(t.kubernetes, std::move(*cluster), pod,
                                                    namespace_, clock);
      break;
    }
  }
  std::unique_ptr<Gate> gate;
  switch (t.gate.source) {
    case config::GateSource::kNone:
      break;
    case config::GateSource::kPrometheus:
      gate =
          std::make_unique<PrometheusGate>(*t.gate.prometheus_url, t.gate.prometheus_query, clock);
      break;
    case config::GateSource::kApp:
      // The loader refuses source app without app.base_url, so a missing
      // client here is the caller's mistake.
      if (!app) {
        return makeError(ErrorCode::kInternal, "gate source app: no app client was given");
      }
      gate = std::make_unique<AppGate>(*app);
      break;
  }
  // The drain after the shift needs at least its quiet period and one app
  // call; the shift never takes that.
  const Duration reserve_after =
      config.drain.quiet_period + (app ? config.app.timeout : Duration{});
  return std::make_unique<ShiftStep>(t, reserve_after, std::move(backend), std::move(gate),
                                     observer);
}

}  // namespace lameduck::traffic
