#pragma once

// The Compensating phase's hand-off: fetch the app's pending compensations
// page by page, write each page to the Redis stream (else the spool), and
// acknowledge to the app only what is durable (docs/compensation.md).
//
// Promises, per page:
// - An id is acked only once the stream confirmed it or the spool fsync'd
//   it. A spool write that fails acks nothing of what it held.
// - A stream write cut off part-way keeps what the stream confirmed and
//   spools the rest; a retried write never duplicates (ids are idempotency
//   keys, compared as exact text).
// - A failed ack leaves everything durable (the app offers the ids again and
//   the stream deduplicates them); the hand-off stops there.
// - Redis is tried a few times (backoff 100, 200, 400 ms, never past a slice
//   kept for the spool and the ack); once it has failed, later pages of the
//   same exit go to the spool at once.
// - Memory is bounded by one page. An app that does not page answers
//   everything at once; that answer is handed off (and acked) in chunks of
//   a page, each entry released once its chunk is durable.
// Failure: the result says failed (or deadline) with what was done; nothing
// throws. Time comes from the caller's Clock only.
//
// Ownership: the app client, the stream connector, the spool and the
// observer are borrowed and must outlive the hand-off. Not thread-safe: one
// exit at a time (the exit thread).

#include <memory>
#include <optional>
#include <string_view>

#include "app/app_client.h"
#include "exit/step.h"
#include "saga/record.h"
#include "saga/report.h"
#include "saga/sink.h"
#include "saga/spool.h"

namespace lameduck::saga {

// Notified of hand-off events (metrics). Thread-safe implementations.
class HandoffObserver {
 public:
  virtual ~HandoffObserver() = default;
  virtual void onWritten(std::string_view sink, int64_t count) = 0;  // "redis" or "spool"
  virtual void onFailure(std::string_view reason) = 0;
  // `count` failures of one reason at once (a page's refused entries: an
  // answer may hold millions). The default calls onFailure `count` times.
  virtual void onFailures(std::string_view reason, int64_t count) {
    for (int64_t i = 0; i < count; ++i) onFailure(reason);
  }
  virtual void onSpoolSize(int64_t records) = 0;
  virtual void onWriteDuration(Duration took) = 0;
};

struct HandoffOptions {
  // Entries asked for per page (the `limit` query parameter); 0 asks for
  // everything at once, as before paging existed.
  int64_t page_size = 1000;
  // Stream write attempts before the spool takes over.
  int redis_attempts = 4;
};

// The caller's frame for one hand-off.
struct HandoffCall {
  Clock& clock;
  TimePoint deadline;       // everything, the ack included, ends by then
  std::string traceparent;  // sent with each app call; may be empty
  // The exit's record, for events of the step's span (`fell_back_to_spool`);
  // null outside an exit.
  exit::ExitRecorder* record = nullptr;
};

struct [[nodiscard]] HandoffResult {
  enum class Verdict { kOk, kFailed, kDeadline };
  Verdict verdict = Verdict::kOk;
  std::string detail;
  bool fetched = false;  // false: not even the first page came back (no report)
  CompensationReport report;
};

class CompensationHandoff {
 public:
  // `stream` may be null: no Redis configured, the spool is the sink.
  CompensationHandoff(app::AppClient& app, Duration app_timeout, StreamConnector* stream,
                      Origin origin, Spool& spool, HandoffObserver& observer,
                      HandoffOptions options = {});

  HandoffResult run(const HandoffCall& call);
  // Whether Redis is configured (else the spool is the sink).
  bool hasStream() const { return stream_ != nullptr; }

 private:
  struct Exit;  // the state of one run()
  // Pages through the app's compensations, handing each chunk off, until
  // the last page, a failure or the deadline (exit.stopped says why it
  // stopped early). False: the first page failed, nothing was taken, and
  // `result` is final.
  bool fetchPages(Exit& exit, HandoffResult& result);
  // The audit summary of refused entries, the spool size and one log line
  // of where the phase's time went (since `started`).
  void logHandoff(const Exit& exit, TimePoint started);
  // The report, verdict and detail of a run that fetched a page.
  static void conclude(const Exit& exit, HandoffResult& result);
  // Reports a page's refused entries (batch.valid went through handleChunk).
  void handleRejected(Exit& exit, app::CompensationBatch& batch);
  // Writes and acks entries[begin, end) (moved from). False: stop.
  bool handleChunk(Exit& exit, std::vector<app::Compensation>& entries, size_t begin, size_t end);
  // Writes to the stream until everything is confirmed, the attempts are
  // used up or `until`; returns the confirmed ids and removes them from
  // `records`.
  std::vector<std::string> writeToStream(Exit& exit, std::vector<CompensationRecord>& records,
                                         TimePoint until);

  app::AppClient& app_;
  Duration app_timeout_;
  StreamConnector* stream_;
  Origin origin_;
  Spool& spool_;
  HandoffObserver& observer_;
  HandoffOptions options_;
};

// The hand-off as an exit step; the caller injects the stream connector
// (null: the spool is the sink) and owns it. Its span
// carries the counts (compensation.fetched, .written, .duplicates, .spooled,
// .acked, .pages, .rejected) and the sink (compensation.sink: redis or
// spool), and an event `fell_back_to_spool` (count, page, reason) for each
// batch the spool took because Redis did not.
class CompensationHandoffStep final : public exit::Step {
 public:
  CompensationHandoffStep(app::AppClient& app, Duration app_timeout, StreamConnector* stream,
                          Origin origin, Spool& spool, HandoffObserver& observer,
                          HandoffOptions options = {});
  std::string_view name() const override { return "compensation_handoff"; }
  exit::StepResult run(exit::StepContext& ctx) override;

 private:
  CompensationHandoff handoff_;
};

// Replays the spool into the stream, in batches: used at start-up and by
// `lameduck spool replay`. The spool keeps what the stream did not confirm
// and every unreadable line; the report counts each. Errors: the stream
// cannot be reached (the spool stays whole) or a write failed part-way (the
// message says how many were replayed; the rest stay spooled), or the spool
// file itself failed.
Result<ReplayReport> replaySpool(StreamConnector& stream, Spool& spool, HandoffObserver* observer);

// A short reason label for metrics, from an error.
std::string_view failureReason(const Error& e);

}  // namespace lameduck::saga
