#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace lameduck::log {
namespace {

struct State {
  std::mutex mu;
  Level level = Level::kInfo;
  Format format = Format::kJson;
  Identity who;
  std::shared_ptr<spdlog::logger> sink;
};

State& state() {
  static State s;
  return s;
}

std::shared_ptr<spdlog::logger> makeSink() {
  auto logger = std::make_shared<spdlog::logger>("lameduck",
                                                 std::make_shared<spdlog::sinks::stdout_sink_mt>());
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::trace);  // a dying pod must not lose its last lines
  return logger;
}

nlohmann::json toJson(const FieldValue& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

Result<Level> parseLevel(std::string_view text) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn" || text == "warning") return Level::kWarn;
  if (text == "error") return Level::kError;
  return makeError(ErrorCode::kInvalidArgument, "unknown log level \"" + std::string(text) +
                                                    "\"; expected debug, info, warn or error");
}

Result<Format> parseFormat(std::string_view text) {
  if (text == "json") return Format::kJson;
  if (text == "text") return Format::kText;
  return makeError(ErrorCode::kInvalidArgument,
                   "unknown log format \"" + std::string(text) + "\"; expected json or text");
}

std::string_view levelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

Identity Identity::fromEnvironment() {
  Identity id;
  id.pod = env("POD_NAME");
  id.namespace_ = env("POD_NAMESPACE");
  id.pod_uid = env("POD_UID");
  id.node = env("NODE_NAME");
  id.revision = env("POD_REVISION");
  return id;
}

void init(Level level, Format format, Identity identity) {
  State& s = state();
  std::lock_guard lock(s.mu);
  s.level = level;
  s.format = format;
  s.who = std::move(identity);
  if (!s.sink) s.sink = makeSink();
}

const Identity& identity() { return state().who; }

std::string formatRecord(Format format, WallTime when, Level level, std::string_view msg,
                         const Fields& fields, const Identity& who, bool is_audit) {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  if (format == Format::kText) {
    std::string line = formatRfc3339(when) + " " + std::string(levelName(level)) + " ";
    // Text mode still escapes the message so one record stays one line.
    line += nlohmann::json(std::string(msg)).dump(-1, ' ', false, kReplace);
    for (const Field& f : fields) {
      line += " " + f.key + "=" + toJson(f.value).dump(-1, ' ', false, kReplace);
    }
    return line;
  }
  nlohmann::ordered_json rec;
  rec["ts"] = formatRfc3339(when);
  rec["level"] = levelName(level);
  rec["msg"] = std::string(msg);
  if (is_audit) rec["audit"] = true;
  if (!who.pod.empty()) rec["pod"] = who.pod;
  if (!who.namespace_.empty()) rec["namespace"] = who.namespace_;
  if (!who.pod_uid.empty()) rec["pod_uid"] = who.pod_uid;
  if (!who.node.empty()) rec["node"] = who.node;
  if (!who.revision.empty()) rec["revision"] = who.revision;
  if (is_audit && !who.commit.empty()) rec["commit"] = who.commit;
  for (const Field& f : fields) {
    // Fixed keys win; a field named like one gets a prefix instead of
    // silently replacing it.
    std::string key = rec.contains(f.key) ? "field." + f.key : f.key;
    rec[key] = toJson(f.value);
  }
  return rec.dump(-1, ' ', false, kReplace);
}

namespace {
void emit(Level level, std::string_view msg, const Fields& fields, bool is_audit) {
  State& s = state();
  std::shared_ptr<spdlog::logger> sink;
  Format format;
  Identity who;
  {
    std::lock_guard lock(s.mu);
    if (!is_audit && level < s.level) return;
    if (!s.sink) s.sink = makeSink();
    sink = s.sink;
    format = s.format;
    who = s.who;
  }
  std::string line =
      formatRecord(format, std::chrono::system_clock::now(), level, msg, fields, who, is_audit);
  sink->info(line);
}
}  // namespace

void write(Level level, std::string_view msg, const Fields& fields) {
  emit(level, msg, fields, false);
}

void audit(std::string_view event, const Fields& fields) {
  Fields all;
  all.reserve(fields.size() + 1);
  all.emplace_back("event", event);
  all.insert(all.end(), fields.begin(), fields.end());
  emit(Level::kInfo, "audit " + std::string(event), all, true);
}

}  // namespace lameduck::log
