// Config parsing: defaults, every accepted form, and every kind of error with
// key path, line, column, bad value and what is accepted.

#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "config/errors.h"
#include "support/harness.h"

namespace lameduck::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using testing::errorOf;

TEST(Config, EmbeddedDefaultsMatchTheDesign) {
  auto c = defaults();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->admin.listen.str(), "0.0.0.0:9901");
  EXPECT_EQ(c->metrics.listen.str(), "0.0.0.0:9902");
  EXPECT_EQ(c->exit.grace_period, 30s);
  EXPECT_EQ(c->exit.safety_margin, 2s);
  EXPECT_EQ(c->exit.compensation_reserve, 5s);
  EXPECT_EQ(c->exit.budget(), 28s);
  EXPECT_FALSE(c->app.base_url);
  EXPECT_EQ(c->app.hooks.drain, "/lameduck/drain");
  EXPECT_EQ(c->app.hooks.ack, "/lameduck/compensations/ack");
  EXPECT_EQ(c->app.timeout, 2s);
  EXPECT_EQ(c->app.ports, std::vector<uint16_t>{8080});
  EXPECT_EQ(c->drain.poll_interval, 50ms);
  EXPECT_EQ(c->drain.quiet_period, 2s);
  EXPECT_EQ(c->drain.max_connections, 0);
  EXPECT_EQ(c->drain.max_wait, 18s);  // derived: see time_plan_test.cpp
  EXPECT_EQ(c->exit.app_shutdown, 5s);
  EXPECT_FALSE(c->compensation.redis.address);
  EXPECT_EQ(c->compensation.stream, "compensation_stream");
  EXPECT_EQ(c->compensation.maxlen, 1000000);
  EXPECT_EQ(c->traffic.backend, TrafficBackend::kNone);
  EXPECT_EQ(c->coordination.max_concurrent_exits, 1);
  EXPECT_EQ(c->coordination.heartbeat, 5s);
  EXPECT_EQ(c->log.level, log::Level::kInfo);
}

TEST(Config, EmptyFileAndEmptySectionsAreDefaults) {
  EXPECT_TRUE(parse("", "f"));
  EXPECT_TRUE(parse("# only a comment\n", "f"));
  auto c = parse("admin:\nexit: {}\n", "f");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->exit.grace_period, 30s);
}

TEST(Config, TheReferenceConfigFromTheDesignParses) {
  setenv("LAMEDUCK_TEST_TOKEN", "s3cret", 1);
  const char* yaml = R"(
admin:   {listen: "0.0.0.0:9901", token: "${LAMEDUCK_TEST_TOKEN}", allow_cidrs: ["127.0.0.0/8"]}
metrics: {listen: "0.0.0.0:9902", pushgateway: {url: "http://pushgateway:9091", job: lameduck}}
exit:    {grace_period: 30s, safety_margin: 2s, compensation_reserve: 5s, app_shutdown: 5s}
app:
  base_url: "http://127.0.0.1:8080"
  hooks: {drain: /lameduck/drain, status: /lameduck/status,
          compensations: /lameduck/compensations,
          ack: /lameduck/compensations/ack, terminate: /lameduck/terminate}
  timeout: 2s
  ports: [8080]
drain:   {poll_interval: 50ms, quiet_period: 2s, max_connections: 0, max_wait: 20s}
compensation:
  redis: {address: "127.0.0.1:6379", username: "", password: "${REDIS_PASSWORD}", db: 0, timeout: 1s}
  stream: compensation_stream
  maxlen: 1000000
  spool: /var/lib/lameduck/spool
traffic:
  backend: none
  haproxy: {socket: "unix:/run/haproxy/admin.sock", server: "be_app/pod1"}
  kubernetes: {api_version: networking.k8s.io/v1, kind: Ingress, namespace: default,
               name: app-canary, patch_type: merge,
               patch: '{"metadata":{"annotations":{"nginx.ingress.kubernetes.io/canary-weight":"{{weight}}"}}}'}
  webhook: {url: "http://lb-controller/weights"}
  steps: [{weight: 5, hold: 30s}, {weight: 0}]
  gate: {source: prometheus, max_error_rate: 0.001, on_fail: hold,
         prometheus: {url: "http://prometheus:9090", query: "..."}}
coordination: {service: auth-center, wait_for: [user-service], max_concurrent_exits: 1, heartbeat: 5s}
log: {level: info, format: json}
)";
  auto c = parse(yaml, "design.yaml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->admin.token, "s3cret");
  ASSERT_EQ(c->admin.allow_cidrs.size(), 1u);
  EXPECT_TRUE(c->admin.allow_cidrs[0].contains("127.0.0.1"));
  EXPECT_EQ(c->metrics.pushgateway.url->host, "pushgateway");
  EXPECT_EQ(c->app.base_url->port, 8080);
  EXPECT_EQ(c->compensation.redis.address->port, 6379);
  EXPECT_EQ(c->traffic.kubernetes.kind, "Ingress");
  ASSERT_EQ(c->traffic.steps.size(), 2u);
  EXPECT_EQ(c->traffic.steps[0].weight, 5);
  EXPECT_EQ(c->traffic.steps[0].hold, 30s);
  EXPECT_EQ(c->traffic.gate.source, GateSource::kPrometheus);
  EXPECT_EQ(c->traffic.gate.interval, 1s);  // defaults
  EXPECT_EQ(c->traffic.timeout, 2s);
  EXPECT_EQ(c->coordination.wait_for, std::vector<std::string>{"user-service"});
}

TEST(Config, ShippedExampleConfigsAreValid) {
  setenv("POD_NAME", "web-0", 1);
  setenv("POD_NAMESPACE", "shop", 1);
  std::vector<std::string> files{"config/lameduck.yaml", "config/minimal.yaml"};
  const std::string dir = std::string(LAMEDUCK_SOURCE_DIR) + "/";
  for (const auto& e : std::filesystem::directory_iterator(dir + "config/examples")) {
    files.push_back("config/examples/" + e.path().filename().string());
  }
  EXPECT_GE(files.size(), 6u);
  for (const auto& f : files) {
    auto c = loadFile(dir + f);
    EXPECT_TRUE(c) << f << ": " << c.error().message;
  }
  unsetenv("POD_NAME");
  unsetenv("POD_NAMESPACE");
}

TEST(Config, EnvExpansionWithFallbackAndEscapes) {
  setenv("LD_T_GRACE", "45s", 1);
  unsetenv("LD_T_UNSET");
  auto c = parse(
      "exit: {grace_period: \"${LD_T_GRACE}\", safety_margin: \"${LD_T_UNSET:-3s}\"}\n"
      "admin: {token: \"a$$b${LD_T_UNSET}\"}\n",
      "f");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->exit.grace_period, 45s);
  EXPECT_EQ(c->exit.safety_margin, 3s);
  EXPECT_EQ(c->admin.token, "a$b");
  EXPECT_THAT(errorOf("admin: {token: \"${OOPS\"}\n"), HasSubstr("unterminated \"${\""));
}

// The Helm chart's default allowlist: the node's IP from the downward API
// plus loopback. A plain address is a host network (/32 or /128).
TEST(Config, AllowCidrsFromTheNodeIpInTheEnvironment) {
  setenv("LD_T_HOST_IP", "10.1.2.3", 1);
  auto c =
      parse("admin: {allow_cidrs: [\"${LD_T_HOST_IP}\", \"127.0.0.1/32\", \"::1/128\"]}\n", "f");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->admin.allow_cidrs.size(), 3u);
  EXPECT_TRUE(c->admin.allow_cidrs[0].contains("10.1.2.3"));
  EXPECT_FALSE(c->admin.allow_cidrs[0].contains("10.1.2.4"));
  setenv("LD_T_HOST_IP", "fd00::7", 1);
  c = parse("admin: {allow_cidrs: [\"${LD_T_HOST_IP}\"]}\n", "f");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->admin.allow_cidrs[0].contains("fd00::7"));
  EXPECT_FALSE(c->admin.allow_cidrs[0].contains("fd00::8"));

  // Unset, the entry is an error naming the variable, never "any source".
  unsetenv("LD_T_HOST_IP");
  EXPECT_THAT(errorOf("admin: {allow_cidrs: [\"${LD_T_HOST_IP}/32\"]}\n"),
              HasSubstr("admin.allow_cidrs[0]: invalid CIDR \"/32\" (not an IP address); expected "
                        "an IPv4 or IPv6 network like 10.0.0.0/8 or fd00::/8; "
                        "\"${LD_T_HOST_IP}/32\" expanded to \"/32\": is the variable set?"));
}

TEST(Config, PushgatewaySettings) {
  auto c = parse(
      "metrics: {pushgateway: {url: \"http://pgw:9091/base\", job: j, timeout: 750ms}}\n", "f");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->metrics.pushgateway.url->path, "/base");
  EXPECT_EQ(c->metrics.pushgateway.job, "j");
  EXPECT_EQ(c->metrics.pushgateway.timeout, 750ms);
  EXPECT_EQ(config::PushgatewayConfig{}.timeout, 2s);
  EXPECT_THAT(errorOf("metrics: {pushgateway: {timeout: 0s}}\n"),
              HasSubstr("metrics.pushgateway.timeout: invalid duration \"0s\": must be greater"));
  EXPECT_THAT(errorOf("metrics: {pushgateway: {url: \"pgw:9091\"}}\n"),
              HasSubstr("metrics.pushgateway.url:"));
}

TEST(Config, DurationsInEveryAcceptedForm) {
  auto c = parse(
      "drain: {poll_interval: 500ms, quiet_period: 1m30s, max_wait: 2m}\n"
      "exit: {grace_period: 1h, safety_margin: 1.5s}\n",
      "f");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->drain.poll_interval, 500ms);
  EXPECT_EQ(c->drain.quiet_period, 90s);
  EXPECT_EQ(c->drain.max_wait, 120s);
  EXPECT_EQ(c->exit.grace_period, 3600s);
  EXPECT_EQ(c->exit.safety_margin, 1500ms);
}

TEST(Config, UnknownKeyNamesPathLineColumnAndAcceptedKeys) {
  std::string e = errorOf("exit:\n  grace_period: 30s\n  grace_perod: 20s\n");
  EXPECT_THAT(e, HasSubstr("test.yaml:3:3: exit.grace_perod: unknown key \"grace_perod\""));
  EXPECT_THAT(e,
              HasSubstr("accepted keys here: grace_period, safety_margin, compensation_reserve"));
  EXPECT_THAT(errorOf("nope: 1\n"), HasSubstr("test.yaml:1:1: nope: unknown key"));
  EXPECT_THAT(errorOf("traffic:\n  steps:\n    - {weight: 5, hodl: 1s}\n"),
              HasSubstr("test.yaml:3:19: traffic.steps[0].hodl: unknown key"));
}

TEST(Config, DuplicateKeysAreRefused) {
  EXPECT_THAT(errorOf("app: {timeout: 1s}\nexit: {}\napp: {timeout: 2s}\n"),
              HasSubstr("test.yaml:3:1: app: duplicate key \"app\""));
}

TEST(Config, WrongTypesAreNamed) {
  EXPECT_THAT(errorOf("exit: 5\n"),
              HasSubstr("test.yaml:1:7: exit: expected a map of settings, got \"5\""));
  EXPECT_THAT(errorOf("app:\n  ports: 8080\n"),
              HasSubstr("test.yaml:2:10: app.ports: expected a list, got \"8080\""));
  EXPECT_THAT(errorOf("admin:\n  token: [a, b]\n"),
              HasSubstr("test.yaml:2:10: admin.token: expected a string, got a list"));
  EXPECT_THAT(errorOf("drain:\n  max_connections: lots\n"),
              HasSubstr("test.yaml:2:20: drain.max_connections: invalid integer \"lots\""));
  EXPECT_THAT(errorOf("- a\n- b\n"), HasSubstr("<root>: expected a map of settings, got a list"));
}

TEST(Config, BadDurationsNameValueAndAcceptedForms) {
  std::string e = errorOf("exit:\n  grace_period: 30x\n");
  EXPECT_THAT(e, HasSubstr("test.yaml:2:17: exit.grace_period: invalid duration \"30x\""));
  EXPECT_THAT(e, HasSubstr("ms, s, m or h"));
  EXPECT_THAT(errorOf("drain: {poll_interval: 30}\n"), HasSubstr("missing unit"));
  EXPECT_THAT(errorOf("drain: {poll_interval: -5s}\n"),
              HasSubstr("drain.poll_interval: invalid duration \"-5s\" (negative)"));
  EXPECT_THAT(errorOf("drain: {poll_interval: 0s}\n"),
              HasSubstr("drain.poll_interval: invalid duration \"0s\": must be greater than zero"));
  EXPECT_THAT(errorOf("app: {timeout: 0ms}\n"), HasSubstr("app.timeout"));
  EXPECT_THAT(errorOf("exit: {grace_period: 0s}\n"), HasSubstr("exit.grace_period"));
  // Zero is meaningful where it means "none".
  EXPECT_TRUE(parse(
      "drain: {quiet_period: 0s}\nexit: {safety_margin: 0s, compensation_reserve: 0s}\n", "f"));
}

TEST(Config, ReserveLargerThanTheBudgetIsRefused) {
  std::string e =
      errorOf("exit:\n  grace_period: 10s\n  safety_margin: 2s\n  compensation_reserve: 15s\n");
  EXPECT_THAT(e, HasSubstr("test.yaml:4:25: exit.compensation_reserve: compensation reserve 15s"));
  EXPECT_THAT(e, HasSubstr("grace_period - safety_margin = 8s"));
  EXPECT_THAT(errorOf("exit: {grace_period: 5s, safety_margin: 5s}\n"),
              HasSubstr("exit.safety_margin: safety margin 5s leaves no exit budget"));
}

TEST(Config, BadAddressesAndUrls) {
  EXPECT_THAT(errorOf("admin:\n  listen: \"localhost\"\n"),
              HasSubstr("test.yaml:2:11: admin.listen: invalid address \"localhost\" (no port)"));
  EXPECT_THAT(
      errorOf("admin: {listen: \"0.0.0.0:99999\"}\n"),
      HasSubstr("invalid port \"99999\" in \"0.0.0.0:99999\"; expected a number from 0 to 65535"));
  EXPECT_THAT(errorOf("metrics: {listen: \"::1:9902\"}\n"), HasSubstr("IPv6 hosts need brackets"));
  EXPECT_THAT(errorOf("app: {base_url: \"ftp://app\"}\n"),
              HasSubstr("app.base_url: invalid URL \"ftp://app\" (scheme must be http or https)"));
  EXPECT_THAT(errorOf("compensation: {redis: {address: \"redis\"}}\n"),
              HasSubstr("compensation.redis.address: invalid Redis address \"redis\""));
  EXPECT_THAT(errorOf("compensation: {redis: {address: \"unix:relative.sock\"}}\n"),
              HasSubstr("absolute path"));
  EXPECT_THAT(errorOf("admin: {allow_cidrs: [\"10.0.0.0/33\"]}\n"),
              HasSubstr("admin.allow_cidrs[0]: invalid CIDR \"10.0.0.0/33\""));
  EXPECT_THAT(
      errorOf("traffic: {backend: haproxy, haproxy: {socket: \"/run/ha.sock\", server: a/b}}\n"),
      HasSubstr("expected unix:/path or tcp:host:port"));
  auto ok = parse(
      "admin: {listen: \"[::]:9901\"}\ncompensation: {redis: {address: \"unix:/run/r.sock\"}}\n",
      "f");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->admin.listen.host, "::");
  EXPECT_EQ(ok->compensation.redis.address->unix_path, "/run/r.sock");
}

TEST(Config, BadChoicesAndRanges) {
  EXPECT_THAT(errorOf("traffic: {timeout: 0s}\n"), HasSubstr("traffic.timeout"));
  EXPECT_THAT(errorOf("traffic: {gate: {interval: soon}}\n"), HasSubstr("traffic.gate.interval"));
  EXPECT_THAT(errorOf("traffic: {webhook: {tokn: x}}\n"),
              HasSubstr("traffic.webhook.tokn: unknown key"));
  EXPECT_THAT(errorOf("traffic: {backend: nginx}\n"),
              HasSubstr("traffic.backend: invalid value \"nginx\"; expected one of: none, haproxy, "
                        "kubernetes, webhook"));
  EXPECT_THAT(errorOf("log: {level: loud}\n"), HasSubstr("expected debug, info, warn or error"));
  EXPECT_THAT(errorOf("traffic: {steps: [{weight: 150}]}\n"),
              HasSubstr("traffic.steps[0].weight: value 150 out of range; expected 0 to 100"));
  EXPECT_THAT(errorOf("traffic: {steps: [{weight: 5}, {weight: 50}]}\n"),
              HasSubstr("traffic.steps[1].weight: weight 50 is above the previous step's 5"));
  EXPECT_THAT(errorOf("traffic: {steps: [{hold: 1s}]}\n"),
              HasSubstr("traffic.steps[0].weight: missing"));
  EXPECT_THAT(errorOf("traffic: {gate: {max_error_rate: 2}}\n"),
              HasSubstr("expected a number from 0 to 1"));
  EXPECT_THAT(errorOf("app: {hooks: {drain: drain}}\n"),
              HasSubstr("app.hooks.drain: invalid path \"drain\""));
}

TEST(Config, CrossSectionRequirements) {
  EXPECT_THAT(errorOf("traffic: {backend: haproxy}\n"),
              HasSubstr("traffic.haproxy.server: required"));
  EXPECT_THAT(errorOf("traffic: {backend: webhook}\n"), HasSubstr("traffic.webhook.url: required"));
  EXPECT_THAT(errorOf("traffic: {backend: kubernetes}\n"),
              HasSubstr("traffic.kubernetes.api_version: required"));
  EXPECT_THAT(errorOf("traffic: {gate: {source: prometheus}}\n"),
              HasSubstr("url and query are required"));
  EXPECT_THAT(errorOf("coordination: {service: a}\n"), HasSubstr("needs Redis"));
}

TEST(Config, KubernetesApiAccessDefaultsToInClusterAndCanBeOverridden) {
  auto d = defaults();
  ASSERT_TRUE(d) << d.error().message;
  const KubernetesTrafficConfig& k = d->traffic.kubernetes;
  EXPECT_FALSE(k.server);
  EXPECT_EQ(k.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(k.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  EXPECT_FALSE(k.insecure_skip_tls_verify);
  EXPECT_EQ(k.timeout, 10s);
  EXPECT_EQ(k.resource, "");

  auto c = parse(
      "traffic:\n"
      "  backend: kubernetes\n"
      "  kubernetes:\n"
      "    api_version: gateway.networking.k8s.io/v1\n"
      "    kind: HTTPRoute\n"
      "    namespace: shop\n"
      "    name: checkout\n"
      "    resource: httproutes\n"
      "    patch_type: json\n"
      "    patch: '[{\"op\":\"replace\",\"path\":\"/spec\",\"value\":{}}]'\n"
      "    server: \"https://[fd00::1]:6443\"\n"
      "    token_file: /tmp/token\n"
      "    ca_file: /tmp/ca.crt\n"
      "    insecure_skip_tls_verify: true\n"
      "    timeout: 3s\n",
      "f");
  ASSERT_TRUE(c) << c.error().message;
  const KubernetesTrafficConfig& o = c->traffic.kubernetes;
  EXPECT_EQ(o.api_version, "gateway.networking.k8s.io/v1");
  EXPECT_EQ(o.resource, "httproutes");
  EXPECT_EQ(o.patch_type, PatchType::kJson);
  ASSERT_TRUE(o.server);
  EXPECT_EQ(o.server->host, "fd00::1");
  EXPECT_EQ(o.server->port, 6443);
  EXPECT_EQ(o.token_file, "/tmp/token");
  EXPECT_EQ(o.ca_file, "/tmp/ca.crt");
  EXPECT_TRUE(o.insecure_skip_tls_verify);
  EXPECT_EQ(o.timeout, 3s);
}

TEST(Config, KubernetesApiAccessMistakesAreNamed) {
  EXPECT_THAT(errorOf("traffic: {kubernetes: {server: \"http://10.0.0.1\"}}\n"),
              HasSubstr("traffic.kubernetes.server: the API server is reached over https only"));
  EXPECT_THAT(errorOf("traffic: {kubernetes: {insecure_skip_tls_verify: yes}}\n"),
              HasSubstr("traffic.kubernetes.insecure_skip_tls_verify: invalid value \"yes\"; "
                        "expected true or false"));
  EXPECT_THAT(errorOf("traffic: {kubernetes: {api_version: networking.k8s.io}}\n"),
              HasSubstr("traffic.kubernetes.api_version: invalid apiVersion "
                        "\"networking.k8s.io\"; expected v1 for the core API or group/version"));
  EXPECT_THAT(errorOf("traffic: {kubernetes: {api_version: a/b/v1}}\n"),
              HasSubstr("invalid apiVersion \"a/b/v1\""));
  EXPECT_THAT(errorOf("traffic: {kubernetes: {timeout: 0s}}\n"),
              HasSubstr("traffic.kubernetes.timeout: invalid duration"));
  EXPECT_THAT(errorOf("traffic: {kubernetes: {token_file: \"\"}}\n"),
              HasSubstr("traffic.kubernetes.token_file: must not be empty"));
  EXPECT_THAT(errorOf("traffic:\n"
                      "  backend: kubernetes\n"
                      "  kubernetes: {api_version: v1, kind: Service, name: s, patch: '{}',\n"
                      "               ca_file: \"\"}\n"),
              HasSubstr("traffic.kubernetes.ca_file: required to verify the API server"));
  auto insecure = parse(
      "traffic:\n"
      "  backend: kubernetes\n"
      "  kubernetes: {api_version: v1, kind: Service, name: s, patch: '{}', ca_file: \"\",\n"
      "               insecure_skip_tls_verify: true}\n",
      "f");
  EXPECT_TRUE(insecure) << insecure.error().message;
}

TEST(Config, CoordinationNamesAndDependencies) {
  const std::string redis = "compensation: {redis: {address: \"127.0.0.1:6379\"}}\n";
  auto c = parse(redis +
                     "coordination: {service: auth-center, wait_for: [user-service, ns/billing.v2],"
                     " max_concurrent_exits: 0, heartbeat: 200ms}\n",
                 "f");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->coordination.wait_for, (std::vector<std::string>{"user-service", "ns/billing.v2"}));
  EXPECT_EQ(c->coordination.max_concurrent_exits, 0);  // 0: no cap
  EXPECT_EQ(c->coordination.heartbeat, 200ms);
  // A waiting-only pod (no service of its own) is fine too.
  EXPECT_TRUE(parse(redis + "coordination: {wait_for: [user-service]}\n", "f"));

  EXPECT_THAT(
      errorOf(redis + "coordination: {service: \"auth center\"}\n"),
      HasSubstr("test.yaml:2:25: coordination.service: invalid service name \"auth center\""));
  EXPECT_THAT(errorOf(redis + "coordination: {wait_for: [\"a,b\"]}\n"),
              HasSubstr("coordination.wait_for[0]: invalid service name \"a,b\""));
  EXPECT_THAT(errorOf(redis + "coordination: {service: \"x{y}\"}\n"),
              HasSubstr("use letters, digits and - _ . : / only"));
  EXPECT_THAT(errorOf(redis + "coordination: {wait_for: [\"\"]}\n"),
              HasSubstr("coordination.wait_for[0]: must not be empty"));
  EXPECT_THAT(errorOf(redis + "coordination: {service: a, wait_for: [b, a]}\n"),
              HasSubstr("coordination.wait_for: lists this pod's own service \"a\""));
  EXPECT_THAT(errorOf(redis + "coordination: {heartbeat: 0s}\n"),
              HasSubstr("coordination.heartbeat: invalid duration"));
  EXPECT_THAT(errorOf(redis + "coordination: {max_concurrent_exits: -1}\n"),
              HasSubstr("coordination.max_concurrent_exits"));
  EXPECT_THAT(errorOf("coordination: {wait_for: [b]}\n"), HasSubstr("needs Redis"));
}

TEST(Config, CompensatorActions) {
  auto c = parse(
      "compensator:\n"
      "  max_attempts: 3\n"
      "  claim_idle: 10s\n"
      "  actions:\n"
      "    refund: {url: \"http://payments:8080/refund/{{saga_id}}\", method: PUT, timeout: 1s}\n",
      "f");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->compensator.max_attempts, 3);
  EXPECT_EQ(c->compensator.actions.at("refund").method, "PUT");
  EXPECT_EQ(c->compensator.actions.at("refund").url, "http://payments:8080/refund/{{saga_id}}");
  EXPECT_THAT(errorOf("compensator: {actions: {refund: {url: \"ftp://x/{{id}}\"}}}\n"),
              HasSubstr("compensator.actions.refund.url: invalid URL"));
  EXPECT_THAT(errorOf("compensator: {actions: {refund: {method: POST}}}\n"),
              HasSubstr("compensator.actions.refund.url: required"));
  EXPECT_THAT(errorOf("compensator: {actions: {refund: {url: \"http://x\", method: FETCH}}}\n"),
              HasSubstr("expected one of: POST, PUT, PATCH, DELETE, GET"));
  EXPECT_THAT(errorOf("compensator: {max_attempts: 0}\n"), HasSubstr("out of range"));
}

TEST(Config, AllProblemsAreReportedInLineOrder) {
  std::string e = errorOf("log: {level: loud}\nexit: {grace_period: 1x}\nbogus: 1\n");
  size_t a = e.find("test.yaml:1:"), b = e.find("test.yaml:2:"), c = e.find("test.yaml:3:");
  ASSERT_NE(a, std::string::npos) << e;
  ASSERT_NE(b, std::string::npos) << e;
  ASSERT_NE(c, std::string::npos) << e;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(Config, YamlSyntaxErrorHasPosition) {
  EXPECT_THAT(errorOf("exit: {grace_period: 30s\n"),
              HasSubstr("test.yaml:2:1: <document>: YAML syntax error"));
}

TEST(Config, OverridesApplyLikeFileValues) {
  auto c = parse("app: {timeout: 1s}\n", "f",
                 {{"app.base_url", "http://127.0.0.1:8081/api"},
                  {"app.ports", "[8081, 9000]"},
                  {"exit.grace_period", "10s"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->app.base_url->port, 8081);
  EXPECT_EQ(c->app.base_url->path, "/api");
  EXPECT_EQ(c->app.ports, (std::vector<uint16_t>{8081, 9000}));
  EXPECT_EQ(c->app.timeout, 1s);
  EXPECT_EQ(c->exit.grace_period, 10s);
  EXPECT_THAT(errorOf("", {{"exit.grace_period", "soon"}}),
              HasSubstr("exit.grace_period: invalid duration \"soon\""));
  EXPECT_THAT(errorOf("", {{"exit.nope", "1"}}), HasSubstr("exit.nope: unknown key"));
  EXPECT_THAT(errorOf("", {{"a..b", "1"}}), HasSubstr("invalid --set key"));
}

// --set values are strings; [ or { starts a flow list or map only where the
// key takes one.
TEST(Config, SetValuesAreStringsUnlessTheKeyTakesAListOrMap) {
  auto c = parse("", "f",
                 {{"admin.listen", "[::]:9901"},
                  {"metrics.listen", "[::1]:9902"},
                  {"admin.allow_cidrs", "[10.0.0.0/8, \"fd00::/8\"]"},
                  {"traffic.steps", "[{weight: 5, hold: 1s}, {weight: 0}]"},
                  {"traffic.gate", "{source: none}"},
                  {"traffic.gate.interval", "3s"},
                  {"coordination.wait_for", "[a, b]"},
                  {"compensation.redis.address", "127.0.0.1:6379"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->admin.listen.host, "::");
  EXPECT_EQ(c->admin.listen.port, 9901);
  EXPECT_EQ(c->metrics.listen.host, "::1");
  ASSERT_EQ(c->admin.allow_cidrs.size(), 2u);
  ASSERT_EQ(c->traffic.steps.size(), 2u);
  EXPECT_EQ(c->traffic.steps[0].hold, 1s);
  EXPECT_EQ(c->traffic.gate.interval, 3s);
  EXPECT_EQ(c->coordination.wait_for, (std::vector<std::string>{"a", "b"}));
  // A string key keeps the brackets as text.
  auto t = parse("", "f", {{"admin.token", "[a, b]"}});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->admin.token, "[a, b]");
  EXPECT_THAT(errorOf("", {{"app.ports", "[8080"}}),
              HasSubstr("app.ports: expected a list, got \"[8080\""));
}

TEST(Config, SetOnADocumentThatIsNotAMapIsAnError) {
  for (const char* doc : {"just a scalar\n", "- a\n- b\n", "42\n"}) {
    auto c = parse(doc, "test.yaml", {{"app.base_url", "http://127.0.0.1:8080"}});
    ASSERT_FALSE(c) << doc;
    EXPECT_THAT(c.error().message, HasSubstr("test.yaml:1:1: <root>: expected a map of settings"));
  }
  EXPECT_THAT(errorOf("app: 5\n", {{"app.base_url", "x"}}),
              HasSubstr("--set app.base_url: \"app\" is not a map of settings"));
  EXPECT_THAT(errorOf("app: [1]\n", {{"app.hooks.drain", "/d"}}),
              HasSubstr("\"app\" is not a map of settings"));
}

TEST(Config, HostileDocumentsAreErrorsNotCrashes) {
  std::string deep(5000, '[');
  EXPECT_THAT(errorOf(deep), HasSubstr("test.yaml"));
  EXPECT_THAT(errorOf("a: &x [*x]\n"), HasSubstr("test.yaml"));
  EXPECT_THAT(errorOf("? [a, b]\n: 1\n"), HasSubstr("unknown key"));
  EXPECT_THAT(errorOf("exit: !!binary aGVsbG8=\n"), HasSubstr("exit"));
  EXPECT_THAT(errorOf(std::string(kMaxConfigBytes + 1, '#')), HasSubstr("at most"));
  EXPECT_THAT(errorOf("", {{"traffic.steps", std::string(3000, '[')}}), HasSubstr("traffic.steps"));
}

TEST(Config, SecretValuesAreNeverPrinted) {
  const std::string secret = "pa${ss-w0rd";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"admin: {token: \"" + secret + "\"}\n", "admin.token"},
      {"compensation: {redis: {password: \"" + secret + "\"}}\n", "compensation.redis.password"},
      {"traffic: {webhook: {token: \"" + secret + "\"}}\n", "traffic.webhook.token"},
      {"admin: {token: [\"" + secret + "\"]}\n", "admin.token"},
      {"admin: {token: {\"" + secret + "\": 1}}\n", "admin.token"},
  };
  for (const auto& [yaml, key] : cases) {
    const std::string e = errorOf(yaml);
    EXPECT_THAT(e, HasSubstr(key)) << yaml;
    EXPECT_EQ(e.find("w0rd"), std::string::npos) << e;
  }
  // The expansion error still says what is wrong, only without the value.
  EXPECT_THAT(errorOf("admin: {token: \"" + secret + "\"}\n"),
              HasSubstr("admin.token: unterminated \"${\" in \"<hidden>\""));
  EXPECT_EQ(errorOf("admin: {token: \"${b@d}\"}\n").find("b@d"), std::string::npos);
  // The same through --set, and for a key named secret or headers anywhere.
  const std::string set = errorOf("", {{"compensation.redis.password", secret}});
  EXPECT_THAT(set, HasSubstr("compensation.redis.password"));
  EXPECT_EQ(set.find("w0rd"), std::string::npos) << set;
  const std::string other =
      errorOf("trace: {otlp: {headers: {authorization: \"" + secret + "\"}}}\n");
  EXPECT_EQ(other.find("w0rd"), std::string::npos) << other;
  // Keys that are not secret still show their value.
  EXPECT_THAT(errorOf("app: {base_url: \"" + secret + "\"}\n"), HasSubstr(secret));
}

TEST(CheckConfigCommand, SetOnAScalarDocumentExitsTwoWithAClearError) {
  testing::TempDir dir;
  std::string scalar = dir.write("scalar.yaml", "just a scalar\n");
  std::string secret =
      dir.write("secret.yaml", "compensation: {redis: {password: \"hunter${2\"}}\n");
  std::string out = dir.file("out.txt");
  EXPECT_EQ(
      testing::runCommand(
          {testing::lameduckBinary(), "check-config", scalar, "--set", "app.base_url=x"}, out),
      2);
  EXPECT_THAT(testing::readFile(out), HasSubstr("<root>: expected a map of settings"));
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "check-config", secret}, out), 2);
  EXPECT_THAT(testing::readFile(out), HasSubstr("compensation.redis.password"));
  EXPECT_EQ(testing::readFile(out).find("hunter"), std::string::npos) << testing::readFile(out);
  EXPECT_EQ(
      testing::runCommand(
          {testing::lameduckBinary(), "check-config", "--set", "admin.listen=[::]:9901"}, out),
      0)
      << testing::readFile(out);
}

TEST(Config, MissingFileIsAClearError) {
  auto c = loadFile("/nonexistent/lameduck.yaml");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("cannot read config file /nonexistent/lameduck.yaml"));
}

TEST(CheckConfigCommand, ExitsNonZeroAndNamesTheProblem) {
  testing::TempDir dir;
  std::string bad = dir.write("bad.yaml", "exit:\n  grace_period: 30x\n");
  std::string good = dir.write("good.yaml", "exit: {grace_period: 20s}\n");
  std::string out = dir.file("out.txt");
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "check-config", bad}, out), 2);
  EXPECT_THAT(testing::readFile(out),
              HasSubstr("bad.yaml:2:17: exit.grace_period: invalid duration \"30x\""));
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "check-config", good}, out), 0);
  EXPECT_THAT(testing::readFile(out), HasSubstr("configuration is valid"));
  EXPECT_EQ(testing::runCommand(
                {testing::lameduckBinary(), "check-config", dir.file("missing.yaml")}, out),
            2);
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "run", "--config", bad}, out), 2);
  EXPECT_THAT(testing::readFile(out), HasSubstr("invalid configuration"));
}

}  // namespace
}  // namespace lameduck::config
