#include "common/parse.h"

#include <gtest/gtest.h>

namespace lameduck {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsUnitsDecimalsAndComposites) {
  EXPECT_EQ(parseDuration("500ms").value(), 500ms);
  EXPECT_EQ(parseDuration("30s").value(), 30s);
  EXPECT_EQ(parseDuration("2m").value(), 120s);
  EXPECT_EQ(parseDuration("1h").value(), 3600s);
  EXPECT_EQ(parseDuration("1m30s").value(), 90s);
  EXPECT_EQ(parseDuration("1.5s").value(), 1500ms);
  EXPECT_EQ(parseDuration("0s").value(), 0s);
}

TEST(ParseDuration, RefusesWhatIsNotADuration) {
  for (const char* bad : {"", "30", "s", "-1s", "1x", "1.2.3s", "1 s", "ms5", "1e3s"}) {
    auto d = parseDuration(bad);
    EXPECT_FALSE(d) << bad;
    if (!d) {
      EXPECT_NE(d.error().message.find("e.g. 500ms"), std::string::npos) << d.error().message;
    }
  }
}

TEST(FormatDuration, RoundTrips) {
  for (Duration d : std::initializer_list<Duration>{0s, 50ms, 2s, 90s, 3600s, 1500ms}) {
    EXPECT_EQ(parseDuration(formatDuration(d)).value(), d) << formatDuration(d);
  }
  EXPECT_EQ(formatDuration(90s), "1m30s");
}

TEST(ParseHostPort, AcceptsIpv4Ipv6NamesAndEmptyHost) {
  EXPECT_EQ(parseHostPort("0.0.0.0:9901")->str(), "0.0.0.0:9901");
  EXPECT_EQ(parseHostPort("[::]:9901")->host, "::");
  EXPECT_EQ(parseHostPort("[::1]:80")->str(), "[::1]:80");
  EXPECT_EQ(parseHostPort(":9901")->host, "0.0.0.0");
  EXPECT_EQ(parseHostPort("redis.default.svc:6379")->port, 6379);
  EXPECT_EQ(parseHostPort("127.0.0.1:0")->port, 0);
}

TEST(ParseHostPort, RefusesMalformed) {
  for (const char* bad : {"", "host", "host:", "host:port", "1.2.3.4:70000", "::1:80", "[::1]80",
                          "[nope]:80", "a b:80", "host:-1"}) {
    EXPECT_FALSE(parseHostPort(bad)) << bad;
  }
}

TEST(ParseHttpUrl, SplitsOriginAndPath) {
  auto u = parseHttpUrl("http://127.0.0.1:8080/api/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->origin(), "http://127.0.0.1:8080");
  EXPECT_EQ(u->path, "/api");
  EXPECT_EQ(parseHttpUrl("https://example")->port, 443);
  EXPECT_EQ(parseHttpUrl("http://[::1]:9/")->host, "::1");
  for (const char* bad : {"ftp://x", "http://", "http://:80", "http://x:0", "http://u:p@x", "x:80",
                          "http://x/p?q=1"}) {
    EXPECT_FALSE(parseHttpUrl(bad)) << bad;
  }
}

TEST(Cidr, MatchesIpv4Ipv6AndMappedAddresses) {
  auto v4 = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->contains("10.1.2.3"));
  EXPECT_TRUE(v4->contains("::ffff:10.1.2.3"));
  EXPECT_FALSE(v4->contains("11.0.0.1"));
  EXPECT_FALSE(v4->contains("not-an-ip"));
  auto host = Cidr::parse("192.168.1.7");
  EXPECT_TRUE(host->contains("192.168.1.7"));
  EXPECT_FALSE(host->contains("192.168.1.8"));
  auto v6 = Cidr::parse("fd00::/8");
  EXPECT_TRUE(v6->contains("fd12::1"));
  EXPECT_FALSE(v6->contains("fe80::1"));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains("8.8.8.8"));
  EXPECT_TRUE(Cidr::parse("10.9.9.9/8")->contains("10.0.0.1"));  // host bits ignored
  for (const char* bad : {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "x/8", "10.0.0.0/8x"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

TEST(SimulatedClock, SleepAdvancesInstantly) {
  SimulatedClock clock;
  TimePoint t0 = clock.now();
  clock.sleepFor(30s);
  EXPECT_EQ(clock.now() - t0, 30s);
  clock.sleepUntil(t0);  // never goes back
  EXPECT_EQ(clock.now() - t0, 30s);
  EXPECT_EQ(formatRfc3339(WallTime{} + std::chrono::milliseconds(1'700'000'000'123)),
            "2023-11-14T22:13:20.123Z");
}

TEST(ParseWholeInt64, TakesOnlyADecimalIntegerThatFillsTheText) {
  EXPECT_EQ(parseWholeInt64("120"), 120);
  EXPECT_EQ(parseWholeInt64("-5"), -5);
  EXPECT_EQ(parseWholeInt64("9223372036854775807"), INT64_MAX);
  for (std::string_view bad : {"", "+1", " 1", "1 ", "12x", "0x10", "1.5",
                               "9223372036854775808"}) {
    EXPECT_FALSE(parseWholeInt64(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace lameduck
