#include "saga/compensator.h"

#include "common/log.h"
#include "common/parse.h"
#include "http/http.h"

namespace lameduck::saga {
namespace {

// How long one XREADGROUP waits for new entries; bounds how late stop() is
// noticed while idle.
constexpr int kBlockMs = 500;
constexpr Duration kFirstErrorBackoff = std::chrono::milliseconds(100);
constexpr Duration kMaxErrorBackoff = std::chrono::seconds(5);

std::string field(const std::map<std::string, std::string>& fields, const std::string& key) {
  auto it = fields.find(key);
  return it == fields.end() ? "" : it->second;
}

std::vector<std::pair<std::string, std::string>> entryFields(const redis::RedisReply& e) {
  return redis::fieldsOf(e);
}

}  // namespace

std::optional<std::string> invalidEntry(const std::map<std::string, std::string>& fields) {
  if (field(fields, "id").empty()) return "invalid entry: no id (the idempotency key)";
  if (field(fields, "saga_id").empty()) return "invalid entry: no saga_id";
  // The id travels as the Idempotency-Key header: a control character in it
  // could end the header early (an added header, a smuggled request).
  for (unsigned char c : field(fields, "id")) {
    if (c < 0x20 || c == 0x7f) return "invalid entry: the id contains a control character";
  }
  return std::nullopt;
}

std::string fillActionUrl(std::string_view tmpl, const std::map<std::string, std::string>& fields) {
  std::string out;
  out.reserve(tmpl.size());
  // One pass over the template: a substituted value is never scanned again,
  // so a value containing "{{id}}" stays text.
  for (size_t pos = 0; pos < tmpl.size();) {
    bool replaced = false;
    if (tmpl.compare(pos, 2, "{{") == 0) {
      for (const char* key : {"id", "saga_id", "step", "action"}) {
        const std::string placeholder = std::string("{{") + key + "}}";
        if (tmpl.compare(pos, placeholder.size(), placeholder) == 0) {
          out += pathSegmentEncode(field(fields, key));
          pos += placeholder.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += tmpl[pos++];
  }
  return out;
}

CallVerdict classifyCall(const Result<int>& status) {
  if (!status) return CallVerdict::kRetry;
  if (*status >= 200 && *status < 300) return CallVerdict::kApplied;
  if (*status >= 400 && *status < 500 && *status != 408 && *status != 429) {
    return CallVerdict::kPermanent;
  }
  return CallVerdict::kRetry;
}

Compensator::Compensator(const config::Config& config, std::string consumer,
                         CompensatorObserver& observer, Clock& clock, RedisConnect connect)
    : config_(config),
      consumer_(std::move(consumer)),
      attempts_key_(config.compensation.stream + ":attempts"),
      observer_(observer),
      clock_(clock),
      connect_(std::move(connect)),
      error_backoff_(kFirstErrorBackoff) {}

Compensator::~Compensator() = default;

void Compensator::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

bool Compensator::sleepUnlessStopped(Duration d) {
  std::unique_lock lock(mu_);
  return !clock_.waitUntil(cv_, lock, clock_.now() + d, [this] { return stopping_.load(); });
}

bool Compensator::backOff() {
  const Duration d = error_backoff_;
  error_backoff_ = std::min(error_backoff_ * 2, kMaxErrorBackoff);
  return sleepUnlessStopped(d);
}

Status Compensator::ensureGroup(redis::RedisClient& redis) {
  // From the start of the stream: entries written before the first consumer
  // ran are compensations too.
  auto r = redis.command({"XGROUP", "CREATE", config_.compensation.stream,
                          config_.compensator.group, "0", "MKSTREAM"});
  if (!r) return std::unexpected(r.error());
  if (r->isError() && !r->str.starts_with("BUSYGROUP")) {
    return makeError(ErrorCode::kBadResponse, "XGROUP CREATE: " + r->str);
  }
  return {};
}

void Compensator::readFailed(redis::RedisClient& redis, std::string_view command,
                             const Error& error) {
  observer_.onRedisError(command);
  const bool gone = error.message.find("NOGROUP") != std::string::npos;
  log::warn(gone ? "the compensation stream or its consumer group is gone; creating it again"
                 : "reading the compensation stream failed; backing off",
            {{"command", command},
             {"error", error.message},
             {"stream", config_.compensation.stream},
             {"group", config_.compensator.group},
             {"retry_in_ms", toMillis(error_backoff_)}});
  if (gone && !redis.broken()) {
    if (auto st = ensureGroup(redis); st) {
      observer_.onGroupRecreated();
    } else {
      observer_.onRedisError("XGROUP");
      log::warn("cannot create the consumer group", {{"error", st.error().message}});
    }
  }
  backOff();
}

Result<std::vector<Compensator::Entry>> Compensator::claim(redis::RedisClient& redis) {
  const auto idle_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.compensator.claim_idle).count();
  auto r = redis.command({"XAUTOCLAIM", config_.compensation.stream, config_.compensator.group,
                          consumer_, std::to_string(idle_ms), "0-0", "COUNT",
                          std::to_string(config_.compensator.batch)});
  if (!r) return std::unexpected(r.error());
  if (r->isError()) return makeError(ErrorCode::kBadResponse, r->str);
  if (r->type != redis::RedisReply::Type::kArray || r->elements.size() < 2) {
    return makeError(ErrorCode::kBadResponse, "XAUTOCLAIM answered something unexpected");
  }
  std::vector<Entry> out;
  for (const redis::RedisReply& e : r->elements[1].elements) {
    // A claimed entry that was deleted meanwhile comes back as nil fields.
    if (e.elements.size() < 2 || e.elements[1].type != redis::RedisReply::Type::kArray) continue;
    Entry entry{e.elements[0].str, {}};
    for (auto& [k, v] : entryFields(e)) entry.fields[k] = v;
    out.push_back(std::move(entry));
  }
  if (!out.empty()) {
    log::info("took over pending compensations of a stalled consumer", {{"count", out.size()}});
  }
  return out;
}

Result<std::vector<Compensator::Entry>> Compensator::readNew(redis::RedisClient& redis) {
  auto r = redis.command({"XREADGROUP", "GROUP", config_.compensator.group, consumer_, "COUNT",
                          std::to_string(config_.compensator.batch), "BLOCK",
                          std::to_string(kBlockMs), "STREAMS", config_.compensation.stream, ">"});
  if (!r) return std::unexpected(r.error());
  if (r->isError()) return makeError(ErrorCode::kBadResponse, r->str);
  std::vector<Entry> out;
  if (r->type != redis::RedisReply::Type::kArray) return out;  // nil: nothing new in time
  for (const redis::RedisReply& stream : r->elements) {
    if (stream.elements.size() < 2) continue;
    for (const redis::RedisReply& e : stream.elements[1].elements) {
      Entry entry{e.elements.empty() ? "" : e.elements[0].str, {}};
      for (auto& [k, v] : entryFields(e)) entry.fields[k] = v;
      out.push_back(std::move(entry));
    }
  }
  return out;
}

Result<int> Compensator::call(const config::ActionConfig& action, const Entry& entry) {
  const std::string url_text = fillActionUrl(action.url, entry.fields);
  auto url = parseHttpUrl(url_text);
  if (!url) return std::unexpected(url.error());
  http::Client client(*url, clock_);
  http::Headers headers;
  headers.emplace("Idempotency-Key", field(entry.fields, "id"));
  headers.emplace("User-Agent", "lameduck-compensator");
  auto res =
      client.send(action.method, url->path.empty() ? "/" : url->path,
                  field(entry.fields, "payload"), "application/json", headers, action.timeout);
  if (!res) return std::unexpected(res.error());
  return res->status;
}

bool Compensator::deadLetter(redis::RedisClient& redis, const Entry& entry, int64_t attempts,
                             const std::string& error) {
  std::vector<std::string> argv{"XADD", config_.compensation.stream + ":dead", "*"};
  for (const auto& [k, v] : entry.fields) {
    if (k == "attempt") continue;
    argv.push_back(k);
    argv.push_back(v);
  }
  argv.insert(argv.end(), {"attempt", std::to_string(attempts), "last_error", error, "source_entry",
                           entry.stream_id});
  // The dead-letter entry comes before the XACK in one pipeline: if the
  // connection drops in between, the entry is still pending and is
  // dead-lettered again rather than lost.
  redis::PipelineResult r = redis.pipeline(
      {argv,
       {"XACK", config_.compensation.stream, config_.compensator.group, entry.stream_id},
       {"HDEL", attempts_key_, entry.stream_id}});
  if (r.error || r.replies.empty() || r.replies[0].isError()) {
    observer_.onRedisError("XADD");
    log::warn("cannot dead-letter; leaving the entry pending",
              {{"id", field(entry.fields, "id")},
               {"error",
                r.error ? r.error->message : (r.replies.empty() ? "no reply" : r.replies[0].str)}});
    return false;
  }
  observer_.onDeadLettered();
  log::warn("compensation dead-lettered",
            {{"id", field(entry.fields, "id")}, {"attempts", attempts}, {"error", error}});
  return true;
}

bool Compensator::process(redis::RedisClient& redis, const Entry& entry) {
  if (auto invalid = invalidEntry(entry.fields)) {
    // Without an idempotency key or a saga, calling an endpoint is unsafe.
    observer_.onInvalid();
    return deadLetter(redis, entry, 0, *invalid);
  }
  const std::string action_name = field(entry.fields, "action");
  auto action_it = config_.compensator.actions.find(action_name);
  if (action_it == config_.compensator.actions.end()) {
    // Retrying cannot fix a missing endpoint; the dead-letter stream keeps it.
    return deadLetter(redis, entry, 0, "no endpoint configured for action \"" + action_name + "\"");
  }
  Duration backoff = config_.compensator.backoff;
  for (;;) {
    auto n = redis.command({"HINCRBY", attempts_key_, entry.stream_id, "1"});
    if (!n || n->isError()) {
      // Without a durable attempt count the entry is left pending; the
      // caller reconnects and it is claimed again.
      observer_.onRedisError("HINCRBY");
      log::warn("cannot count the attempt; leaving the entry pending",
                {{"id", field(entry.fields, "id")}, {"error", n ? n->str : n.error().message}});
      return false;
    }
    const int64_t attempt = n->integer;
    auto status = call(action_it->second, entry);
    const CallVerdict verdict = classifyCall(status);
    if (verdict == CallVerdict::kApplied) {
      redis::PipelineResult acked = redis.pipeline(
          {{"XACK", config_.compensation.stream, config_.compensator.group, entry.stream_id},
           {"HDEL", attempts_key_, entry.stream_id}});
      const bool refused = !acked.error && (acked.replies.empty() || acked.replies[0].isError());
      if (acked.error || refused) {
        // Applied but not acked: it is delivered again later, and the
        // endpoint sees the same Idempotency-Key. An error reply (the
        // stream or group deleted under it) counts like a lost connection.
        observer_.onRedisError("XACK");
        log::warn("compensation applied but not acknowledged",
                  {{"id", field(entry.fields, "id")},
                   {"error", acked.error ? acked.error->message
                             : acked.replies.empty() ? std::string("no reply")
                                                     : acked.replies[0].str}});
        return false;
      }
      observer_.onApplied();
      log::info("compensation applied",
                {{"id", field(entry.fields, "id")}, {"action", action_name}, {"attempt", attempt}});
      return true;
    }
    const std::string error = status ? "HTTP " + std::to_string(*status) : status.error().message;
    if (verdict == CallVerdict::kPermanent) {
      return deadLetter(redis, entry, attempt, error + " (permanent: not retried)");
    }
    if (attempt >= config_.compensator.max_attempts) {
      return deadLetter(redis, entry, attempt, error);
    }
    observer_.onRetry();
    log::warn("compensation failed; will retry", {{"id", field(entry.fields, "id")},
                                                  {"attempt", attempt},
                                                  {"error", error},
                                                  {"retry_in_ms", toMillis(backoff)}});
    if (!sleepUnlessStopped(backoff)) return false;
    backoff = std::min(backoff * 2, config_.compensator.max_backoff);
  }
}

Status Compensator::run() {
  // The command checks compensation.redis.address before it builds a
  // compensator; reaching here without one is a caller's mistake.
  if (!config_.compensation.redis.address) {
    return makeError(ErrorCode::kInternal,
                     "compensator started without compensation.redis.address");
  }
  config::RedisConfig rc = config_.compensation.redis;
  // A blocking read must not look like a timeout.
  rc.timeout = std::max<Duration>(rc.timeout, std::chrono::milliseconds(kBlockMs + 1000));
  std::unique_ptr<redis::RedisClient> redis;
  while (!stopping_) {
    if (!redis || redis->broken()) {
      redis.reset();
      auto c = connect_(rc);
      Status group = c ? ensureGroup(**c) : Status(std::unexpected(c.error()));
      if (!group) {
        observer_.onRedisError(c ? "XGROUP" : "connect");
        log::warn("compensator cannot reach Redis; retrying",
                  {{"error", group.error().message}, {"retry_in_ms", toMillis(error_backoff_)}});
        backOff();
        continue;
      }
      redis = std::move(*c);
      error_backoff_ = kFirstErrorBackoff;
      log::info("compensator consuming", {{"stream", config_.compensation.stream},
                                          {"group", config_.compensator.group},
                                          {"consumer", consumer_}});
    }
    auto entries = claim(*redis);
    if (!entries) {
      readFailed(*redis, "XAUTOCLAIM", entries.error());
      continue;
    }
    if (entries->empty() && !stopping_) {
      entries = readNew(*redis);
      if (!entries) {
        readFailed(*redis, "XREADGROUP", entries.error());
        continue;
      }
    }
    error_backoff_ = kFirstErrorBackoff;  // a read worked
    for (const Entry& e : *entries) {
      if (stopping_) break;  // claim nothing new; the rest stays pending
      if (!process(*redis, e)) break;
    }
  }
  log::info("compensator stopped");
  return {};
}

}  // namespace lameduck::saga
