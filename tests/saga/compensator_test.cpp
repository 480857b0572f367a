// The compensator's rules that need no Redis: which entries are invalid,
// how values are put into action URLs, which answers are permanent. The
// consumer loop itself runs against a real redis-server in
// tests/integration/compensator_test.cpp.

#include "saga/compensator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/parse.h"
#include "fakes/saga.h"

namespace lameduck::saga {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CompensatorRules, EntriesWithoutIdOrSagaIdAreInvalid) {
  EXPECT_FALSE(invalidEntry({{"id", "c-1"}, {"saga_id", "o-1"}}));
  EXPECT_THAT(invalidEntry({{"saga_id", "o-1"}}).value_or(""), HasSubstr("no id"));
  EXPECT_THAT(invalidEntry({{"id", ""}, {"saga_id", "o-1"}}).value_or(""), HasSubstr("no id"));
  EXPECT_THAT(invalidEntry({{"id", "c-1"}}).value_or(""), HasSubstr("no saga_id"));
}

// The id is the Idempotency-Key header of the call: a line break in it could
// add headers or smuggle a second request, so such an entry is never called.
TEST(CompensatorRules, AnIdWithAControlCharacterIsInvalid) {
  for (const char* id : {"c-2\r\nContent-Length: 0\r\n\r\nPOST /admin/purge-all", "a\nb",
                         "tab\there", "del\x7f"}) {
    EXPECT_THAT(invalidEntry({{"id", id}, {"saga_id", "o-1"}}).value_or(""),
                HasSubstr("control character"))
        << id;
  }
  EXPECT_FALSE(invalidEntry({{"id", "c-1 with spaces and \xc3\xa9"}, {"saga_id", "o-1"}}));
}

TEST(CompensatorRules, SubstitutedValuesCannotLeaveTheirPathSegment) {
  const std::string url = fillActionUrl("http://svc:8080/refund/{{saga_id}}/{{id}}",
                                        {{"saga_id", "../../admin/purge-all"}, {"id", "a b?c#d"}});
  EXPECT_EQ(url, "http://svc:8080/refund/%2E%2E%2F%2E%2E%2Fadmin%2Fpurge-all/a%20b%3Fc%23d");
  auto parsed = parseHttpUrl(url);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->host, "svc");
  EXPECT_THAT(parsed->path, Not(HasSubstr("/admin")));
}

TEST(CompensatorRules, CarriageReturnsAndLineFeedsAreEncoded) {
  const std::string url =
      fillActionUrl("http://svc/r/{{id}}", {{"id", "x\r\nHost: evil\r\n\r\nGET /"}});
  EXPECT_EQ(url.find('\r'), std::string::npos);
  EXPECT_EQ(url.find('\n'), std::string::npos);
  EXPECT_THAT(url, HasSubstr("x%0D%0AHost%3A%20evil"));
}

TEST(CompensatorRules, AValueIsNeverSubstitutedTwice) {
  EXPECT_EQ(fillActionUrl("http://s/{{id}}/{{step}}", {{"id", "{{step}}"}, {"step", "p"}}),
            "http://s/%7B%7Bstep%7D%7D/p");
  EXPECT_EQ(fillActionUrl("http://s/{{unknown}}/{{action}}", {{"action", "refund"}}),
            "http://s/{{unknown}}/refund");
  EXPECT_EQ(fillActionUrl("http://s/{{id}}", {}), "http://s/");  // missing: empty
}

TEST(CompensatorRules, FourHundredsButTimeoutAndTooManyRequestsArePermanent) {
  EXPECT_EQ(classifyCall(200), CallVerdict::kApplied);
  EXPECT_EQ(classifyCall(204), CallVerdict::kApplied);
  for (int code : {400, 401, 403, 404, 409, 410, 422}) {
    EXPECT_EQ(classifyCall(code), CallVerdict::kPermanent) << code;
  }
  for (int code : {408, 429, 500, 502, 503, 504, 301}) {
    EXPECT_EQ(classifyCall(code), CallVerdict::kRetry) << code;
  }
  EXPECT_EQ(classifyCall(makeError(ErrorCode::kUnavailable, "refused")), CallVerdict::kRetry);
}

// Redis unreachable: the compensator waits on the injected clock between
// attempts (100, 200, 400 ms ...), counts each failure, and stop() ends a
// wait at once. In simulated time: only advancing the clock lets it retry.
TEST(CompensatorClock, BacksOffOnTheInjectedClockAndStopEndsTheWait) {
  config::Config cfg;
  cfg.compensation.redis.address = config::RedisAddress{"", 0, "/nonexistent/redis.sock"};
  SimulatedClock clock;
  std::atomic<int> connects{0};
  fakes::RecordingCompensatorObserver observer;
  Compensator compensator(
      cfg, "me", observer, clock,
      [&](const config::RedisConfig&) -> Result<std::unique_ptr<redis::RedisClient>> {
        ++connects;
        return makeError(ErrorCode::kUnavailable, "cannot connect: down");
      });
  std::atomic<bool> returned{false};
  std::jthread runner([&] {
    EXPECT_TRUE(compensator.run());
    returned = true;
  });
  // An ASSERT below that returns early stops the compensator (run() returns)
  // before the jthread joins it, rather than hanging or ending the run in
  // std::terminate.
  struct StopOnReturn {
    Compensator& compensator;
    ~StopOnReturn() { compensator.stop(); }
  } stop_on_return{compensator};
  // Polls a condition with a bound (the test's own, not the code's).
  auto reaches = [](const std::function<bool()>& cond) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!cond() && std::chrono::steady_clock::now() < end) std::this_thread::yield();
    return cond();
  };
  ASSERT_TRUE(reaches([&] { return connects == 1; }));
  // Move simulated time a millisecond at a time until the next attempt:
  // it must not come before its backoff has passed on the clock.
  for (auto [step, expected] : {std::pair{100, 2}, std::pair{200, 3}, std::pair{400, 4}}) {
    Duration advanced{};
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (connects < expected && std::chrono::steady_clock::now() < end) {
      clock.advance(std::chrono::milliseconds(1));
      advanced += std::chrono::milliseconds(1);
      std::this_thread::yield();
    }
    ASSERT_EQ(connects, expected) << "no retry after " << toMillis(advanced) << " ms";
    EXPECT_GE(advanced, std::chrono::milliseconds(step)) << "retried before its backoff";
  }
  EXPECT_EQ(connects, 4);
  // The factory counts the attempt before the compensator records its
  // failure: poll for the fourth error rather than read it at once.
  EXPECT_TRUE(reaches([&] { return observer.redisErrors("connect") == 4; }))
      << observer.redisErrors("connect") << " connect errors recorded";
  compensator.stop();
  EXPECT_TRUE(reaches([&] { return returned.load(); }));
  runner.join();
}

}  // namespace
}  // namespace lameduck::saga
