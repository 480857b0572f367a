// The exit trace's metric, read from a real registry's text exposition.

#include "trace/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/exposition.h"

namespace lameduck::trace {
namespace {

using ::testing::HasSubstr;

TEST(TraceMetrics, CountsTraceExportsByResult) {
  prometheus::Registry registry;
  Metrics m(registry);
  ExportObserver& observer = m;
  observer.onTraceExport(kExportOk);
  observer.onTraceExport(kExportFailed);
  observer.onTraceExport(kExportFailed);
  const std::string text = ::lameduck::testing::exposition(registry);
  EXPECT_THAT(text, HasSubstr("lameduck_trace_exports_total{result=\"ok\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_trace_exports_total{result=\"failed\"} 2"));
}

}  // namespace
}  // namespace lameduck::trace
