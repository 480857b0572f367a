#pragma once

// Error-rate gates for the traffic shift (backend.h: Gate). Used by the shift
// step on the exit thread only; not thread-safe. Borrowed references (the
// app client) must outlive the gate.

#include <memory>

#include "app/app_client.h"
#include "common/parse.h"
#include "http/http.h"
#include "traffic/backend.h"

namespace lameduck::traffic {

// A Prometheus instant query (GET <url>/api/v1/query). A vector result takes
// the worst (highest) series; a scalar is used as is. An empty result, NaN
// or ±Inf (0/0 when there is no traffic) is no data. Errors: the HTTP
// client's (kUnavailable, kDeadlineExceeded) naming the Prometheus origin;
// kBadResponse for a status other than 200 or an answer that is not a
// query result.
class PrometheusGate final : public Gate {
 public:
  // Owns its HTTP client (one keep-alive connection); `clock` must outlive
  // the gate.
  PrometheusGate(const HttpUrl& url, std::string query, Clock& clock);
  std::string_view name() const override { return "prometheus"; }
  Result<GateReading> read(Duration timeout) override;

 private:
  HttpUrl url_;
  std::string query_;
  http::Client client_;
};

// Parses a Prometheus /api/v1/query answer. Exposed for tests.
Result<GateReading> parsePrometheusAnswer(std::string_view body);

// The app's own figure: the status hook's "error_rate" (0..1, null when it
// has no traffic). Errors: those of AppClient::status. `app` must outlive
// the gate.
class AppGate final : public Gate {
 public:
  explicit AppGate(app::AppClient& app) : app_(app) {}
  std::string_view name() const override { return "app"; }
  Result<GateReading> read(Duration timeout) override;

 private:
  app::AppClient& app_;
};

}  // namespace lameduck::traffic
