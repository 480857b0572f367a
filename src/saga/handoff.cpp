#include "saga/handoff.h"

#include <algorithm>
#include <iterator>

#include "common/log.h"
#include "common/parse.h"
#include "config/rules.h"

namespace lameduck::saga {
namespace {

// Refused entries that get an audit line of their own, per exit.
constexpr int64_t kRejectedAuditLines = 10;

}  // namespace

std::string_view failureReason(const Error& e) {
  switch (e.code) {
    case ErrorCode::kDeadlineExceeded:
      return "timeout";
    case ErrorCode::kPermissionDenied:
      return "auth";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kBadResponse:
      return "refused";
    default:
      return "other";
  }
}

struct CompensationHandoff::Exit {
  explicit Exit(const HandoffCall& c) : call(c) {}
  const HandoffCall& call;
  std::unique_ptr<StreamSink> sink;
  bool stream_given_up = false;  // Redis failed this exit: later pages go to the spool
  CompensationReport report;
  std::string last_error;
  int64_t not_durable = 0;  // entries of a failed spool write (not acked)
  bool spool_failed = false;
  std::string ack_error;
  Duration fetch_time{}, redis_time{}, spool_time{}, ack_time{};
  std::string stopped;    // why paging stopped early, if it did
  bool deadline = false;  // ... and whether the deadline stopped it

  Duration remaining() const {
    const Duration left = call.deadline - call.clock.now();
    return left > Duration::zero() ? left : Duration::zero();
  }
  app::Call appCall(Duration timeout) const {
    return {std::min(timeout, remaining()), call.traceparent};
  }
};

CompensationHandoff::CompensationHandoff(app::AppClient& app, Duration app_timeout,
                                         StreamConnector* stream, Origin origin, Spool& spool,
                                         HandoffObserver& observer, HandoffOptions options)
    : app_(app),
      app_timeout_(app_timeout),
      stream_(stream),
      origin_(std::move(origin)),
      spool_(spool),
      observer_(observer),
      options_(options) {}

std::vector<std::string> CompensationHandoff::writeToStream(
    Exit& exit, std::vector<CompensationRecord>& records, TimePoint until) {
  Clock& clock = exit.call.clock;
  std::vector<std::string> confirmed;
  Duration backoff = std::chrono::milliseconds(100);
  // A few attempts, not the whole phase: a Redis that is down should cost
  // an exit well under a second before the spool takes over.
  int attempt = 1;
  for (; !records.empty() && clock.now() < until && attempt <= options_.redis_attempts; ++attempt) {
    Error failure;
    if (!exit.sink || exit.sink->broken()) {
      exit.sink.reset();
      auto c = stream_->connect(until - clock.now());
      if (c) {
        exit.sink = std::move(*c);
      } else {
        failure = c.error();
      }
    }
    if (exit.sink) {
      const TimePoint t0 = clock.now();
      WriteResult wr = exit.sink->write(records);
      observer_.onWriteDuration(clock.now() - t0);
      exit.report.written += wr.written;
      exit.report.duplicates += wr.duplicates;
      if (!wr.confirmed.empty()) {
        observer_.onWritten("redis", static_cast<int64_t>(wr.confirmed.size()));
        // `confirmed` follows the order of `records`: one pass drops them.
        size_t next = 0, kept = 0;
        for (CompensationRecord& r : records) {
          if (next < wr.confirmed.size() && wr.confirmed[next] == r.id) {
            ++next;
          } else {
            if (&records[kept] != &r) records[kept] = std::move(r);
            ++kept;
          }
        }
        records.resize(kept);
        confirmed.insert(confirmed.end(), std::make_move_iterator(wr.confirmed.begin()),
                         std::make_move_iterator(wr.confirmed.end()));
      }
      if (!wr.error) {
        --attempt;  // progress made; only failures use up attempts
        continue;
      }
      failure = *wr.error;
    }
    exit.last_error = failure.message;
    observer_.onFailure(failureReason(failure));
    log::warn("writing compensations to Redis failed",
              {{"error", failure.message}, {"remaining", records.size()}, {"attempt", attempt}});
    if (failure.code == ErrorCode::kPermissionDenied ||
        failure.code == ErrorCode::kInvalidArgument) {
      attempt = options_.redis_attempts;  // retrying cannot fix credentials or configuration
      break;
    }
    if (attempt == options_.redis_attempts) break;
    clock.sleepUntil(std::min(clock.now() + backoff, until));
    backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(1));
  }
  if (!records.empty()) {
    exit.stream_given_up = true;
    if (exit.last_error.empty()) exit.last_error = "no time left for Redis";
  }
  return confirmed;
}

void CompensationHandoff::handleRejected(Exit& exit, app::CompensationBatch& batch) {
  // The first few refused entries each get an audit line (the reason names
  // the entry's index); the rest are counted, and run() writes one summary
  // line: an answer of a million non-entries costs a counter, not a million
  // log lines and the exit's budget.
  for (std::string& why : batch.rejected) {
    if (exit.report.rejected < kRejectedAuditLines) {
      log::audit("compensation_rejected", {{"reason", why}});
    }
    exit.report.addRejected(std::move(why));
  }
  exit.report.rejected += static_cast<int64_t>(batch.rejected_unlisted);
  if (batch.rejectedCount() > 0) {
    observer_.onFailures("rejected", static_cast<int64_t>(batch.rejectedCount()));
  }
}

bool CompensationHandoff::handleChunk(Exit& exit, std::vector<app::Compensation>& entries,
                                      size_t begin, size_t end) {
  Clock& clock = exit.call.clock;
  const std::string created_at = formatRfc3339(clock.wallNow());
  std::vector<CompensationRecord> remaining;
  remaining.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    remaining.push_back(makeRecord(std::move(entries[i]), origin_, created_at));
  }

  const TimePoint write_started = clock.now();
  std::vector<std::string> durable;
  const bool stream_tried = stream_ && !exit.stream_given_up;
  if (stream_tried) {
    // Keep a slice of the phase for the spool and the ack.
    const Duration slice = std::min<Duration>(exit.remaining() / 4, std::chrono::seconds(1));
    durable = writeToStream(exit, remaining, exit.call.deadline - slice);
  }
  const TimePoint spool_started = clock.now();
  exit.redis_time += spool_started - write_started;
  if (!remaining.empty()) {
    if (auto st = spool_.append(remaining); st) {
      exit.report.spooled += static_cast<int64_t>(remaining.size());
      observer_.onWritten("spool", static_cast<int64_t>(remaining.size()));
      for (CompensationRecord& r : remaining) durable.push_back(std::move(r.id));
      if (stream_) {
        log::warn(
            "compensations spooled because Redis did not take them",
            {{"count", remaining.size()}, {"spool", spool_.path()}, {"error", exit.last_error}});
        if (exit.call.record) {
          exit.call.record->event(
              "fell_back_to_spool",
              {{"compensation.spooled", static_cast<int64_t>(remaining.size())},
               {"compensation.page", exit.report.pages},
               {"compensation.reason", stream_tried ? exit.last_error
                                                    : "Redis already failed in this exit: " +
                                                          exit.last_error}});
        }
      }
    } else {
      exit.spool_failed = true;
      exit.not_durable += static_cast<int64_t>(remaining.size());
      observer_.onFailure("spool");
      exit.last_error = st.error().message;
      log::error("compensations could not be made durable; not acknowledging them",
                 {{"count", remaining.size()}, {"error", st.error().message}});
    }
  }
  const TimePoint ack_started = clock.now();
  exit.spool_time += ack_started - spool_started;
  if (!durable.empty()) {
    // Only now, with every acked id in the stream or fsync'd in the spool.
    if (auto ack = app_.ack(durable, exit.appCall(app_timeout_)); ack) {
      exit.report.acked += static_cast<int64_t>(durable.size());
    } else {
      exit.ack_error = ack.error().message;
    }
  }
  exit.ack_time += clock.now() - ack_started;
  return !exit.spool_failed && exit.ack_error.empty();
}

HandoffResult CompensationHandoff::run(const HandoffCall& call) {
  Exit exit(call);
  HandoffResult result;
  const TimePoint started = call.clock.now();
  if (!fetchPages(exit, result)) return result;
  logHandoff(exit, started);
  conclude(exit, result);
  return result;
}

bool CompensationHandoff::fetchPages(Exit& exit, HandoffResult& result) {
  Clock& clock = exit.call.clock;
  std::optional<std::string> cursor;
  // Each page's valid entries arrive while its answer is read, a chunk of
  // page_size at a time, each written and acked before the next is read: an
  // app that answers everything at once costs its answer's text, not that
  // plus all its entries. After a chunk failed, later ones are only counted.
  const size_t chunk = options_.page_size > 0 ? static_cast<size_t>(options_.page_size) : 0;
  for (int64_t page_no = 1;; ++page_no) {
    bool page_counted = false;
    bool chunks_ok = true;
    size_t handed = 0;
    Duration handling{};
    auto sink = [&](std::vector<app::Compensation>& entries) {
      if (!page_counted) {
        ++exit.report.pages;
        page_counted = true;
      }
      exit.report.pending += static_cast<int64_t>(entries.size());
      handed += entries.size();
      if (!chunks_ok) return;
      const TimePoint h0 = clock.now();
      chunks_ok = handleChunk(exit, entries, 0, entries.size());
      handling += clock.now() - h0;
    };
    const TimePoint t0 = clock.now();
    auto page = app_.streamCompensationsPage({options_.page_size, cursor},
                                             exit.appCall(app_timeout_), chunk, sink);
    exit.fetch_time += clock.now() - t0 - handling;
    if (!page) {
      exit.deadline = page.error().code == ErrorCode::kDeadlineExceeded;
      if (page_no == 1) {
        // Nothing was taken from the app, so nothing is lost: it still holds them.
        result.verdict =
            exit.deadline ? HandoffResult::Verdict::kDeadline : HandoffResult::Verdict::kFailed;
        result.detail = page.error().message;
        return false;
      }
      exit.stopped = "fetching page " + std::to_string(page_no) +
                     " failed (the app still holds the rest): " + page.error().message;
      return true;
    }
    result.fetched = true;
    if (!page_counted) ++exit.report.pages;
    const bool empty = handed == 0 && page->batch.rejectedCount() == 0;
    handleRejected(exit, page->batch);
    if (!chunks_ok || !page->next) return true;
    if (empty || page->next == cursor) {
      // A cursor that does not move would loop until the deadline. What the
      // app still holds is not handed off: the hand-off failed.
      log::warn("the app named a next page without moving on; stopping the hand-off there",
                {{"cursor", *page->next}, {"page", page_no}});
      exit.stopped = "page " + std::to_string(page_no) +
                     " named a next page without moving on (the app may still hold the rest)";
      return true;
    }
    cursor = std::move(page->next);
    if (clock.now() >= exit.call.deadline) {
      exit.deadline = true;
      exit.stopped = "the phase ended after " + std::to_string(page_no) +
                     " page(s); the app still holds the rest";
      return true;
    }
  }
}

void CompensationHandoff::logHandoff(const Exit& exit, TimePoint started) {
  const CompensationReport& report = exit.report;
  if (report.rejected > 0) {
    log::audit("compensations_rejected",
               {{"count", report.rejected},
                {"audited", std::min<int64_t>(report.rejected, kRejectedAuditLines)},
                {"first", report.rejected_reasons.empty() ? "" : report.rejected_reasons.front()}});
  }
  if (report.spooled > 0) {
    if (auto lines = spool_.lineCount()) observer_.onSpoolSize(*lines);
  }
  // Where the phase's time went, one line per hand-off.
  log::info("compensations handed off", {{"pending", report.pending},
                                         {"written", report.written},
                                         {"duplicates", report.duplicates},
                                         {"spooled", report.spooled},
                                         {"acked", report.acked},
                                         {"pages", report.pages},
                                         {"fetch_ms", toMillis(exit.fetch_time)},
                                         {"redis_ms", toMillis(exit.redis_time)},
                                         {"spool_ms", toMillis(exit.spool_time)},
                                         {"ack_ms", toMillis(exit.ack_time)},
                                         {"total_ms", toMillis(exit.call.clock.now() - started)}});
}

void CompensationHandoff::conclude(const Exit& exit, HandoffResult& result) {
  const CompensationReport& report = exit.report;
  std::string detail =
      std::to_string(report.written) + " written to Redis, " + std::to_string(report.duplicates) +
      " already there, " + std::to_string(report.spooled) + " spooled, " +
      std::to_string(report.rejected) + " rejected, " + std::to_string(report.acked) + " acked";
  if (report.pages > 1) detail += " in " + std::to_string(report.pages) + " pages";
  if (!report.rejected_reasons.empty())
    detail += "; first rejected: " + report.rejected_reasons.front();
  result.report = exit.report;
  result.verdict = HandoffResult::Verdict::kFailed;
  if (exit.spool_failed) {
    result.detail = detail + "; " + std::to_string(exit.not_durable) +
                    " not durable and not acked: " + exit.last_error;
  } else if (!exit.ack_error.empty()) {
    result.detail = detail +
                    "; ack failed (the entries are durable and will be deduplicated if offered "
                    "again): " +
                    exit.ack_error;
  } else if (!exit.stopped.empty()) {
    result.detail = detail + "; " + exit.stopped;
    if (exit.deadline) result.verdict = HandoffResult::Verdict::kDeadline;
  } else {
    result.verdict = HandoffResult::Verdict::kOk;
    result.detail = detail;
  }
}

CompensationHandoffStep::CompensationHandoffStep(app::AppClient& app, Duration app_timeout,
                                                 StreamConnector* stream, Origin origin,
                                                 Spool& spool, HandoffObserver& observer,
                                                 HandoffOptions options)
    : handoff_(app, app_timeout, stream, std::move(origin), spool, observer, options) {}

exit::StepResult CompensationHandoffStep::run(exit::StepContext& ctx) {
  HandoffResult r = handoff_.run({ctx.clock, ctx.deadline, ctx.traceparent, &ctx.record});
  ctx.record.attribute("compensation.sink", std::string(handoff_.hasStream() ? "redis" : "spool"));
  if (r.fetched) {
    ctx.record.section(kCompensationsSection, toJson(r.report));
    const CompensationReport& c = r.report;
    ctx.record.attribute("compensation.fetched", c.pending + c.rejected);
    ctx.record.attribute("compensation.pending", c.pending);
    ctx.record.attribute("compensation.rejected", c.rejected);
    ctx.record.attribute("compensation.written", c.written);
    ctx.record.attribute("compensation.duplicates", c.duplicates);
    ctx.record.attribute("compensation.spooled", c.spooled);
    ctx.record.attribute("compensation.acked", c.acked);
    ctx.record.attribute("compensation.pages", c.pages);
  }
  switch (r.verdict) {
    case HandoffResult::Verdict::kOk:
      return exit::StepResult::ok(std::move(r.detail));
    case HandoffResult::Verdict::kDeadline:
      return exit::StepResult::deadline(std::move(r.detail));
    case HandoffResult::Verdict::kFailed:
      break;
  }
  return exit::StepResult::failed(std::move(r.detail));
}

Result<ReplayReport> replaySpool(StreamConnector& stream, Spool& spool, HandoffObserver* observer) {
  auto sink = stream.connect(Duration::max());
  if (!sink) return std::unexpected(sink.error());
  std::optional<Error> write_error;
  auto report = spool.replay([&](const std::vector<CompensationRecord>& records) {
    BatchOutcome out;
    if ((*sink)->broken()) {
      out.keep_going = false;
      return out;
    }
    WriteResult wr = (*sink)->write(records);
    if (wr.error) {
      write_error = wr.error;
      out.keep_going = false;
    }
    if (observer && !wr.confirmed.empty()) {
      observer->onWritten("redis", static_cast<int64_t>(wr.confirmed.size()));
    }
    out.confirmed = std::move(wr.confirmed);
    return out;
  });
  if (!report) return report;
  if (observer) {
    if (auto lines = spool.lineCount()) observer->onSpoolSize(*lines);
  }
  if (write_error) {
    return makeError(write_error->code, "replayed " + std::to_string(report->handed) +
                                            " record(s), " + std::to_string(report->kept) +
                                            " stay in the spool: " + write_error->message);
  }
  return report;
}

}  // namespace lameduck::saga
