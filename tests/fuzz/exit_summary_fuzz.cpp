// libFuzzer entry point for what `lameduck prestop` reads back from the
// sidecar's answer: exit::outcomeFromJson (exit/summary.h). The answer comes
// over the network, so any bytes must give an outcome or an error, never a
// crash, a throw or deep recursion. Built by the fuzz preset, run by
// tests/fuzz/run (`tests/fuzz/run exit_summary`).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "exit/summary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)lameduck::exit::outcomeFromJson(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
