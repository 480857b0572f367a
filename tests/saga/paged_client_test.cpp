// The paged compensations fetch (src/app/paged.cpp): the request it sends
// and how it reads "next", against a real HTTP server on loopback.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>

#include "app/http_app_client.h"
#include "common/parse.h"
#include "http/http.h"

namespace lameduck::app {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(PagedFetch, ReadsTheNextCursorOnlyAtTheTopLevel) {
  auto page = parseCompensationsPage(
      R"({"compensations":[{"id":"a","saga_id":"s","action":"r","payload":{"next":"inner"}}],"next":"7"})");
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->batch.valid.size(), 1u);
  EXPECT_EQ(page->next, "7");
  for (const char* last : {R"({"compensations":[]})", R"({"compensations":[],"next":null})",
                           R"({"compensations":[],"next":""})"}) {
    auto p = parseCompensationsPage(last);
    ASSERT_TRUE(p) << last;
    EXPECT_FALSE(p->next) << last;
  }
  for (const char* bad : {R"({"compensations":[],"next":7})", R"({"compensations":[],"next":{}})",
                          R"({"compensations":[],"next":["x"]})"}) {
    auto p = parseCompensationsPage(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_THAT(p.error().message, HasSubstr("\"next\" must be a string"));
  }
  EXPECT_FALSE(parseCompensationsPage("not json"));
}

TEST(PagedFetch, SendsLimitAndTheEncodedCursor) {
  std::mutex mu;
  std::vector<std::string> seen;
  http::Server server;
  server.route("GET", "/base/lameduck/compensations", [&](const http::Request& req) {
    std::lock_guard lock(mu);
    auto param = [&](const char* k) {
      auto it = req.params.find(k);
      return it == req.params.end() ? std::string("-") : it->second;
    };
    seen.push_back(param("limit") + " " + param("after"));
    return http::Response{200, R"({"compensations":[],"next":"a/b c"})", "application/json"};
  });
  auto port = server.bind(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(port);
  ASSERT_TRUE(server.start());
  config::AppConfig cfg;
  cfg.base_url = parseHttpUrl("http://127.0.0.1:" + std::to_string(*port) + "/base").value();
  SystemClock clock;
  HttpAppClient client(cfg, clock, nullptr);
  auto first = client.compensationsPage({1000, std::nullopt}, {5s, ""});
  ASSERT_TRUE(first) << first.error().message;
  auto second = client.compensationsPage({1000, first->next}, {5s, ""});
  ASSERT_TRUE(second) << second.error().message;
  auto unpaged = client.compensationsPage({0, std::nullopt}, {5s, ""});
  ASSERT_TRUE(unpaged);
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"1000 -", "1000 a/b c", "- -"}));
}

}  // namespace
}  // namespace lameduck::app
