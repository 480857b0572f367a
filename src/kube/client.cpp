#include "kube/client.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <vector>

#include "common/json_in.h"
#include "common/log.h"
#include "common/version.h"
#include "config/rules.h"
#include "http/http.h"
#include "kube/token.h"

namespace lameduck::kube {
namespace {

// Objects lameduck patches (an Ingress, an HTTPRoute) are kilobytes; the
// bound only keeps a broken or hostile server from filling memory.
constexpr size_t kMaxAnswerBytes = 4 * 1024 * 1024;
constexpr size_t kMaxAnswerDepth = 64;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// What the API server said: the Status object's reason and message when the
// body is one, else the start of the body.
struct ServerAnswer {
  std::string reason;
  std::string message;
};

// A string member of an object, or "" when absent or not a string.
std::string stringField(const JsonValue& object, std::string_view key) {
  auto f = object.optionalField(key);
  if (!f || !*f) return "";
  auto text = (**f).string();
  return text ? *text : "";
}

// At most `max` bytes of outside text, "..." when cut: a message must not
// grow with what the server sent.
std::string cut(std::string_view text, size_t max) {
  return text.size() > max ? std::string(text.substr(0, max)) + "..." : std::string(text);
}

ServerAnswer parseAnswer(std::string_view body) {
  ServerAnswer a;
  auto j = JsonDoc::parse(body, "Kubernetes API answer", {kMaxAnswerBytes, kMaxAnswerDepth});
  if (j && j->isObject() && stringField(*j, "kind") == "Status") {
    a.reason = cut(stringField(*j, "reason"), 64);
    a.message = cut(stringField(*j, "message"), 200);
    return a;
  }
  a.message = cut(body, 200);
  while (!a.message.empty() && (a.message.back() == '\n' || a.message.back() == '\r'))
    a.message.pop_back();
  return a;
}

// "429 TooManyRequests: <message>".
std::string describeAnswer(int status, const ServerAnswer& a) {
  std::string out = std::to_string(status);
  if (!a.reason.empty()) out += " " + a.reason;
  if (!a.message.empty()) out += ": " + a.message;
  return out;
}

// Retry-After as the API server sends it: whole seconds. An HTTP date or
// garbage is ignored (the backoff applies instead).
std::optional<Duration> retryAfter(const http::Headers& headers) {
  auto it = headers.find("Retry-After");
  if (it == headers.end()) return std::nullopt;
  char* end = nullptr;
  const long long secs = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || secs < 0) return std::nullopt;
  return std::chrono::seconds(secs);
}

bool retryableStatus(int status) { return status == 409 || status == 429 || status >= 500; }

}  // namespace

std::string describeApiAnswer(int status, std::string_view body) {
  return describeAnswer(status, parseAnswer(body));
}

std::string patchContentType(config::PatchType type) {
  return type == config::PatchType::kJson ? "application/json-patch+json"
                                          : "application/merge-patch+json";
}

Result<ClusterConfig> clusterConfig(const config::KubernetesTrafficConfig& cfg) {
  ClusterConfig out;
  out.token_file = cfg.token_file;
  out.ca_file = cfg.ca_file;
  out.insecure_skip_tls_verify = cfg.insecure_skip_tls_verify;
  out.request_timeout = cfg.timeout;
  std::vector<std::string> problems;

  if (cfg.server) {
    out.server = *cfg.server;
  } else {
    const std::string host = env("KUBERNETES_SERVICE_HOST");
    const std::string port = env("KUBERNETES_SERVICE_PORT");
    if (host.empty() || port.empty()) {
      const std::string unset = host.empty() && port.empty()
                                    ? "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT"
                                : host.empty() ? "KUBERNETES_SERVICE_HOST"
                                               : "KUBERNETES_SERVICE_PORT";
      problems.push_back(unset +
                         " not set, so this is not a pod with API access; set "
                         "traffic.kubernetes.server to https://host:port to name the API server");
    } else {
      const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
      auto url = parseHttpUrl("https://" + bracketed + ":" + port);
      if (!url || url->port == 0) {
        problems.push_back("KUBERNETES_SERVICE_HOST=" + host + " and KUBERNETES_SERVICE_PORT=" +
                           port + " do not make an API server address");
      } else {
        out.server = *url;
      }
    }
  }
  // An http:// traffic.kubernetes.server is refused by the config loader;
  // the in-cluster address is https by construction.

  TokenFile token(cfg.token_file);
  if (auto t = token.current(); !t) {
    problems.push_back(t.error().message +
                       " (automountServiceAccountToken off? set traffic.kubernetes.token_file)");
  }
  if (!cfg.insecure_skip_tls_verify) {
    // An empty ca_file is refused by the config loader; here the file is read.
    std::ifstream ca(cfg.ca_file);
    if (!ca) {
      problems.push_back("cannot read the API server's CA file \"" + cfg.ca_file + "\" (" +
                         std::strerror(errno) + "); set traffic.kubernetes.ca_file");
    }
  }
  if (!problems.empty()) {
    std::string msg = "Kubernetes API access: ";
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    return makeError(ErrorCode::kFailedPrecondition, msg);
  }
  return out;
}

struct Client::Impl {
  Impl(ClusterConfig c, Clock& clk, RetryPolicy r)
      : config(std::move(c)),
        clock(clk),
        retry(r),
        http(config.server, clk, http::TlsOptions{config.ca_file, config.insecure_skip_tls_verify}),
        token(config.token_file),
        rng(std::random_device{}()) {}

  Result<std::string> call(const std::string& verb, const std::string& method, const ObjectRef& ref,
                           const std::string& content_type, const std::string& body,
                           TimePoint deadline);

  // The next backoff with jitter (a half to the whole of it), so sidecars
  // that collided on a 409 do not collide again.
  Duration jittered(Duration d) {
    std::lock_guard lock(rng_mu);
    std::uniform_real_distribution<double> f(0.5, 1.0);
    return std::chrono::duration_cast<Duration>(d * f(rng));
  }

  // The error for an answer that is final (not retried).
  Error finalError(int status, const ServerAnswer& answer, const std::string& verb,
                   const ObjectRef& ref, const std::string& what) const;

  ClusterConfig config;
  Clock& clock;
  RetryPolicy retry;
  http::Client http;
  TokenFile token;
  std::mutex rng_mu;
  std::mt19937 rng;
};

Error Client::Impl::finalError(int status, const ServerAnswer& answer, const std::string& verb,
                               const ObjectRef& ref, const std::string& what) const {
  const std::string said = describeAnswer(status, answer);
  if (status == 401) {
    return Error{ErrorCode::kPermissionDenied,
                 what + ": the API server refused the service-account token from " +
                     config.token_file +
                     " (also after re-reading it); the token is expired, revoked or for another "
                     "cluster (" +
                     said + ")"};
  }
  if (status == 403) {
    const std::string scope = ref.namespace_.empty()
                                  ? "a ClusterRole (bound with a ClusterRoleBinding)"
                                  : "a Role in namespace \"" + ref.namespace_ + "\"";
    return Error{ErrorCode::kPermissionDenied,
                 what + ": forbidden; the service account needs " + scope +
                     " with the rule {apiGroups: [\"" + ref.group() + "\"], resources: [\"" +
                     pluralOf(ref) + "\"], verbs: [\"" + verb + "\"], resourceNames: [\"" +
                     ref.name + "\"]} (" + said + ")"};
  }
  if (status == 404) {
    return Error{ErrorCode::kNotFound,
                 what + ": not found; check the name, namespace, apiVersion and kind (resource \"" +
                     pluralOf(ref) + "\") (" + said + ")"};
  }
  return Error{ErrorCode::kInvalidArgument, what + ": the API server refused it (" + said + ")"};
}

Result<std::string> Client::Impl::call(const std::string& verb, const std::string& method,
                                       const ObjectRef& ref, const std::string& content_type,
                                       const std::string& body, TimePoint deadline) {
  auto path = restPath(ref);
  if (!path) return std::unexpected(path.error());
  const std::string what = verb + " " + ref.describe();
  const TimePoint started = clock.now();
  Duration backoff = retry.initial_backoff;
  bool reread_token = false;
  int attempt = 0;
  std::string last = "no attempt made before the deadline";
  ErrorCode last_code = ErrorCode::kDeadlineExceeded;

  for (;;) {
    const TimePoint now = clock.now();
    if (now >= deadline) {
      return makeError(last_code, what + ": no success within " + formatDuration(now - started) +
                                      " after " + std::to_string(attempt) +
                                      " attempt(s); last: " + last);
    }
    auto token_text = token.current();
    if (!token_text) return std::unexpected(token_text.error());
    ++attempt;
    const Duration timeout = std::min(config.request_timeout, deadline - now);
    http::Headers headers{{"Authorization", "Bearer " + *token_text},
                          {"Accept", "application/json"},
                          {"User-Agent", std::string("lameduck/") + kVersion}};
    auto res = http.send(method, *path, body, content_type, headers, timeout, kMaxAnswerBytes);
    log::Fields fields{{"call", what}, {"attempt", attempt}, {"ms", toMillis(clock.now() - now)}};

    std::optional<Duration> wait;  // what the server asked for
    if (!res) {
      fields.emplace_back("error", res.error().message);
      if (res.error().code == ErrorCode::kFailedPrecondition) {  // TLS trust: retrying cannot help
        log::warn("Kubernetes API call failed", fields);
        return makeError(ErrorCode::kFailedPrecondition, what + ": " + res.error().message);
      }
      last = res.error().message;
      last_code = res.error().code == ErrorCode::kDeadlineExceeded ? ErrorCode::kDeadlineExceeded
                                                                   : ErrorCode::kUnavailable;
    } else {
      fields.emplace_back("status", res->status);
      if (res->status >= 200 && res->status < 300) {
        log::debug("Kubernetes API call done", fields);
        return std::move(res->body);
      }
      const ServerAnswer answer = parseAnswer(res->body);
      fields.emplace_back("reason", answer.reason);
      fields.emplace_back("message", answer.message);
      if (res->status == 401 && !reread_token) {
        // A token rotated within the same second and size looks unchanged
        // to stat(); read it again and try once more at once.
        reread_token = true;
        log::warn("Kubernetes API call refused the token; re-reading the token file", fields);
        if (auto fresh = token.reload(); !fresh) return std::unexpected(fresh.error());
        continue;
      }
      if (!retryableStatus(res->status)) {
        log::warn("Kubernetes API call failed", fields);
        return std::unexpected(finalError(res->status, answer, verb, ref, what));
      }
      last = describeAnswer(res->status, answer);
      last_code = ErrorCode::kUnavailable;
      wait = retryAfter(res->headers);
    }

    const TimePoint after = clock.now();
    if (wait && after + *wait > deadline) {
      fields.emplace_back("retry_after_ms", toMillis(*wait));
      log::warn("Kubernetes API call failed; Retry-After is past the deadline", fields);
      return makeError(ErrorCode::kUnavailable,
                       what + ": the API server asked to retry after " + formatDuration(*wait) +
                           ", past the deadline (" + formatDuration(deadline - after) +
                           " left) after " + std::to_string(attempt) +
                           " attempt(s); last: " + last);
    }
    const Duration pause = std::min(wait ? *wait : jittered(backoff), deadline - after);
    if (!wait) backoff = std::min(backoff * 2, retry.max_backoff);
    fields.emplace_back("retry_in_ms", toMillis(pause));
    log::warn("Kubernetes API call failed; retrying", fields);
    clock.sleepUntil(after + pause);
  }
}

Client::Client(ClusterConfig config, Clock& clock, RetryPolicy retry)
    : impl_(std::make_unique<Impl>(std::move(config), clock, retry)) {
  if (impl_->config.insecure_skip_tls_verify) {
    log::warn(
        "TLS verification of the Kubernetes API server is OFF "
        "(traffic.kubernetes.insecure_skip_tls_verify): anyone on the path can read the "
        "service-account token and change what lameduck patches",
        {{"server", impl_->config.server.origin()}});
  }
}

Client::~Client() = default;

const ClusterConfig& Client::config() const { return impl_->config; }

Result<std::string> Client::patch(const ObjectRef& ref, config::PatchType type,
                                  const std::string& body, TimePoint deadline) {
  // The config's rule for rendered patches (bounds included); a body from
  // elsewhere gets the same.
  if (auto ok = config::checkPatchBody(body, type); !ok) {
    return makeError(ErrorCode::kInvalidArgument, "patch " + ref.describe() + ": " + ok.error().message);
  }
  return impl_->call("patch", "PATCH", ref, patchContentType(type), body, deadline);
}

Result<std::string> Client::get(const ObjectRef& ref, TimePoint deadline) {
  return impl_->call("get", "GET", ref, "", "", deadline);
}

}  // namespace lameduck::kube
