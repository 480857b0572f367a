#include "saga/stream_writer.h"

namespace lameduck::saga {
namespace {

// One call writes a group of records. KEYS[1] is the stream, KEYS[2..] the
// records' dedup keys; ARGV[1] dedup TTL seconds, ARGV[2] maxlen (0 = none),
// ARGV[3] fields per record, then each record's field/value pairs. Returns
// one number per record: 1 written, 0 already there. For each record XADD
// comes before SET, so a failed XADD never leaves a dedup key behind; a
// script that fails part-way has written and marked only what came before,
// which a retry then finds as duplicates.
constexpr const char* kScript = R"lua(
local out = {}
local maxlen = tonumber(ARGV[2])
local nf = tonumber(ARGV[3])
local at = 4
for r = 2, #KEYS do
  if redis.call('EXISTS', KEYS[r]) == 1 then
    out[#out + 1] = 0
  else
    if maxlen > 0 then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, at, at + 2 * nf - 1))
    else
      redis.call('XADD', KEYS[1], '*', unpack(ARGV, at, at + 2 * nf - 1))
    end
    redis.call('SET', KEYS[r], '1', 'EX', ARGV[1])
    out[#out + 1] = 1
  end
  at = at + 2 * nf
end
return out
)lua";

// Records per script call, and script calls per pipeline round trip: the
// script's own cost is paid once per group.
constexpr size_t kPerScript = 100;
constexpr size_t kScriptsPerRoundTrip = 10;

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
  const size_t per_round = kPerScript * kScriptsPerRoundTrip;
  for (size_t start = 0; start < records.size(); start += per_round) {
    const size_t end = std::min(records.size(), start + per_round);
    std::vector<std::vector<std::string>> commands;
    std::vector<std::pair<size_t, size_t>> groups;  // record range of each command
    for (size_t g = start; g < end; g += kPerScript) {
      const size_t g_end = std::min(end, g + kPerScript);
      const size_t nf = records[g].fields().size();
      std::vector<std::string> argv{"EVALSHA", sha_, std::to_string(1 + g_end - g), stream_};
      for (size_t i = g; i < g_end; ++i) argv.push_back(stream_ + ":dedup:" + records[i].id);
      argv.push_back(std::to_string(dedup_ttl_.count()));
      argv.push_back(std::to_string(maxlen_));
      argv.push_back(std::to_string(nf));
      for (size_t i = g; i < g_end; ++i) {
        for (auto& [k, v] : records[i].fields()) {
          argv.push_back(k);
          argv.push_back(v);
        }
      }
      commands.push_back(std::move(argv));
      groups.emplace_back(g, g_end);
    }
    PipelineResult res = client.pipeline(commands);
    bool reload = false;
    for (size_t c = 0; c < res.replies.size(); ++c) {
      const RedisReply& reply = res.replies[c];
      const auto [g, g_end] = groups[c];
      if (reply.type == RedisReply::Type::kArray && reply.elements.size() == g_end - g) {
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
