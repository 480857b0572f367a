#pragma once

// A compensation as it is handed off: the app's entry plus where it came
// from (docs/compensation.md). Plain values; no shared state, so every
// function here is thread-safe.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "app/app_client.h"
#include "common/error.h"

namespace lameduck::saga {

struct CompensationRecord {
  std::string id;  // idempotency key
  std::string saga_id;
  std::string step;
  std::string action;
  std::string payload;  // JSON text
  std::string service;
  std::string namespace_;
  std::string pod;
  std::string revision;
  std::string created_at;  // RFC 3339
  int64_t attempt = 1;

  // Stream fields in the documented order (docs/compensation.md), as
  // field/value pairs.
  std::vector<std::pair<std::string, std::string>> fields() const;
};

struct Origin {
  std::string service;
  std::string namespace_;
  std::string pod;
  std::string revision;
};

CompensationRecord makeRecord(app::Compensation c, const Origin& origin,
                              const std::string& created_at);

// One JSON object per record (the spool's line format) and back. Every
// field is a string except attempt (an integer); ids stay exactly the text
// the app gave (a numeric-looking id is never reformatted). fromJsonLine
// treats its input as hostile: no throwing accessor, checked types, a depth
// bound; kBadResponse when the line is not a record (not a JSON object,
// nested deeper than a record, or lacking a string id, saga_id or action).
std::string toJsonLine(const CompensationRecord& r);
Result<CompensationRecord> fromJsonLine(std::string_view line);

}  // namespace lameduck::saga
