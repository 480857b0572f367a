// app.diagnostics: the goroutine dump settings of exit diagnosis.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "config/config.h"
#include "config/errors.h"

namespace lameduck::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using testing::errorOf;

TEST(DiagnosticsConfig, DefaultsAreOffWithSixteenMebibytesAndFiveSeconds) {
  auto c = defaults();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->app.diagnostics.goroutines);
  EXPECT_EQ(c->app.diagnostics.max_bytes, 16777216);
  EXPECT_EQ(c->app.diagnostics.after_sigterm, 5s);
}

TEST(DiagnosticsConfig, ReadsEveryKey) {
  auto c = parse(
      "app:\n"
      "  diagnostics:\n"
      "    goroutines: http://127.0.0.1:6060/debug/pprof/goroutine?debug=2\n"
      "    max_bytes: 1048576\n"
      "    after_sigterm: 3s\n",
      "f");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->app.diagnostics.goroutines);
  EXPECT_EQ(c->app.diagnostics.goroutines->host, "127.0.0.1");
  EXPECT_EQ(c->app.diagnostics.goroutines->port, 6060);
  EXPECT_EQ(c->app.diagnostics.goroutines->path, "/debug/pprof/goroutine?debug=2");
  EXPECT_EQ(c->app.diagnostics.max_bytes, 1048576);
  EXPECT_EQ(c->app.diagnostics.after_sigterm, 3s);
}

TEST(DiagnosticsConfig, EnvironmentAndOverridesWork) {
  ::setenv("LAMEDUCK_TEST_PPROF", "http://127.0.0.1:7070", 1);
  auto c = parse("app:\n  diagnostics:\n    goroutines: ${LAMEDUCK_TEST_PPROF}\n", "f",
                 {{"app.diagnostics.after_sigterm", "9s"}});
  ::unsetenv("LAMEDUCK_TEST_PPROF");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->app.diagnostics.goroutines->port, 7070);
  EXPECT_EQ(c->app.diagnostics.after_sigterm, 9s);
  // An unset variable leaves diagnosis off instead of failing.
  auto off = parse("app:\n  diagnostics:\n    goroutines: ${LAMEDUCK_TEST_UNSET_PPROF}\n", "f");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->app.diagnostics.goroutines);
}

TEST(DiagnosticsConfig, BadValuesNameKeyPositionValueAndWhatIsAccepted) {
  std::string e = errorOf("app:\n  diagnostics:\n    goroutines: ftp://x\n");
  EXPECT_THAT(e, HasSubstr("test.yaml:3:17: app.diagnostics.goroutines"));
  EXPECT_THAT(e, HasSubstr("ftp://x"));
  EXPECT_THAT(e, HasSubstr("debug=2"));

  e = errorOf(
      "app:\n  diagnostics:\n    goroutines: "
      "http://127.0.0.1:6060/debug/pprof/goroutine?debug=1\n");
  EXPECT_THAT(e, HasSubstr("app.diagnostics.goroutines"));
  EXPECT_THAT(e, HasSubstr("use ?debug=2"));

  e = errorOf("app:\n  diagnostics:\n    max_bytes: 12k\n");
  EXPECT_THAT(e, HasSubstr("test.yaml:3:16: app.diagnostics.max_bytes"));
  EXPECT_THAT(e, HasSubstr("\"12k\""));
  EXPECT_THAT(e, HasSubstr("from 4096 to 1073741824"));
  EXPECT_THAT(errorOf("app:\n  diagnostics:\n    max_bytes: 10\n"),
              HasSubstr("value 10 out of range; expected 4096 to 1073741824"));

  e = errorOf("app:\n  diagnostics:\n    after_sigterm: 5\n");
  EXPECT_THAT(e, HasSubstr("app.diagnostics.after_sigterm"));
  EXPECT_THAT(errorOf("app:\n  diagnostics:\n    after_sigterm: 0s\n"),
              HasSubstr("must be greater than zero"));
}

TEST(DiagnosticsConfig, UnknownKeysAndWrongShapesAreRefused) {
  std::string e = errorOf("app:\n  diagnostics:\n    goroutine: http://127.0.0.1:6060\n");
  EXPECT_THAT(e, HasSubstr("test.yaml:3:5: app.diagnostics.goroutine"));
  EXPECT_THAT(e, HasSubstr("accepted keys here: goroutines, max_bytes, after_sigterm"));
  EXPECT_THAT(errorOf("app:\n  diagnostics: [1]\n"), HasSubstr("expected a map of settings"));
  EXPECT_THAT(errorOf("app:\n  diagnostics:\n    max_bytes: [1]\n"),
              HasSubstr("expected a byte count, got a list"));
  EXPECT_THAT(errorOf("app:\n  diagnostics:\n    max_bytes: 5000\n    max_bytes: 6000\n"),
              HasSubstr("duplicate key"));
}

}  // namespace
}  // namespace lameduck::config
