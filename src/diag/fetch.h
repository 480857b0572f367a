#pragma once

// Where goroutine dumps come from. The diagnosis steps see only DumpSource;
// HttpDumpSource fetches the app's pprof URL through lameduck's HTTP client.
//
// Thread-safety: HttpDumpSource calls are serialised by the HTTP client; the
// object may be shared between the exit thread and the after-SIGTERM watcher.

#include <cstddef>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "common/parse.h"
#include "diag/goroutines.h"

namespace lameduck::http {
class Client;
}

namespace lameduck::diag {

class DumpSource {
 public:
  virtual ~DumpSource() = default;
  // Fetches and parses one dump, the whole exchange bounded by `timeout`.
  // Errors (each message names the URL): kUnavailable (nothing listens, the
  // connection closed), kDeadlineExceeded (no full answer in time),
  // kNotFound (404: pprof not mounted at that path), kBadResponse (another
  // status, an answer over the size bound, or text that is not a dump).
  virtual Result<Dump> fetch(Duration timeout) = 0;
  // The URL, for reports and messages.
  virtual std::string source() const = 0;
};

// The default path when the configured URL has none.
inline constexpr const char* kDefaultGoroutinePath = "/debug/pprof/goroutine?debug=2";

// Fails as DumpSource::fetch says; never throws. Owns its HTTP client (one
// keep-alive connection and its watchdog thread, joined on destruction).
class HttpDumpSource final : public DumpSource {
 public:
  // `url.path` is the request target, query included ("" → the default
  // path); answers longer than `max_bytes` are refused. `clock` must
  // outlive the source.
  HttpDumpSource(HttpUrl url, size_t max_bytes, Clock& clock);
  ~HttpDumpSource() override;

  Result<Dump> fetch(Duration timeout) override;
  std::string source() const override { return source_; }

 private:
  HttpUrl url_;
  std::string target_;
  std::string source_;
  size_t max_bytes_;
  std::unique_ptr<http::Client> client_;
};

}  // namespace lameduck::diag
