#include "server/pushgateway.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "common/log.h"
#include "http/http.h"

namespace lameduck::server {
namespace {

bool plainLabelValue(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// RFC 4648 base64url with padding, which the Pushgateway accepts after
// "@base64" (an empty value is "=").
std::string base64url(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  if (in.empty()) return "=";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(n >> shift) & 63];
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t n = uint8_t(in[i]) << 16;
    if (rest == 2) n |= uint8_t(in[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string label(std::string_view name, std::string_view value) {
  if (plainLabelValue(value)) return "/" + std::string(name) + "/" + std::string(value);
  return "/" + std::string(name) + "@base64/" + base64url(value);
}

}  // namespace

std::string pushgatewayGroupPath(const PushGrouping& g) {
  std::string path = "/metrics" + label("job", g.job);
  if (!g.namespace_.empty()) path += label("namespace", g.namespace_);
  return path + label("pod", g.pod);
}

PushGrouping podGrouping(const config::PushgatewayConfig& config) {
  const log::Identity& who = log::identity();
  PushGrouping g{config.job, who.namespace_, who.pod};
  if (g.pod.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    g.pod = host;
  }
  return g;
}

struct FinalPush::Impl {
  Impl(const config::PushgatewayConfig& c, PushGrouping g, Metrics& m, Clock& clk, PushReady r)
      : config(c),
        grouping(std::move(g)),
        metrics(m),
        clock(clk),
        ready(std::move(r)),
        failures(prometheus::BuildCounter()
                     .Name("lameduck_pushgateway_push_failures_total")
                     .Help("Pushes of the final exit metrics to the Pushgateway that failed")
                     .Register(m.registry())
                     .Add({})) {}

  config::PushgatewayConfig config;
  PushGrouping grouping;
  Metrics& metrics;
  Clock& clock;
  PushReady ready;
  prometheus::Counter& failures;
  std::mutex mu;
  bool started = false;  // guarded by mu
  std::thread thread;

  Status push(const std::string& body) {
    const HttpUrl& url = *config.url;
    const std::string path = url.path + pushgatewayGroupPath(grouping);
    http::Client client(url, clock);
    auto res = client.send("PUT", path, body, "text/plain; version=0.0.4; charset=utf-8", {},
                           config.timeout);
    if (!res) return std::unexpected(res.error());
    if (res->status < 200 || res->status > 299) {
      return makeError(ErrorCode::kBadResponse, "pushgateway answered HTTP " +
                                                    std::to_string(res->status) + ": " +
                                                    res->body.substr(0, 300));
    }
    return {};
  }
};

FinalPush::FinalPush(const config::PushgatewayConfig& config, PushGrouping grouping,
                     Metrics& metrics, Clock& clock, PushReady ready)
    : impl_(std::make_unique<Impl>(config, std::move(grouping), metrics, clock, std::move(ready))) {
}

FinalPush::~FinalPush() { wait(); }

void FinalPush::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return;
  impl_->started = true;
  impl_->thread = std::thread([impl = impl_.get()] {
    if (impl->ready) impl->ready();
    const std::string body = impl->metrics.render();
    const TimePoint began = impl->clock.now();
    const std::string target =
        impl->config.url->origin() + impl->config.url->path + pushgatewayGroupPath(impl->grouping);
    const Status result = impl->push(body);
    if (result) {
      log::info("final exit metrics pushed",
                {{"pushgateway", target}, {"took_ms", toMillis(impl->clock.now() - began)}});
    } else {
      impl->failures.Increment();
      log::warn("pushing the final exit metrics failed; they are lost with this pod",
                {{"pushgateway", target},
                 {"error", result.error().message},
                 {"timeout_ms", toMillis(impl->config.timeout)}});
    }
  });
}

void FinalPush::wait() {
  std::lock_guard lock(impl_->mu);
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace lameduck::server
