#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <mutex>

namespace lameduck::server {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

namespace {
// Exits are seconds to a few minutes long.
const Histogram::BucketBoundaries kExitBuckets{0.05, 0.1, 0.25, 0.5, 1,  2.5, 5,  10,
                                               15,   20,  30,   45,  60, 120, 300};
}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Family<Gauge>& exit_state = prometheus::BuildGauge()
                                  .Name("lameduck_exit_state")
                                  .Help("1 for the exit state lameduck is in, 0 for the others")
                                  .Register(*registry);
  Family<Histogram>& exit_duration = prometheus::BuildHistogram()
                                         .Name("lameduck_exit_duration_seconds")
                                         .Help("Duration of whole exits, trigger to Terminated")
                                         .Register(*registry);
  Family<Histogram>& phase_duration = prometheus::BuildHistogram()
                                          .Name("lameduck_exit_phase_duration_seconds")
                                          .Help("Duration of each exit phase")
                                          .Register(*registry);
  Family<Counter>& exits = prometheus::BuildCounter()
                               .Name("lameduck_exits_total")
                               .Help("Exits that reached Terminated, by outcome")
                               .Register(*registry);
  Family<Gauge>& inflight =
      prometheus::BuildGauge()
          .Name("lameduck_app_inflight")
          .Help("In-flight work the app last reported through its status hook")
          .Register(*registry);
  Family<Gauge>& connections =
      prometheus::BuildGauge()
          .Name("lameduck_app_connections")
          .Help("Connections on app.ports at the last read during an exit, by activity: busy (a request being worked on, data moving or queued) or idle (kept alive, nothing pending)")
          .Register(*registry);
  Family<Gauge>& connection_source =
      prometheus::BuildGauge()
          .Name("lameduck_drain_connection_source")
          .Help("1 for the reader of the app's connections in use (netlink: socket diagnostics "
                "with activity; proc: /proc/net/tcp, the fallback without timestamps), 0 for the other")
          .Register(*registry);
  Family<Counter>& new_connections =
      prometheus::BuildCounter()
          .Name("lameduck_app_new_connections_total")
          .Help("TCP connections on app.ports that arrived while the app was draining")
          .Register(*registry);
  Family<Counter>& hooks =
      prometheus::BuildCounter()
          .Name("lameduck_hook_requests_total")
          .Help(
              "Requests to the app's drain-protocol hooks, by hook and HTTP code "
              "(or timeout / unreachable)")
          .Register(*registry);
  Family<Counter>& denied = prometheus::BuildCounter()
                                .Name("lameduck_admin_requests_denied_total")
                                .Help("Admin requests refused, by reason (token or source)")
                                .Register(*registry);
  Family<Counter>& shed =
      prometheus::BuildCounter()
          .Name("lameduck_admin_connections_shed_total")
          .Help(
              "Admin connections the sidecar closed on its own, by reason (cap, budget, "
              "overdue or source)")
          .Register(*registry);
  Family<Gauge>& build_info = prometheus::BuildGauge()
                                  .Name("lameduck_build_info")
                                  .Help("Always 1; labels carry the version and commit")
                                  .Register(*registry);
  Family<Counter>& comp_written = prometheus::BuildCounter()
                                      .Name("lameduck_compensations_written_total")
                                      .Help("Compensations handed off, by sink (redis or spool)")
                                      .Register(*registry);
  Family<Counter>& comp_failures = prometheus::BuildCounter()
                                       .Name("lameduck_compensation_failures_total")
                                       .Help("Compensation hand-off failures, by reason")
                                       .Register(*registry);
  Family<Gauge>& comp_spooled = prometheus::BuildGauge()
                                    .Name("lameduck_compensations_spooled")
                                    .Help("Compensations waiting in the local spool")
                                    .Register(*registry);
  Family<Histogram>& comp_write_duration =
      prometheus::BuildHistogram()
          .Name("lameduck_compensation_write_duration_seconds")
          .Help("Duration of one attempt to write a batch of compensations to Redis")
          .Register(*registry);
  Family<Gauge>& traffic_weight =
      prometheus::BuildGauge()
          .Name("lameduck_traffic_weight_percent")
          .Help("Traffic weight lameduck last set for this pod, percent of the original")
          .Register(*registry);
  Family<Gauge>& app_goroutines =
      prometheus::BuildGauge()
          .Name("lameduck_app_goroutines")
          .Help("Goroutines of the app still parked after SIGTERM (exit diagnosis), by wait reason")
          .Register(*registry);
  Family<Counter>& traffic_steps =
      prometheus::BuildCounter()
          .Name("lameduck_traffic_steps_total")
          .Help("Traffic shift steps, by result (passed, held, continued, failed)")
          .Register(*registry);
  Family<Counter>& gate_checks =
      prometheus::BuildCounter()
          .Name("lameduck_traffic_gate_checks_total")
          .Help("Error-rate gate checks, by result (pass, fail, inconclusive)")
          .Register(*registry);
  Gauge* weight_gauge = nullptr;
  // One observation per coordination wait (0 when nothing had to be
  // waited for), so the share of exits that waited is visible too.
  Family<Histogram>& coord_wait =
      prometheus::BuildHistogram()
          .Name("lameduck_coordination_wait_seconds")
          .Help("Time an exit waited for exit ordering, by reason (slot or wait_for)")
          .Register(*registry);
  Counter& coord_errors = prometheus::BuildCounter()
                              .Name("lameduck_coordination_errors_total")
                              .Help("Calls to the coordination store (Redis) that failed")
                              .Register(*registry)
                              .Add({});
  Counter& coord_cycles =
      prometheus::BuildCounter()
          .Name("lameduck_coordination_cycles_total")
          .Help("Dependency cycles between services found in the exit-ordering registry")
          .Register(*registry)
          .Add({});
  Family<Counter>& trace_exports =
      prometheus::BuildCounter()
          .Name("lameduck_trace_exports_total")
          .Help("Exports of the exit trace over OTLP, by result (ok, partial, rejected, failed)")
          .Register(*registry);
  std::map<std::string, Histogram*, std::less<>> coord_wait_histograms;
  Gauge* spooled_gauge = nullptr;
  Histogram* write_histogram = nullptr;
  std::map<exit::State, Gauge*> state_gauges;
  std::map<exit::Phase, Histogram*> phase_histograms;
  std::map<exit::Outcome, Counter*> outcome_counters;
  Histogram* exit_histogram = nullptr;
  Gauge* inflight_gauge = nullptr;
  Gauge* busy_gauge = nullptr;
  Gauge* idle_gauge = nullptr;
  Gauge* netlink_source_gauge = nullptr;
  Gauge* proc_source_gauge = nullptr;
  Counter* new_connections_counter = nullptr;
  std::mutex mu;  // guards the Family::Add calls made after construction
};

Metrics::Metrics(const std::string& version, const std::string& commit)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  for (exit::State s : exit::kAllStates) {
    m.state_gauges[s] = &m.exit_state.Add({{"state", std::string(exit::stateName(s))}});
  }
  m.state_gauges[exit::State::kReady]->Set(1);
  for (exit::Phase p : exit::kAllPhases) {
    m.phase_histograms[p] =
        &m.phase_duration.Add({{"phase", std::string(exit::phaseName(p))}}, kExitBuckets);
  }
  // Every outcome exists from the start, so sum() and rate() work before the
  // first exit.
  for (exit::Outcome o : exit::kAllOutcomes) {
    m.outcome_counters[o] = &m.exits.Add({{"outcome", std::string(exit::outcomeName(o))}});
  }
  m.exit_histogram = &m.exit_duration.Add({}, kExitBuckets);
  m.inflight_gauge = &m.inflight.Add({});
  m.busy_gauge = &m.connections.Add({{"activity", "busy"}});
  m.idle_gauge = &m.connections.Add({{"activity", "idle"}});
  m.netlink_source_gauge = &m.connection_source.Add({{"source", "netlink"}});
  m.proc_source_gauge = &m.connection_source.Add({{"source", "proc"}});
  m.new_connections_counter = &m.new_connections.Add({});
  m.denied.Add({{"reason", "token"}});
  m.denied.Add({{"reason", "source"}});
  for (const char* reason : {"cap", "budget", "overdue", "source"}) m.shed.Add({{"reason", reason}});
  m.build_info.Add({{"version", version}, {"commit", commit}}).Set(1);
  m.comp_written.Add({{"sink", "redis"}});
  m.comp_written.Add({{"sink", "spool"}});
  m.spooled_gauge = &m.comp_spooled.Add({});
  m.weight_gauge = &m.traffic_weight.Add({});
  m.weight_gauge->Set(100);
  for (const char* result : {"passed", "held", "continued", "failed"}) {
    m.traffic_steps.Add({{"result", result}});
  }
  for (const char* result : {"pass", "fail", "inconclusive"}) {
    m.gate_checks.Add({{"result", result}});
  }
  for (const char* reason : {"slot", "wait_for"}) {
    m.coord_wait_histograms[reason] = &m.coord_wait.Add({{"reason", reason}}, kExitBuckets);
  }
  m.write_histogram = &m.comp_write_duration.Add(
      {}, Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
}

Metrics::~Metrics() = default;

prometheus::Registry& Metrics::registry() { return *impl_->registry; }

std::string Metrics::render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

void Metrics::hookRequest(std::string_view hook, std::string_view code) {
  std::lock_guard lock(impl_->mu);
  impl_->hooks.Add({{"hook", std::string(hook)}, {"code", std::string(code)}}).Increment();
}

void Metrics::adminDenied(std::string_view reason) {
  std::lock_guard lock(impl_->mu);
  impl_->denied.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::adminShed(std::string_view reason) {
  std::lock_guard lock(impl_->mu);
  impl_->shed.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::onTransition(exit::State from, exit::State to) {
  impl_->state_gauges.at(from)->Set(0);
  impl_->state_gauges.at(to)->Set(1);
}

void Metrics::onPhaseDone(const exit::PhaseTiming& phase) {
  impl_->phase_histograms.at(phase.phase)->Observe(toSeconds(phase.took));
}

void Metrics::onExitDone(const exit::Summary& summary) {
  impl_->exit_histogram->Observe(toSeconds(summary.elapsed));
  auto it = impl_->outcome_counters.find(summary.outcome);
  if (it != impl_->outcome_counters.end()) it->second->Increment();
}

void Metrics::onAppFigures(const app::Figures& figures) {
  if (figures.inflight) impl_->inflight_gauge->Set(static_cast<double>(*figures.inflight));
}

void Metrics::onConnections(int64_t /*established*/, int64_t arrived) {
  if (arrived > 0) impl_->new_connections_counter->Increment(static_cast<double>(arrived));
}

void Metrics::onConnectionActivity(int64_t busy, int64_t idle) {
  impl_->busy_gauge->Set(static_cast<double>(busy));
  impl_->idle_gauge->Set(static_cast<double>(idle));
}

void Metrics::onConnectionSource(std::string_view source) {
  impl_->netlink_source_gauge->Set(source == "netlink" ? 1 : 0);
  impl_->proc_source_gauge->Set(source == "proc" ? 1 : 0);
}

void Metrics::onWritten(std::string_view sink, int64_t count) {
  std::lock_guard lock(impl_->mu);
  impl_->comp_written.Add({{"sink", std::string(sink)}}).Increment(static_cast<double>(count));
}

void Metrics::onFailure(std::string_view reason) {
  std::lock_guard lock(impl_->mu);
  impl_->comp_failures.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::onSpoolSize(int64_t records) {
  impl_->spooled_gauge->Set(static_cast<double>(records));
}

void Metrics::onWriteDuration(Duration took) { impl_->write_histogram->Observe(toSeconds(took)); }

void Metrics::onShutdownStuck(const diag::StuckReport& stuck) {
  for (const auto& [reason, count] : diag::countsByWaitReason(stuck.report)) {
    impl_->app_goroutines.Add({{"wait_reason", reason}}).Set(static_cast<double>(count));
  }
}

void Metrics::onWeight(int64_t percent) { impl_->weight_gauge->Set(static_cast<double>(percent)); }

void Metrics::onTrafficStep(std::string_view result) {
  std::lock_guard lock(impl_->mu);
  impl_->traffic_steps.Add({{"result", std::string(result)}}).Increment();
}

void Metrics::onGateCheck(std::string_view result) {
  std::lock_guard lock(impl_->mu);
  impl_->gate_checks.Add({{"result", std::string(result)}}).Increment();
}

void Metrics::onCoordinationWait(std::string_view reason, Duration took) {
  auto it = impl_->coord_wait_histograms.find(reason);
  if (it != impl_->coord_wait_histograms.end()) it->second->Observe(toSeconds(took));
}

void Metrics::onCoordinationError() { impl_->coord_errors.Increment(); }

void Metrics::onCoordinationCycle() { impl_->coord_cycles.Increment(); }

void Metrics::onTraceExport(std::string_view result) {
  std::lock_guard lock(impl_->mu);
  impl_->trace_exports.Add({{"result", std::string(result)}}).Increment();
}

struct CompensatorMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Counter& applied = prometheus::BuildCounter()
                         .Name("lameduck_compensations_applied_total")
                         .Help("Compensations whose action endpoint answered 2xx")
                         .Register(*registry)
                         .Add({});
  Counter& retries = prometheus::BuildCounter()
                         .Name("lameduck_compensation_retries_total")
                         .Help("Failed attempts that were retried")
                         .Register(*registry)
                         .Add({});
  Counter& dead = prometheus::BuildCounter()
                      .Name("lameduck_compensations_dead_lettered_total")
                      .Help("Compensations moved to the dead-letter stream")
                      .Register(*registry)
                      .Add({});
  Counter& invalid = prometheus::BuildCounter()
                         .Name("lameduck_compensations_invalid_total")
                         .Help("Entries without id or saga_id, dead-lettered without a call")
                         .Register(*registry)
                         .Add({});
  prometheus::Family<Counter>& redis_errors =
      prometheus::BuildCounter()
          .Name("lameduck_compensator_redis_errors_total")
          .Help("Failed Redis commands of the compensator, by command (connect: unreachable)")
          .Register(*registry);
  Counter& recreated = prometheus::BuildCounter()
                           .Name("lameduck_compensator_group_recreated_total")
                           .Help("Times the stream or consumer group was gone and was created again")
                           .Register(*registry)
                           .Add({});
};

CompensatorMetrics::CompensatorMetrics(const std::string& version, const std::string& commit)
    : impl_(std::make_unique<Impl>()) {
  prometheus::BuildGauge()
      .Name("lameduck_build_info")
      .Help("Always 1; labels carry the version and commit")
      .Register(*impl_->registry)
      .Add({{"version", version}, {"commit", commit}})
      .Set(1);
}

CompensatorMetrics::~CompensatorMetrics() = default;

std::string CompensatorMetrics::render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

void CompensatorMetrics::onApplied() { impl_->applied.Increment(); }
void CompensatorMetrics::onRetry() { impl_->retries.Increment(); }
void CompensatorMetrics::onDeadLettered() { impl_->dead.Increment(); }
void CompensatorMetrics::onInvalid() { impl_->invalid.Increment(); }
void CompensatorMetrics::onRedisError(std::string_view command) {
  impl_->redis_errors.Add({{"command", std::string(command)}}).Increment();
}
void CompensatorMetrics::onGroupRecreated() { impl_->recreated.Increment(); }

}  // namespace lameduck::server
