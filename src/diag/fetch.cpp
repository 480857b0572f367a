#include "diag/fetch.h"

#include "http/http.h"

namespace lameduck::diag {

HttpDumpSource::HttpDumpSource(HttpUrl url, size_t max_bytes, Clock& clock)
    : url_(std::move(url)),
      target_(url_.path.empty() ? kDefaultGoroutinePath : url_.path),
      source_(url_.origin() + target_),
      max_bytes_(max_bytes),
      client_(std::make_unique<http::Client>(url_, clock)) {}

HttpDumpSource::~HttpDumpSource() = default;

Result<Dump> HttpDumpSource::fetch(Duration timeout) {
  // Reading stops at the bound: a dump over max_bytes never sits in memory.
  auto answer = client_->send("GET", target_, "", "", {}, timeout, max_bytes_);
  if (!answer) {
    std::string why = answer.error().message;
    if (why.find("longer than the bound") != std::string::npos) {
      why = "answer is over app.diagnostics.max_bytes (" + std::to_string(max_bytes_) + ")";
    }
    return makeError(answer.error().code, "goroutine dump from " + source_ + ": " + why);
  }
  if (answer->status == 404) {
    return makeError(ErrorCode::kNotFound,
                     "goroutine dump from " + source_ +
                         ": 404 Not Found; is net/http/pprof mounted on that server and path?");
  }
  if (answer->status != 200) {
    return makeError(ErrorCode::kBadResponse, "goroutine dump from " + source_ + ": status " +
                                                  std::to_string(answer->status) +
                                                  ", expected 200");
  }
  if (answer->body.size() > max_bytes_) {
    return makeError(ErrorCode::kBadResponse, "goroutine dump from " + source_ + ": answer of " +
                                                  std::to_string(answer->body.size()) +
                                                  " bytes is over app.diagnostics.max_bytes (" +
                                                  std::to_string(max_bytes_) + ")");
  }
  Limits limits;
  limits.max_bytes = max_bytes_;
  auto dump = parseGoroutines(answer->body, limits);
  if (!dump) {
    return makeError(dump.error().code,
                     "goroutine dump from " + source_ + ": " + dump.error().message);
  }
  return dump;
}

}  // namespace lameduck::diag
