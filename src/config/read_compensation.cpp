// The compensation section: where the hand-off writes (Redis stream, spool).

#include "config/sections.h"

namespace lameduck::config::detail {
namespace {

Result<RedisAddress> parseRedisAddress(std::string_view text) {
  RedisAddress out;
  if (text.starts_with("unix:")) {
    out.unix_path = std::string(text.substr(5));
    if (out.unix_path.empty() || out.unix_path.front() != '/') {
      return makeError(ErrorCode::kInvalidArgument,
                       "invalid Redis address " + quoteAddress(text) +
                           "; a unix socket needs an absolute path, e.g. unix:/run/redis.sock");
    }
    return out;
  }
  auto hp = parseHostPort(text);
  if (!hp || hp->port == 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid Redis address " + quoteAddress(text) +
                         "; expected host:port (e.g. 127.0.0.1:6379) or unix:/path");
  }
  out.host = hp->host;
  out.port = hp->port;
  return out;
}

void readRedis(Issues& issues, const YAML::Node& node, const std::string& path, RedisConfig& out) {
  MapReader r(issues, node, path);
  r.field("address", optionalParsed<RedisAddress>(issues, out.address, parseRedisAddress));
  r.field("username", str(issues, out.username));
  r.field("password", str(issues, out.password));
  r.field("db", integer(issues, out.db, 0, 1'000'000));
  r.field("timeout", duration(issues, out.timeout, ZeroOk::kNo));
  r.finish();
}

}  // namespace

void readCompensation(Issues& issues, const YAML::Node& node, const std::string& path,
                      CompensationConfig& out) {
  MapReader m(issues, node, path);
  m.field("redis", section(issues, readRedis, out.redis));
  m.field("stream", str(issues, out.stream, false));
  m.field("maxlen", integer(issues, out.maxlen, 0, INT64_MAX));
  m.field("spool", str(issues, out.spool, false));
  m.finish();
}

}  // namespace lameduck::config::detail
