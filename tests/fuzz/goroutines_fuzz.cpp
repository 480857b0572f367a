// libFuzzer entry point for the goroutine dump parser and the report built
// from what it parses. Built by the fuzz preset, run by tests/fuzz/run
// (`tests/fuzz/run goroutines`).
// Small limits make the bounds reachable with small inputs.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "diag/goroutines.h"
#include "diag/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  lameduck::diag::Limits limits;
  limits.max_bytes = 1 << 16;
  limits.max_goroutines = 64;
  limits.max_frames = 16;
  limits.max_line = 512;
  limits.max_ancestors = 4;
  auto dump = lameduck::diag::parseGoroutines(text, limits);
  if (!dump) return 0;
  // The first half of the goroutines as a baseline of the whole.
  lameduck::diag::Dump baseline;
  baseline.goroutines.assign(dump->goroutines.begin(),
                             dump->goroutines.begin() + dump->goroutines.size() / 2);
  auto report = lameduck::diag::buildReport(&baseline, *dump, "fuzz");
  (void)lameduck::diag::renderJson(report);
  return 0;
}
