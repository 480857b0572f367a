#pragma once

// Exit ordering settings (coordination.* plus this pod's name), the observer
// that turns coordination events into metrics, and the slot keeper.
//
// Settings is a plain value (Settings::from never fails: the config was
// checked when loaded); thread-safety of the interfaces is said at each.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace lameduck::coord {

// Notified of coordination events; implementations are thread-safe (the
// registry thread and the exit thread both report).
class Observer {
 public:
  virtual ~Observer() = default;
  // A coordination wait ended (whatever the result); `reason` is "slot" or
  // "wait_for".
  virtual void onCoordinationWait(std::string_view reason, Duration took) = 0;
  // A call to the coordination store failed.
  virtual void onCoordinationError() = 0;
  // A dependency cycle was found in the registry.
  virtual void onCoordinationCycle() = 0;
};

// Keeps the exit slot the exit took: renews its lease until the exit ends,
// then gives it back (the Registry). Thread-safe.
class SlotKeeper {
 public:
  virtual ~SlotKeeper() = default;
  virtual void holdSlot(int64_t token) = 0;
};

struct Settings {
  std::string service;  // empty: this pod neither registers nor takes a slot
  std::string pod;
  std::vector<std::string> wait_for;
  int64_t max_concurrent_exits = 1;  // 0: no cap
  Duration heartbeat = std::chrono::seconds(5);
  // How often a waiting step looks at the store again.
  Duration poll = std::chrono::milliseconds(100);
  // How long the store may stay unreachable during an exit before the exit
  // goes on without coordination.
  Duration outage_allowance = std::chrono::seconds(5);

  // A registration or slot lease lives three heartbeats: one missed beat
  // (a slow store, a GC pause) does not drop it, a crashed pod goes soon.
  Duration ttl() const { return 3 * heartbeat; }
  bool registers() const { return !service.empty(); }
  bool capsExits() const { return registers() && max_concurrent_exits > 0; }
  bool enabled() const { return registers() || !wait_for.empty(); }

  // From the config: the outage allowance is the smaller of 5 s and a
  // quarter of the Draining budget, and the poll interval at most the
  // heartbeat.
  static Settings from(const config::Config& config, std::string pod);
};

}  // namespace lameduck::coord
