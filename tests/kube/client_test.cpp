// The Kubernetes client against the test API server (a real HTTPS process
// with tokens, RBAC and real patches): paths, patches, every error, retries,
// TLS and token rotation. Assertions are on what the server saw, never on
// wall-clock durations, except lower bounds the client itself guarantees.

#include "kube/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/clock.h"
#include "http/http.h"
#include "support/checks.h"
#include "support/harness.h"
#include "support/kube.h"

namespace lameduck::kube {
namespace {

using json = nlohmann::json;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using lameduck::testing::jsonBody;
using lameduck::testing::parseJson;

const ObjectRef kIngress{"networking.k8s.io/v1", "Ingress", "shop", "app-canary", ""};
const std::string kIngressPath = "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/app-canary";
const std::string kCanaryWeight = "nginx.ingress.kubernetes.io/canary-weight";

json ingressObject() {
  return {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "Ingress"},
      {"metadata",
       {{"name", "app-canary"},
        {"namespace", "shop"},
        {"annotations", {{"nginx.ingress.kubernetes.io/canary", "true"}, {kCanaryWeight, "100"}}}}},
      {"spec", {{"ingressClassName", "nginx"}}}};
}

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto stored = api_.put(kIngress, ingressObject());
    ASSERT_TRUE(stored) << stored.error().message;
  }

  std::unique_ptr<Client> client(std::optional<ClusterConfig> cfg = std::nullopt) {
    return std::make_unique<Client>(cfg ? *cfg : api_.clusterConfig(), clock_);
  }
  TimePoint in(Duration d) { return clock_.now() + d; }
  std::vector<testing::ApiRequest> requests() {
    auto r = api_.requests();
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::vector<testing::ApiRequest>{};
  }
  std::vector<int> statuses() {
    std::vector<int> out;
    for (const auto& r : requests()) out.push_back(r.status);
    return out;
  }
  // The ingress as the server holds it; a failed read fails the test and
  // gives nullopt.
  std::optional<json> ingressOnServer() {
    auto o = api_.get(kIngress);
    if (!o) {
      ADD_FAILURE() << "reading the ingress from the test API server: " << o.error().message;
      return std::nullopt;
    }
    return *o;
  }
  std::string weightOnServer() {
    auto o = api_.get(kIngress);
    EXPECT_TRUE(o) << o.error().message;
    return o ? (*o)["metadata"]["annotations"].value(kCanaryWeight, "") : "";
  }
  Result<std::string> patchWeight(Client& c, const std::string& weight, Duration within = 10s) {
    return c.patch(
        kIngress, config::PatchType::kMerge,
        R"({"metadata":{"annotations":{")" + kCanaryWeight + R"(":")" + weight + R"("}}})",
        in(within));
  }

  testing::KubeApiServer api_;
  Clock& clock_ = SystemClock::instance();
};

TEST_F(KubeClientTest, MergePatchIsAppliedAndReadBack) {
  auto c = client();
  auto before = ingressOnServer();
  ASSERT_TRUE(before);
  const std::string rv_before = (*before)["metadata"].value("resourceVersion", "");
  auto patched = patchWeight(*c, "5");
  ASSERT_TRUE(patched) << patched.error().message;

  const auto parsed = parseJson(*patched, "the PATCH answer");
  ASSERT_TRUE(parsed);
  const json answer = *parsed;
  EXPECT_EQ(answer["metadata"]["annotations"][kCanaryWeight], "5");
  EXPECT_EQ(answer["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"], "true")
      << "a merge patch keeps what it does not mention";
  EXPECT_NE(answer["metadata"]["resourceVersion"], rv_before);
  EXPECT_EQ(weightOnServer(), "5");

  auto read = c->get(kIngress, in(10s));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(parseJson(*read, "the GET answer"), answer);

  auto log = requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].method, "PATCH");
  EXPECT_EQ(log[0].path, kIngressPath);
  EXPECT_EQ(log[0].content_type, "application/merge-patch+json");
  EXPECT_EQ(log[0].authorization, "Bearer " + api_.token());
  const auto sent = parseJson(log[0].body, "the PATCH body the server received");
  ASSERT_TRUE(sent);
  EXPECT_EQ((*sent)["metadata"]["annotations"][kCanaryWeight], "5");
  EXPECT_EQ(log[1].method, "GET");
  EXPECT_EQ(log[1].path, kIngressPath);
}

TEST_F(KubeClientTest, JsonPatchMovesAnHttpRouteBackendWeight) {
  const ObjectRef route{"gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "checkout", ""};
  json object = {{"apiVersion", "gateway.networking.k8s.io/v1"},
                 {"kind", "HTTPRoute"},
                 {"metadata", {{"name", "checkout"}, {"namespace", "shop"}}},
                 {"spec",
                  {{"rules", json::array({{{"backendRefs", json::array({
                                                               {{"name", "pod-a"}, {"weight", 100}},
                                                               {{"name", "pod-b"}, {"weight", 100}},
                                                           })}}})}}}};
  ASSERT_TRUE(api_.put(route, object));
  auto c = client();
  auto patched =
      c->patch(route, config::PatchType::kJson,
               R"([{"op":"test","path":"/spec/rules/0/backendRefs/0/name","value":"pod-a"},
                              {"op":"replace","path":"/spec/rules/0/backendRefs/0/weight","value":5}])",
               in(10s));
  ASSERT_TRUE(patched) << patched.error().message;
  auto stored = api_.get(route);
  ASSERT_TRUE(stored);
  EXPECT_EQ((*stored)["spec"]["rules"][0]["backendRefs"][0]["weight"], 5);
  EXPECT_EQ((*stored)["spec"]["rules"][0]["backendRefs"][1]["weight"], 100);
  EXPECT_EQ((*stored)["metadata"]["generation"], 2) << "a spec change moves generation";
  auto log = requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].path, "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/checkout");
  EXPECT_EQ(log[0].content_type, "application/json-patch+json");
}

TEST_F(KubeClientTest, FailedJsonPatchTestCarriesTheServersMessageAndIsNotRetried) {
  auto c = client();
  auto r = c->patch(kIngress, config::PatchType::kJson,
                    R"([{"op":"test","path":"/spec/ingressClassName","value":"traefik"},
                        {"op":"replace","path":"/spec/ingressClassName","value":"x"}])",
                    in(10s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("patch ingresses.networking.k8s.io \"app-canary\""),
                    HasSubstr("422 Invalid"), HasSubstr("test")));
  EXPECT_THAT(statuses(), ElementsAre(422));
  auto after = ingressOnServer();
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)["spec"]["ingressClassName"], "nginx");
}

TEST_F(KubeClientTest, PatchThatIsNotJsonIsRefusedBeforeSending) {
  auto c = client();
  auto r = c->patch(kIngress, config::PatchType::kMerge, "{weight: 5}", in(10s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("merge patch must be a JSON object"));
  auto j = c->patch(kIngress, config::PatchType::kJson, R"({"op":"add"})", in(10s));
  ASSERT_FALSE(j);
  EXPECT_THAT(j.error().message, HasSubstr("JSON patch must be a JSON array"));
  EXPECT_TRUE(requests().empty());
}

TEST_F(KubeClientTest, CoreGroupedNamespacedAndClusterScopedPaths) {
  const ObjectRef service{"v1", "Service", "shop", "web", ""};
  const ObjectRef ingress_class{"networking.k8s.io/v1", "IngressClass", "", "nginx", ""};
  const ObjectRef policy{"networking.k8s.io/v1", "NetworkPolicy", "shop", "deny", ""};
  const ObjectRef endpoints{"v1", "Endpoints", "shop", "web", ""};
  auto object = [](const ObjectRef& ref) {
    json meta = {{"name", ref.name}};
    if (!ref.namespace_.empty()) meta["namespace"] = ref.namespace_;
    return json{{"apiVersion", ref.api_version}, {"kind", ref.kind}, {"metadata", meta}};
  };
  for (const ObjectRef* ref : {&service, &ingress_class, &policy, &endpoints}) {
    ASSERT_TRUE(api_.put(*ref, object(*ref)));
  }
  auto c = client();
  for (const ObjectRef* ref : {&service, &ingress_class, &policy, &endpoints}) {
    auto r = c->patch(*ref, config::PatchType::kMerge,
                      R"({"metadata":{"labels":{"lameduck":"5"}}})", in(10s));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(api_.get(*ref)->at("metadata").at("labels").at("lameduck"), "5") << ref->kind;
  }
  std::vector<std::string> paths;
  for (const auto& r : requests()) paths.push_back(r.path);
  EXPECT_THAT(paths, ElementsAre("/api/v1/namespaces/shop/services/web",
                                 "/apis/networking.k8s.io/v1/ingressclasses/nginx",
                                 "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/deny",
                                 "/api/v1/namespaces/shop/endpoints/web"));
}

TEST_F(KubeClientTest, RefusedTokenIs401NamingTheTokenFile) {
  ASSERT_TRUE(api_.acceptOnly("a-token-lameduck-does-not-have"));
  auto c = client();
  auto r = patchWeight(*c, "5");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("refused the service-account token from " + api_.tokenFile()),
                    HasSubstr("401 Unauthorized")));
  EXPECT_THAT(statuses(), ElementsAre(401, 401)) << "one more try after re-reading the token";
  EXPECT_EQ(weightOnServer(), "100");
}

TEST_F(KubeClientTest, ForbiddenNamesTheRuleTheRoleMustGrant) {
  ASSERT_TRUE(api_.allowOnly({{{"get"}, {"networking.k8s.io"}, {"ingresses"}, {}, {}}}));
  auto c = client();
  ASSERT_TRUE(c->get(kIngress, in(10s)));
  auto r = patchWeight(*c, "5");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("a Role in namespace \"shop\""),
                    HasSubstr("apiGroups: [\"networking.k8s.io\"]"),
                    HasSubstr("resources: [\"ingresses\"]"), HasSubstr("verbs: [\"patch\"]"),
                    HasSubstr("resourceNames: [\"app-canary\"]"), HasSubstr("403 Forbidden"),
                    HasSubstr("cannot patch resource \"ingresses\" in API group "
                              "\"networking.k8s.io\" in the namespace \"shop\"")));
  EXPECT_THAT(statuses(), ElementsAre(200, 403)) << "403 is not retried";

  const ObjectRef cls{"networking.k8s.io/v1", "IngressClass", "", "nginx", ""};
  auto cluster = c->patch(cls, config::PatchType::kMerge, "{}", in(10s));
  ASSERT_FALSE(cluster);
  EXPECT_THAT(cluster.error().message,
              AllOf(HasSubstr("a ClusterRole"), HasSubstr("resources: [\"ingressclasses\"]")));

  ASSERT_TRUE(api_.allowOnly(
      {{{"patch"}, {"networking.k8s.io"}, {"ingresses"}, {"app-canary"}, {"shop"}}}));
  auto granted = patchWeight(*c, "5");
  EXPECT_TRUE(granted) << granted.error().message;
}

TEST_F(KubeClientTest, MissingObjectIs404NamingIt) {
  auto c = client();
  const ObjectRef missing{"networking.k8s.io/v1", "Ingress", "shop", "nope", ""};
  auto r = c->patch(missing, config::PatchType::kMerge, "{}", in(10s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("ingresses.networking.k8s.io \"nope\" in namespace \"shop\""),
                    HasSubstr("404 NotFound"), HasSubstr("not found")));
  EXPECT_THAT(statuses(), ElementsAre(404));
}

TEST_F(KubeClientTest, ConflictIsRetriedUntilThePatchLands) {
  ASSERT_TRUE(api_.failNext(2, 409));
  auto c = client();
  auto r = patchWeight(*c, "5");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_THAT(statuses(), ElementsAre(409, 409, 200));
  EXPECT_EQ(weightOnServer(), "5");
}

TEST_F(KubeClientTest, TooManyRequestsWaitsForRetryAfter) {
  ASSERT_TRUE(api_.failNext(1, 429, 1));
  auto c = client();
  auto r = patchWeight(*c, "5");
  ASSERT_TRUE(r) << r.error().message;
  auto log = requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].status, 429);
  EXPECT_EQ(log[1].status, 200);
  // A lower bound the client guarantees, not a timing measurement.
  EXPECT_GE(log[1].mono_ns - log[0].mono_ns, 1'000'000'000) << "Retry-After: 1 was not honoured";
}

TEST_F(KubeClientTest, RetryAfterPastTheDeadlineGivesUpAtOnce) {
  ASSERT_TRUE(api_.failNext(1, 429, 60));
  // The client's clock records its sleeps: "at once" is "without sleeping",
  // whatever the machine's speed.
  fakes::SleepRecordingClock clock(clock_);
  Client c(api_.clusterConfig(), clock);
  const TimePoint deadline = in(20s);
  auto r = c.patch(kIngress, config::PatchType::kMerge, "{}", deadline);
  ASSERT_FALSE(r);
  EXPECT_TRUE(clock.sleeps().empty()) << "waited for a retry that could not happen in time";
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("asked to retry after 1m"), HasSubstr("past the deadline"),
                    HasSubstr("429 TooManyRequests")));
  EXPECT_THAT(statuses(), ElementsAre(429));
}

TEST_F(KubeClientTest, ServerErrorsAreRetried) {
  ASSERT_TRUE(api_.failNext(1, 500));
  ASSERT_TRUE(api_.failNext(1, 503));
  auto c = client();
  auto r = patchWeight(*c, "0");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_THAT(statuses(), ElementsAre(500, 503, 200));
  EXPECT_EQ(weightOnServer(), "0");
}

TEST_F(KubeClientTest, PersistentServerErrorsEndAtTheDeadlineWithTheLastAnswer) {
  ASSERT_TRUE(api_.failNext(1000, 500));
  auto c = client();
  auto r = patchWeight(*c, "5", 1500ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("no success within"), HasSubstr("500 InternalError"),
                    HasSubstr("injected failure")));
  const auto log = requests();
  EXPECT_GE(log.size(), 3u) << "retried with backoff";
  EXPECT_LE(log.size(), 20u) << "backoff, not a busy loop";
}

TEST_F(KubeClientTest, HangingServerTimesOutAtTheDeadline) {
  ASSERT_TRUE(api_.delayNext(1, 120s));
  auto c = client();
  auto r = patchWeight(*c, "5", 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(r.error().message, HasSubstr("no complete answer"));
  auto log = requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].status, 0) << "the client gave up while the server still held the request";
}

// Also the guard, under ThreadSanitizer, that the test API server's second
// worker is ordered after what httplib set up on the first (FirstJobInlinePool
// in src/http/http.cpp): with the held request on one worker and the retry on
// another, the fixture's output had a race report every time before it.
TEST_F(KubeClientTest, SlowAttemptIsAbandonedAfterTheRequestTimeoutAndRetried) {
  ASSERT_TRUE(api_.delayNext(1, 120s));
  ClusterConfig cfg = api_.clusterConfig();
  // Long enough for the retry's TLS exchange on a busy machine under
  // ThreadSanitizer (300 ms was not), far below the held first request.
  cfg.request_timeout = 3s;
  auto c = client(cfg);
  auto r = patchWeight(*c, "5", 30s);
  ASSERT_TRUE(r) << r.error().message;
  auto log = requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].status, 0);
  EXPECT_EQ(log[1].status, 200);
}

TEST_F(KubeClientTest, UnreachableServerIsRetriedUntilTheDeadline) {
  const testing::RefusingPort dead;
  ClusterConfig cfg = api_.clusterConfig();
  cfg.server.port = static_cast<uint16_t>(dead.port());
  auto c = client(cfg);
  auto r = patchWeight(*c, "5", 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, AllOf(HasSubstr("cannot connect"), HasSubstr("attempt(s)")));
  EXPECT_THAT(r.error().message, ::testing::Not(HasSubstr("after 1 attempt(s)")));
}

TEST_F(KubeClientTest, WrongCaFailsAtOnceNamingHostAndCaFile) {
  ClusterConfig cfg = api_.clusterConfig();
  cfg.ca_file = api_.otherCaFile();
  auto c = client(cfg);
  auto r = patchWeight(*c, "5");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(r.error().message,
              AllOf(HasSubstr("https://127.0.0.1:" + std::to_string(api_.apiPort())),
                    HasSubstr("did not verify against CA file " + api_.otherCaFile())));
  EXPECT_TRUE(requests().empty()) << "nothing, the token least of all, was sent";
}

TEST_F(KubeClientTest, InsecureModeWorksWithoutTheRightCa) {
  ClusterConfig cfg = api_.clusterConfig();
  cfg.ca_file = api_.otherCaFile();
  cfg.insecure_skip_tls_verify = true;
  auto c = client(cfg);
  auto r = patchWeight(*c, "5");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(weightOnServer(), "5");
}

TEST_F(KubeClientTest, ClusterConfigFromTrafficConfigReachesTheServer) {
  auto cfg = clusterConfig(api_.trafficConfig(kIngress));
  ASSERT_TRUE(cfg) << cfg.error().message;
  Client c(*cfg, clock_);
  auto r = c.patch(objectRef(api_.trafficConfig(kIngress)), config::PatchType::kMerge,
                   R"({"metadata":{"annotations":{")" + kCanaryWeight + R"(":"7"}}})", in(10s));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(weightOnServer(), "7");
}

TEST_F(KubeClientTest, RotatedTokenFileIsPickedUpWithoutA401) {
  auto c = client();
  ASSERT_TRUE(patchWeight(*c, "50"));
  const std::string old_token = api_.token();
  auto fresh = api_.rotateToken();
  ASSERT_TRUE(fresh) << fresh.error().message;
  auto r = patchWeight(*c, "5");
  ASSERT_TRUE(r) << r.error().message;
  auto log = requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].authorization, "Bearer " + old_token);
  EXPECT_EQ(log[1].authorization, "Bearer " + *fresh);
  EXPECT_EQ(log[1].status, 200);
  EXPECT_EQ(weightOnServer(), "5");
}

TEST_F(KubeClientTest, TokenChangedInPlaceIsPickedUpAfterOne401) {
  auto c = client();
  ASSERT_TRUE(patchWeight(*c, "50"));
  std::string fresh = api_.token();
  fresh.back() = fresh.back() == 'x' ? 'y' : 'x';  // same length
  ASSERT_TRUE(api_.acceptOnly(fresh));
  ASSERT_TRUE(testing::rewriteKeepingTimestamps(api_.tokenFile(), fresh));

  auto r = patchWeight(*c, "5");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_THAT(statuses(), ElementsAre(200, 401, 200));
  EXPECT_EQ(requests().back().authorization, "Bearer " + fresh);
}

// The test server itself: what lameduck relies on it to do like the real one.
class TestApiServer : public KubeClientTest {
 protected:
  Result<http::ClientResponse> raw(const std::string& method, const std::string& path,
                                   const std::string& body, const std::string& content_type,
                                   std::optional<std::string> token = std::nullopt) {
    http::Client c(api_.url(), clock_, {api_.caFile(), false});
    http::Headers h;
    h.emplace("Authorization", "Bearer " + token.value_or(api_.token()));
    return c.send(method, path, body, content_type, h, 10s);
  }
};

TEST_F(TestApiServer, ErrorsAreKubernetesStatusObjects) {
  auto r = raw("GET", "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/nope", "", "");
  auto r_json = jsonBody(r, "GET of a missing ingress");
  ASSERT_TRUE(r_json);
  EXPECT_EQ(r->status, 404);
  const json s = *r_json;
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["apiVersion"], "v1");
  EXPECT_EQ(s["status"], "Failure");
  EXPECT_EQ(s["reason"], "NotFound");
  EXPECT_EQ(s["code"], 404);
  EXPECT_EQ(s["message"], "ingresses.networking.k8s.io \"nope\" not found");

  auto unauth = raw("GET", kIngressPath, "", "", "wrong");
  auto unauth_json = jsonBody(unauth, "GET with a wrong token");
  ASSERT_TRUE(unauth_json);
  EXPECT_EQ(unauth->status, 401);
  EXPECT_EQ((*unauth_json)["reason"], "Unauthorized");
}

TEST_F(TestApiServer, UnsupportedPatchTypeIs415) {
  auto r = raw("PATCH", kIngressPath, "{}", "application/strategic-merge-patch+json");
  auto r_json = jsonBody(r, "a strategic-merge PATCH");
  ASSERT_TRUE(r_json);
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ((*r_json)["reason"], "UnsupportedMediaType");
}

TEST_F(TestApiServer, StaleResourceVersionIs409AndUnchangedObjectKeepsItsVersion) {
  auto before = ingressOnServer();
  ASSERT_TRUE(before);
  const std::string rv = (*before)["metadata"].value("resourceVersion", "");
  auto noop = raw("PATCH", kIngressPath, R"({"spec":{"ingressClassName":"nginx"}})",
                  "application/merge-patch+json");
  auto noop_json = jsonBody(noop, "a PATCH that changes nothing");
  ASSERT_TRUE(noop_json);
  EXPECT_EQ((*noop_json)["metadata"]["resourceVersion"], rv) << "no change, no bump";
  auto stale = raw("PATCH", kIngressPath, R"({"metadata":{"resourceVersion":"1"},"spec":{"x":1}})",
                   "application/merge-patch+json");
  auto stale_json = jsonBody(stale, "a PATCH with a stale resourceVersion");
  ASSERT_TRUE(stale_json);
  EXPECT_EQ(stale->status, 409);
  EXPECT_EQ((*stale_json)["reason"], "Conflict");
  auto current = raw("PATCH", kIngressPath,
                     R"({"metadata":{"resourceVersion":")" + rv + R"("},"spec":{"x":1}})",
                     "application/merge-patch+json");
  auto current_json = jsonBody(current, "a PATCH with the current resourceVersion");
  ASSERT_TRUE(current_json);
  EXPECT_EQ(current->status, 200);
  EXPECT_NE((*current_json)["metadata"]["resourceVersion"], rv);
}

TEST_F(TestApiServer, RenamingThroughAPatchIs422AndBadJsonIs400) {
  auto rename = raw("PATCH", kIngressPath, R"({"metadata":{"name":"other"}})",
                    "application/merge-patch+json");
  auto rename_json = jsonBody(rename, "a PATCH renaming the object");
  ASSERT_TRUE(rename_json);
  EXPECT_EQ(rename->status, 422);
  EXPECT_THAT((*rename_json)["message"].get<std::string>(),
              HasSubstr("metadata.name: field is immutable"));
  auto bad = raw("PATCH", kIngressPath, "{", "application/merge-patch+json");
  auto bad_json = jsonBody(bad, "a PATCH that is not JSON");
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ((*bad_json)["reason"], "BadRequest");
}

TEST_F(TestApiServer, MergePatchNullRemovesAField) {
  auto r = raw("PATCH", kIngressPath,
               R"({"metadata":{"annotations":{"nginx.ingress.kubernetes.io/canary":null}}})",
               "application/merge-patch+json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(api_.get(kIngress)
                   ->at("metadata")
                   .at("annotations")
                   .contains("nginx.ingress.kubernetes.io/canary"));
}

}  // namespace
}  // namespace lameduck::kube
