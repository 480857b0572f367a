// The traffic parts that speak HTTP and JSON (Prometheus gate, app gate,
// webhook and Kubernetes backends) share one translation unit, so nlohmann/json is compiled
// once for all of them.

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/json_in.h"
#include "traffic/gate.h"
#include "traffic/kubernetes.h"
#include "traffic/webhook.h"

namespace lameduck::traffic {
namespace {

using nlohmann::json;

// An instant query's answer: a few series. Anything bigger is not one.
constexpr size_t kMaxPrometheusAnswer = 4 * 1024 * 1024;
constexpr size_t kMaxWebhookAnswer = 64 * 1024;
constexpr size_t kMaxKubeObject = 4 * 1024 * 1024;

Error bad(std::string what) {
  return Error{ErrorCode::kBadResponse, "prometheus query answer: " + std::move(what)};
}

// Prometheus sends sample values as strings: "0.01", "NaN", "+Inf". A
// sample is [<time>, "<value>"].
Result<double> sampleValue(const JsonValue& pair) {
  auto items = pair.elements();
  if (!items) return std::unexpected(pair.typeError("a [time, \"value\"] pair"));
  if (items->size() != 2) return std::unexpected(pair.typeError("a [time, \"value\"] pair"));
  auto text = (*items)[1].string();
  if (!text) return std::unexpected(text.error());
  char* end = nullptr;
  double v = std::strtod(text->c_str(), &end);
  if (end == text->c_str() || *end != '\0') {
    return std::unexpected((*items)[1].typeError("a number as text"));
  }
  return v;
}

std::string shortBody(std::string_view body) {
  return body.size() > 200 ? std::string(body.substr(0, 200)) + "..." : std::string(body);
}

// A string field that may be absent: its text, or `fallback`.
Result<std::string> optionalString(const JsonValue& object, std::string_view key,
                                   std::string fallback) {
  auto f = object.optionalField(key);
  if (!f) return std::unexpected(f.error());
  if (!*f) return fallback;
  return (*f)->string();
}

}  // namespace

Result<GateReading> parsePrometheusAnswer(std::string_view body) {
  const JsonLimits limits{kMaxPrometheusAnswer, 32};
  if (auto ok = checkJsonBounds(body, limits, "prometheus query answer"); !ok) {
    return std::unexpected(ok.error());
  }
  auto doc = JsonDoc::parse(body, "prometheus query answer", limits);
  if (!doc || !doc->isObject()) {
    return std::unexpected(bad("not a JSON object: " + shortBody(body)));
  }
  auto status = optionalString(*doc, "status", "missing");
  if (!status) return std::unexpected(status.error());
  if (*status != "success") {
    auto error = optionalString(*doc, "error", "no error given");
    if (!error) return std::unexpected(error.error());
    return std::unexpected(bad("status " + shortBody(*status) + ": " + shortBody(*error)));
  }
  auto data = doc->field("data");
  if (!data) return std::unexpected(data.error());
  if (!data->isObject()) return std::unexpected(data->typeError("an object"));
  auto type = optionalString(*data, "resultType", "");
  if (!type) return std::unexpected(type.error());
  auto result = data->field("result");
  if (!result) return std::unexpected(result.error());
  GateReading reading;
  if (*type == "scalar") {
    auto v = sampleValue(*result);
    if (!v) return std::unexpected(v.error());
    if (std::isfinite(*v)) {
      reading.error_rate = *v;
      reading.detail = "scalar " + std::to_string(*v);
    } else {
      reading.detail = std::string("query result is ") +
                       (std::isnan(*v) ? "NaN" : (*v > 0 ? "+Inf" : "-Inf")) + " (no traffic?)";
    }
    return reading;
  }
  if (*type != "vector") {
    return std::unexpected(bad("result type \"" + *type +
                               "\"; the query must give a vector or "
                               "scalar (an instant query, not a range)"));
  }
  auto series_list = result->elements();
  if (!series_list) return std::unexpected(series_list.error());
  if (series_list->empty()) {
    reading.detail = "empty query result (no series: no traffic or wrong query)";
    return reading;
  }
  int64_t finite = 0;
  int64_t no_data = 0;
  for (const JsonValue& series : *series_list) {
    auto value = series.field("value");
    if (!value) return std::unexpected(value.error());
    auto v = sampleValue(*value);
    if (!v) return std::unexpected(v.error());
    if (!std::isfinite(*v)) {
      ++no_data;
      continue;
    }
    ++finite;
    if (!reading.error_rate || *v > *reading.error_rate) reading.error_rate = *v;
  }
  if (!reading.error_rate) {
    reading.detail = std::to_string(no_data) + " series, all NaN or Inf (no traffic?)";
  } else {
    reading.detail = "worst of " + std::to_string(finite) + " series";
    if (no_data > 0) reading.detail += " (" + std::to_string(no_data) + " without data)";
  }
  return reading;
}

PrometheusGate::PrometheusGate(const HttpUrl& url, std::string query, Clock& clock)
    : url_(url), query_(std::move(query)), client_(url, clock) {}

Result<GateReading> PrometheusGate::read(Duration timeout) {
  const std::string path = url_.path + "/api/v1/query?query=" + urlEncode(query_);
  auto res = client_.send("GET", path, "", "", {}, timeout, kMaxPrometheusAnswer);
  if (!res) {
    return std::unexpected(
        Error{res.error().code, "prometheus at " + url_.origin() + ": " + res.error().message});
  }
  if (res->status != 200) {
    // Prometheus answers 400/422 with a JSON error for a bad query.
    auto parsed = parsePrometheusAnswer(res->body);
    return std::unexpected(
        Error{ErrorCode::kBadResponse, "prometheus at " + url_.origin() + " answered HTTP " +
                                           std::to_string(res->status) +
                                           (parsed ? "" : ": " + parsed.error().message)});
  }
  return parsePrometheusAnswer(res->body);
}

Result<GateReading> AppGate::read(Duration timeout) {
  auto figures = app_.status({timeout, ""});
  if (!figures) return std::unexpected(figures.error());
  GateReading reading;
  reading.error_rate = figures->error_rate;
  reading.detail =
      figures->error_rate ? "app status error_rate" : "app status has no error_rate (no traffic?)";
  return reading;
}

WebhookBackend::WebhookBackend(const config::WebhookConfig& config, std::string pod,
                               std::string pod_namespace, Clock& clock)
    : url_(*config.url),
      token_(config.token),
      pod_(std::move(pod)),
      namespace_(std::move(pod_namespace)),
      client_(*config.url, clock) {}

Result<std::string> WebhookBackend::setWeight(int64_t percent, Duration timeout) {
  const json body = {{"weight", percent}, {"pod", pod_}, {"namespace", namespace_}};
  http::Headers headers;
  if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
  const std::string where = "webhook " + url_.origin() + (url_.path.empty() ? "/" : url_.path);
  auto res = client_.send("POST", url_.path.empty() ? "/" : url_.path, body.dump(),
                          "application/json", headers, timeout, kMaxWebhookAnswer);
  if (!res) return std::unexpected(Error{res.error().code, where + ": " + res.error().message});
  return webhookAnswer(where, res->status, res->body);
}

Result<std::string> webhookAnswer(std::string_view where, int status, std::string_view body) {
  if (status >= 200 && status < 300) {
    return std::string(where) + " answered " + std::to_string(status);
  }
  ErrorCode code = ErrorCode::kFailedPrecondition;
  if (status == 429 || status >= 500) code = ErrorCode::kUnavailable;
  if (status == 401 || status == 403) code = ErrorCode::kPermissionDenied;
  return std::unexpected(Error{code, std::string(where) + " answered HTTP " +
                                         std::to_string(status) + ": " + shortBody(body)});
}

Result<std::string> renderPatch(const std::string& patch_template, config::PatchType type,
                                const PatchValues& values) {
  auto out = config::renderPatchTemplate(patch_template, type, values);
  if (!out) {
    return makeError(ErrorCode::kInvalidArgument,
                     "traffic.kubernetes.patch: " + out.error().message);
  }
  return out;
}

KubernetesBackend::KubernetesBackend(const config::KubernetesTrafficConfig& config,
                                     kube::ClusterConfig cluster, std::string pod,
                                     std::string pod_namespace, Clock& clock)
    : config_(config),
      ref_(kube::objectRef(config)),
      pod_(std::move(pod)),
      namespace_(std::move(pod_namespace)),
      clock_(clock),
      client_(std::move(cluster), clock) {}

Result<std::string> KubernetesBackend::setWeight(int64_t percent, Duration timeout) {
  auto body = renderPatch(config_.patch, config_.patch_type, {percent, pod_, namespace_});
  if (!body) return std::unexpected(body.error());
  auto patched = client_.patch(ref_, config_.patch_type, *body, clock_.now() + timeout);
  if (!patched) return std::unexpected(patched.error());
  return describePatched(ref_, *patched);
}

std::string describePatched(const kube::ObjectRef& ref, std::string_view answer) {
  std::string detail = "patched " + ref.describe();
  // The patched object as the API server returned it: outside JSON.
  if (auto object = JsonDoc::parse(answer, "patched object", {kMaxKubeObject, 64})) {
    if (auto meta = object->optionalField("metadata"); meta && *meta) {
      if (auto version = (**meta).optionalField("resourceVersion"); version && *version) {
        if (auto text = (**version).string()) {
          // A version is a short opaque token; a longer one is cut, so the
          // detail never grows with what the server sent.
          constexpr size_t kMaxVersion = 64;
          detail += " (resourceVersion " + text->substr(0, kMaxVersion) +
                    (text->size() > kMaxVersion ? "..." : "") + ")";
        }
      }
    }
  }
  return detail;
}

}  // namespace lameduck::traffic
