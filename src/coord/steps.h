#pragma once

// The exit-ordering steps, first in the Draining phase:
//   coordination_slot      takes one of max_concurrent_exits exit slots of
//                          this pod's service (waits while all are held);
//   coordination_wait_for  waits until every live registered pod of the
//                          wait_for services is Terminated or gone.
// Both poll the store every settings.poll and update the exit record, so
// /status shows whom the exit is waiting for.
//
// Bounds. Together they may use three quarters of the Draining budget: the
// traffic shift and the drain itself always keep the last quarter, so a
// pod whose wait ran out still drains before it goes (outcome `deadline`,
// the reason naming who held the slots or who was still alive).
//
// The store is advisory. When it cannot be reached for
// settings.outage_allowance (counted from the first failed call of the
// outage, across both steps), the exit goes on without coordination: the
// step ends `skipped` with the error, logged at warn and counted.
//
// Cycles. The dependency graph is read from the registry: this pod's
// service waits for its wait_for services, and every Draining pod adds
// edges from its service to the services it waits for. A wait_for service
// from which a path leads back to this service is a cycle; it is logged,
// counted, audited and put in the record. Deciding who goes first: the
// service whose name sorts first on the cycle stops waiting for the
// services of the cycle and proceeds; the others keep waiting, and are
// released when it terminates. So a cycle turns into an order instead of a
// deadlock, and every pod involved sees the same order.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coord/backend.h"
#include "coord/report.h"
#include "coord/settings.h"
#include "exit/step.h"

namespace lameduck::coord {

// Service -> its live pods, for the services a look at the registry reached.
using RegistryView = std::map<std::string, std::vector<PodRecord>>;

// For each service of `wait_for` from which `self` can be reached again in
// the graph `view` shows, the cycle as a list of services starting and
// ending with `self` (the shortest one). Empty when `self` is empty.
std::map<std::string, std::vector<std::string>> findCycles(const std::string& self,
                                                           const std::vector<std::string>& wait_for,
                                                           const RegistryView& view);

// What the steps of one exit share: the record, and how long the store has
// been unreachable. Used on the exit thread only.
class ExitCoordination {
 public:
  // `keeper` (may be null) is told about a slot the exit took. All
  // references must outlive this object.
  ExitCoordination(Backend& backend, const Settings& settings, Observer& observer,
                   SlotKeeper* keeper);

  Backend& backend() { return backend_; }
  const Settings& settings() const { return settings_; }
  Observer& observer() { return observer_; }
  SlotKeeper* keeper() { return keeper_; }
  CoordinationReport& report() { return report_; }

  // Copies the report into the exit record (what /status shows).
  void publish(exit::StepContext& ctx) {
    ctx.record.section(kCoordinationSection, toJson(report_));
  }
  // A wait ended (`reason` "slot" or "wait_for"): publishes and observes it.
  void waitEnded(exit::StepContext& ctx, std::string_view reason, Duration took) {
    publish(ctx);
    observer_.onCoordinationWait(reason, took);
  }
  // When the coordination waits must end: three quarters into the phase.
  TimePoint waitDeadline(const exit::StepContext& ctx) const;
  // After a failed store call: logs, counts, and says whether to keep
  // trying (false once the outage lasted settings.outage_allowance).
  bool keepTrying(const Error& e, TimePoint now, std::string_view during);
  // After a successful call: the outage, if any, is over.
  void reachable();
  // How long the current outage has lasted ("" when none).
  std::string outageSummary(TimePoint now) const;

 private:
  Backend& backend_;
  Settings settings_;
  Observer& observer_;
  SlotKeeper* keeper_;
  CoordinationReport report_;
  std::optional<TimePoint> outage_since_;
};

class SlotStep final : public exit::Step {
 public:
  explicit SlotStep(ExitCoordination& session) : session_(session) {}
  std::string_view name() const override { return "coordination_slot"; }
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  ExitCoordination& session_;
};

class WaitForStep final : public exit::Step {
 public:
  explicit WaitForStep(ExitCoordination& session) : session_(session) {}
  std::string_view name() const override { return "coordination_wait_for"; }
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  // Reads the wait_for services and, for cycle detection, the services
  // their Draining pods wait for, transitively (at most 32 services).
  Result<RegistryView> look();

  ExitCoordination& session_;
};

// The steps the settings call for, in the order they run: the slot first,
// then wait_for. They borrow `session`, which must outlive them.
std::vector<std::unique_ptr<exit::Step>> makeSteps(ExitCoordination& session);

// The `coordination` section before any step wrote it: null (exit ordering
// is off, or has not started).
exit::SectionDefault sectionDefault();

}  // namespace lameduck::coord
