// Object references, REST paths, plurals, in-cluster configuration and the
// token file: the parts of the Kubernetes client that need no server.

#include "kube/object.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <optional>

#include "kube/client.h"
#include "kube/token.h"
#include "support/harness.h"
#include "support/kube.h"

namespace lameduck::kube {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string pathOf(const ObjectRef& ref) {
  auto p = restPath(ref);
  EXPECT_TRUE(p) << p.error().message;
  return p ? *p : "";
}

TEST(RestPath, CoreNamespacedObject) {
  EXPECT_EQ(pathOf({"v1", "Service", "default", "web", ""}),
            "/api/v1/namespaces/default/services/web");
  EXPECT_EQ(pathOf({"v1", "Endpoints", "shop", "web", ""}),
            "/api/v1/namespaces/shop/endpoints/web");
}

TEST(RestPath, GroupedNamespacedObject) {
  EXPECT_EQ(pathOf({"networking.k8s.io/v1", "Ingress", "shop", "app-canary", ""}),
            "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/app-canary");
  EXPECT_EQ(pathOf({"gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "checkout", ""}),
            "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/checkout");
  EXPECT_EQ(pathOf({"networking.istio.io/v1beta1", "VirtualService", "shop", "reviews", ""}),
            "/apis/networking.istio.io/v1beta1/namespaces/shop/virtualservices/reviews");
}

TEST(RestPath, ClusterScopedObjectsHaveNoNamespaceSegment) {
  EXPECT_EQ(pathOf({"v1", "Namespace", "", "shop", ""}), "/api/v1/namespaces/shop");
  EXPECT_EQ(pathOf({"networking.k8s.io/v1", "IngressClass", "", "nginx", ""}),
            "/apis/networking.k8s.io/v1/ingressclasses/nginx");
}

TEST(RestPath, PluralsFollowTheApiServersNaming) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Ingress", "ingresses"},
      {"HTTPRoute", "httproutes"},
      {"VirtualService", "virtualservices"},
      {"NetworkPolicy", "networkpolicies"},
      {"Endpoints", "endpoints"},
      {"Service", "services"},
      {"Gateway", "gateways"},
      {"IngressClass", "ingressclasses"},
      {"HTTPProxy", "httpproxies"},
      {"EndpointSlice", "endpointslices"},
      {"DestinationRule", "destinationrules"},
      {"Pod", "pods"},
  };
  for (const auto& [kind, plural] : cases) {
    EXPECT_EQ(pluralOf(ObjectRef{"v1", kind, "", "x", ""}), plural) << kind;
  }
}

TEST(RestPath, ResourceOverrideReplacesTheDerivedPlural) {
  ObjectRef ref{"example.com/v1", "Octopus", "ns", "o", "octopi"};
  EXPECT_EQ(pathOf(ref), "/apis/example.com/v1/namespaces/ns/octopi/o");
  EXPECT_EQ(ref.groupResource(), "octopi.example.com");
  EXPECT_EQ(ref.describe(), "octopi.example.com \"o\" in namespace \"ns\"");
  EXPECT_EQ((ObjectRef{"v1", "Service", "", "s", ""}.describe()), "services \"s\"");
}

TEST(RestPath, ReferencesThatCannotBePathsAreRefusedByField) {
  auto err = [](const ObjectRef& ref) {
    auto p = restPath(ref);
    EXPECT_FALSE(p) << "expected an error, got " << *p;
    return p ? "" : p.error().message;
  };
  EXPECT_THAT(err({"v1", "Service", "default", "a/b", ""}),
              AllOf(HasSubstr("name"), HasSubstr("\"a/b\" contains '/'")));
  EXPECT_THAT(err({"v1", "Service", "default", "", ""}), HasSubstr("name: must not be empty"));
  EXPECT_THAT(err({"v1", "Service", "..", "web", ""}),
              HasSubstr("namespace: \"..\" is not a name"));
  EXPECT_THAT(err({"", "Service", "default", "web", ""}),
              HasSubstr("apiVersion: must not be empty"));
  EXPECT_THAT(err({"a/b/v1", "Service", "default", "web", ""}),
              HasSubstr("apiVersion: invalid apiVersion \"a/b/v1\""));
  EXPECT_THAT(err({"v1", "", "default", "web", ""}), HasSubstr("kind: must not be empty"));
  EXPECT_THAT(err({"v1", "Ser vice", "default", "web", ""}),
              HasSubstr("must be letters and digits"));
  EXPECT_THAT(err({"v1", "Service", "default", "web?x=1", ""}), HasSubstr("contains '?'"));
  EXPECT_THAT(err({"v1", "Service", "default", "web", "svc/x"}), HasSubstr("resource"));
}

// Sets or unsets environment variables for one test and restores them.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class ClusterConfigTest : public ::testing::Test {
 protected:
  config::KubernetesTrafficConfig cfg() const {
    config::KubernetesTrafficConfig c;
    c.token_file = dir_.write("token", "abc.def\n");
    c.ca_file = dir_.write("ca.crt", "-----BEGIN CERTIFICATE-----\n");
    return c;
  }
  testing::TempDir dir_;
};

TEST_F(ClusterConfigTest, InClusterAddressComesFromTheServiceEnvironment) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  auto c = clusterConfig(cfg());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server.origin(), "https://10.96.0.1:443");
  EXPECT_EQ(c->token_file, dir_.file("token"));
  EXPECT_EQ(c->ca_file, dir_.file("ca.crt"));
  EXPECT_FALSE(c->insecure_skip_tls_verify);
}

TEST_F(ClusterConfigTest, Ipv6ServiceHostIsBracketed) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "6443");
  auto c = clusterConfig(cfg());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server.host, "fd00:10:96::1");
  EXPECT_EQ(c->server.origin(), "https://[fd00:10:96::1]:6443");
}

TEST_F(ClusterConfigTest, ConfiguredServerWinsOverTheEnvironment) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
  auto k = cfg();
  k.server = *parseHttpUrl("https://api.example:6443");
  k.timeout = 3s;
  auto c = clusterConfig(k);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server.origin(), "https://api.example:6443");
  EXPECT_EQ(c->request_timeout, 3s);
}

TEST_F(ClusterConfigTest, OutsideAPodEveryMissingPieceIsNamed) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
  ScopedEnv port("KUBERNETES_SERVICE_PORT", nullptr);
  config::KubernetesTrafficConfig k;  // the service-account defaults
  k.token_file = dir_.file("missing-token");
  k.ca_file = dir_.file("missing-ca.crt");
  auto c = clusterConfig(k);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(c.error().message,
              AllOf(HasSubstr("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT not set"),
                    HasSubstr("traffic.kubernetes.server"),
                    HasSubstr("token file " + dir_.file("missing-token") + " cannot be read"),
                    HasSubstr("CA file \"" + dir_.file("missing-ca.crt") + "\"")));
}

TEST_F(ClusterConfigTest, DefaultPathsAreTheServiceAccountDirectory) {
  config::KubernetesTrafficConfig k;
  EXPECT_EQ(k.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(k.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  k.server = *parseHttpUrl("https://10.0.0.1:443");
  auto c = clusterConfig(k);
  ASSERT_FALSE(c);  // no service account on the test machine
  EXPECT_THAT(c.error().message,
              HasSubstr("/var/run/secrets/kubernetes.io/serviceaccount/token cannot be read"));
}

TEST_F(ClusterConfigTest, EmptyTokenFileIsAnError) {
  auto k = cfg();
  k.server = *parseHttpUrl("https://10.0.0.1:443");
  k.token_file = dir_.write("empty-token", "\n");
  auto c = clusterConfig(k);
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr(dir_.file("empty-token") + " is empty"));
}

TEST_F(ClusterConfigTest, InsecureModeNeedsNoCaFile) {
  auto k = cfg();
  k.server = *parseHttpUrl("https://10.0.0.1:443");
  k.ca_file = dir_.file("missing-ca.crt");
  EXPECT_FALSE(clusterConfig(k));
  k.insecure_skip_tls_verify = true;
  auto c = clusterConfig(k);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->insecure_skip_tls_verify);
}

TEST(TokenFile, ReadsTheTokenWithoutSurroundingWhitespace) {
  testing::TempDir dir;
  TokenFile t(dir.write("token", "  eyJhbGciOi.x.y\n"));
  EXPECT_EQ(t.current().value_or("?"), "eyJhbGciOi.x.y");
}

TEST(TokenFile, ARotatedFileIsPickedUp) {
  testing::TempDir dir;
  TokenFile t(dir.write("token", "first"));
  EXPECT_EQ(t.current().value_or("?"), "first");
  // The kubelet swaps the projected volume's files by rename.
  dir.write("token.new", "second-token");
  ASSERT_EQ(std::rename(dir.file("token.new").c_str(), dir.file("token").c_str()), 0);
  EXPECT_EQ(t.current().value_or("?"), "second-token");
}

TEST(TokenFile, AnUnchangedFileIsNotReadAgainButReloadReadsIt) {
  testing::TempDir dir;
  const std::string path = dir.write("token", "aaaa");
  TokenFile t(path);
  EXPECT_EQ(t.current().value_or("?"), "aaaa");
  // Same inode, same size, same modification time: stat() cannot tell.
  ASSERT_TRUE(testing::rewriteKeepingTimestamps(path, "bbbb"));
  EXPECT_EQ(t.current().value_or("?"), "aaaa");
  EXPECT_EQ(t.reload().value_or("?"), "bbbb");
  EXPECT_EQ(t.current().value_or("?"), "bbbb");
}

TEST(TokenFile, KeepsTheLastTokenWhileTheFileIsGone) {
  testing::TempDir dir;
  const std::string path = dir.write("token", "kept");
  TokenFile t(path);
  EXPECT_EQ(t.current().value_or("?"), "kept");
  ASSERT_EQ(std::remove(path.c_str()), 0);
  EXPECT_EQ(t.current().value_or("?"), "kept");

  TokenFile never(dir.file("never"));
  auto r = never.current();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(r.error().message, AllOf(HasSubstr(dir.file("never")), Not(HasSubstr("kept"))));
}

}  // namespace
}  // namespace lameduck::kube
