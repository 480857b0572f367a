#pragma once

// A compensation as it is handed off: the app's entry plus where it came
// from (DESIGN.md, "Compensation stream").

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

  // Stream fields in DESIGN.md order, as field/value pairs.
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

// One JSON object per record (the spool's line format) and back.
std::string toJsonLine(const CompensationRecord& r);
Result<CompensationRecord> fromJsonLine(std::string_view line);

}  // namespace lameduck::saga
