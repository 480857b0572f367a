#pragma once

// A small synchronous Redis client over hiredis: connect (with AUTH and
// SELECT), single commands and pipelines. The only place that includes
// hiredis.
//
// Deadlines: each exchange has ONE deadline, the configured timeout, for all
// of it, not one per read: connecting (the DNS lookup included), AUTH and
// SELECT share one; a command or a pipeline has one for sending every
// command and reading every reply; send() and receive() one each. A server
// that trickles its reply a byte at a time is cut off at the deadline (each
// read may block only for what is left of it). The timeout is real time
// (socket timeouts), not a Clock's.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "config/config.h"

namespace lameduck::redis {

struct RedisReply {
  enum class Type { kNil, kString, kInteger, kStatus, kError, kArray };
  Type type = Type::kNil;
  std::string str;  // string, status and error replies
  int64_t integer = 0;
  std::vector<RedisReply> elements;

  bool isError() const { return type == Type::kError; }
};

// The field/value pairs of one stream entry as XRANGE, XREADGROUP and
// XAUTOCLAIM return it ([id, [field, value, ...]]); empty if malformed.
std::vector<std::pair<std::string, std::string>> fieldsOf(const RedisReply& entry);

// One reply parsed from RESP bytes with the same hiredis reader the client
// uses (its nesting is bounded by hiredis). kBadResponse when the bytes are
// not one complete reply (a protocol error, a cut-off reply, bytes left
// over). For tests and the fuzz target: everything Redis answers goes
// through this reader and `convert`.
Result<RedisReply> parseReply(std::string_view resp);

// What a pipeline got back: a reply for each command up to the first
// transport error, if there was one.
struct [[nodiscard]] PipelineResult {
  std::vector<RedisReply> replies;
  std::optional<Error> error;
};

// Bounds on one reply: a wrong or hostile server must not make lameduck
// allocate without limit (hiredis allocates an array's element table as soon
// as it reads the length, and buffers a bulk string until all of it came).
// A reply over a bound is refused (kBadResponse) and the connection is broken.
inline constexpr int kMaxReplyElements = 100000;      // in one array
inline constexpr size_t kMaxReplyObjects = 200000;    // in one reply, every level
inline constexpr size_t kMaxReplyBytes = 16u << 20;   // unparsed bytes of one reply
struct ReplyBudget;

// Not thread-safe: one owner at a time. After a transport error (timeout,
// connection lost) the client is broken and must be reconnected. Owns its
// connection (closed on destruction); nothing is borrowed.
class RedisClient {
 public:
  ~RedisClient();

  // Connects, authenticates (username + password, or password only) and
  // selects config.db, all within config.timeout; each later exchange gets
  // config.timeout too. Errors: kUnavailable (refused, unreachable, the host
  // does not resolve), kDeadlineExceeded (naming what was waited for),
  // kPermissionDenied (bad credentials), kInvalidArgument (no address
  // configured).
  static Result<std::unique_ptr<RedisClient>> connect(const config::RedisConfig& config);

  // One command. A Redis error reply is a reply, not an Error. Transport
  // errors (they break the client; the message names the server and the
  // command): kDeadlineExceeded when the whole reply was not complete within
  // config.timeout, kUnavailable when the connection failed; a reply over
  // the bounds below is kBadResponse.
  Result<RedisReply> command(const std::vector<std::string>& argv);
  // Sends every command, then reads the replies in order, all within one
  // timeout. Replies read before a transport error are kept, so callers
  // know which commands ran.
  PipelineResult pipeline(const std::vector<std::vector<std::string>>& commands);

  // The two halves of pipeline(), for callers that keep Redis busy with
  // one batch while they prepare the next: send() writes the commands
  // without reading anything; receive(n) reads the replies of the next `n`
  // commands sent. Every sent command's reply must be received before
  // command() or pipeline() is used again (they fail otherwise). Each call
  // has the timeout for all of it: send() for writing every command,
  // receive(n) for all n replies.
  Status send(const std::vector<std::vector<std::string>>& commands);
  PipelineResult receive(size_t n);

  bool broken() const { return broken_; }

 private:
  RedisClient(void* context, std::string where, Duration timeout);
  static TimePoint now();
  PipelineResult exchange(const std::vector<std::vector<std::string>>& commands,
                          TimePoint deadline);
  Status sendUntil(const std::vector<std::vector<std::string>>& commands, TimePoint deadline);
  PipelineResult receiveUntil(size_t n, TimePoint deadline);
  // Lets the next read or write block for what is left until `deadline`.
  // The error (the client is then broken) when nothing is left or the
  // socket refused the timeout; `during` names the command.
  std::optional<Error> limitNextIo(TimePoint deadline, const std::string& during);
  Error transportError(const std::string& during);
  Error deadlineError(const std::string& during);

  void* ctx_;  // redisContext*
  std::string where_;
  Duration timeout_;
  bool connecting_ = false;  // in connect(): AUTH and SELECT
  std::unique_ptr<ReplyBudget> budget_;  // the reader's bound on one reply
  bool broken_ = false;
  std::deque<std::string> unanswered_;  // names of sent commands not answered yet
};

}  // namespace lameduck::redis
