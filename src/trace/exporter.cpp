#include "trace/exporter.h"

#include <algorithm>
#include <mutex>

#include "common/json_in.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/version.h"
#include "http/http.h"

namespace lameduck::trace {
namespace {

using namespace std::chrono_literals;

constexpr Duration kFirstBackoff = 100ms;
constexpr Duration kMaxBackoff = 1s;
// A collector's answer is "{}" or a partialSuccess object: a few hundred
// bytes, nesting 2 deep.
constexpr size_t kMaxAnswerBytes = 1 << 20;
constexpr size_t kMaxAnswerDepth = 8;

bool retryableStatus(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// Retry-After in seconds ("120"); the HTTP-date form and anything else give
// nullopt (the caller falls back to its backoff).
std::optional<Duration> retryAfter(const http::Headers& headers) {
  auto it = headers.find("Retry-After");
  if (it == headers.end()) return std::nullopt;
  const std::optional<int64_t> seconds = parseWholeInt64(it->second);
  if (!seconds || *seconds < 0 || *seconds > 24 * 3600) return std::nullopt;
  return std::chrono::seconds(*seconds);
}

// The part of a refusal's body worth logging: short, one line.
std::string excerpt(const std::string& body) {
  std::string out = body.substr(0, 200);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}

}  // namespace

PartialSuccess partialSuccess(std::string_view body) {
  PartialSuccess out;
  if (body.empty()) return out;
  auto doc = JsonDoc::parse(body, "collector answer", {kMaxAnswerBytes, kMaxAnswerDepth});
  if (!doc || !doc->isObject()) return out;
  auto partial = doc->optionalField("partialSuccess");
  if (!partial || !*partial || !(*partial)->isObject()) return out;
  if (auto r = (*partial)->optionalField("rejectedSpans"); r && *r) {
    // proto3 JSON writes int64 as a string; some collectors send a number.
    if (auto n = (**r).int64()) {
      out.rejected_spans = std::max<int64_t>(0, *n);
    } else if (auto text = (**r).string()) {
      if (auto v = parseWholeInt64(*text); v && *v > 0) out.rejected_spans = *v;
    }
  }
  if (auto m = (*partial)->optionalField("errorMessage"); m && *m) {
    if (auto text = (**m).string()) out.message = excerpt(*text);
  }
  return out;
}

struct Exporter::Impl {
  Impl(const config::OtlpConfig& c, Clock& clk, ExportObserver& obs)
      : config(c),
        clock(clk),
        observer(obs),
        client(*c.endpoint, clk),
        path(c.endpoint->path + "/v1/traces") {
    for (const auto& [name, value] : c.headers) headers.emplace(name, value);
  }

  ExportReport send(const std::string& body);
  void finish(ExportReport& report);

  config::OtlpConfig config;
  Clock& clock;
  ExportObserver& observer;
  std::mutex mu;
  http::Client client;
  std::string path;
  http::Headers headers;
};

ExportReport Exporter::Impl::send(const std::string& body) {
  ExportReport report;
  const TimePoint deadline = clock.now() + config.timeout;
  Duration backoff = kFirstBackoff;
  for (;;) {
    const Duration left = deadline - clock.now();
    if (left <= Duration::zero()) {
      report.result = kExportFailed;
      if (report.error.empty()) report.error = "no attempt fitted in the export timeout";
      report.error += " (gave up after " + formatDuration(config.timeout) + ")";
      return report;
    }
    ++report.attempts;
    auto answer = client.send("POST", path, body, "application/json", headers, left);
    Duration wait = backoff;
    if (!answer) {
      report.error = answer.error().message;
      if (answer.error().code == ErrorCode::kFailedPrecondition) {
        report.result = kExportFailed;  // TLS trust: retrying cannot help
        return report;
      }
    } else {
      report.last_status = answer->status;
      if (answer->status >= 200 && answer->status < 300) {
        if (const PartialSuccess partial = partialSuccess(answer->body);
            partial.rejected_spans > 0) {
          report.result = kExportPartial;
          report.error = "the collector rejected " + std::to_string(partial.rejected_spans) +
                         " span(s)" + (partial.message.empty() ? "" : ": " + partial.message);
        } else {
          report.result = kExportOk;
          report.error.clear();
        }
        return report;
      }
      report.error = "the collector answered " + std::to_string(answer->status) +
                     (answer->body.empty() ? "" : ": " + excerpt(answer->body));
      if (!retryableStatus(answer->status)) {
        report.result = kExportRejected;
        return report;
      }
      if (auto after = retryAfter(answer->headers)) wait = *after;
    }
    if (clock.now() + wait >= deadline) {
      report.result = kExportFailed;
      report.error += "; the next attempt (in " + formatDuration(wait) +
                      ") would not fit in the export timeout of " + formatDuration(config.timeout);
      return report;
    }
    clock.sleepUntil(clock.now() + wait);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

void Exporter::Impl::finish(ExportReport& report) {
  observer.onTraceExport(report.result);
  if (report.result == kExportOk) {
    log::debug("trace exported",
               {{"endpoint", client.origin() + path}, {"attempts", report.attempts}});
    return;
  }
  log::warn("trace export failed", {{"endpoint", client.origin() + path},
                                    {"result", std::string(report.result)},
                                    {"attempts", report.attempts},
                                    {"status", report.last_status},
                                    {"error", report.error}});
}

Exporter::Exporter(const config::OtlpConfig& config, Clock& clock, ExportObserver& observer)
    : impl_(std::make_unique<Impl>(config, clock, observer)) {}

Exporter::~Exporter() = default;

ExportReport Exporter::exportBody(const std::string& body) {
  std::lock_guard lock(impl_->mu);
  ExportReport report = impl_->send(body);
  impl_->finish(report);
  return report;
}

ExportReport Exporter::exportSpans(const Resource& resource, const std::vector<Span>& spans) {
  if (spans.empty()) return ExportReport{kExportOk, 0, 0, ""};
  return exportBody(encodeExportRequest(resource, spans, kVersion));
}

std::string Exporter::target() const { return impl_->client.origin() + impl_->path; }

}  // namespace lameduck::trace
