// The traffic section: the shift backend, its steps and the error-rate gate.

#include <algorithm>

#include "config/rules.h"
#include "config/sections.h"

namespace lameduck::config::detail {
namespace {

Status checkHaproxySocket(std::string_view text) {
  if (text.starts_with("unix:") && text.size() > 6 && text[5] == '/') {
    if (auto ok = checkUnixSocketPath(text.substr(5)); !ok) {
      return makeError(ErrorCode::kInvalidArgument, "invalid HAProxy socket \"" +
                                                        std::string(text) +
                                                        "\": " + ok.error().message);
    }
    return {};
  }
  if (text.starts_with("tcp:")) {
    auto hp = parseHostPort(text.substr(4));
    if (hp && hp->port != 0) return {};
  }
  return makeError(ErrorCode::kInvalidArgument, "invalid HAProxy socket \"" + std::string(text) +
                                                    "\"; expected unix:/path or tcp:host:port");
}

Status checkHaproxyServer(std::string_view v) {
  const size_t slash = v.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == v.size() ||
      v.find('/', slash + 1) != std::string_view::npos) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "invalid server \"" + std::string(v) + "\"; expected backend/server, e.g. be_app/pod1");
  }
  return {};
}

// Namespace and resource may be empty (cluster-scoped; plural derived from
// the kind).
Status checkOptionalObjectName(std::string_view text) {
  return text.empty() ? Status{} : checkObjectName(text);
}

void readHaproxy(Issues& issues, const YAML::Node& node, const std::string& path,
                 HaproxyConfig& out) {
  MapReader h(issues, node, path);
  h.field("socket", checked(issues, out.socket, "a socket address", checkHaproxySocket));
  h.field("server", checked(issues, out.server, "backend/server", checkHaproxyServer));
  h.finish();
}

void readKubernetes(Issues& issues, const YAML::Node& node, const std::string& path,
                    KubernetesTrafficConfig& out) {
  MapReader k(issues, node, path);
  k.field("api_version", checked(issues, out.api_version, "an apiVersion like networking.k8s.io/v1",
                                 checkApiVersion));
  k.field("kind", checked(issues, out.kind, "a kind like Ingress", checkKind));
  k.field("namespace",
          checked(issues, out.namespace_, "a namespace name", checkOptionalObjectName));
  k.field("name", checked(issues, out.name, "an object name", checkObjectName));
  k.field("patch_type",
          choice<PatchType>(issues, out.patch_type,
                            {{"merge", PatchType::kMerge}, {"json", PatchType::kJson}}));
  // After patch_type: the template is rendered (with sample values) and its
  // JSON checked for that type.
  k.field("patch", checked(issues, out.patch, "a JSON patch template", [&](std::string_view v) -> Status {
    if (v.empty()) return makeError(ErrorCode::kInvalidArgument, "must not be empty");
    auto probe = renderPatchTemplate(v, out.patch_type, {0, "pod", "namespace"});
    if (!probe) return std::unexpected(probe.error());
    return {};
  }));
  k.field("resource",
          checked(issues, out.resource, "a plural resource name", checkOptionalObjectName));
  k.field("server", [&](const YAML::Node& vn, const std::string& vp) {
    optionalParsed<HttpUrl>(issues, out.server, parseHttpUrl)(vn, vp);
    if (out.server && out.server->scheme != "https") {
      issues.fail(vn, vp,
                  "the API server is reached over https only (the bearer token is never sent "
                  "in clear text); expected https://host:port");
      out.server.reset();
    }
  });
  k.field("token_file", str(issues, out.token_file, false));
  k.field("ca_file", str(issues, out.ca_file));
  k.field("insecure_skip_tls_verify", boolean(issues, out.insecure_skip_tls_verify));
  k.field("timeout", duration(issues, out.timeout, ZeroOk::kNo));
  k.finish();
}

void readWebhook(Issues& issues, const YAML::Node& node, const std::string& path,
                 WebhookConfig& out) {
  MapReader w(issues, node, path);
  w.field("url", optionalParsed<HttpUrl>(issues, out.url, parseHttpUrl));
  w.field("token", str(issues, out.token));
  w.finish();
}

TrafficStep readStep(Issues& issues, const YAML::Node& node, const std::string& path) {
  TrafficStep step;
  MapReader s(issues, node, path);
  bool has_weight = false;
  s.field("weight", [&](const YAML::Node& vn, const std::string& vp) {
    has_weight = true;
    integer(issues, step.weight, 0, 100)(vn, vp);
  });
  s.field("hold", duration(issues, step.hold, ZeroOk::kYes));
  s.finish();
  if (node.IsMap() && !has_weight) {
    issues.fail(node, path + ".weight", "missing; every step needs a weight from 0 to 100");
  }
  return step;
}

void readPrometheus(Issues& issues, const YAML::Node& node, const std::string& path,
                    GateConfig& out) {
  MapReader pr(issues, node, path);
  pr.field("url", optionalParsed<HttpUrl>(issues, out.prometheus_url, parseHttpUrl));
  pr.field("query", str(issues, out.prometheus_query, false));
  pr.finish();
}

void readGate(Issues& issues, const YAML::Node& node, const std::string& path, GateConfig& out) {
  MapReader g(issues, node, path);
  g.field("source", choice<GateSource>(issues, out.source,
                                       {{"none", GateSource::kNone},
                                        {"prometheus", GateSource::kPrometheus},
                                        {"app", GateSource::kApp}}));
  g.field("max_error_rate", number(issues, out.max_error_rate, 0.0, 1.0));
  g.field("on_fail",
          choice<GateOnFail>(issues, out.on_fail,
                             {{"hold", GateOnFail::kHold}, {"continue", GateOnFail::kContinue}}));
  g.field("prometheus", section(issues, readPrometheus, out));
  g.field("interval", duration(issues, out.interval, ZeroOk::kNo));
  g.finish();
}

}  // namespace

void readTraffic(Issues& issues, const YAML::Node& node, const std::string& path,
                 TrafficConfig& out) {
  MapReader m(issues, node, path);
  m.field("backend", choice<TrafficBackend>(issues, out.backend,
                                            {{"none", TrafficBackend::kNone},
                                             {"haproxy", TrafficBackend::kHaproxy},
                                             {"kubernetes", TrafficBackend::kKubernetes},
                                             {"webhook", TrafficBackend::kWebhook}}));
  m.field("haproxy", section(issues, readHaproxy, out.haproxy));
  m.field("kubernetes", section(issues, readKubernetes, out.kubernetes));
  m.field("webhook", section(issues, readWebhook, out.webhook));
  m.field("steps", list(
                       issues,
                       [&](const YAML::Node& item, const std::string& ip) {
                         out.steps.push_back(readStep(issues, item, ip));
                       },
                       [&] { out.steps.clear(); }));
  m.field("gate", section(issues, readGate, out.gate));
  m.field("timeout", duration(issues, out.timeout, ZeroOk::kNo));
  m.finish();
}

}  // namespace lameduck::config::detail
