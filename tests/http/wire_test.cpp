// readRequest on its own: what the admin and metrics ports accept from the
// bytes a connection has sent so far.

#include "http/wire.h"

#include <gtest/gtest.h>

namespace lameduck::http::detail {
namespace {

const WireLimits kLimits{256, 16, 4};

TEST(Wire, AWholeRequestIsReadAndAPipelinedOneIsLeftForTheNextCall) {
  const std::string in =
      "GET /prestop?wait=1&who=a%20b+c HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n";
  ReadResult r = readRequest(in, kLimits);
  ASSERT_TRUE(std::holds_alternative<ParsedRequest>(r));
  const ParsedRequest& p = std::get<ParsedRequest>(r);
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.path, "/prestop");
  EXPECT_EQ(p.request.params.at("who"), "a b c");
  EXPECT_EQ(p.request.header("host"), "x");
  EXPECT_TRUE(p.keep_alive);
  ASSERT_LT(p.consumed, in.size());
  ReadResult next = readRequest(std::string_view(in).substr(p.consumed), kLimits);
  ASSERT_TRUE(std::holds_alternative<ParsedRequest>(next));
  EXPECT_EQ(std::get<ParsedRequest>(next).request.path, "/healthz");
}

TEST(Wire, AnUnfinishedRequestWaitsAndSaysWhenTheClientExpectsContinue) {
  EXPECT_TRUE(std::holds_alternative<NeedMore>(readRequest("GET /healthz HTTP/1.1\r\n", kLimits)));
  ReadResult r = readRequest(
      "POST /x HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhe", kLimits);
  ASSERT_TRUE(std::holds_alternative<NeedMore>(r));
  EXPECT_TRUE(std::get<NeedMore>(r).expect_continue);
  ReadResult whole = readRequest("POST /x HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", kLimits);
  ASSERT_TRUE(std::holds_alternative<ParsedRequest>(whole));
  EXPECT_EQ(std::get<ParsedRequest>(whole).request.body, "hello");
  EXPECT_FALSE(std::get<ParsedRequest>(whole).keep_alive);  // HTTP/1.0 without keep-alive
}

TEST(Wire, EveryBoundAndMalformedPartIsRefusedWithItsStatus) {
  auto status = [](std::string_view in) {
    ReadResult r = readRequest(in, kLimits);
    return std::holds_alternative<Refusal>(r) ? std::get<Refusal>(r).status : 0;
  };
  EXPECT_EQ(status(std::string(300, 'a')), 431);  // no end of head within the bound
  EXPECT_EQ(status("GET /" + std::string(300, 'a') + " HTTP/1.1\r\n\r\n"), 431);
  EXPECT_EQ(status("GET /x HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\ne: 5\r\n\r\n"), 431);
  EXPECT_EQ(status("GET /x HTTP/1.1\r\nContent-Length: 17\r\n\r\n"), 413);
  EXPECT_EQ(status("GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
  EXPECT_EQ(status("GET /x HTTP/2.0\r\n\r\n"), 400);
  EXPECT_EQ(status("GET x HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /x HTTP/1.1\r\n folded: no\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /x HTTP/1.1\r\nno colon\r\n\r\n"), 400);
  const std::string bytes = renderResponse({431, "too many headers\n"}, false, false);
  EXPECT_EQ(bytes.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u);
  EXPECT_NE(bytes.find("Connection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace lameduck::http::detail
