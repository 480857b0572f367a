#pragma once

// The narrow interfaces of the traffic shift: something that sets this pod's
// share of the traffic (a load balancer, the Kubernetes API, a webhook) and
// something that tells whether the rest of the fleet copes (an error-rate
// gate). The shift step (shift.h) sees only these.

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"

namespace lameduck::traffic {

// Sets the weight of this pod. Implementations are used from the exit thread
// only.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // Sets the weight to `percent` of the original (0..100) and, where the
  // backend can tell, verifies it took effect. Returns what the backend now
  // reports (for the summary). Must return within `timeout`. Errors:
  // kUnavailable and kDeadlineExceeded are transient (the caller retries with
  // backoff); anything else is permanent (refused, misconfigured).
  virtual Result<std::string> setWeight(int64_t percent, Duration timeout) = 0;
};

// One reading of the fleet's error rate. No data (no traffic, an empty query
// result, NaN) is `error_rate == nullopt`: inconclusive, never healthy.
struct GateReading {
  std::optional<double> error_rate;
  std::string detail;  // what was read, or why there is no figure
};

class Gate {
 public:
  virtual ~Gate() = default;
  virtual std::string_view name() const = 0;
  // Must return within `timeout`. An error (source down, garbage) is
  // treated as inconclusive by the caller.
  virtual Result<GateReading> read(Duration timeout) = 0;
};

// Told about the shift as it happens (metrics). Quick and thread-safe.
class ShiftObserver {
 public:
  virtual ~ShiftObserver() = default;
  virtual void onWeight(int64_t percent) = 0;
  // "passed", "held", "continued" or "failed".
  virtual void onTrafficStep(std::string_view result) = 0;
  // "pass", "fail" or "inconclusive".
  virtual void onGateCheck(std::string_view result) = 0;
};

}  // namespace lameduck::traffic
