#pragma once

// The app client's Prometheus metric:
// lameduck_hook_requests_total{hook,code} (README.md, "Metrics").
//
// Ownership: the family is registered on a registry the caller owns, which
// must outlive this object; the HookObserver from observer() refers to this
// object, which must outlive every client given it. Failure: the
// constructor throws (from prometheus-cpp) when the name is already
// registered with another type — a programming error, seen at start-up.
// Thread-safety: every call is thread-safe and quick
// (prometheus-cpp's Family::Add takes the family's own lock; counters and
// gauges are atomic).

#include <memory>
#include <string_view>

#include "app/http_app_client.h"

namespace prometheus {
class Registry;
}

namespace lameduck::app {

class Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One request to `hook` that ended with `code` (an HTTP status code,
  // "timeout" or "unreachable").
  void hookRequest(std::string_view hook, std::string_view code);
  // hookRequest() as the HttpAppClient's observer.
  HookObserver observer();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::app
