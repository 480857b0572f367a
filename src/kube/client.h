#pragma once

// lameduck's Kubernetes API client: reads and patches single objects over
// HTTPS with the pod's service-account token. Small on purpose: lameduck
// patches one configured object (an Ingress annotation, an HTTPRoute
// backendRef weight, a VirtualService route weight) a few times per exit.

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "common/parse.h"
#include "config/config.h"
#include "kube/object.h"

namespace lameduck::kube {

using namespace std::chrono_literals;

// Where the API server is and how to authenticate to it.
struct ClusterConfig {
  HttpUrl server;          // https://host:port
  std::string token_file;  // bearer token, re-read when it changes
  std::string ca_file;     // PEM CA bundle the server certificate must chain to
  bool insecure_skip_tls_verify = false;
  Duration request_timeout = 10s;  // one attempt; the caller's deadline bounds all of them
};

// The cluster config for a traffic config: `server` when set, else in-cluster
// from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (an IPv6 host is
// bracketed); token and CA from the configured paths (by default the
// service-account directory). Fails with kFailedPrecondition naming every
// missing piece at once: the environment variables, an unreadable or empty
// token file, an unreadable CA file (not checked when insecure).
Result<ClusterConfig> clusterConfig(const config::KubernetesTrafficConfig& cfg);

// How failed attempts are retried: exponential backoff with jitter, starting
// at `initial_backoff`, doubling, capped at `max_backoff`.
struct RetryPolicy {
  Duration initial_backoff = 100ms;
  Duration max_backoff = 2s;
};

// Thread-safe; calls share one keep-alive connection and are serialised.
// Owns its HTTP client (the connection and its watchdog thread).
class Client {
 public:
  // Logs at warn when TLS verification is off. `clock` must outlive the
  // client; constructing never fails (a bad token or CA shows in the calls).
  Client(ClusterConfig config, Clock& clock, RetryPolicy retry = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One PATCH of `ref` with `body` as application/merge-patch+json (kMerge)
  // or application/json-patch+json (kJson). Returns the patched object's
  // JSON text as the API server sent it.
  //
  // Retried with backoff until `deadline`: 409 Conflict, 429 Too Many
  // Requests, 5xx, timeouts and connection errors; a Retry-After header is
  // honoured, and when it points past the deadline the call gives up at once
  // rather than waiting for nothing. A 401 re-reads the token file and tries
  // once more. Each attempt is logged (debug on success, warn on failure).
  //
  // Failures:
  //   kInvalidArgument    bad reference or body that is not JSON (nothing
  //                       sent); 400/415/422 and other 4xx, with the API
  //                       server's Status message
  //   kPermissionDenied   401 (names the token file) or 403 (names the verb,
  //                       resource, API group, namespace and name the Role
  //                       must grant)
  //   kNotFound           404 (names the object and path)
  //   kFailedPrecondition no usable token; the server certificate did not
  //                       verify against the CA file
  //   kUnavailable        still 409/429/5xx/unreachable when the deadline
  //                       came (or Retry-After pointed past it); the message
  //                       counts the attempts and quotes the last answer
  //   kDeadlineExceeded   the deadline passed with the last attempt timing out
  Result<std::string> patch(const ObjectRef& ref, config::PatchType type, const std::string& body,
                            TimePoint deadline);

  // One GET of `ref`; returns the object's JSON text. Same retries and
  // failures as patch (the verb in messages is "get").
  Result<std::string> get(const ObjectRef& ref, TimePoint deadline);

  const ClusterConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The content type of a patch type: application/merge-patch+json or
// application/json-patch+json.
std::string patchContentType(config::PatchType type);

// How an error answer of the API server reads in messages: "403 Forbidden:
// <message>" when the body is a Status object, else the status and the start
// of the body. The body is outside input: bounded in size and depth, types
// checked; never throws. Exposed for fuzzing.
std::string describeApiAnswer(int status, std::string_view body);

}  // namespace lameduck::kube
