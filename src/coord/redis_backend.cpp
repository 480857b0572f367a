#include "coord/redis_backend.h"

#include <algorithm>

namespace lameduck::coord {
namespace {

// Shared by every script: the server's time in ms, and "make `key` live at
// least `ttl` ms" (never shortening what a pod with a longer TTL set).
// replicate_commands lets Redis < 5 write after TIME; later versions always
// replicate a script's effects and ignore it.
constexpr const char* kPrelude = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function keep(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
)lua";

// KEYS: pod hash, service index. ARGV: ttl ms, pod, field/value pairs.
constexpr const char* kPublish = R"lua(
local now, ttl = now_ms(), tonumber(ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
keep(KEYS[2], ttl)
return 1
)lua";

// KEYS: service index. ARGV: pod key prefix. Returns each live pod's
// HGETALL; index members whose hash is gone are dropped.
constexpr const char* kPods = R"lua(
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms())
local out = {}
for _, pod in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HGETALL', ARGV[1] .. pod)
  if #h > 0 then out[#out + 1] = h else redis.call('ZREM', KEYS[1], pod) end
end
return out
)lua";

// KEYS: slots, slot_tokens, fence. ARGV: holder, limit, ttl ms.
// Returns {1, token} or {0, holder, token, holder, token, ...}.
constexpr const char* kAcquire = R"lua(
local now, holder, limit, ttl = now_ms(), ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('ZREM', KEYS[1], h)
  redis.call('HDEL', KEYS[2], h)
end
local token = redis.call('HGET', KEYS[2], holder)
if not (token and redis.call('ZSCORE', KEYS[1], holder)) then
  if redis.call('ZCARD', KEYS[1]) >= limit then
    local out = {0}
    for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      out[#out + 1] = h
      out[#out + 1] = redis.call('HGET', KEYS[2], h) or ''
    end
    return out
  end
  token = redis.call('INCR', KEYS[3])
  redis.call('HSET', KEYS[2], holder, token)
end
redis.call('ZADD', KEYS[1], now + ttl, holder)
keep(KEYS[1], ttl)
keep(KEYS[2], ttl)
return {1, tonumber(token)}
)lua";

// KEYS: slots, slot_tokens. ARGV: holder, token, ttl ms. 1 renewed, 0 lost.
constexpr const char* kRenew = R"lua(
local now, ttl = now_ms(), tonumber(ARGV[3])
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now and redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  keep(KEYS[1], ttl)
  keep(KEYS[2], ttl)
  return 1
end
return 0
)lua";

// KEYS: slots, slot_tokens. ARGV: holder, token. 1 released, 0 not held.
constexpr const char* kRelease = R"lua(
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
)lua";

std::string ms(Duration d) {
  return std::to_string(
      std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(d).count()));
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Result<int64_t> toInt(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    int64_t v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return makeError(ErrorCode::kBadResponse, what + " is not a number: \"" + text + "\"");
}

Error unexpected(const std::string& what) {
  return Error{ErrorCode::kBadResponse, "Redis answered " + what + " with something unexpected"};
}

}  // namespace

Result<std::vector<PodRecord>> podsFromReply(const redis::RedisReply& reply) {
  if (reply.type != redis::RedisReply::Type::kArray) {
    return std::unexpected(unexpected("a pod list"));
  }
  std::vector<PodRecord> out;
  for (const redis::RedisReply& hash : reply.elements) {
    PodRecord p;
    for (size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
      const std::string& field = hash.elements[i].str;
      const std::string& value = hash.elements[i + 1].str;
      if (field == "service") p.service = value;
      if (field == "pod") p.pod = value;
      if (field == "state") p.state = value;
      if (field == "wait_for") p.wait_for = split(value);
      if (field == "updated_at") p.updated_at = value;
      if (field == "slot") {
        auto token = toInt(value, "the slot of pod " + p.pod);
        if (token) p.slot = *token;
      }
    }
    if (p.pod.empty()) continue;  // not written by lameduck
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(),
            [](const PodRecord& a, const PodRecord& b) { return a.pod < b.pod; });
  return out;
}

Result<SlotAttempt> slotAttemptFromReply(const redis::RedisReply& reply) {
  const auto& e = reply.elements;
  if (reply.type != redis::RedisReply::Type::kArray || e.empty() ||
      e[0].type != redis::RedisReply::Type::kInteger) {
    return std::unexpected(unexpected("a slot request"));
  }
  SlotAttempt out;
  if (e[0].integer == 1) {
    if (e.size() != 2 || e[1].type != redis::RedisReply::Type::kInteger) {
      return std::unexpected(unexpected("a slot request"));
    }
    out.acquired = true;
    out.token = e[1].integer;
    return out;
  }
  for (size_t i = 1; i + 1 < e.size(); i += 2) {
    out.holders.push_back(e[i].str + " (token " + (e[i + 1].str.empty() ? "?" : e[i + 1].str) +
                          ")");
  }
  return out;
}

Result<bool> renewalFromReply(const redis::RedisReply& reply) {
  if (reply.type != redis::RedisReply::Type::kInteger) {
    return std::unexpected(unexpected("a lease renewal"));
  }
  return reply.integer == 1;
}

std::string keyPrefix(const std::string& service) { return "lameduck:coord:{" + service + "}:"; }

RedisBackend::RedisBackend(config::RedisConfig config) : config_(std::move(config)) {}

RedisBackend::~RedisBackend() = default;

Result<redis::RedisReply> RedisBackend::eval(const std::string& script,
                                             const std::vector<std::string>& keys,
                                             const std::vector<std::string>& args) {
  if (!client_ || client_->broken()) {
    client_.reset();
    auto c = redis::RedisClient::connect(config_);
    if (!c) return std::unexpected(c.error());
    client_ = std::move(*c);
  }
  std::vector<std::string> argv{"EVAL", kPrelude + script, std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = client_->command(argv);
  if (!r) return std::unexpected(r.error());
  if (r->isError()) return makeError(ErrorCode::kBadResponse, "Redis refused a script: " + r->str);
  return r;
}

Status RedisBackend::publish(const PodRecord& pod, Duration ttl) {
  const std::string prefix = keyPrefix(pod.service);
  std::vector<std::string> args{
      ms(ttl), pod.pod,   "service",  pod.service,        "pod",        pod.pod,
      "state", pod.state, "wait_for", join(pod.wait_for), "updated_at", pod.updated_at};
  if (pod.slot) {
    args.push_back("slot");
    args.push_back(std::to_string(*pod.slot));
  }
  auto r = eval(kPublish, {prefix + "pod:" + pod.pod, prefix + "pods"}, args);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<PodRecord>> RedisBackend::pods(const std::string& service) {
  const std::string prefix = keyPrefix(service);
  auto r = eval(kPods, {prefix + "pods"}, {prefix + "pod:"});
  if (!r) return std::unexpected(r.error());
  return podsFromReply(*r);
}

Result<SlotAttempt> RedisBackend::acquireSlot(const std::string& service, const std::string& holder,
                                              int64_t limit, Duration ttl) {
  const std::string prefix = keyPrefix(service);
  auto r = eval(kAcquire, {prefix + "slots", prefix + "slot_tokens", prefix + "fence"},
                {holder, std::to_string(limit), ms(ttl)});
  if (!r) return std::unexpected(r.error());
  return slotAttemptFromReply(*r);
}

Result<bool> RedisBackend::renewSlot(const std::string& service, const std::string& holder,
                                     int64_t token, Duration ttl) {
  const std::string prefix = keyPrefix(service);
  auto r = eval(kRenew, {prefix + "slots", prefix + "slot_tokens"},
                {holder, std::to_string(token), ms(ttl)});
  if (!r) return std::unexpected(r.error());
  return renewalFromReply(*r);
}

Status RedisBackend::releaseSlot(const std::string& service, const std::string& holder,
                                 int64_t token) {
  const std::string prefix = keyPrefix(service);
  auto r =
      eval(kRelease, {prefix + "slots", prefix + "slot_tokens"}, {holder, std::to_string(token)});
  if (!r) return std::unexpected(r.error());
  return {};
}

}  // namespace lameduck::coord
