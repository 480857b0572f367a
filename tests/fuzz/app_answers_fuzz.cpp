// Fuzz target: the app's status and compensations answers
// (app/http_app_client.h). Any answer is parsed or refused; ids of accepted
// compensations are never empty.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "app/http_app_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)lameduck::app::parseStatus(text, 1 << 20);
  if (auto batch = lameduck::app::parseCompensations(text, 1 << 20)) {
    for (const auto& c : batch->valid) {
      if (c.id.empty() || c.saga_id.empty() || c.action.empty()) std::abort();
    }
  }
  return 0;
}
