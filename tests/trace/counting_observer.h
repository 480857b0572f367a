// An ExportObserver that counts export results; safe to read under `mu`
// while the tracer's thread records.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "trace/exporter.h"

namespace lameduck::testing {

class CountingObserver final : public trace::ExportObserver {
 public:
  void onTraceExport(std::string_view result) override {
    std::lock_guard lock(mu);
    ++counts[std::string(result)];
  }
  std::mutex mu;
  std::map<std::string, int> counts;
};

}  // namespace lameduck::testing
