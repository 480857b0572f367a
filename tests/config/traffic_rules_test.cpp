// The rules the Kubernetes client and the traffic backends rely on (object
// reference, patch template, HAProxy socket path) are config rules: a
// config that breaks them is refused by the loader with every problem at
// once, each at its position, by check-config and by `lameduck run` alike.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config/errors.h"
#include "config/rules.h"
#include "support/harness.h"

namespace lameduck::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using testing::errorOf;

constexpr const char* kBadKubernetes =
    "traffic:\n"
    "  backend: kubernetes\n"
    "  kubernetes:\n"
    "    api_version: networking.k8s.io/v1/x\n"
    "    kind: \"Ingress class\"\n"
    "    namespace: \"x y\"\n"
    "    name: a/b\n"
    "    resource: \"..\"\n"
    "    patch: '{\"w\": {{wieght}}}'\n"
    "    ca_file: /nonexistent/ca.crt\n";

TEST(TrafficRules, ABadObjectReferenceAndTemplateAreRefusedAllAtOnceWithPositions) {
  const std::string e = errorOf(kBadKubernetes);
  EXPECT_THAT(e, AllOf(HasSubstr("test.yaml:4:18: traffic.kubernetes.api_version: invalid "
                                 "apiVersion \"networking.k8s.io/v1/x\""),
                       HasSubstr("test.yaml:5:11: traffic.kubernetes.kind: invalid kind "
                                 "\"Ingress class\"; kinds must be letters and digits"),
                       HasSubstr("test.yaml:6:16: traffic.kubernetes.namespace: \"x y\" contains ' '"),
                       HasSubstr("test.yaml:7:11: traffic.kubernetes.name: \"a/b\" contains '/'"),
                       HasSubstr("test.yaml:8:15: traffic.kubernetes.resource: \"..\" is not a name"),
                       HasSubstr("test.yaml:9:12: traffic.kubernetes.patch: unknown placeholder "
                                 "{{wieght}}")))
      << e;
}

TEST(TrafficRules, PatchTemplatesAreCheckedForTheirPatchType) {
  EXPECT_THAT(errorOf("traffic: {kubernetes: {patch_type: json, patch: '{\"op\": \"add\"}'}}\n"),
              HasSubstr("traffic.kubernetes.patch: a JSON patch must be a JSON array of operations"));
  EXPECT_THAT(errorOf("traffic: {kubernetes: {patch: '[1]'}}\n"),
              HasSubstr("traffic.kubernetes.patch: a merge patch must be a JSON object"));
  EXPECT_THAT(errorOf("traffic: {kubernetes: {patch: '{\"w\": {{weight}'}}\n"),
              HasSubstr("traffic.kubernetes.patch: \"{{\" at offset 6 is never closed"));
  EXPECT_THAT(errorOf("traffic: {kubernetes: {patch: '{\"w\": {{weight}}'}}\n"),
              HasSubstr("traffic.kubernetes.patch: rendered patch: not valid JSON"));
  // The same rule, called by components that get a patch from elsewhere.
  EXPECT_TRUE(checkPatchBody(R"([{"op":"add","path":"/a","value":1}])", PatchType::kJson));
  EXPECT_FALSE(checkPatchBody(R"([{"op":"add"}])", PatchType::kJson));
}

TEST(TrafficRules, AHaproxySocketPathThatDoesNotFitIsRefused) {
  const std::string path = "/run/" + std::string(120, 'h') + ".sock";
  EXPECT_THAT(errorOf("traffic:\n  haproxy:\n    socket: unix:" + path + "\n"),
              HasSubstr("test.yaml:3:13: traffic.haproxy.socket: invalid HAProxy socket"));
  EXPECT_THAT(errorOf("traffic:\n  haproxy:\n    socket: unix:" + path + "\n"),
              HasSubstr("at most 107 fit a unix socket address"));
  auto ok = parse("traffic: {haproxy: {socket: \"unix:/run/" + std::string(90, 'h') + "\"}}\n",
                  "f");
  EXPECT_TRUE(ok) << ok.error().message;
}

TEST(CheckConfigCommand, RunRefusesAtStartWhatCheckConfigRefuses) {
  testing::TempDir dir;
  const std::string bad = dir.write("bad.yaml", kBadKubernetes);
  const std::string out = dir.file("out.txt");
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "check-config", bad}, out), 2);
  const std::string checked = testing::readFile(out);
  EXPECT_THAT(checked, AllOf(HasSubstr("bad.yaml:6:16: traffic.kubernetes.namespace: "),
                             HasSubstr("bad.yaml:7:11: traffic.kubernetes.name: "),
                             HasSubstr("bad.yaml:9:12: traffic.kubernetes.patch: ")))
      << checked;
  // `run` refuses the same config before it starts anything (no exit runs).
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "run", "--config", bad}, out), 2);
  const std::string ran = testing::readFile(out);
  EXPECT_THAT(ran, AllOf(HasSubstr("bad.yaml:6:16: traffic.kubernetes.namespace: "),
                         HasSubstr("bad.yaml:7:11: traffic.kubernetes.name: "),
                         HasSubstr("bad.yaml:9:12: traffic.kubernetes.patch: ")))
      << ran;
}

}  // namespace
}  // namespace lameduck::config
