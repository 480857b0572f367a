#pragma once

// The app side of the drain protocol (docs/draining.md, "App drain
// protocol"). The exit's steps talk to the application only through this
// interface. The structs are plain values. An AppClient must be safe to call
// from several threads (the exit thread and, for the traffic gate, a shift
// step on it); calls may be serialised inside.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
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

// Bounds on one entry of a compensations answer (docs/compensation.md,
// "Bounds"); an entry over one is rejected, so it is never written or acked.
// Its text (id, saga_id, step, action and the payload as JSON text) at most:
inline constexpr size_t kMaxCompensationBytes = 1024 * 1024;
// Values in one payload, member names included: the payload is re-encoded
// through a small document (~100 bytes a value), one entry at a time.
inline constexpr size_t kMaxPayloadValues = 16 * 1024;
// Refused entries listed one by one; the rest are only counted, so an answer
// of a million non-entries costs a counter, not a million messages.
inline constexpr size_t kMaxRejectedListed = 100;

struct CompensationBatch {
  std::vector<Compensation> valid;
  // One line per refused entry: its index, id if any, and why; at most
  // kMaxRejectedListed of them (the first ones).
  std::vector<std::string> rejected;
  // Refused entries beyond those listed in `rejected`.
  size_t rejected_unlisted = 0;

  size_t rejectedCount() const { return rejected.size() + rejected_unlisted; }
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

// Receives valid entries of a page while the answer is read, a chunk at a
// time; the entries may be moved from.
using EntryChunkSink = std::function<void(std::vector<Compensation>& chunk)>;

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

  // One page whose valid entries go to `sink`, at most `chunk` (0: all) at a time,
  // as the answer is read: a large page is never held as entries all at
  // once (docs/compensation.md, "Memory"). The answer is checked as a whole
  // (bounds, valid JSON, its shape, `next`) before any entry is handed
  // over, so a refused answer hands over nothing. The page returned has an
  // empty batch.valid; its rejections and `next` are as compensationsPage's.
  // The default slices what compensationsPage returns.
  virtual Result<CompensationPage> streamCompensationsPage(const PageRequest& page,
                                                           const Call& call, size_t chunk,
                                                           const EntryChunkSink& sink) {
    auto got = compensationsPage(page, call);
    if (!got) return got;
    std::vector<Compensation>& all = got->batch.valid;
    const size_t step = chunk > 0 ? chunk : all.size();
    for (size_t start = 0; start < all.size(); start += step) {
      const size_t end = std::min(all.size(), start + step);
      std::vector<Compensation> part(std::make_move_iterator(all.begin() + start),
                                     std::make_move_iterator(all.begin() + end));
      sink(part);
    }
    all.clear();
    return got;
  }
};

}  // namespace lameduck::app
