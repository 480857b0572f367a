// The `trace` section: trace.otlp.{endpoint, timeout, headers}, its
// defaults, its mistakes, and header values (secrets) kept out of messages.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "config/config.h"
#include "config/errors.h"

namespace lameduck::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::errorOf;

TEST(TraceConfig, OffByDefaultWithATwoSecondBound) {
  auto c = defaults();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->trace.otlp.endpoint);
  EXPECT_EQ(c->trace.otlp.timeout, 2s);
  EXPECT_TRUE(c->trace.otlp.headers.empty());
}

TEST(TraceConfig, EndpointTimeoutAndHeadersWithEnvExpansion) {
  setenv("LAMEDUCK_TEST_OTLP_TOKEN", "tok-123", 1);
  auto c = parse(R"(
trace:
  otlp:
    endpoint: "https://otel.example:4318/base"
    timeout: 750ms
    headers:
      authorization: "Bearer ${LAMEDUCK_TEST_OTLP_TOKEN}"
      X-Scope-OrgID: tenant-1
)",
                 "test.yaml");
  unsetenv("LAMEDUCK_TEST_OTLP_TOKEN");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->trace.otlp.endpoint);
  EXPECT_EQ(c->trace.otlp.endpoint->origin(), "https://otel.example:4318");
  EXPECT_EQ(c->trace.otlp.endpoint->path, "/base");
  EXPECT_EQ(c->trace.otlp.timeout, 750ms);
  using Header = std::pair<std::string, std::string>;
  EXPECT_EQ(c->trace.otlp.headers, (std::vector<Header>{{"authorization", "Bearer tok-123"},
                                                        {"X-Scope-OrgID", "tenant-1"}}));
}

TEST(TraceConfig, AnEndpointFromAnUnsetVariableMeansOff) {
  auto c = parse("trace: {otlp: {endpoint: \"${LAMEDUCK_TEST_UNSET_OTLP}\"}}", "test.yaml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->trace.otlp.endpoint);
}

TEST(TraceConfig, MistakesNameKeyLineAndWhatIsAccepted) {
  std::string e = errorOf("trace:\n  otlp:\n    endpont: http://c:4318\n");
  EXPECT_THAT(e, HasSubstr("test.yaml:3:5: trace.otlp.endpont: unknown key \"endpont\""));
  EXPECT_THAT(e, HasSubstr("accepted keys here: endpoint, timeout, headers"));

  e = errorOf("trace:\n  otlp: {endpoint: \"otel:4318\"}\n");
  EXPECT_THAT(e, HasSubstr("test.yaml:2:"));
  EXPECT_THAT(e, HasSubstr("trace.otlp.endpoint: "));

  e = errorOf("trace: {otlp: {endpoint: \"http://c:4318/v1/traces\"}}");
  EXPECT_THAT(e, HasSubstr("lameduck appends /v1/traces itself"));

  e = errorOf("trace: {otlp: {timeout: 0s}}");
  EXPECT_THAT(e,
              HasSubstr("trace.otlp.timeout: invalid duration \"0s\": must be greater than zero"));

  e = errorOf("trace: {otlp: {timeout: 2}}");
  EXPECT_THAT(e, HasSubstr("trace.otlp.timeout:"));

  e = errorOf("trace: {otlp: {headers: [a, b]}}");
  EXPECT_THAT(e, HasSubstr("trace.otlp.headers: expected a map of header name to value"));

  e = errorOf("trace: {otlp: {headers: {\"bad name\": x}}}");
  // The whole of headers is secret: the path names the header, the message
  // never repeats a value from under it.
  EXPECT_THAT(e, HasSubstr("trace.otlp.headers.bad name: invalid header name"));

  e = errorOf("trace: {otlp: {headers: {a: x, A: y}}}");
  EXPECT_THAT(e, HasSubstr("header \"A\" given twice"));

  e = errorOf("trace: {otlp: {headers: {Content-Type: text/plain}}}");
  EXPECT_THAT(e, HasSubstr("is set by lameduck itself"));

  e = errorOf("trace: [otlp]");
  EXPECT_THAT(e, HasSubstr("trace: expected a map of settings, got a list"));

  e = errorOf("trace: {jaeger: {}}");
  EXPECT_THAT(e, HasSubstr("unknown key \"jaeger\"; accepted keys here: otlp"));
}

TEST(TraceConfig, HeaderValuesNeverAppearInMessages) {
  // An unterminated ${ would normally be quoted back; a header value is not.
  std::string e = errorOf("trace: {otlp: {headers: {authorization: \"Bearer hunter2${X\"}}}");
  EXPECT_THAT(e, HasSubstr("trace.otlp.headers.authorization: unterminated \"${\" in \"<hidden>\""));
  EXPECT_THAT(e, Not(HasSubstr("hunter2")));

  setenv("LAMEDUCK_TEST_OTLP_MULTILINE", "hunter2\nInjected: yes", 1);
  e = errorOf("trace: {otlp: {headers: {authorization: \"${LAMEDUCK_TEST_OTLP_MULTILINE}\"}}}");
  unsetenv("LAMEDUCK_TEST_OTLP_MULTILINE");
  EXPECT_THAT(e, HasSubstr("contains a line break"));
  EXPECT_THAT(e, Not(HasSubstr("hunter2")));

  e = errorOf("trace: {otlp: {headers: {authorization: \"${LAMEDUCK_TEST_UNSET_OTLP}\"}}}");
  EXPECT_THAT(e, HasSubstr("the value of header \"authorization\" is empty"));
}

TEST(TraceConfig, OverridesReachTheSection) {
  auto c = parse("", "test.yaml",
                 {{"trace.otlp.endpoint", "http://127.0.0.1:4318"}, {"trace.otlp.timeout", "5s"}});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->trace.otlp.endpoint);
  EXPECT_EQ(c->trace.otlp.endpoint->port, 4318);
  EXPECT_EQ(c->trace.otlp.timeout, 5s);
}

}  // namespace
}  // namespace lameduck::config
