#pragma once

// The app side of the drain protocol (docs/draining.md, "App drain
// protocol"). The exit's steps talk to the application only through this
// interface. The structs are plain values. An AppClient must be safe to call
// from several threads (the exit thread and, for the traffic gate, a shift
// step on it); calls may be serialised inside.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace lameduck::app {

// What the status hook reported. A field the app did not send is nullopt.
struct Figures {
  std::optional<int64_t> inflight;
  std::optional<int64_t> connections;
  std::optional<int64_t> queued;
  // Share of the app's recent requests that failed, 0..1, for the traffic
  // gate (gate.source: app). Absent or null: the app has no figure (no
  // traffic), which the gate treats as inconclusive.
  std::optional<double> error_rate;
};

struct Compensation {
  std::string id;  // idempotency key
  std::string saga_id;
  std::string step;
  std::string action;
  std::string payload_json;  // the payload as JSON text ("{}" when absent)
};

struct CompensationBatch {
  std::vector<Compensation> valid;
  // One line per refused entry: its index, id if any, and why.
  std::vector<std::string> rejected;
};

// Paged hand-off (docs/compensation.md, "Paged hand-off"): which page to
// ask for.
struct PageRequest {
  int64_t limit = 0;                 // at most this many entries; 0: no limit asked
  std::optional<std::string> after;  // the cursor the previous page named; none: the first page
};

// One page of the app's pending compensations.
struct CompensationPage {
  CompensationBatch batch;
  // The cursor of the following page; none when this page is the last (an
  // app that does not page answers everything in one last page).
  std::optional<std::string> next;
};

// Per-call settings.
struct Call {
  Duration timeout;
  std::string traceparent;  // W3C trace context of the exit; may be empty
  // When set, receives the HTTP status of the answer, whatever it was (a
  // refusal included); left alone when no answer came back. Lets a step
  // put the status on its span.
  int* http_status = nullptr;
};

// Implementations must bound every call by call.timeout and never throw.
// Errors: kUnavailable (cannot connect, connection closed), kDeadlineExceeded
// (no answer in time), kBadResponse (non-2xx or unparseable answer).
class AppClient {
 public:
  virtual ~AppClient() = default;
  virtual Status drain(const Call& call) = 0;
  virtual Result<Figures> status(const Call& call) = 0;
  virtual Result<CompensationBatch> compensations(const Call& call) = 0;
  virtual Status ack(const std::vector<std::string>& ids, const Call& call) = 0;
  virtual Status terminate(const Call& call) = 0;

  // One page of pending compensations. The default, for clients that do not
  // page, fetches everything with compensations() as one last page. Errors
  // as compensations(), plus kBadResponse for a `next` that is not a string.
  virtual Result<CompensationPage> compensationsPage(const PageRequest& page, const Call& call) {
    (void)page;
    auto batch = compensations(call);
    if (!batch) return std::unexpected(batch.error());
    return CompensationPage{std::move(*batch), std::nullopt};
  }
};

}  // namespace lameduck::app
