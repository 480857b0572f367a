#include "config/cross_check.h"

#include <algorithm>

namespace lameduck::config {
namespace detail {
namespace {

void add(std::vector<CrossIssue>& out, std::optional<CrossIssue> issue) {
  if (issue) out.push_back(std::move(*issue));
}

std::optional<CrossIssue> checkBackend(const TrafficConfig& t) {
  switch (t.backend) {
    case TrafficBackend::kHaproxy:
      if (t.haproxy.server.empty())
        return CrossIssue{{"traffic", "haproxy"},
                          "traffic.haproxy.server",
                          "required when traffic.backend is haproxy (backend/server, e.g. "
                          "be_app/pod1)"};
      break;
    case TrafficBackend::kWebhook:
      if (!t.webhook.url)
        return CrossIssue{{"traffic", "webhook"},
                          "traffic.webhook.url",
                          "required when traffic.backend is webhook (http:// or https:// URL)"};
      break;
    case TrafficBackend::kKubernetes:
    case TrafficBackend::kNone:
      break;
  }
  return std::nullopt;
}

std::vector<CrossIssue> checkKubernetes(const KubernetesTrafficConfig& k) {
  std::vector<CrossIssue> out;
  for (auto [key, value] : {std::pair{"api_version", &k.api_version},
                            {"kind", &k.kind},
                            {"name", &k.name},
                            {"patch", &k.patch}}) {
    if (value->empty())
      out.push_back({{"traffic", "kubernetes"},
                     std::string("traffic.kubernetes.") + key,
                     "required when traffic.backend is kubernetes"});
  }
  if (k.ca_file.empty() && !k.insecure_skip_tls_verify)
    out.push_back({{"traffic", "kubernetes", "ca_file"},
                   "traffic.kubernetes.ca_file",
                   "required to verify the API server (the service-account ca.crt); only "
                   "insecure_skip_tls_verify: true goes without"});
  return out;
}

// The node at `keys` (shares the tree; only used to find a Mark), or an
// undefined node.
YAML::Node nodeAt(const YAML::Node& root, const std::vector<std::string>& keys) {
  YAML::Node n = root;
  for (const std::string& k : keys) {
    const YAML::Node& cn = n;
    if (!cn.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node next = cn[k];
    if (!next.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    n.reset(next);
  }
  return n;
}

}  // namespace

std::optional<CrossIssue> checkExitBudget(const ExitConfig& e) {
  if (e.safety_margin >= e.grace_period) {
    return CrossIssue{{"exit", "safety_margin"},
                      "exit.safety_margin",
                      "safety margin " + formatDuration(e.safety_margin) +
                          " leaves no exit budget; it must be smaller than exit.grace_period (" +
                          formatDuration(e.grace_period) + ")"};
  }
  if (e.compensation_reserve >= e.budget()) {
    return CrossIssue{{"exit", "compensation_reserve"},
                      "exit.compensation_reserve",
                      "compensation reserve " + formatDuration(e.compensation_reserve) +
                          " must be smaller than the exit budget, grace_period - safety_margin = " +
                          formatDuration(e.budget())};
  }
  return std::nullopt;
}

std::vector<CrossIssue> checkTraffic(const Config& c) {
  const TrafficConfig& t = c.traffic;
  std::vector<CrossIssue> out;
  for (size_t i = 1; i < t.steps.size(); ++i) {
    if (t.steps[i].weight > t.steps[i - 1].weight) {
      out.push_back({{"traffic", "steps"},
                     "traffic.steps[" + std::to_string(i) + "].weight",
                     "weight " + std::to_string(t.steps[i].weight) +
                         " is above the previous step's " + std::to_string(t.steps[i - 1].weight) +
                         "; steps must move weight down"});
    }
  }
  add(out, checkBackend(t));
  if (t.backend == TrafficBackend::kKubernetes) {
    for (CrossIssue& i : checkKubernetes(t.kubernetes)) out.push_back(std::move(i));
  }
  if (t.gate.source == GateSource::kPrometheus &&
      (!t.gate.prometheus_url || t.gate.prometheus_query.empty())) {
    out.push_back({{"traffic", "gate"},
                   "traffic.gate.prometheus",
                   "url and query are required when traffic.gate.source is prometheus"});
  }
  add(out, checkGateNeedsApp(c));
  return out;
}

std::optional<CrossIssue> checkGateNeedsApp(const Config& c) {
  if (c.traffic.gate.source == GateSource::kApp && !c.app.base_url) {
    return CrossIssue{{"traffic", "gate", "source"},
                      "traffic.gate.source",
                      "source app reads the app's status hook, so app.base_url must be set"};
  }
  return std::nullopt;
}

std::vector<CrossIssue> checkCoordination(const Config& c) {
  const CoordinationConfig& co = c.coordination;
  std::vector<CrossIssue> out;
  if ((!co.service.empty() || !co.wait_for.empty()) && !c.compensation.redis.address) {
    out.push_back({{"coordination"},
                   "coordination",
                   "exit ordering needs Redis: set compensation.redis.address"});
  }
  if (!co.service.empty() &&
      std::find(co.wait_for.begin(), co.wait_for.end(), co.service) != co.wait_for.end()) {
    out.push_back({{"coordination", "wait_for"},
                   "coordination.wait_for",
                   "lists this pod's own service \"" + co.service +
                       "\"; a service cannot wait for itself (max_concurrent_exits orders the "
                       "exits of one service)"});
  }
  return out;
}

void crossCheck(Issues& issues, const YAML::Node& root, const Config& c) {
  std::vector<CrossIssue> found;
  add(found, checkExitBudget(c.exit));
  for (CrossIssue& i : checkTraffic(c)) found.push_back(std::move(i));
  for (CrossIssue& i : checkCoordination(c)) found.push_back(std::move(i));
  for (CrossIssue& i : found) {
    const YAML::Node n = nodeAt(root, i.keys);
    if (n.IsDefined()) {
      issues.fail(n, i.path, std::move(i.message));
    } else {
      issues.failNoPosition(i.path, std::move(i.message));
    }
  }
}

}  // namespace detail

}  // namespace lameduck::config
