#pragma once

// lameduck's Prometheus metrics (names in README.md, "Metrics").
//
// Exposition owns the registry every component registers its families on,
// with lameduck_build_info; render() produces the text exposition served on
// /metrics and pushed to the Pushgateway. Metrics adds the exit engine's own
// families (exit state, phase and exit durations, outcomes) and the admin
// port's refusals. Each feature component keeps its metrics in a class of
// its own (drain::Metrics, traffic::Metrics, ...) that the composition root
// builds on this registry: adding a feature metric never edits this file.
//
// Ownership: an object registered on registry() keeps references into it,
// so the registry must outlive it. Failure: registering a family under a
// name taken by another type throws (a programming error, at start-up).
// Thread-safety: every call is thread-safe; render() may run while the
// figures change.

#include <memory>
#include <string>
#include <string_view>

#include "exit/engine.h"

namespace prometheus {
class Registry;
}

namespace lameduck::server {

class Exposition {
 public:
  Exposition(const std::string& version, const std::string& commit);
  ~Exposition();
  Exposition(const Exposition&) = delete;
  Exposition& operator=(const Exposition&) = delete;

  prometheus::Registry& registry();
  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
};

class Metrics final : public exit::ExitObserver {
 public:
  Metrics(const std::string& version, const std::string& commit);
  ~Metrics() override;

  // The registry, for the components that add their own families.
  prometheus::Registry& registry();
  std::string render() const;

  void adminDenied(std::string_view reason);  // "token" or "source"
  void adminShed(std::string_view reason);    // "cap", "budget", "overdue" or "source"

  // exit::ExitObserver
  void onTransition(exit::State from, exit::State to) override;
  void onPhaseDone(const exit::PhaseTiming& phase) override;
  void onExitDone(const exit::Summary& summary) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck::server
