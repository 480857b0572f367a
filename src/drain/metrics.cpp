#include "drain/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace lameduck::drain {

struct Metrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : inflight(prometheus::BuildGauge()
                     .Name("lameduck_app_inflight")
                     .Help("In-flight work the app last reported through its status hook")
                     .Register(registry)
                     .Add({})),
        connections(prometheus::BuildGauge()
                        .Name("lameduck_app_connections")
                        .Help("Connections on app.ports at the last read during an exit, by "
                              "activity: busy (a request being worked on, data moving or queued) "
                              "or idle (kept alive, nothing pending)")
                        .Register(registry)),
        source(prometheus::BuildGauge()
                   .Name("lameduck_drain_connection_source")
                   .Help("1 for the reader of the app's connections in use (netlink: socket "
                         "diagnostics with activity; proc: /proc/net/tcp, the fallback without "
                         "timestamps), 0 for the other")
                   .Register(registry)),
        new_connections(
            prometheus::BuildCounter()
                .Name("lameduck_app_new_connections_total")
                .Help("TCP connections on app.ports that arrived while the app was draining")
                .Register(registry)
                .Add({})) {}

  prometheus::Gauge& inflight;
  prometheus::Family<prometheus::Gauge>& connections;
  prometheus::Family<prometheus::Gauge>& source;
  prometheus::Counter& new_connections;
  prometheus::Gauge& busy = connections.Add({{"activity", "busy"}});
  prometheus::Gauge& idle = connections.Add({{"activity", "idle"}});
  prometheus::Gauge& netlink = source.Add({{"source", "netlink"}});
  prometheus::Gauge& proc = source.Add({{"source", "proc"}});
};

Metrics::Metrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {}

Metrics::~Metrics() = default;

void Metrics::onAppFigures(const app::Figures& figures) {
  if (figures.inflight) impl_->inflight.Set(static_cast<double>(*figures.inflight));
}

void Metrics::onConnections(int64_t /*established*/, int64_t arrived) {
  if (arrived > 0) impl_->new_connections.Increment(static_cast<double>(arrived));
}

void Metrics::onConnectionActivity(int64_t busy, int64_t idle) {
  impl_->busy.Set(static_cast<double>(busy));
  impl_->idle.Set(static_cast<double>(idle));
}

void Metrics::onConnectionSource(std::string_view source) {
  impl_->netlink.Set(source == "netlink" ? 1 : 0);
  impl_->proc.Set(source == "proc" ? 1 : 0);
}

}  // namespace lameduck::drain
