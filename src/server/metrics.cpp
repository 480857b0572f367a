#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>

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

Exposition::Exposition(const std::string& version, const std::string& commit)
    : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::BuildGauge()
      .Name("lameduck_build_info")
      .Help("Always 1; labels carry the version and commit")
      .Register(*registry_)
      .Add({{"version", version}, {"commit", commit}})
      .Set(1);
}

Exposition::~Exposition() = default;

prometheus::Registry& Exposition::registry() { return *registry_; }

std::string Exposition::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

struct Metrics::Impl {
  Impl(const std::string& version, const std::string& commit) : exposition(version, commit) {}

  Exposition exposition;
  prometheus::Registry& registry = exposition.registry();
  Family<Gauge>& exit_state = prometheus::BuildGauge()
                                  .Name("lameduck_exit_state")
                                  .Help("1 for the exit state lameduck is in, 0 for the others")
                                  .Register(registry);
  Family<Histogram>& exit_duration = prometheus::BuildHistogram()
                                         .Name("lameduck_exit_duration_seconds")
                                         .Help("Duration of whole exits, trigger to Terminated")
                                         .Register(registry);
  Family<Histogram>& phase_duration = prometheus::BuildHistogram()
                                          .Name("lameduck_exit_phase_duration_seconds")
                                          .Help("Duration of each exit phase")
                                          .Register(registry);
  Family<Counter>& exits = prometheus::BuildCounter()
                               .Name("lameduck_exits_total")
                               .Help("Exits that reached Terminated, by outcome")
                               .Register(registry);
  Family<Counter>& denied = prometheus::BuildCounter()
                                .Name("lameduck_admin_requests_denied_total")
                                .Help("Admin requests refused, by reason (token or source)")
                                .Register(registry);
  Family<Counter>& shed =
      prometheus::BuildCounter()
          .Name("lameduck_admin_connections_shed_total")
          .Help(
              "Admin connections the sidecar closed on its own, by reason (cap, budget, "
              "overdue or source)")
          .Register(registry);
  std::map<exit::State, Gauge*> state_gauges;
  std::map<exit::Phase, Histogram*> phase_histograms;
  std::map<exit::Outcome, Counter*> outcome_counters;
  Histogram* exit_histogram = nullptr;
};

Metrics::Metrics(const std::string& version, const std::string& commit)
    : impl_(std::make_unique<Impl>(version, commit)) {
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
  m.denied.Add({{"reason", "token"}});
  m.denied.Add({{"reason", "source"}});
  for (const char* reason : {"cap", "budget", "overdue", "source"}) m.shed.Add({{"reason", reason}});
}

Metrics::~Metrics() = default;

prometheus::Registry& Metrics::registry() { return impl_->registry; }

std::string Metrics::render() const { return impl_->exposition.render(); }

void Metrics::adminDenied(std::string_view reason) {
  impl_->denied.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::adminShed(std::string_view reason) {
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

}  // namespace lameduck::server
