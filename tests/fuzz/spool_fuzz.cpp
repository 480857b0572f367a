// libFuzzer target: spool lines (saga::fromJsonLine), the spool's line
// format read back after a crash, a full disk or a person's edit. The input
// is a spool file; each line is parsed. Properties: never crashes, never
// throws; a line that parses round-trips through toJsonLine unchanged.
// Built by the fuzz preset, run by tests/fuzz/run (`tests/fuzz/run spool`).

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "saga/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    auto record = lameduck::saga::fromJsonLine(line);
    if (!record) continue;
    if (record->id.empty() || record->saga_id.empty() || record->action.empty()) std::abort();
    auto again = lameduck::saga::fromJsonLine(lameduck::saga::toJsonLine(*record));
    if (!again || again->fields() != record->fields()) std::abort();
  }
  return 0;
}
