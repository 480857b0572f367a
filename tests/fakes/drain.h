#pragma once

// Scripted connection sources for drain tests, in simulated time: socket
// tables (FakeConnections) and netlink-like connections with kernel facts
// (FakeFactsSource), and the drain observer that ignores everything. Not
// thread-safe: the drain reads them on the exit thread; tests set them up
// before the exit.

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "drain/connections.h"
#include "drain/report.h"

namespace lameduck::fakes {

using namespace std::chrono_literals;

// Socket tables as a script over simulated time: from each offset on, the
// given connections are established.
class FakeConnections final : public drain::ConnectionSource {
 public:
  FakeConnections(SimulatedClock& clock) : clock_(clock), t0_(clock.now()) {}
  void at(Duration offset, std::set<std::string> established) {
    script_.emplace_back(offset, std::move(established));
  }
  bool unreadable = false;
  int reads = 0;

  Result<drain::ConnectionSnapshot> read() override {
    reads++;
    if (unreadable) return makeError(ErrorCode::kUnavailable, "cannot read /proc/net/tcp: denied");
    drain::ConnectionSnapshot s;
    s.listening = 1;
    for (const auto& [offset, set] : script_) {
      if (clock_.now() - t0_ >= offset) {
        s.established = set;
        s.seen.clear();
        for (const std::string& key : set) s.seen[key].open = true;
      }
    }
    return s;
  }

 private:
  SimulatedClock& clock_;
  TimePoint t0_;
  std::vector<std::pair<Duration, std::set<std::string>>> script_;
};

// A netlink-like source: connections with kernel facts, made from a
// function of the time since the source was created.
class FakeFactsSource final : public drain::ConnectionSource {
 public:
  using Script = std::function<std::vector<drain::ConnectionFacts>(Duration)>;
  FakeFactsSource(SimulatedClock& clock, Script script)
      : clock_(clock), t0_(clock.now()), script_(std::move(script)) {}
  Result<drain::ConnectionSnapshot> read() override {
    drain::ConnectionSnapshot s;
    s.source = drain::SourceKind::kNetlink;
    s.listening = 1;
    s.connections = script_(clock_.now() - t0_);
    for (const drain::ConnectionFacts& f : s.connections) {
      s.established.insert(f.key());
      s.seen[f.key()].open = true;
    }
    return s;
  }

 private:
  SimulatedClock& clock_;
  TimePoint t0_;
  Script script_;
};

// A drain observer that ignores everything.
class NullDrainObserver final : public drain::Observer {
 public:
  void onAppFigures(const app::Figures&) override {}
  void onConnections(int64_t, int64_t) override {}
};

}  // namespace lameduck::fakes
