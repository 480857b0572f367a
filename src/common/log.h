#pragma once

// Structured logging: one JSON object per line on stdout (or "text" for
// people at a terminal). Records always carry the pod identity read from the
// downward-API environment. Messages and field values are escaped by a JSON
// encoder, so quotes and newlines never break a line.
//
// Thread-safe. init() is called once by main before any thread logs; without
// it records go to stdout as JSON at level info with an empty identity.
// Logging never fails the caller (a record that cannot be written is
// lost); the logger and the identity are process-wide, owned by this module.

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace lameduck::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kJson, kText };

Result<Level> parseLevel(std::string_view text);
Result<Format> parseFormat(std::string_view text);
std::string_view levelName(Level level);

using FieldValue = std::variant<std::string, int64_t, double, bool>;

struct Field {
  std::string key;
  FieldValue value;

  Field(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  Field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  Field(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  Field(std::string k, bool v) : key(std::move(k)), value(v) {}
  Field(std::string k, double v) : key(std::move(k)), value(v) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) Field(std::string k, T v)
      : key(std::move(k)), value(static_cast<int64_t>(v)) {}
};
using Fields = std::vector<Field>;

// Who this process is, from POD_NAME, POD_NAMESPACE, POD_UID, NODE_NAME,
// POD_REVISION; the build commit comes from the binary.
struct Identity {
  std::string pod;
  std::string namespace_;
  std::string pod_uid;
  std::string node;
  std::string revision;
  std::string commit;

  static Identity fromEnvironment();
};

void init(Level level, Format format, Identity identity);
const Identity& identity();

void write(Level level, std::string_view msg, const Fields& fields = {});
inline void debug(std::string_view msg, const Fields& f = {}) { write(Level::kDebug, msg, f); }
inline void info(std::string_view msg, const Fields& f = {}) { write(Level::kInfo, msg, f); }
inline void warn(std::string_view msg, const Fields& f = {}) { write(Level::kWarn, msg, f); }
inline void error(std::string_view msg, const Fields& f = {}) { write(Level::kError, msg, f); }

// An audit record (always written, whatever the level): "audit": true,
// "event": <event>, the identity, and the fields.
void audit(std::string_view event, const Fields& fields);

// Renders one record; exposed for tests. Never throws: invalid UTF-8 is
// replaced rather than refused.
std::string formatRecord(Format format, WallTime when, Level level, std::string_view msg,
                         const Fields& fields, const Identity& who, bool is_audit);

}  // namespace lameduck::log
