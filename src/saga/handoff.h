#pragma once

// The Compensating phase's hand-off: fetch the app's pending compensations,
// write them to the Redis stream (else the spool), and acknowledge to the app
// only what is durable.

#include <memory>
#include <string_view>

#include "app/app_client.h"
#include "config/config.h"
#include "exit/step.h"
#include "saga/record.h"
#include "saga/report.h"
#include "saga/spool.h"
#include "saga/stream_writer.h"

namespace lameduck::saga {

// Notified of hand-off events (metrics). Thread-safe implementations.
class HandoffObserver {
 public:
  virtual ~HandoffObserver() = default;
  virtual void onWritten(std::string_view sink, int64_t count) = 0;  // "redis" or "spool"
  virtual void onFailure(std::string_view reason) = 0;
  virtual void onSpoolSize(int64_t records) = 0;
  virtual void onWriteDuration(Duration took) = 0;
};

class CompensationHandoffStep final : public exit::Step {
 public:
  CompensationHandoffStep(app::AppClient& app, const config::Config& config, Origin origin,
                          Spool& spool, HandoffObserver& observer);
  std::string_view name() const override { return "compensation_handoff"; }
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  // Writes to Redis with up to four attempts (backoff 100, 200, 400 ms),
  // never past `until`; returns the ids
  // the stream confirmed and removes them from `records`.
  std::vector<std::string> writeToRedis(exit::StepContext& ctx,
                                        std::vector<CompensationRecord>& records, TimePoint until,
                                        CompensationReport& report, std::string& last_error);

  app::AppClient& app_;
  Duration app_timeout_;
  config::CompensationConfig config_;
  Origin origin_;
  Spool& spool_;
  HandoffObserver& observer_;
  StreamWriter writer_;
};

// Replays the spool into the stream: used at start-up and by
// `lameduck spool replay`. Returns how many records the stream took.
Result<int64_t> replaySpool(const config::CompensationConfig& config, Spool& spool,
                            HandoffObserver* observer);

// A short reason label for metrics, from an error.
std::string_view failureReason(const Error& e);

}  // namespace lameduck::saga
