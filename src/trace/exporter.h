#pragma once

// Sends spans to an OpenTelemetry collector over OTLP/HTTP JSON
// (`POST <endpoint>/v1/traces`, `Content-Type: application/json`).
//
// One export is bounded by `trace.otlp.timeout` as a whole: every attempt,
// every wait between attempts. Answers 429, 502, 503 and 504 (and a collector
// that cannot be reached) are retried inside that bound, after the
// collector's `Retry-After` (seconds) when it gives one, else after a short
// doubling backoff; a retry that could not start before the bound ends is not
// tried. Any other refusal (400 and the other 4xx, other 5xx) is final: the
// collector has told us the data will not be accepted.
//
// Failures are values, logged at warn and reported to the ExportObserver
// (the metric `lameduck_trace_exports_total{result}`); they never throw. The
// configured headers (authentication) are sent with every attempt and never
// appear in a log line or an error message.
//
// Time comes from the injected Clock. Thread-safe: exports are serialised.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "trace/otlp.h"

namespace lameduck::trace {

// The result labels of an export.
inline constexpr std::string_view kExportOk = "ok";              // accepted entirely
inline constexpr std::string_view kExportPartial = "partial";    // accepted, some spans rejected
inline constexpr std::string_view kExportRejected = "rejected";  // refused for good (4xx, 5xx)
inline constexpr std::string_view kExportFailed = "failed";  // unreachable or busy until the bound

// Told about every export; implemented by the metrics. Called on the thread
// that exports; must be thread-safe and quick.
class ExportObserver {
 public:
  virtual ~ExportObserver() = default;
  virtual void onTraceExport(std::string_view result) = 0;
};

// What one export did.
struct ExportReport {
  std::string_view result = kExportFailed;  // one of the kExport* labels
  int attempts = 0;                         // requests sent (or tried)
  int last_status = 0;                      // HTTP status of the last answer, 0 if none
  std::string error;                        // why it did not succeed; empty for ok
};

// What a 2xx answer says about spans the collector dropped: its
// `partialSuccess.rejectedSpans` (a JSON number or, as proto3 JSON writes
// int64, a string of digits) and `errorMessage` (cut to 200 bytes, one line).
// A full success ("{}", an empty body) and a body that is not JSON, too big
// (> 1 MiB) or nested too deep give 0 rejected: the status said success.
// Never throws; pure.
struct PartialSuccess {
  int64_t rejected_spans = 0;
  std::string message;
};
PartialSuccess partialSuccess(std::string_view body);

class Exporter {
 public:
  // `config.endpoint` must be set. The observer and clock must outlive the
  // exporter.
  Exporter(const config::OtlpConfig& config, Clock& clock, ExportObserver& observer);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // Encodes and sends the spans; returns after the collector accepted them,
  // refused them, or `trace.otlp.timeout` ran out, whichever comes first.
  // An empty span list sends nothing and reports ok.
  ExportReport exportSpans(const Resource& resource, const std::vector<Span>& spans);

  // Sends an already encoded request body, with the same bound and retries.
  ExportReport exportBody(const std::string& body);

  // "<endpoint>/v1/traces", for logs.
  std::string target() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::trace
