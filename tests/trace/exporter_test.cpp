// The OTLP exporter against a real receiver (TestCollector on loopback):
// accepted, retried after 503 within the bound, never retried after 400,
// bounded against a dead endpoint, headers sent but never logged.

#include "trace/exporter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

#include "support/otlp.h"
#include "fakes/trace.h"

namespace lameduck::trace {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using fakes::CountingExportObserver;
using testing::OtlpCollector;
using testing::TempDir;


config::OtlpConfig configFor(const std::string& endpoint, Duration timeout = 2s) {
  config::OtlpConfig c;
  c.endpoint = *parseHttpUrl(endpoint);
  c.timeout = timeout;
  return c;
}

std::vector<Span> twoSpans(Clock& clock) {
  Span root;
  root.trace_id = newTraceId();
  root.span_id = newSpanId();
  root.name = "exit";
  root.start = clock.wallNow();
  root.end = root.start + 1500ms;
  root.attributes = {{"lameduck.trigger", std::string("prestop")},
                     {"lameduck.budget_ms", int64_t{28000}}};
  root.status = StatusCode::kOk;
  Span child;
  child.trace_id = root.trace_id;
  child.span_id = newSpanId();
  child.parent_span_id = root.span_id;
  child.name = "draining";
  child.start = root.start + 1ms;
  child.end = root.start + 1s;
  child.events = {{"gate_held", root.start + 500ms, {{"error_rate", 0.02}}}};
  return {root, child};
}

class ExporterTest : public ::testing::Test {
 protected:
  std::unique_ptr<OtlpCollector> startCollector(const OtlpCollector::Options& options = {}) {
    std::string error;
    auto c = OtlpCollector::start(dir_, options, error);
    EXPECT_TRUE(c) << error;
    return c;
  }

  TempDir dir_;
  SimulatedClock clock_;
  CountingExportObserver observer_;
  Resource resource_ = Resource::forPod("checkout", log::Identity{}, "0.1.0");
};

TEST_F(ExporterTest, CollectorAcceptsTheSpansAsTheOpenTelemetryEncoderWouldSendThem) {
  auto collector = startCollector();
  ASSERT_TRUE(collector);
  Exporter exporter(configFor(collector->endpoint()), clock_, observer_);
  const std::vector<Span> spans = twoSpans(clock_);

  ExportReport report = exporter.exportSpans(resource_, spans);

  EXPECT_EQ(report.result, kExportOk) << report.error << "\n" << collector->log();
  EXPECT_EQ(report.attempts, 1);
  EXPECT_EQ(report.last_status, 200);
  EXPECT_EQ(observer_.counts, (std::map<std::string, int>{{"ok", 1}}));
  const auto requests = collector->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0]["errors"], nlohmann::json::array()) << requests[0]["errors"].dump(2);
  EXPECT_EQ(requests[0]["path"], "/v1/traces");
  EXPECT_EQ(requests[0]["headers"]["content-type"], "application/json");

  const auto received = collector->spans();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0]["traceId"], spans[0].trace_id);
  EXPECT_EQ(received[0]["name"], "exit");
  EXPECT_EQ(received[1]["parentSpanId"], spans[0].span_id);
  EXPECT_EQ(received[1]["events"][0]["name"], "gate_held");
  EXPECT_EQ(received[0]["instrumentationScope"]["name"], "lameduck");
  EXPECT_EQ(received[0]["resource"]["attributes"][0]["value"]["stringValue"], "checkout");
}

TEST_F(ExporterTest, RetriesAfter503HonouringRetryAfterWithinTheBound) {
  auto collector = startCollector({.fail_first = 2, .fail_status = 503, .retry_after = 1});
  ASSERT_TRUE(collector);
  Exporter exporter(configFor(collector->endpoint(), 5s), clock_, observer_);
  const TimePoint start = clock_.now();

  ExportReport report = exporter.exportSpans(resource_, twoSpans(clock_));

  EXPECT_EQ(report.result, kExportOk) << report.error;
  EXPECT_EQ(report.attempts, 3);
  EXPECT_GE(clock_.now() - start, 2s);  // waited the collector's Retry-After twice
  EXPECT_EQ(observer_.counts, (std::map<std::string, int>{{"ok", 1}}));
  const auto requests = collector->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0]["status"], 503);
  EXPECT_EQ(requests[2]["status"], 200);
  EXPECT_EQ(collector->spans().size(), 2u);
}

TEST_F(ExporterTest, GivesUpWhenRetryAfterWouldPassTheBound) {
  auto collector = startCollector({.fail_first = 5, .fail_status = 503, .retry_after = 3});
  ASSERT_TRUE(collector);
  Exporter exporter(configFor(collector->endpoint(), 2s), clock_, observer_);
  const TimePoint start = clock_.now();

  ExportReport report = exporter.exportSpans(resource_, twoSpans(clock_));

  EXPECT_EQ(report.result, kExportFailed);
  EXPECT_EQ(report.attempts, 1);
  EXPECT_EQ(report.last_status, 503);
  EXPECT_THAT(report.error, HasSubstr("would not fit in the export timeout of 2s"));
  EXPECT_LE(clock_.now() - start, 2s);
  EXPECT_EQ(observer_.counts, (std::map<std::string, int>{{"failed", 1}}));
}

TEST_F(ExporterTest, BadRequestIsNeverRetried) {
  auto collector = startCollector({.fail_first = 100, .fail_status = 400});
  ASSERT_TRUE(collector);
  Exporter exporter(configFor(collector->endpoint()), clock_, observer_);

  ExportReport report = exporter.exportSpans(resource_, twoSpans(clock_));

  EXPECT_EQ(report.result, kExportRejected);
  EXPECT_EQ(report.attempts, 1);
  EXPECT_EQ(report.last_status, 400);
  EXPECT_THAT(report.error, HasSubstr("the collector answered 400"));
  EXPECT_EQ(collector->requests().size(), 1u);
  EXPECT_EQ(observer_.counts, (std::map<std::string, int>{{"rejected", 1}}));
}

TEST_F(ExporterTest, DeadEndpointCostsAtMostTheTimeout) {
  const testing::RefusingPort dead;
  ASSERT_GT(dead.port(), 0);
  Exporter exporter(configFor(dead.url(), 2s), clock_, observer_);
  const TimePoint start = clock_.now();

  ExportReport report = exporter.exportSpans(resource_, twoSpans(clock_));

  EXPECT_EQ(report.result, kExportFailed);
  EXPECT_GT(report.attempts, 1);  // a collector that is restarting gets another chance
  EXPECT_EQ(report.last_status, 0);
  EXPECT_THAT(report.error, HasSubstr("cannot connect"));
  EXPECT_LE(clock_.now() - start, 2s);
  EXPECT_EQ(observer_.counts, (std::map<std::string, int>{{"failed", 1}}));
}

TEST_F(ExporterTest, ConfiguredHeadersAreSentButNeverLogged) {
  auto collector = startCollector({.fail_first = 1, .fail_status = 401});
  ASSERT_TRUE(collector);
  config::OtlpConfig config = configFor(collector->endpoint());
  config.headers = {{"Authorization", "Bearer hunter2-secret"}, {"X-Scope-OrgID", "tenant-1"}};
  Exporter exporter(config, clock_, observer_);

  ::testing::internal::CaptureStdout();
  ExportReport refused = exporter.exportSpans(resource_, twoSpans(clock_));
  ExportReport accepted = exporter.exportSpans(resource_, twoSpans(clock_));
  const std::string logged = ::testing::internal::GetCapturedStdout();

  EXPECT_EQ(refused.result, kExportRejected);
  EXPECT_EQ(accepted.result, kExportOk) << accepted.error;
  EXPECT_THAT(logged, HasSubstr("trace export failed"));
  EXPECT_THAT(logged, Not(HasSubstr("hunter2")));
  EXPECT_THAT(refused.error, Not(HasSubstr("hunter2")));
  const auto requests = collector->requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& r : requests) {
    EXPECT_EQ(r["headers"]["authorization"], "Bearer hunter2-secret");
    EXPECT_EQ(r["headers"]["x-scope-orgid"], "tenant-1");
  }
  EXPECT_EQ(observer_.counts, (std::map<std::string, int>{{"ok", 1}, {"rejected", 1}}));
}

TEST_F(ExporterTest, NothingToSendSendsNothing) {
  Exporter exporter(configFor("http://127.0.0.1:1"), clock_, observer_);
  ExportReport report = exporter.exportSpans(resource_, {});
  EXPECT_EQ(report.result, kExportOk);
  EXPECT_EQ(report.attempts, 0);
  EXPECT_TRUE(observer_.counts.empty());
}

}  // namespace
}  // namespace lameduck::trace

namespace lameduck::trace {
namespace {

TEST(PartialSuccess, ReadsRejectedSpansAsAStringOrANumberWithTheMessageOnOneLine) {
  PartialSuccess p = partialSuccess(
      R"({"partialSuccess":{"rejectedSpans":"3","errorMessage":"too old\nsee logs"}})");
  EXPECT_EQ(p.rejected_spans, 3);
  EXPECT_EQ(p.message, "too old see logs");
  EXPECT_EQ(partialSuccess(R"({"partialSuccess":{"rejectedSpans":2}})").rejected_spans, 2);
  EXPECT_EQ(partialSuccess("{}").rejected_spans, 0);
  EXPECT_EQ(partialSuccess("").rejected_spans, 0);
}

TEST(PartialSuccess, AHostileAnswerCountsAsNothingRejectedAndNeverCrashes) {
  // 100,000 levels deep: a recursive parser would overflow the stack.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(partialSuccess(deep).rejected_spans, 0);
  const std::string deep_inside =
      R"({"partialSuccess":{"rejectedSpans":1,"x":)" + deep + "}}";
  EXPECT_EQ(partialSuccess(deep_inside).rejected_spans, 0);
  EXPECT_EQ(partialSuccess(R"({"partialSuccess":{"rejectedSpans":-5}})").rejected_spans, 0);
  EXPECT_EQ(partialSuccess(R"({"partialSuccess":{"rejectedSpans":"7x"}})").rejected_spans, 0);
  EXPECT_EQ(partialSuccess(R"({"partialSuccess":{"rejectedSpans":[1]}})").rejected_spans, 0);
  EXPECT_EQ(partialSuccess(R"({"partialSuccess":"no"})").rejected_spans, 0);
  EXPECT_EQ(partialSuccess("not json").rejected_spans, 0);
  EXPECT_LE(partialSuccess(R"({"partialSuccess":{"rejectedSpans":1,"errorMessage":")" +
                           std::string(5000, 'x') + R"("}})")
                .message.size(),
            200u);
}

}  // namespace
}  // namespace lameduck::trace
