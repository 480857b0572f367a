// The compensation section (where the hand-off writes) and the compensator
// section (the consumer side of the stream).

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

// Placeholders ({{id}}, ...) are filled per entry; the rest must be a valid URL.
Status checkActionUrl(std::string_view text) {
  std::string probe(text);
  for (size_t at; (at = probe.find("{{")) != std::string::npos;) {
    const size_t end = probe.find("}}", at);
    if (end == std::string::npos) break;
    probe.replace(at, end + 2 - at, "x");
  }
  if (auto url = parseHttpUrl(probe); !url) return std::unexpected(url.error());
  return {};
}

ActionConfig readAction(Issues& issues, const YAML::Node& node, const std::string& path) {
  ActionConfig action;
  MapReader a(issues, node, path);
  a.field("url", checked(issues, action.url, "a URL template", checkActionUrl));
  a.field("method", choice<std::string>(issues, action.method,
                                        {{"POST", "POST"},
                                         {"PUT", "PUT"},
                                         {"PATCH", "PATCH"},
                                         {"DELETE", "DELETE"},
                                         {"GET", "GET"}}));
  a.field("timeout", duration(issues, action.timeout, ZeroOk::kNo));
  a.finish();
  if (action.url.empty()) {
    issues.fail(node, path + ".url", "required: the endpoint that applies this action");
  }
  return action;
}

void readActions(Issues& issues, const YAML::Node& given, const std::string& path,
                 std::map<std::string, ActionConfig>& out) {
  const YAML::Node node = structured(given);
  if (!node.IsMap()) {
    issues.fail(
        node, path,
        "expected a map of action name to {url, method, timeout}, got " + describe(node, path));
    return;
  }
  out.clear();
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
    out[name] = readAction(issues, it->second, path + "." + name);
  }
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

void readCompensator(Issues& issues, const YAML::Node& node, const std::string& path,
                     CompensatorConfig& out) {
  MapReader m(issues, node, path);
  m.field("group", str(issues, out.group, false));
  m.field("consumer", str(issues, out.consumer));
  m.field("max_attempts", integer(issues, out.max_attempts, 1, 1000));
  m.field("backoff", duration(issues, out.backoff, ZeroOk::kYes));
  m.field("max_backoff", duration(issues, out.max_backoff, ZeroOk::kYes));
  m.field("claim_idle", duration(issues, out.claim_idle, ZeroOk::kNo));
  m.field("batch", integer(issues, out.batch, 1, 10'000));
  m.field("listen", parsed<HostPort>(issues, out.listen, parseHostPort));
  m.field("actions", section(issues, readActions, out.actions));
  m.finish();
}

}  // namespace lameduck::config::detail
