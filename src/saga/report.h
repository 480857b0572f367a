#pragma once

// What the compensation hand-off reports about one exit: the summary's
// `compensations` section. The hand-off fills it; toJson renders it as the
// JSON text the summary carries under "compensations" (keys: pending,
// rejected, written, duplicates, spooled, acked, rejected_reasons).
//
// Thread-safety and ownership: plain values, no locking, and a pure
// rendering that never fails; one owner (the hand-off step, on the exit
// thread) fills the report and hands its rendered JSON to the engine.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lameduck::saga {

struct CompensationReport {
  int64_t pending = 0;     // valid entries the app handed over (all pages)
  int64_t rejected = 0;    // entries refused (first reasons in rejected_reasons)
  int64_t written = 0;     // newly written to the Redis stream
  int64_t duplicates = 0;  // already in the stream (a retried hand-off)
  int64_t spooled = 0;     // written to the local spool instead
  int64_t acked = 0;       // acknowledged to the app (only once durable)
  int64_t pages = 0;       // pages fetched from the app (1 for apps that do not page)
  // The first kMaxRejectedReasons reasons; `rejected` counts them all, so a
  // flood of bad entries cannot grow the summary without bound.
  std::vector<std::string> rejected_reasons;

  static constexpr size_t kMaxRejectedReasons = 100;
  void addRejected(std::string reason);
};

// The name of the summary section the hand-off owns.
inline constexpr const char* kCompensationsSection = "compensations";

// The summary section, as JSON text (an object). Never throws; invalid UTF-8
// in a reason is replaced.
std::string toJson(const CompensationReport& report);

}  // namespace lameduck::saga
