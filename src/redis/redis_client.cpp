#include "redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/clock.h"
#include "common/parse.h"
#include "common/resolve.h"
#include "config/rules.h"

namespace lameduck::redis {
namespace {

// At least 1 µs: a zero timeout means "none" to SO_RCVTIMEO.
timeval toTimeval(Duration d) {
  auto us = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

redisContext* ctx(void* p) { return static_cast<redisContext*>(p); }

}  // namespace

// Objects built for the reply being read; hiredis hands the reader's privdata
// to every read task.
struct ReplyBudget {
  size_t objects = 0;
  bool exceeded = false;
};

namespace {

// hiredis's own reply builders (static in the library; read off a reader).
const redisReplyObjectFunctions& hiredisBuilders() {
  static const redisReplyObjectFunctions builders = [] {
    redisReader* r = redisReaderCreate();
    redisReplyObjectFunctions copy = *r->fn;
    redisReaderFree(r);
    return copy;
  }();
  return builders;
}

bool spend(const redisReadTask* task) {
  auto* budget = static_cast<ReplyBudget*>(task->privdata);
  if (budget == nullptr) return true;
  if (++budget->objects > kMaxReplyObjects) budget->exceeded = true;
  return !budget->exceeded;
}

// hiredis's builders behind the bounds; a null return makes the reader fail.
void* boundedString(const redisReadTask* t, char* s, size_t len) {
  return spend(t) ? hiredisBuilders().createString(t, s, len) : nullptr;
}
void* boundedArray(const redisReadTask* t, int elements) {
  if (elements > kMaxReplyElements) {
    if (auto* budget = static_cast<ReplyBudget*>(t->privdata)) budget->exceeded = true;
    return nullptr;
  }
  return spend(t) ? hiredisBuilders().createArray(t, elements) : nullptr;
}
void* boundedInteger(const redisReadTask* t, long long value) {
  return spend(t) ? hiredisBuilders().createInteger(t, value) : nullptr;
}
void* boundedNil(const redisReadTask* t) {
  return spend(t) ? hiredisBuilders().createNil(t) : nullptr;
}

redisReplyObjectFunctions* boundedBuilders() {
  static redisReplyObjectFunctions fns{boundedString, boundedArray, boundedInteger, boundedNil,
                                       freeReplyObject};
  return &fns;
}

std::string boundsMessage() {
  return "a reply over lameduck's bounds (" + std::to_string(kMaxReplyElements) +
         " elements in an array, " + std::to_string(kMaxReplyObjects) + " values, " +
         std::to_string(kMaxReplyBytes >> 20) + " MiB)";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> fieldsOf(const RedisReply& entry) {
  std::vector<std::pair<std::string, std::string>> out;
  if (entry.elements.size() < 2) return out;
  const auto& f = entry.elements[1].elements;
  for (size_t i = 0; i + 1 < f.size(); i += 2) out.emplace_back(f[i].str, f[i + 1].str);
  return out;
}

Result<RedisReply> parseReply(std::string_view resp) {
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader(
      redisReaderCreateWithFunctions(boundedBuilders()), redisReaderFree);
  if (!reader) return makeError(ErrorCode::kInternal, "could not create a RESP reader");
  if (resp.size() > kMaxReplyBytes) return makeError(ErrorCode::kBadResponse, boundsMessage());
  ReplyBudget budget;
  reader->privdata = &budget;
  if (redisReaderFeed(reader.get(), resp.data(), resp.size()) != REDIS_OK) {
    return makeError(ErrorCode::kBadResponse, "RESP reader refused the bytes");
  }
  void* raw = nullptr;
  if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
    if (budget.exceeded) return makeError(ErrorCode::kBadResponse, boundsMessage());
    return makeError(ErrorCode::kBadResponse,
                     std::string("not a RESP reply: ") + reader->errstr);
  }
  if (raw == nullptr) return makeError(ErrorCode::kBadResponse, "the RESP reply is cut off");
  std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                     freeReplyObject);
  RedisReply out = convert(reply.get());
  if (reader->pos < reader->len) {
    return makeError(ErrorCode::kBadResponse, "bytes follow the RESP reply");
  }
  return out;
}

RedisClient::RedisClient(void* context, std::string where, Duration timeout)
    : ctx_(context),
      where_(std::move(where)),
      timeout_(timeout),
      budget_(std::make_unique<ReplyBudget>()) {
  redisContext* c = ctx(ctx_);
  if (c->reader != nullptr) {
    c->reader->fn = boundedBuilders();
    c->reader->privdata = budget_.get();
  }
}

RedisClient::~RedisClient() {
  if (ctx_) redisFree(ctx(ctx_));
}

TimePoint RedisClient::now() { return SystemClock::instance().now(); }

std::optional<Error> RedisClient::limitNextIo(TimePoint deadline, const std::string& during) {
  const Duration left = deadline - now();
  if (left <= Duration::zero()) return deadlineError(during);
  if (redisSetTimeout(ctx(ctx_), toTimeval(left)) != REDIS_OK) return transportError(during);
  return std::nullopt;
}

Error RedisClient::deadlineError(const std::string& during) {
  broken_ = true;
  const std::string late = "no complete reply to " + during + " within " + formatDuration(timeout_);
  return Error{ErrorCode::kDeadlineExceeded,
               "Redis " + where_ + ": " +
                   (connecting_ ? "cannot connect: " + late +
                                      " (connecting, AUTH and SELECT share the timeout)"
                                : late)};
}

Error RedisClient::transportError(const std::string& during) {
  broken_ = true;
  redisContext* c = ctx(ctx_);
  const bool timeout = c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
  if (timeout) return deadlineError(during);
  std::string detail = c->errstr[0] ? c->errstr : "connection error";
  return Error{ErrorCode::kUnavailable, "Redis " + where_ + ": " + during + " failed: " + detail};
}

namespace {

// A TCP connection to one of the addresses of `host` (looked up within the
// deadline: hiredis's own lookup has none), or the last error.
redisContext* connectTcp(const config::RedisAddress& a, TimePoint deadline, Duration timeout,
                         std::string& failure, bool& timed_out) {
  Clock& clock = SystemClock::instance();
  auto addresses = resolveWithin(systemResolver(), a.host, clock, deadline);
  if (!addresses) {
    timed_out = addresses.error().code == ErrorCode::kDeadlineExceeded;
    failure = addresses.error().message +
              (timed_out ? " (the timeout of " + formatDuration(timeout) + " ran out)" : "");
    return nullptr;
  }
  failure = "no address";
  for (const std::string& ip : *addresses) {
    const Duration left = deadline - clock.now();
    if (left <= Duration::zero()) {
      failure = "timed out after " + formatDuration(timeout);
      timed_out = true;
      return nullptr;
    }
    redisContext* c = redisConnectWithTimeout(ip.c_str(), a.port, toTimeval(left));
    if (c == nullptr) {
      failure = "cannot allocate a connection";
      return nullptr;
    }
    if (!c->err) return c;
    failure = c->errstr;
    timed_out = std::strstr(c->errstr, "timed out") != nullptr;
    redisFree(c);
  }
  return nullptr;
}

}  // namespace

Result<std::unique_ptr<RedisClient>> RedisClient::connect(const config::RedisConfig& config) {
  if (auto ok = config::requireRedisAddress(config, "the Redis client"); !ok) {
    return std::unexpected(ok.error());
  }
  const config::RedisAddress& a = *config.address;
  // One deadline for the connection, AUTH and SELECT together.
  const TimePoint deadline = now() + config.timeout;
  redisContext* c = nullptr;
  if (a.unix_path.empty()) {
    std::string failure;
    bool timed_out = false;
    c = connectTcp(a, deadline, config.timeout, failure, timed_out);
    if (c == nullptr) {
      return makeError(timed_out ? ErrorCode::kDeadlineExceeded : ErrorCode::kUnavailable,
                       "Redis " + a.str() + ": cannot connect: " + failure);
    }
  } else {
    c = redisConnectUnixWithTimeout(a.unix_path.c_str(), toTimeval(config.timeout));
    if (c == nullptr) return makeError(ErrorCode::kInternal, "Redis: cannot allocate a connection");
  }
  std::unique_ptr<RedisClient> client(new RedisClient(c, a.str(), config.timeout));
  if (c->err) {
    const bool timeout = std::strstr(c->errstr, "timed out") != nullptr;
    return makeError(timeout ? ErrorCode::kDeadlineExceeded : ErrorCode::kUnavailable,
                     "Redis " + a.str() + ": cannot connect: " + c->errstr);
  }
  client->connecting_ = true;
  if (!config.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!config.username.empty()) auth.push_back(config.username);
    auth.push_back(config.password);
    PipelineResult r = client->exchange({auth}, deadline);
    if (r.error) return std::unexpected(*r.error);
    if (r.replies.front().isError()) {
      return makeError(ErrorCode::kPermissionDenied,
                       "Redis " + a.str() + ": authentication as \"" +
                           (config.username.empty() ? std::string("default") : config.username) +
                           "\" refused: " + r.replies.front().str);
    }
  }
  if (config.db != 0) {
    PipelineResult r = client->exchange({{"SELECT", std::to_string(config.db)}}, deadline);
    if (r.error) return std::unexpected(*r.error);
    if (r.replies.front().isError()) {
      return makeError(ErrorCode::kInvalidArgument, "Redis " + a.str() + ": SELECT " +
                                                        std::to_string(config.db) + ": " +
                                                        r.replies.front().str);
    }
  }
  client->connecting_ = false;
  return client;
}

Result<RedisReply> RedisClient::command(const std::vector<std::string>& argv) {
  PipelineResult r = pipeline({argv});
  if (r.error) return std::unexpected(*r.error);
  return std::move(r.replies.front());
}

PipelineResult RedisClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
  return exchange(commands, now() + timeout_);
}

PipelineResult RedisClient::exchange(const std::vector<std::vector<std::string>>& commands,
                                     TimePoint deadline) {
  if (!broken_ && !unanswered_.empty()) {
    return {{},
            Error{ErrorCode::kFailedPrecondition,
                  "Redis " + where_ + ": replies of earlier commands were not read yet"}};
  }
  if (auto sent = sendUntil(commands, deadline); !sent) return {{}, sent.error()};
  return receiveUntil(commands.size(), deadline);
}

Status RedisClient::send(const std::vector<std::vector<std::string>>& commands) {
  return sendUntil(commands, now() + timeout_);
}

PipelineResult RedisClient::receive(size_t n) { return receiveUntil(n, now() + timeout_); }

Status RedisClient::sendUntil(const std::vector<std::vector<std::string>>& commands,
                              TimePoint deadline) {
  if (broken_) {
    return makeError(ErrorCode::kUnavailable, "Redis " + where_ + ": connection is broken");
  }
  if (commands.empty()) return {};
  redisContext* c = ctx(ctx_);
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& argv : commands) {
    args.clear();
    lens.clear();
    for (const std::string& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()) !=
        REDIS_OK) {
      return std::unexpected(transportError(commands.front().front()));
    }
  }
  // Write it all now, so Redis works on it while the caller goes on. Each
  // write may block only for what is left of the deadline.
  for (int done = 0; !done;) {
    if (auto late = limitNextIo(deadline, commands.front().front())) return std::unexpected(*late);
    if (redisBufferWrite(c, &done) != REDIS_OK) {
      return std::unexpected(transportError(commands.front().front()));
    }
  }
  for (const auto& argv : commands) unanswered_.push_back(argv.front());
  return {};
}

PipelineResult RedisClient::receiveUntil(size_t n, TimePoint deadline) {
  PipelineResult out;
  if (broken_) {
    out.error = Error{ErrorCode::kUnavailable, "Redis " + where_ + ": connection is broken"};
    return out;
  }
  if (n > unanswered_.size()) {
    out.error = Error{ErrorCode::kFailedPrecondition,
                      "Redis " + where_ + ": more replies asked for than commands sent"};
    return out;
  }
  redisContext* c = ctx(ctx_);
  out.replies.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    void* raw = nullptr;
    *budget_ = ReplyBudget{};
    // redisGetReply's loop, with a bound on what one reply may buffer, and
    // each read blocking only for what is left of the deadline: a server
    // trickling its reply cannot stretch the exchange read by read.
    while (raw == nullptr) {
      if (redisGetReplyFromReader(c, &raw) != REDIS_OK) break;
      if (raw != nullptr) break;
      if (c->reader->len - c->reader->pos > kMaxReplyBytes) {
        budget_->exceeded = true;
        break;
      }
      if (auto late = limitNextIo(deadline, unanswered_.front())) {
        out.error = std::move(late);
        return out;
      }
      if (redisBufferRead(c) != REDIS_OK) break;
    }
    if (raw == nullptr) {
      if (budget_->exceeded) {
        broken_ = true;
        out.error = Error{ErrorCode::kBadResponse, "Redis " + where_ + ": " +
                                                       unanswered_.front() + " got " +
                                                       boundsMessage()};
      } else {
        out.error = transportError(unanswered_.front());
      }
      return out;
    }
    unanswered_.pop_front();
    out.replies.push_back(convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

}  // namespace lameduck::redis
