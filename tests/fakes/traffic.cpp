#include "fakes/traffic.h"

#include <algorithm>

namespace lameduck::fakes {

Result<std::string> FakeTrafficBackend::setWeight(int64_t percent, Duration timeout) {
  clock_.advance(std::min(takes, timeout));
  calls.push_back({percent, clock_.now()});
  if (!errors.empty()) {
    Error e = errors.front();
    errors.pop_front();
    return std::unexpected(e);
  }
  return "set " + std::to_string(percent);
}

Result<traffic::GateReading> FakeGate::read(Duration) {
  reads.push_back(clock_.now());
  Result<traffic::GateReading> r = readings.front();
  if (readings.size() > 1) readings.pop_front();
  return r;
}

}  // namespace lameduck::fakes
