#include "trace/exporter.h"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/version.h"
#include "http/http.h"

namespace lameduck::trace {
namespace {

using namespace std::chrono_literals;

constexpr Duration kFirstBackoff = 100ms;
constexpr Duration kMaxBackoff = 1s;

bool retryableStatus(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// Retry-After in seconds ("120"); the HTTP-date form and anything else give
// nullopt (the caller falls back to its backoff).
std::optional<Duration> retryAfter(const http::Headers& headers) {
  auto it = headers.find("Retry-After");
  if (it == headers.end()) return std::nullopt;
  const std::string& text = it->second;
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size() || seconds < 0 || seconds > 24 * 3600) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

// The part of a refusal's body worth logging: short, one line.
std::string excerpt(const std::string& body) {
  std::string out = body.substr(0, 200);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}

// rejectedSpans of a partialSuccess answer, 0 when the answer has none (a
// full success is "{}" or an empty body); a garbled body counts as success:
// the status said so.
int64_t rejectedSpans(const std::string& body, std::string& message) {
  if (body.empty() || body.size() > (1 << 20)) return 0;
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return 0;
  auto partial = j.find("partialSuccess");
  if (partial == j.end() || !partial->is_object()) return 0;
  int64_t rejected = 0;
  if (auto r = partial->find("rejectedSpans"); r != partial->end()) {
    if (r->is_number_integer()) rejected = r->get<int64_t>();
    if (r->is_string()) {
      const std::string& s = r->get_ref<const std::string&>();
      std::from_chars(s.data(), s.data() + s.size(), rejected);
    }
  }
  if (auto m = partial->find("errorMessage"); m != partial->end() && m->is_string()) {
    message = excerpt(m->get<std::string>());
  }
  return rejected;
}

}  // namespace

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
        std::string message;
        if (int64_t rejected = rejectedSpans(answer->body, message); rejected > 0) {
          report.result = kExportPartial;
          report.error = "the collector rejected " + std::to_string(rejected) + " span(s)" +
                         (message.empty() ? "" : ": " + message);
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
