#include "saga/compensator.h"

#include "common/log.h"
#include "common/parse.h"
#include "http/http.h"

namespace lameduck::saga {
namespace {

// How long one XREADGROUP waits for new entries; bounds how late stop() is
// noticed while idle.
constexpr int kBlockMs = 500;

std::string fill(std::string tmpl, const std::map<std::string, std::string>& fields) {
  for (const char* key : {"id", "saga_id", "step", "action"}) {
    const std::string placeholder = std::string("{{") + key + "}}";
    auto it = fields.find(key);
    const std::string value = it == fields.end() ? "" : it->second;
    for (size_t at; (at = tmpl.find(placeholder)) != std::string::npos;) {
      tmpl.replace(at, placeholder.size(), value);
    }
  }
  return tmpl;
}

std::string field(const std::map<std::string, std::string>& fields, const std::string& key) {
  auto it = fields.find(key);
  return it == fields.end() ? "" : it->second;
}

}  // namespace

Compensator::Compensator(const config::Config& config, std::string consumer,
                         CompensatorObserver& observer)
    : config_(config),
      consumer_(std::move(consumer)),
      attempts_key_(config.compensation.stream + ":attempts"),
      observer_(observer) {}

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
  return !cv_.wait_for(lock, d, [this] { return stopping_.load(); });
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

std::vector<Compensator::Entry> Compensator::claim(redis::RedisClient& redis) {
  const auto idle_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.compensator.claim_idle).count();
  auto r = redis.command({"XAUTOCLAIM", config_.compensation.stream, config_.compensator.group,
                          consumer_, std::to_string(idle_ms), "0-0", "COUNT",
                          std::to_string(config_.compensator.batch)});
  std::vector<Entry> out;
  if (!r || r->isError() || r->elements.size() < 2) return out;
  for (const redis::RedisReply& e : r->elements[1].elements) {
    if (e.elements.size() < 2 || e.elements[1].type != redis::RedisReply::Type::kArray) continue;
    Entry entry{e.elements[0].str, {}};
    for (auto& [k, v] : redis::fieldsOf(e)) entry.fields[k] = v;
    out.push_back(std::move(entry));
  }
  if (!out.empty()) {
    log::info("took over pending compensations of a stalled consumer", {{"count", out.size()}});
  }
  return out;
}

std::vector<Compensator::Entry> Compensator::readNew(redis::RedisClient& redis) {
  auto r = redis.command({"XREADGROUP", "GROUP", config_.compensator.group, consumer_, "COUNT",
                          std::to_string(config_.compensator.batch), "BLOCK",
                          std::to_string(kBlockMs), "STREAMS", config_.compensation.stream, ">"});
  std::vector<Entry> out;
  if (!r || r->type != redis::RedisReply::Type::kArray || r->elements.empty()) return out;
  for (const redis::RedisReply& stream : r->elements) {
    if (stream.elements.size() < 2) continue;
    for (const redis::RedisReply& e : stream.elements[1].elements) {
      Entry entry{e.elements.empty() ? "" : e.elements[0].str, {}};
      for (auto& [k, v] : redis::fieldsOf(e)) entry.fields[k] = v;
      out.push_back(std::move(entry));
    }
  }
  return out;
}

Result<int> Compensator::call(const config::ActionConfig& action, const Entry& entry) {
  const std::string url_text = fill(action.url, entry.fields);
  auto url = parseHttpUrl(url_text);
  if (!url) return std::unexpected(url.error());
  http::Client client(*url, SystemClock::instance());
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
      log::warn("cannot count the attempt; leaving the entry pending",
                {{"id", field(entry.fields, "id")}, {"error", n ? n->str : n.error().message}});
      return false;
    }
    const int64_t attempt = n->integer;
    auto status = call(action_it->second, entry);
    if (status && *status >= 200 && *status < 300) {
      redis::PipelineResult acked = redis.pipeline(
          {{"XACK", config_.compensation.stream, config_.compensator.group, entry.stream_id},
           {"HDEL", attempts_key_, entry.stream_id}});
      if (acked.error) {
        // Applied but not acked: it is delivered again later, and the
        // endpoint sees the same Idempotency-Key.
        log::warn("compensation applied but not acknowledged",
                  {{"id", field(entry.fields, "id")}, {"error", acked.error->message}});
        return false;
      }
      observer_.onApplied();
      log::info("compensation applied",
                {{"id", field(entry.fields, "id")}, {"action", action_name}, {"attempt", attempt}});
      return true;
    }
    const std::string error = status ? "HTTP " + std::to_string(*status) : status.error().message;
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
  if (!config_.compensation.redis.address) {
    return makeError(ErrorCode::kInvalidArgument,
                     "the compensator needs compensation.redis.address");
  }
  config::RedisConfig rc = config_.compensation.redis;
  // A blocking read must not look like a timeout.
  rc.timeout = std::max<Duration>(rc.timeout, std::chrono::milliseconds(kBlockMs + 1000));
  std::unique_ptr<redis::RedisClient> redis;
  Duration reconnect = std::chrono::milliseconds(200);
  while (!stopping_) {
    if (!redis || redis->broken()) {
      auto c = redis::RedisClient::connect(rc);
      if (!c || !ensureGroup(**c)) {
        log::warn("compensator cannot reach Redis; retrying",
                  {{"error", c ? std::string("XGROUP failed") : c.error().message}});
        redis.reset();
        sleepUnlessStopped(reconnect);
        reconnect = std::min<Duration>(reconnect * 2, std::chrono::seconds(5));
        continue;
      }
      redis = std::move(*c);
      reconnect = std::chrono::milliseconds(200);
      log::info("compensator consuming", {{"stream", config_.compensation.stream},
                                          {"group", config_.compensator.group},
                                          {"consumer", consumer_}});
    }
    std::vector<Entry> entries = claim(*redis);
    if (entries.empty() && !stopping_) entries = readNew(*redis);
    for (const Entry& e : entries) {
      if (stopping_) break;  // claim nothing new; the rest stays pending
      if (!process(*redis, e)) break;
    }
  }
  log::info("compensator stopped");
  return {};
}

}  // namespace lameduck::saga
