#pragma once

// A fake for the trace exporter (src/trace): an export observer that counts
// export results. Thread-safe: the tracer's thread records under `mu`;
// tests read `counts` under `mu`.

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "trace/exporter.h"

namespace lameduck::fakes {

class CountingExportObserver final : public trace::ExportObserver {
 public:
  void onTraceExport(std::string_view result) override {
    std::lock_guard lock(mu);
    ++counts[std::string(result)];
  }
  std::mutex mu;
  std::map<std::string, int> counts;  // result ("ok", "failed", ...) → how many
};

}  // namespace lameduck::fakes
