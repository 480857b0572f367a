// Fuzz target: Prometheus instant-query answers (traffic/gate.h). Any answer
// is read or refused; a reading's error rate is a finite number.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "traffic/gate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto reading = lameduck::traffic::parsePrometheusAnswer(text)) {
    if (reading->error_rate && !std::isfinite(*reading->error_rate)) std::abort();
  }
  return 0;
}
