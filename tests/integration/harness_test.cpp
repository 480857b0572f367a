// The test harness's own guarantees that the rest of the suite relies on:
// a sanitizer's report in a child's output fails the test, and free ports
// come from outside the kernel's ephemeral range.

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support/harness.h"

namespace lameduck::testing {
namespace {

TEST(SanitizerReport, FindsEachSanitizersReportFromItsFirstLine) {
  EXPECT_EQ(sanitizerReport("log line\n==12==WARNING: ThreadSanitizer: data race (pid=12)\n  at x"),
            "==12==WARNING: ThreadSanitizer: data race (pid=12)\n  at x");
  EXPECT_EQ(sanitizerReport("==1==ERROR: AddressSanitizer: heap-use-after-free"),
            "==1==ERROR: AddressSanitizer: heap-use-after-free");
  EXPECT_NE(sanitizerReport("a\n==1==ERROR: LeakSanitizer: detected memory leaks\n"), "");
  EXPECT_NE(sanitizerReport("x.cpp:3:5: runtime error: signed integer overflow\n"
                            "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior x.cpp:3:5\n"),
            "");
  // A Go panic reads "runtime error" too; it is the app's, not a sanitizer's.
  EXPECT_EQ(sanitizerReport("panic: runtime error: index out of range [3] with length 3\n"), "");
  EXPECT_EQ(sanitizerReport(std::string(10000, 'x')), "");
  const std::string long_report = "WARNING: ThreadSanitizer: data race\n" + std::string(10000, 'y');
  EXPECT_EQ(sanitizerReport(long_report).size(), 4096u + 4u);
}

// Runs a shell that prints `text`, waits for it, and lets its Process go.
void childPrints(const char* text) {
  TempDir dir;
  Process p({"/bin/sh", "-c", std::string("printf '%s\\n' '") + text + "'"}, dir.file("out.log"));
  p.waitExit(std::chrono::seconds(20));
}

TEST(SanitizerReport, AReportInAChildsOutputFailsTheTest) {
  EXPECT_NONFATAL_FAILURE(childPrints("==7==WARNING: ThreadSanitizer: data race (pid=7)"),
                          "WARNING: ThreadSanitizer: data race");
}

TEST(FreePort, IsBelowTheKernelsEphemeralRange) {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  ASSERT_TRUE(in >> low);
  if (low <= 11000) GTEST_SKIP() << "the ephemeral range starts at " << low;
  for (int i = 0; i < 50; ++i) {
    const int port = freePort();
    EXPECT_GE(port, 10000);
    EXPECT_LT(port, low);
  }
}

}  // namespace
}  // namespace lameduck::testing
