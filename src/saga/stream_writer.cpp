#include "saga/stream_writer.h"

#include <algorithm>
#include <deque>

namespace lameduck::saga {
namespace {

// One call writes a group of records that share their origin (service,
// namespace, pod, revision, created_at, attempt). KEYS[1] is the stream,
// KEYS[2..] the records' dedup keys. ARGV[1] is the dedup TTL in seconds,
// ARGV[2] maxlen (0 = none), ARGV[3..8] the shared origin values, then five
// values per record: id, saga_id, step, action, payload. The entry's fields
// are those of CompensationRecord::fields(), in that order (the saga test
// checks they agree). Returns one number per record: 1 written, 0 already
// there.
//
// Why this shape: a script's cost is dominated by turning arguments into Lua
// strings and back, so the field names are constants here and the origin
// values are passed once per call, not once per record (6 arguments per
// record instead of 23). SET NX both checks and claims the dedup key in one
// call; if the XADD after it fails, the key is deleted again before the
// error is returned, so a failed XADD leaves nothing behind. The script runs
// atomically: no other client ever sees a claimed key without its entry, and
// a script that fails part-way has written and marked only the records
// before the failure, which a retry then finds as duplicates.
constexpr const char* kScript = R"lua(
local stream, ttl, maxlen = KEYS[1], ARGV[1], tonumber(ARGV[2])
local service, namespace, pod, revision, created_at, attempt =
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local out = {}
local at = 9
for r = 2, #KEYS do
  if redis.call('SET', KEYS[r], '1', 'NX', 'EX', ttl) then
    local added
    if maxlen > 0 then
      added = redis.pcall('XADD', stream, 'MAXLEN', '~', maxlen, '*',
        'id', ARGV[at], 'saga_id', ARGV[at + 1], 'step', ARGV[at + 2], 'action', ARGV[at + 3],
        'payload', ARGV[at + 4], 'service', service, 'namespace', namespace, 'pod', pod,
        'revision', revision, 'created_at', created_at, 'attempt', attempt)
    else
      added = redis.pcall('XADD', stream, '*',
        'id', ARGV[at], 'saga_id', ARGV[at + 1], 'step', ARGV[at + 2], 'action', ARGV[at + 3],
        'payload', ARGV[at + 4], 'service', service, 'namespace', namespace, 'pod', pod,
        'revision', revision, 'created_at', created_at, 'attempt', attempt)
    end
    if type(added) == 'table' and added.err then
      redis.call('DEL', KEYS[r])
      return redis.error_reply(added.err)
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
  at = at + 5
end
return out
)lua";

// Records per script call, and script calls per pipeline round trip: the
// script's own cost is paid once per group.
constexpr size_t kPerScript = 100;
constexpr size_t kScriptsPerRoundTrip = 10;

bool sameOrigin(const CompensationRecord& a, const CompensationRecord& b) {
  return a.service == b.service && a.namespace_ == b.namespace_ && a.pod == b.pod &&
         a.revision == b.revision && a.created_at == b.created_at && a.attempt == b.attempt;
}

}  // namespace

StreamWriter::StreamWriter(std::string stream, int64_t maxlen, std::chrono::seconds dedup_ttl)
    : stream_(std::move(stream)), maxlen_(maxlen), dedup_ttl_(dedup_ttl) {}

Status StreamWriter::loadScript(redis::RedisClient& client) {
  auto r = client.command({"SCRIPT", "LOAD", kScript});
  if (!r) return std::unexpected(r.error());
  if (r->isError()) return makeError(ErrorCode::kBadResponse, "Redis SCRIPT LOAD: " + r->str);
  sha_ = r->str;
  return {};
}

StreamWriter::Round StreamWriter::nextRound(const std::vector<CompensationRecord>& records,
                                            size_t& next) const {
  Round round;
  const size_t end = std::min(records.size(), next + kPerScript * kScriptsPerRoundTrip);
  while (next < end) {
    const size_t g = next;
    size_t g_end = g + 1;
    while (g_end < end && g_end - g < kPerScript && sameOrigin(records[g], records[g_end])) {
      ++g_end;
    }
    const CompensationRecord& origin = records[g];
    std::vector<std::string> argv;
    argv.reserve(12 + 6 * (g_end - g));
    argv.insert(argv.end(), {"EVALSHA", sha_, std::to_string(1 + g_end - g), stream_});
    for (size_t i = g; i < g_end; ++i) argv.push_back(stream_ + ":dedup:" + records[i].id);
    argv.insert(argv.end(), {std::to_string(dedup_ttl_.count()), std::to_string(maxlen_),
                             origin.service, origin.namespace_, origin.pod, origin.revision,
                             origin.created_at, std::to_string(origin.attempt)});
    for (size_t i = g; i < g_end; ++i) {
      const CompensationRecord& r = records[i];
      for (const std::string* v : {&r.id, &r.saga_id, &r.step, &r.action, &r.payload}) {
        argv.push_back(*v);
      }
    }
    round.commands.push_back(std::move(argv));
    round.groups.emplace_back(g, g_end);
    next = g_end;
  }
  return round;
}

WriteResult StreamWriter::write(redis::RedisClient& client,
                                const std::vector<CompensationRecord>& records) {
  WriteResult out;
  if (sha_.empty()) {
    if (auto ok = loadScript(client); !ok) {
      out.error = ok.error();
      return out;
    }
  }
  bool reload = false;
  size_t next = 0;                                               // the first record not sent yet
  std::deque<std::vector<std::pair<size_t, size_t>>> in_flight;  // groups of each sent round
  while (next < records.size() || !in_flight.empty()) {
    // Two rounds in flight: Redis runs one while the next is built and sent.
    // After an error reply nothing more is sent, but what is in flight is
    // still read: it may have been written, and the connection must not be
    // left with unread replies.
    while (!out.error && next < records.size() && in_flight.size() < 2) {
      Round round = nextRound(records, next);
      if (auto sent = client.send(round.commands); !sent) {
        out.error = sent.error();
        return out;
      }
      in_flight.push_back(std::move(round.groups));
    }
    if (in_flight.empty()) break;
    const auto groups = std::move(in_flight.front());
    in_flight.pop_front();
    redis::PipelineResult res = client.receive(groups.size());
    for (size_t c = 0; c < res.replies.size(); ++c) {
      const redis::RedisReply& reply = res.replies[c];
      const auto [g, g_end] = groups[c];
      if (reply.type == redis::RedisReply::Type::kArray && reply.elements.size() == g_end - g) {
        for (size_t i = g; i < g_end; ++i) {
          out.confirmed.push_back(records[i].id);
          (reply.elements[i - g].integer == 1 ? out.written : out.duplicates)++;
        }
      } else if (!out.error) {
        if (reply.isError() && reply.str.starts_with("NOSCRIPT")) reload = true;
        out.error = Error{ErrorCode::kBadResponse,
                          "Redis refused compensations " + records[g].id + "..: " +
                              (reply.isError() ? reply.str : std::string("unexpected reply"))};
      }
    }
    if (res.error) {
      out.error = res.error;  // the connection is broken; nothing more can be read
      return out;
    }
  }
  if (reload) sha_.clear();  // the script cache was flushed; the caller's retry reloads it
  return out;
}

}  // namespace lameduck::saga
