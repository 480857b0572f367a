#include "saga/stream_writer.h"

namespace lameduck::saga {
namespace {

// KEYS[1] stream, KEYS[2] dedup key; ARGV[1] dedup TTL seconds, ARGV[2]
// maxlen (0 = none), ARGV[3..] field/value pairs. Returns 1 written, 0
// duplicate. XADD comes before SET: if XADD fails the key is never set.
constexpr const char* kScript = R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local args = {KEYS[1]}
if tonumber(ARGV[2]) > 0 then
  table.insert(args, 'MAXLEN'); table.insert(args, '~'); table.insert(args, ARGV[2])
end
table.insert(args, '*')
for i = 3, #ARGV do table.insert(args, ARGV[i]) end
redis.call('XADD', unpack(args))
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return 1
)lua";

// Records per pipeline round trip.
constexpr size_t kBatch = 500;

}  // namespace

StreamWriter::StreamWriter(std::string stream, int64_t maxlen, std::chrono::seconds dedup_ttl)
    : stream_(std::move(stream)), maxlen_(maxlen), dedup_ttl_(dedup_ttl) {}

Status StreamWriter::loadScript(RedisClient& client) {
  auto r = client.command({"SCRIPT", "LOAD", kScript});
  if (!r) return std::unexpected(r.error());
  if (r->isError()) return makeError(ErrorCode::kBadResponse, "Redis SCRIPT LOAD: " + r->str);
  sha_ = r->str;
  return {};
}

WriteResult StreamWriter::write(RedisClient& client,
                                const std::vector<CompensationRecord>& records) {
  WriteResult out;
  if (sha_.empty()) {
    if (auto ok = loadScript(client); !ok) {
      out.error = ok.error();
      return out;
    }
  }
  for (size_t start = 0; start < records.size(); start += kBatch) {
    const size_t end = std::min(records.size(), start + kBatch);
    std::vector<std::vector<std::string>> commands;
    commands.reserve(end - start);
    for (size_t i = start; i < end; ++i) {
      const CompensationRecord& r = records[i];
      std::vector<std::string> argv{"EVALSHA",
                                    sha_,
                                    "2",
                                    stream_,
                                    stream_ + ":dedup:" + r.id,
                                    std::to_string(dedup_ttl_.count()),
                                    std::to_string(maxlen_)};
      for (auto& [k, v] : r.fields()) {
        argv.push_back(k);
        argv.push_back(v);
      }
      commands.push_back(std::move(argv));
    }
    PipelineResult res = client.pipeline(commands);
    bool reload = false;
    for (size_t i = 0; i < res.replies.size(); ++i) {
      const RedisReply& reply = res.replies[i];
      const std::string& id = records[start + i].id;
      if (reply.type == RedisReply::Type::kInteger) {
        out.confirmed.push_back(id);
        (reply.integer == 1 ? out.written : out.duplicates)++;
      } else if (reply.isError()) {
        if (reply.str.starts_with("NOSCRIPT")) reload = true;
        if (!out.error) {
          out.error =
              Error{ErrorCode::kBadResponse, "Redis refused compensation " + id + ": " + reply.str};
        }
      }
    }
    if (res.error) {
      out.error = res.error;
      return out;
    }
    if (reload) {  // the script cache was flushed; the caller's retry reloads it
      sha_.clear();
      return out;
    }
    if (out.error) return out;
  }
  return out;
}

}  // namespace lameduck::saga
