// libFuzzer target: an OpenTelemetry collector's 2xx answer to an export
// (trace/exporter.h, partialSuccess). The collector is a peer: its body may
// be anything. Properties: never crashes or throws (nesting 100,000 deep
// included); rejected spans are never negative; the message is at most 200
// bytes and one line.
// Built by the fuzz preset, run by tests/fuzz/run (`tests/fuzz/run otlp_answer`).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "trace/exporter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const lameduck::trace::PartialSuccess p = lameduck::trace::partialSuccess(body);
  if (p.rejected_spans < 0) std::abort();
  if (p.message.size() > 200) std::abort();
  if (p.message.find_first_of("\r\n") != std::string::npos) std::abort();
  return 0;
}
