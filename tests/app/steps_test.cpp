// The app hook steps in an exit, over the fake app: what each puts on its
// span (the hook, the HTTP status, the error).

#include "app/steps.h"

#include <gtest/gtest.h>

#include "exit/engine.h"
#include "fakes/app.h"
#include "fakes/exit.h"

namespace lameduck::app {
namespace {

using namespace std::chrono_literals;
using fakes::FakeApp;

using fakes::attributeAs;

// Runs an exit of the drain hook (Draining), the compensations fetch
// (Compensating) and the terminate hook (Terminating).
exit::Summary runHooks(SimulatedClock& clock, FakeApp& app) {
  exit::ExitPlan plan;
  plan.draining.push_back(std::make_unique<DrainHookStep>(app, 2s));
  plan.compensating.push_back(std::make_unique<FetchCompensationsStep>(app, 2s));
  plan.terminating.push_back(std::make_unique<TerminateHookStep>(app, 2s));
  fakes::RecordingObserver observer;
  exit::ExitEngine engine(clock, exit::Budget{30s, 2s, 5s}, std::move(plan), observer);
  engine.trigger("test");
  return engine.await();
}

TEST(HookSteps, EachSpanNamesItsHookAndTheHttpStatus) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.pending_compensations = 3;
  const exit::Summary s = runHooks(clock, app);
  const struct {
    const char* step;
    const char* hook;
  } expected[] = {{"app_drain_hook", "drain"},
                  {"app_compensations_fetch", "compensations"},
                  {"app_terminate_hook", "terminate"}};
  for (const auto& e : expected) {
    SCOPED_TRACE(e.step);
    const exit::StepReport* r = fakes::findStep(s, e.step);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, exit::StepStatus::kOk);
    EXPECT_EQ(attributeAs<std::string>(*r, "app.hook"), e.hook);
    EXPECT_EQ(attributeAs<int64_t>(*r, "http.response.status_code"), 200);
    EXPECT_FALSE(attributeAs<std::string>(*r, "app.hook.error"));
  }
  const exit::StepReport* fetch = fakes::findStep(s, "app_compensations_fetch");
  ASSERT_TRUE(fetch);
  EXPECT_EQ(attributeAs<int64_t>(*fetch, "compensation.pending"), 3);
  EXPECT_EQ(attributeAs<int64_t>(*fetch, "compensation.rejected"), 0);
}

TEST(HookSteps, ARefusalHasItsStatusAndTheErrorNoAnswerOnlyTheError) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.drain_mode = FakeApp::Mode::kError;
  app.terminate_mode = FakeApp::Mode::kHang;
  const exit::Summary s = runHooks(clock, app);
  const exit::StepReport* refused = fakes::findStep(s, "app_drain_hook");
  const exit::StepReport* silent = fakes::findStep(s, "app_terminate_hook");
  ASSERT_TRUE(refused && silent);
  EXPECT_EQ(refused->status, exit::StepStatus::kFailed);
  EXPECT_EQ(attributeAs<int64_t>(*refused, "http.response.status_code"), 500);
  EXPECT_EQ(attributeAs<std::string>(*refused, "app.hook.error"), "answered HTTP 500");
  EXPECT_EQ(attributeAs<std::string>(*refused, "app.hook.error_kind"), "bad_response");
  EXPECT_EQ(silent->status, exit::StepStatus::kDeadline);
  EXPECT_FALSE(attributeAs<int64_t>(*silent, "http.response.status_code"));
  EXPECT_EQ(attributeAs<std::string>(*silent, "app.hook.error_kind"), "deadline_exceeded");
}

}  // namespace
}  // namespace lameduck::app
