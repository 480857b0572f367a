#include "saga/handoff.h"

#include <iterator>

#include "common/log.h"
#include "common/parse.h"

namespace lameduck::saga {

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

CompensationHandoffStep::CompensationHandoffStep(app::AppClient& app, const config::Config& config,
                                                 Origin origin, Spool& spool,
                                                 HandoffObserver& observer)
    : app_(app),
      app_timeout_(config.app.timeout),
      config_(config.compensation),
      origin_(std::move(origin)),
      spool_(spool),
      observer_(observer),
      writer_(config.compensation.stream, config.compensation.maxlen) {}

std::vector<std::string> CompensationHandoffStep::writeToRedis(
    exit::StepContext& ctx, std::vector<CompensationRecord>& records, TimePoint until,
    CompensationReport& report, std::string& last_error) {
  std::vector<std::string> confirmed;
  std::unique_ptr<redis::RedisClient> client;
  Duration backoff = std::chrono::milliseconds(100);
  // A few attempts, not the whole phase: a Redis that is down should cost
  // an exit well under a second before the spool takes over.
  constexpr int kMaxAttempts = 4;
  for (int attempt = 1; !records.empty() && ctx.clock.now() < until && attempt <= kMaxAttempts;
       ++attempt) {
    config::RedisConfig rc = config_.redis;
    rc.timeout = std::min(rc.timeout, until - ctx.clock.now());
    if (rc.timeout <= Duration::zero()) break;
    Error failure;
    if (!client || client->broken()) {
      auto c = redis::RedisClient::connect(rc);
      if (c) {
        client = std::move(*c);
      } else {
        failure = c.error();
        client.reset();
      }
    }
    if (client) {
      const TimePoint t0 = ctx.clock.now();
      WriteResult wr = writer_.write(*client, records);
      observer_.onWriteDuration(ctx.clock.now() - t0);
      report.written += wr.written;
      report.duplicates += wr.duplicates;
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
    last_error = failure.message;
    observer_.onFailure(failureReason(failure));
    log::warn("writing compensations to Redis failed",
              {{"error", failure.message}, {"remaining", records.size()}, {"attempt", attempt}});
    if (failure.code == ErrorCode::kPermissionDenied ||
        failure.code == ErrorCode::kInvalidArgument) {
      break;  // retrying cannot fix credentials or configuration
    }
    if (attempt == kMaxAttempts) break;
    ctx.clock.sleepUntil(std::min(ctx.clock.now() + backoff, until));
    backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(1));
  }
  return confirmed;
}

exit::StepResult CompensationHandoffStep::run(exit::StepContext& ctx) {
  const TimePoint fetch_started = ctx.clock.now();
  auto batch = app_.compensations({ctx.callTimeout(app_timeout_), ctx.traceparent});
  if (!batch) {
    // Nothing was taken from the app, so nothing is lost: it still holds them.
    if (batch.error().code == ErrorCode::kDeadlineExceeded) {
      return exit::StepResult::deadline(batch.error().message);
    }
    return exit::StepResult::failed(batch.error().message);
  }
  CompensationReport report;
  report.pending = static_cast<int64_t>(batch->valid.size());
  report.rejected = static_cast<int64_t>(batch->rejected.size());
  report.rejected_reasons = batch->rejected;
  for (const std::string& why : batch->rejected) {
    log::audit("compensation_rejected", {{"reason", why}});
    observer_.onFailure("rejected");
  }
  const std::string created_at = formatRfc3339(ctx.clock.wallNow());
  std::vector<CompensationRecord> remaining;
  remaining.reserve(batch->valid.size());
  for (app::Compensation& c : batch->valid)
    remaining.push_back(makeRecord(std::move(c), origin_, created_at));

  const TimePoint write_started = ctx.clock.now();
  std::vector<std::string> durable;
  std::string last_error;
  if (config_.redis.address && !remaining.empty()) {
    // Keep a slice of the phase for the spool and the ack.
    const Duration slice = std::min<Duration>(ctx.remaining() / 4, std::chrono::seconds(1));
    durable = writeToRedis(ctx, remaining, ctx.deadline - slice, report, last_error);
  }
  const TimePoint spool_started = ctx.clock.now();
  bool spool_failed = false;
  if (!remaining.empty()) {
    if (auto st = spool_.append(remaining); st) {
      report.spooled = static_cast<int64_t>(remaining.size());
      observer_.onWritten("spool", report.spooled);
      if (auto contents = spool_.read()) {
        observer_.onSpoolSize(static_cast<int64_t>(contents->records.size()));
      }
      for (const CompensationRecord& r : remaining) durable.push_back(r.id);
      if (config_.redis.address) {
        log::warn("compensations spooled because Redis did not take them",
                  {{"count", remaining.size()}, {"spool", spool_.path()}, {"error", last_error}});
      }
    } else {
      spool_failed = true;
      observer_.onFailure("spool");
      last_error = st.error().message;
      log::error("compensations could not be made durable; not acknowledging them",
                 {{"count", remaining.size()}, {"error", st.error().message}});
    }
  }
  const TimePoint ack_started = ctx.clock.now();
  std::string ack_error;
  if (!durable.empty()) {
    // Only now, with every acked id in the stream or fsync'd in the spool.
    if (auto ack = app_.ack(durable, {ctx.callTimeout(app_timeout_), ctx.traceparent}); ack) {
      report.acked = static_cast<int64_t>(durable.size());
    } else {
      ack_error = ack.error().message;
    }
  }
  // Where the phase's time went, one line per hand-off.
  log::info("compensations handed off", {{"pending", report.pending},
                                         {"written", report.written},
                                         {"duplicates", report.duplicates},
                                         {"spooled", report.spooled},
                                         {"acked", report.acked},
                                         {"fetch_ms", toMillis(write_started - fetch_started)},
                                         {"redis_ms", toMillis(spool_started - write_started)},
                                         {"spool_ms", toMillis(ack_started - spool_started)},
                                         {"ack_ms", toMillis(ctx.clock.now() - ack_started)}});
  ctx.record.section(kCompensationsSection, toJson(report));
  std::string detail =
      std::to_string(report.written) + " written to Redis, " + std::to_string(report.duplicates) +
      " already there, " + std::to_string(report.spooled) + " spooled, " +
      std::to_string(report.rejected) + " rejected, " + std::to_string(report.acked) + " acked";
  if (!report.rejected_reasons.empty())
    detail += "; first rejected: " + report.rejected_reasons.front();
  if (spool_failed) {
    return exit::StepResult::failed(detail + "; " + std::to_string(remaining.size()) +
                                    " not durable and not acked: " + last_error);
  }
  if (!ack_error.empty()) {
    return exit::StepResult::failed(detail +
                                    "; ack failed (the entries are durable and will be "
                                    "deduplicated if offered again): " +
                                    ack_error);
  }
  return exit::StepResult::ok(detail);
}

Result<int64_t> replaySpool(const config::CompensationConfig& config, Spool& spool,
                            HandoffObserver* observer) {
  if (!config.redis.address) {
    return makeError(ErrorCode::kFailedPrecondition,
                     "no Redis configured (compensation.redis.address); the spool stays as it is");
  }
  auto client = redis::RedisClient::connect(config.redis);
  if (!client) return std::unexpected(client.error());
  StreamWriter writer(config.stream, config.maxlen);
  std::optional<Error> write_error;
  auto handed = spool.replay([&](const std::vector<CompensationRecord>& records) {
    WriteResult wr = writer.write(**client, records);
    if (wr.error) write_error = wr.error;
    if (observer && !wr.confirmed.empty()) {
      observer->onWritten("redis", static_cast<int64_t>(wr.confirmed.size()));
    }
    return wr.confirmed;
  });
  if (!handed) return handed;
  if (observer) {
    if (auto contents = spool.read())
      observer->onSpoolSize(static_cast<int64_t>(contents->records.size()));
  }
  if (write_error) {
    return makeError(write_error->code,
                     "replayed " + std::to_string(*handed) +
                         " record(s), the rest stay in the spool: " + write_error->message);
  }
  return handed;
}

}  // namespace lameduck::saga
