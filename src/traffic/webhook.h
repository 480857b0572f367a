#pragma once

// Webhook backend: POST {"weight": n, "pod": ..., "namespace": ...} to a URL
// (optionally with a bearer token) for load balancers lameduck has no
// backend for. 2xx is success; 429, 5xx and unreachable are transient (the
// shift retries), any other answer is a refusal. Used by the shift step on
// the exit thread only.

#include "config/config.h"
#include "http/http.h"
#include "traffic/backend.h"

namespace lameduck::traffic {

// Errors: those of webhookAnswer, and the HTTP client's (kUnavailable,
// kDeadlineExceeded: transient) when no answer came back.
class WebhookBackend final : public Backend {
 public:
  // `config.url` must be set; what is needed of `config` is copied. Owns
  // its HTTP client (one keep-alive connection); `clock` must outlive the
  // backend.
  WebhookBackend(const config::WebhookConfig& config, std::string pod, std::string pod_namespace,
                 Clock& clock);
  std::string_view name() const override { return "webhook"; }
  Result<std::string> setWeight(int64_t percent, Duration timeout) override;

 private:
  HttpUrl url_;
  std::string token_;
  std::string pod_;
  std::string namespace_;
  http::Client client_;
};

// What a webhook's answer means to the shift (`where` names the webhook in
// messages): 2xx is done, and the detail names the status; 429 and 5xx are
// kUnavailable (the shift retries), 401 and 403 kPermissionDenied, anything
// else kFailedPrecondition, each with the start of the body. Exposed for
// tests and fuzzing; never throws.
Result<std::string> webhookAnswer(std::string_view where, int status, std::string_view body);

}  // namespace lameduck::traffic
