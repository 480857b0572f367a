// The entry points of the config adapter: YAML text → Config. yaml-cpp
// throws; every call into it happens inside parseContained(), so no
// exception leaves this library. The reading itself is in sections.h (one
// reader per section) on the toolkit of yaml_reader.h, the checks across
// sections in cross_check.h, --set in overrides.h, ${ENV} in env.h.

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/config.h"
#include "config/cross_check.h"
#include "config/overrides.h"
#include "config/sections.h"
#include "config/yaml_reader.h"

namespace lameduck::config {
namespace detail {

void readConfig(Issues& issues, const YAML::Node& root, Config& c) {
  MapReader top(issues, root, "");
  top.field("admin", section(issues, readAdmin, c.admin));
  top.field("metrics", section(issues, readMetrics, c.metrics));
  top.field("exit", section(issues, readExit, c.exit));
  top.field("app", section(issues, readApp, c.app));
  top.field("drain", section(issues, readDrain, c.drain));
  top.field("compensation", section(issues, readCompensation, c.compensation));
  top.field("traffic", section(issues, readTraffic, c.traffic));
  top.field("coordination", section(issues, readCoordination, c.coordination));
  top.field("compensator", section(issues, readCompensator, c.compensator));
  top.field("trace", section(issues, readTrace, c.trace));
  top.field("log", section(issues, readLog, c.log));
  top.finish();
}

}  // namespace detail

namespace {

Result<Config> invalid(std::string message) {
  return makeError(ErrorCode::kInvalidArgument, std::move(message));
}

// parse() without the outer guard: may throw YAML::Exception.
Result<Config> parseContained(std::string_view yaml_text, std::string_view source,
                              const std::vector<Override>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    // mark is 0-based; e.msg is the bare reason without the position prefix.
    ConfigIssue issue{"<document>", e.mark.line + 1, e.mark.column + 1,
                      "YAML syntax error: " + e.msg};
    return invalid(issue.str(source));
  }
  for (const Override& o : overrides) {
    if (auto ok = detail::applyOverride(root, o); !ok) return std::unexpected(ok.error());
  }
  detail::Issues issues(source);
  Config c;
  const YAML::Node croot = root;
  detail::readConfig(issues, croot, c);
  if (issues.ok()) detail::crossCheck(issues, croot, c);
  if (!issues.ok()) return invalid(issues.report());
  if (c.drain.max_wait_auto) c.drain.max_wait = autoMaxWait(c);
  return c;
}

}  // namespace

std::string RedisAddress::str() const {
  return unix_path.empty() ? HostPort{host, port}.str() : "unix:" + unix_path;
}

std::string ConfigIssue::str(std::string_view source) const {
  if (from_set) return "--set " + key_path + ": " + message;
  std::string where(source);
  if (line > 0) where += ":" + std::to_string(line) + ":" + std::to_string(column);
  return where + ": " + key_path + ": " + message;
}

Result<Config> parse(std::string_view yaml_text, std::string_view source,
                     const std::vector<Override>& overrides) {
  if (yaml_text.size() > kMaxConfigBytes) {
    return invalid(std::string(source) + ": the config is " + std::to_string(yaml_text.size()) +
                   " bytes; at most " + std::to_string(kMaxConfigBytes) + " are accepted");
  }
  try {
    return parseContained(yaml_text, source, overrides);
  } catch (const YAML::Exception& e) {
    // e.what() names yaml-cpp's reason, never a value of the document.
    return invalid(std::string(source) + ": " + e.what());
  } catch (const std::exception& e) {
    return invalid(std::string(source) + ": cannot read the config: " + e.what());
  }
}

Result<Config> loadFile(const std::string& path, const std::vector<Override>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeError(ErrorCode::kNotFound,
                     "cannot read config file " + path + ": " + std::strerror(errno));
  }
  // One byte past the bound is enough to refuse the file.
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return makeError(ErrorCode::kInternal, "error reading config file " + path);
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return parse(text, path, overrides);
}

Result<Config> defaults(const std::vector<Override>& overrides) {
  return parse("", "<defaults>", overrides);
}

}  // namespace lameduck::config
