// Nothing from outside ends a request line or header early: a CR or LF in a
// header value, a header name or the path is refused before anything is sent.

#include "http/request_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/parse.h"
#include "support/harness.h"

namespace lameduck::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RequestCheck, HeaderValuesWithLineBreaksAreRefusedWithoutPrintingThem) {
  EXPECT_TRUE(checkHeaders({{"Idempotency-Key", "c-1"}, {"X-Empty", ""}}));
  const std::string values[] = {"c-1\r\nX-Injected: 1", "a\nb", "a\rb",
                                std::string("secret-\0x", 9)};
  for (const std::string& value : values) {
    Headers headers{{"Idempotency-Key", value}};
    Status ok = checkHeaders(headers);
    ASSERT_FALSE(ok) << value;
    EXPECT_EQ(ok.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(ok.error().message, HasSubstr("Idempotency-Key"));
    EXPECT_THAT(ok.error().message, Not(HasSubstr("Injected")));
    EXPECT_THAT(ok.error().message, Not(HasSubstr("secret")));
  }
}

TEST(RequestCheck, HeaderNamesMustBeTokens) {
  for (const char* name : {"", "X Bad", "X:Bad", "X\r\nBad", "X\x7f"}) {
    EXPECT_FALSE(checkHeaders({{name, "v"}})) << name;
  }
  EXPECT_TRUE(checkHeaders({{"X-Ok_1.~!", "v"}}));
}

TEST(RequestCheck, PathsAndMethodsWithSpacesOrControlCharactersAreRefused) {
  EXPECT_TRUE(checkRequestLine("POST", "/refund/o-1?x=%0D%0A"));
  EXPECT_FALSE(checkRequestLine("POST", "/a HTTP/1.1\r\nHost: x\r\n\r\nGET /b"));
  EXPECT_FALSE(checkRequestLine("POST", "/a\tb"));
  EXPECT_FALSE(checkRequestLine("GET /x", "/"));
  EXPECT_FALSE(checkRequestLine("", "/"));
}

// The client refuses the call before it connects: a server on the port sees
// no connection at all.
TEST(RequestCheck, TheClientSendsNothingWhenAHeaderWouldBreakTheRequest) {
  testing::RefusingPort port;
  auto url = parseHttpUrl(port.url());
  ASSERT_TRUE(url);
  Client client(*url, SystemClock::instance());
  auto r = client.send("POST", "/x", "{}", "application/json",
                       {{"Idempotency-Key", "c-2\r\nContent-Length: 0\r\n\r\nPOST /admin/purge-all"}},
                       std::chrono::seconds(5));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr("Idempotency-Key"));
  EXPECT_THAT(r.error().message, Not(HasSubstr("purge-all")));
}

}  // namespace
}  // namespace lameduck::http
