// The Kubernetes traffic backend through the real lameduck binary against
// the test API server (HTTPS with its own CA, bearer token, RBAC, real merge
// and JSON patches): the shipped examples patch their objects step by step,
// and refusals end the exit with a message that says what to grant.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/daemon.h"
#include "support/kube.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;

// --set overrides that point a shipped example at the test API server, with
// a fast plan.
std::vector<std::string> overrides(const KubeApiServer& api) {
  return {"traffic.kubernetes.server=" + api.url().origin(),
          "traffic.kubernetes.token_file=" + api.tokenFile(),
          "traffic.kubernetes.ca_file=" + api.caFile(),
          "traffic.steps=[{weight: 50, hold: 200ms}, {weight: 0}]"};
}

json prestop(Daemon& d) {
  auto r = call(d.adminPort(), "GET", "/prestop", {}, 60s);
  return r ? json::parse(r->body, nullptr, false) : json();
}

std::vector<ApiRequest> patches(KubeApiServer& api) {
  std::vector<ApiRequest> out;
  for (auto& r : api.requests().value_or(std::vector<ApiRequest>{})) {
    if (r.method == "PATCH") out.push_back(r);
  }
  return out;
}

TEST(KubernetesShift, IngressNginxCanaryWeightIsPatchedStepByStep) {
  KubeApiServer api;
  kube::ObjectRef ingress{"networking.k8s.io/v1", "Ingress", "shop", "app-canary", ""};
  ASSERT_TRUE(api.put(ingress, {{"apiVersion", "networking.k8s.io/v1"},
                                {"kind", "Ingress"},
                                {"metadata",
                                 {{"name", "app-canary"},
                                  {"namespace", "shop"},
                                  {"annotations",
                                   {{"nginx.ingress.kubernetes.io/canary", "true"},
                                    {"nginx.ingress.kubernetes.io/canary-weight", "100"}}}}},
                                {"spec", json::object()}}));
  Daemon d(
      readFile(std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/traffic-ingress-nginx.yaml"),
      AppOptions{}, {{"POD_NAME", "web-0"}, {"POD_NAMESPACE", "shop"}}, overrides(api));
  json s = prestop(d);
  ASSERT_TRUE(s.is_object()) << d.lameduck().output();
  EXPECT_EQ(s["outcome"], "completed") << s.dump(2);
  auto p = patches(api);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].path, "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/app-canary");
  EXPECT_EQ(p[0].content_type, "application/merge-patch+json");
  EXPECT_EQ(p[0].authorization, "Bearer " + api.token());
  EXPECT_NE(p[0].body.find("canary-weight\":\"50\""), std::string::npos) << p[0].body;
  auto obj = api.get(ingress);
  ASSERT_TRUE(obj);
  EXPECT_EQ((*obj)["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "0");
  EXPECT_EQ((*obj)["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"], "true");
  EXPECT_NE(s["traffic"]["steps"][0]["backend"].get<std::string>().find("resourceVersion"),
            std::string::npos);
}

TEST(KubernetesShift, HttpRouteBackendRefWeightsMoveWithJsonPatch) {
  KubeApiServer api;
  kube::ObjectRef route{"gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "app", ""};
  json backends = json::array({{{"name", "app-blue"}, {"port", 80}, {"weight", 100}},
                               {{"name", "app-green"}, {"port", 80}, {"weight", 0}}});
  ASSERT_TRUE(api.put(route, {{"apiVersion", "gateway.networking.k8s.io/v1"},
                              {"kind", "HTTPRoute"},
                              {"metadata", {{"name", "app"}, {"namespace", "shop"}}},
                              {"spec", {{"rules", json::array({{{"backendRefs", backends}}})}}}}));
  Daemon d(readFile(std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/traffic-httproute.yaml"),
           AppOptions{}, {{"POD_NAMESPACE", "shop"}}, overrides(api));
  json s = prestop(d);
  EXPECT_EQ(s["outcome"], "completed") << s.dump(2);
  auto p = patches(api);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].content_type, "application/json-patch+json");
  auto obj = api.get(route);
  ASSERT_TRUE(obj);
  EXPECT_EQ((*obj)["spec"]["rules"][0]["backendRefs"][0]["weight"], 0);
  EXPECT_EQ((*obj)["spec"]["rules"][0]["backendRefs"][1]["weight"], 100);
}

TEST(KubernetesShift, IstioVirtualServiceRouteWeightsMoveAndTheGuardRefusesAReorder) {
  KubeApiServer api;
  kube::ObjectRef vs{"networking.istio.io/v1beta1", "VirtualService", "shop", "app", ""};
  auto virtualService = [](const std::string& first_subset) {
    json routes = json::array(
        {{{"destination", {{"host", "app"}, {"subset", first_subset}}}, {"weight", 100}},
         {{"destination", {{"host", "app"}, {"subset", "v2"}}}, {"weight", 0}}});
    return json{{"apiVersion", "networking.istio.io/v1beta1"},
                {"kind", "VirtualService"},
                {"metadata", {{"name", "app"}, {"namespace", "shop"}}},
                {"spec", {{"http", json::array({{{"route", routes}}})}}}};
  };
  ASSERT_TRUE(api.put(vs, virtualService("v1")));
  {
    Daemon d(readFile(std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/traffic-istio.yaml"),
             AppOptions{}, {{"POD_NAMESPACE", "shop"}}, overrides(api));
    json s = prestop(d);
    EXPECT_EQ(s["outcome"], "completed") << s.dump(2);
    auto obj = api.get(vs);
    ASSERT_TRUE(obj);
    EXPECT_EQ((*obj)["spec"]["http"][0]["route"][0]["weight"], 0);
    EXPECT_EQ((*obj)["spec"]["http"][0]["route"][1]["weight"], 100);
  }
  // Routes reordered: the patch's test operation fails (422) and nothing
  // moves the wrong weight.
  ASSERT_TRUE(api.put(vs, virtualService("v9")));
  Daemon d(readFile(std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/traffic-istio.yaml"),
           AppOptions{}, {{"POD_NAMESPACE", "shop"}}, overrides(api));
  json s = prestop(d);
  EXPECT_EQ(s["outcome"], "failed") << s.dump(2);
  auto obj = api.get(vs);
  ASSERT_TRUE(obj);
  EXPECT_EQ((*obj)["spec"]["http"][0]["route"][0]["weight"], 100);
}

TEST(KubernetesShift, ForbiddenNamesWhatTheRoleMustGrant) {
  KubeApiServer api;
  kube::ObjectRef ingress{"networking.k8s.io/v1", "Ingress", "shop", "app-canary", ""};
  ASSERT_TRUE(api.put(ingress, {{"apiVersion", "networking.k8s.io/v1"},
                                {"kind", "Ingress"},
                                {"metadata", {{"name", "app-canary"}, {"namespace", "shop"}}}}));
  ASSERT_TRUE(api.allowOnly({RbacRule{{"get"}, {"networking.k8s.io"}, {"ingresses"}, {}, {}}}));
  Daemon d(
      readFile(std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/traffic-ingress-nginx.yaml"),
      AppOptions{}, {{"POD_NAMESPACE", "shop"}}, overrides(api));
  json s = prestop(d);
  EXPECT_EQ(s["outcome"], "failed");
  const std::string reason = s.value("reason", "");
  EXPECT_NE(reason.find("patch"), std::string::npos) << reason;
  EXPECT_NE(reason.find("ingresses.networking.k8s.io"), std::string::npos) << reason;
  EXPECT_EQ(patches(api).size(), 1u);  // a refusal is not retried
}

TEST(KubernetesShift, TransientErrorsAreRetriedUntilThePatchLands) {
  KubeApiServer api;
  kube::ObjectRef ingress{"networking.k8s.io/v1", "Ingress", "shop", "app-canary", ""};
  ASSERT_TRUE(api.put(ingress, {{"apiVersion", "networking.k8s.io/v1"},
                                {"kind", "Ingress"},
                                {"metadata", {{"name", "app-canary"}, {"namespace", "shop"}}}}));
  Daemon d(
      readFile(std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/traffic-ingress-nginx.yaml"),
      AppOptions{}, {{"POD_NAMESPACE", "shop"}}, overrides(api));
  ASSERT_TRUE(api.failNext(1, 409));
  ASSERT_TRUE(api.failNext(1, 503));
  json s = prestop(d);
  EXPECT_EQ(s["outcome"], "completed") << s.dump(2);
  EXPECT_GE(patches(api).size(), 3u);
  auto obj = api.get(ingress);
  ASSERT_TRUE(obj);
  EXPECT_EQ((*obj)["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "0");
}

TEST(KubernetesShift, AMissingTokenFailsTheStartNamingTheFile) {
  TempDir dir;
  const std::string out = dir.file("out.log");
  int rc =
      runCommand({lameduckBinary(), "run", "--config",
                  std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/traffic-ingress-nginx.yaml",
                  "--set", "traffic.kubernetes.server=https://127.0.0.1:1", "--set",
                  "traffic.kubernetes.token_file=" + dir.file("no-token"), "--set",
                  "admin.listen=127.0.0.1:0", "--set", "metrics.listen=127.0.0.1:0"},
                 out, 20s);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(readFile(out).find(dir.file("no-token")), std::string::npos) << readFile(out);
}

TEST(KubernetesShift, ABrokenPatchTemplateFailsTheStart) {
  TempDir dir;
  KubeApiServer api;
  const std::string out = dir.file("out.log");
  std::vector<std::string> argv{
      lameduckBinary(),
      "run",
      "--config",
      std::string(LAMEDUCK_SOURCE_DIR) + "/config/examples/traffic-ingress-nginx.yaml",
      "--set",
      "admin.listen=127.0.0.1:0",
      "--set",
      "metrics.listen=127.0.0.1:0",
      "--set",
      "traffic.kubernetes.patch='{\"w\":\"{{wieght}}\"}'"};
  for (const auto& o : overrides(api)) {
    argv.push_back("--set");
    argv.push_back(o);
  }
  int rc = runCommand(argv, out, 20s);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(readFile(out).find("unknown placeholder {{wieght}}"), std::string::npos)
      << readFile(out);
}

TEST(KubernetesShift, CheckConfigCatchesABrokenTemplateOffline) {
  TempDir dir;
  const std::string cfg = dir.write(
      "bad.yaml",
      "traffic:\n  backend: kubernetes\n  kubernetes: {api_version: networking.k8s.io/v1, kind: "
      "Ingress, namespace: shop, name: app, patch: '{\"a\":\"{{weigth}}\"}'}\n");
  const std::string out = dir.file("out.log");
  EXPECT_EQ(runCommand({lameduckBinary(), "check-config", cfg}, out, 20s), 2);
  EXPECT_NE(readFile(out).find("unknown placeholder {{weigth}}"), std::string::npos)
      << readFile(out);
}

}  // namespace
}  // namespace lameduck::testing
