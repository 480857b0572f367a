#include "coord/settings.h"

namespace lameduck::coord {

Settings Settings::from(const config::Config& config, std::string pod) {
  Settings s;
  const config::CoordinationConfig& c = config.coordination;
  s.service = c.service;
  s.pod = std::move(pod);
  s.wait_for = c.wait_for;
  s.max_concurrent_exits = c.max_concurrent_exits;
  s.heartbeat = c.heartbeat;
  s.poll = std::min<Duration>(s.poll, c.heartbeat);
  s.outage_allowance = std::min<Duration>(std::chrono::seconds(5), config.exit.draining() / 4);
  return s;
}

}  // namespace lameduck::coord
