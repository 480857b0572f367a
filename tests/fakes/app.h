#pragma once

// A fake of the app's drain protocol for unit tests, in simulated time.
// Thread-safe for the counters only (the engine calls it from its exit
// thread; tests read the counters after the exit).
//
// Why there are two fake apps: FakeApp scripts the exit's calls (drain,
// status with in-flight figures, terminate, one unpaged compensations
// answer) by failure mode — ok, hang for the whole timeout on the
// simulated clock, HTTP 500, refused — for the engine, drain and app-step
// tests. fakes/saga.h's FakeAppClient is the other half of the
// compensation hand-off: entries by position, pages and cursors, acks that
// remove entries, per-page failures; its drain/status/terminate do nothing.
// One class doing both would mix two scripts no test needs together.

#include <atomic>
#include <deque>
#include <string>
#include <vector>

#include "app/app_client.h"
#include "common/clock.h"

namespace lameduck::fakes {

using namespace std::chrono_literals;

// An app whose hooks answer from scripts; a "hang" consumes the whole call
// timeout in simulated time and fails as a timeout would.
class FakeApp final : public app::AppClient {
 public:
  explicit FakeApp(SimulatedClock& clock) : clock_(clock) {}

  enum class Mode { kOk, kHang, kError, kRefused };
  Mode drain_mode = Mode::kOk;
  Mode status_mode = Mode::kOk;
  Mode terminate_mode = Mode::kOk;
  std::deque<int64_t> inflight{0};  // one value per status call; the last repeats
  int pending_compensations = 0;
  std::atomic<int> drain_calls{0}, status_calls{0}, terminate_calls{0}, compensation_calls{0};
  std::vector<Duration> timeouts_seen;
  std::string last_traceparent;

  Status drain(const app::Call& call) override {
    drain_calls++;
    return answer(drain_mode, call);
  }
  Result<app::Figures> status(const app::Call& call) override {
    status_calls++;
    if (auto s = answer(status_mode, call); !s) return std::unexpected(s.error());
    int64_t v = inflight.front();
    if (inflight.size() > 1) inflight.pop_front();
    return app::Figures{v, 0, 0, std::nullopt};
  }
  Result<app::CompensationBatch> compensations(const app::Call& call) override {
    compensation_calls++;
    if (auto s = answer(Mode::kOk, call); !s) return std::unexpected(s.error());
    app::CompensationBatch b;
    for (int i = 0; i < pending_compensations; ++i)
      b.valid.push_back({"c" + std::to_string(i), "s", "", "a", "{}"});
    return b;
  }
  Status ack(const std::vector<std::string>&, const app::Call&) override { return {}; }
  Status terminate(const app::Call& call) override {
    terminate_calls++;
    return answer(terminate_mode, call);
  }

 private:
  Status answer(Mode mode, const app::Call& call) {
    timeouts_seen.push_back(call.timeout);
    last_traceparent = call.traceparent;
    switch (mode) {
      case Mode::kOk:
        clock_.advance(std::min<Duration>(1ms, call.timeout));
        if (call.http_status) *call.http_status = 200;
        return {};
      case Mode::kHang:
        clock_.advance(call.timeout);
        return makeError(ErrorCode::kDeadlineExceeded, "no answer within timeout");
      case Mode::kError:
        if (call.http_status) *call.http_status = 500;
        return makeError(ErrorCode::kBadResponse, "answered HTTP 500");
      case Mode::kRefused:
        return makeError(ErrorCode::kUnavailable, "cannot connect");
    }
    return {};
  }
  SimulatedClock& clock_;
};

}  // namespace lameduck::fakes
