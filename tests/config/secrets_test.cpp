// Secret keys (admin.token, compensation.redis.password, traffic.webhook.token
// and every trace.otlp.headers entry): no config error carries their value,
// whether the value came from the file, from --set (as a value or inside a
// flow map), or from ${ENV}. And values from --set are named as such, never
// given a position in the file.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config/errors.h"
#include "support/harness.h"

namespace lameduck::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::errorOf;

// The text no message may contain.
constexpr const char* kSecretText = "s3cr3t-w0rd";

struct SecretKey {
  std::string section;  // the map that holds the key, as a dotted path
  std::string key;      // the key inside it
  std::string mistake;  // another entry of the map that is refused
  std::string refused;  // what the error about `mistake` says after its path
};

const std::vector<SecretKey>& secretKeys() {
  static const std::vector<SecretKey> keys = {
      {"admin", "token", "bogus: 1", "bogus: unknown key"},
      {"compensation.redis", "password", "bogus: 1", "bogus: unknown key"},
      {"traffic.webhook", "token", "bogus: 1", "bogus: unknown key"},
      {"trace.otlp.headers", "authorization", "\"bad name\": 1", "bad name: invalid header name"},
  };
  return keys;
}

// `value` at `section.key` as a YAML document ("a: {b: {key: value}}").
std::string document(const SecretKey& k, const std::string& value) {
  std::string open, close;
  size_t start = 0;
  for (size_t dot; (dot = k.section.find('.', start)) != std::string::npos; start = dot + 1) {
    open += k.section.substr(start, dot - start) + ": {";
    close += "}";
  }
  return open + k.section.substr(start) + ": {" + k.key + ": " + value + ", " + k.mistake + "}" +
         close + "\n";
}

// A value that is wrong for every secret key: an unterminated ${.
std::string brokenSecret() { return std::string("\"Bearer ") + kSecretText + "${\""; }

TEST(SecretConfig, FileValuesOfSecretKeysAreNeverPrinted) {
  for (const SecretKey& k : secretKeys()) {
    const std::string e = errorOf(document(k, brokenSecret()));
    EXPECT_THAT(e, HasSubstr(k.section + "." + k.key + ": ")) << e;
    EXPECT_THAT(e, HasSubstr(k.section + "." + k.refused)) << e;  // reported all at once
    EXPECT_THAT(e, Not(HasSubstr(kSecretText))) << e;
    // A wrong type does not quote what it holds either.
    const std::string list = errorOf(document(k, std::string("[\"") + kSecretText + "\"]"));
    EXPECT_THAT(list, HasSubstr(k.section + "." + k.key)) << list;
    EXPECT_THAT(list, Not(HasSubstr(kSecretText))) << list;
  }
}

TEST(SecretConfig, SetValuesOfSecretKeysAreNeverPrinted) {
  for (const SecretKey& k : secretKeys()) {
    // The key itself, a flow map holding it next to a mistake, and a flow map
    // that does not parse.
    const std::vector<Override> cases = {
        {k.section + "." + k.key, std::string("Bearer ") + kSecretText + "${"},
        {k.section, "{" + k.key + ": " + brokenSecret() + ", " + k.mistake + "}"},
        {k.section, "{" + k.key + ": \"Bearer " + kSecretText + "\", " + k.mistake + "}"},
        {k.section, "{" + k.key + ": \"Bearer " + kSecretText + "\", bogus"},
    };
    for (const Override& o : cases) {
      const std::string e = errorOf("", {o});
      EXPECT_THAT(e, HasSubstr("--set " + k.section)) << o.value << "\n" << e;
      EXPECT_THAT(e, Not(HasSubstr(kSecretText))) << e;
    }
  }
  // The case that used to leak: a header value in a --set flow map.
  const std::string e = errorOf(
      "", {{"trace.otlp", "{headers: {authorization: \"Bearer s3cr3t-token\"}, endpoint: ftp://x}"}});
  EXPECT_THAT(e, HasSubstr("--set trace.otlp.endpoint: "));
  EXPECT_THAT(e, Not(HasSubstr("s3cr3t-token")));
}

TEST(SecretConfig, EnvironmentValuesOfSecretKeysAreNeverPrinted) {
  // A header value from the environment that cannot be sent (a line break)
  // is refused without it; a bad reference next to one is too.
  ::setenv("LAMEDUCK_TEST_SECRET", (std::string(kSecretText) + "\nInjected: yes").c_str(), 1);
  for (const SecretKey& k : secretKeys()) {
    const std::string via_file =
        errorOf(document(k, "\"${LAMEDUCK_TEST_SECRET}${LAMEDUCK_TEST_SECRET\""));
    EXPECT_THAT(via_file, HasSubstr(k.section + "." + k.key)) << via_file;
    EXPECT_THAT(via_file, Not(HasSubstr(kSecretText))) << via_file;
    const std::string via_set =
        errorOf("", {{k.section, "{" + k.key + ": \"${LAMEDUCK_TEST_SECRET}\", " + k.mistake + "}"}});
    EXPECT_THAT(via_set, HasSubstr("--set " + k.section + "." + k.refused)) << via_set;
    EXPECT_THAT(via_set, Not(HasSubstr(kSecretText))) << via_set;
  }
  const std::string header =
      errorOf("trace: {otlp: {headers: {authorization: \"${LAMEDUCK_TEST_SECRET}\"}}}\n");
  EXPECT_THAT(header, HasSubstr("contains a line break"));
  EXPECT_THAT(header, Not(HasSubstr(kSecretText)));
  ::unsetenv("LAMEDUCK_TEST_SECRET");
}

TEST(SetConfig, EverySectionTakesAFlowMapLikeAFileDoes) {
  auto c = parse("", "empty.yaml",
                 {{"trace.otlp", "{endpoint: \"http://127.0.0.1:4318\", headers: {a: b}}"},
                  {"app.diagnostics", "{after_sigterm: 3s}"},
                  {"metrics.pushgateway", "{url: \"http://127.0.0.1:9091\"}"},
                  {"compensation.redis", "{address: \"127.0.0.1:6379\", password: x}"},
                  {"traffic.kubernetes", "{name: web, namespace: shop}"}});
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->trace.otlp.endpoint);
  EXPECT_EQ(c->trace.otlp.endpoint->port, 4318);
  ASSERT_EQ(c->trace.otlp.headers.size(), 1u);
  EXPECT_EQ(c->app.diagnostics.after_sigterm, std::chrono::seconds(3));
  ASSERT_TRUE(c->metrics.pushgateway.url);
  EXPECT_EQ(c->compensation.redis.password, "x");
  EXPECT_EQ(c->traffic.kubernetes.name, "web");
}

TEST(SetConfig, ErrorsInASetValueNameTheSetNotAFilePosition) {
  auto c = parse("exit: {grace_period: 30s}\n", "empty.yaml",
                 {{"compensation.redis", "{password: x, bogus: 1}"},
                  {"app.diagnostics", "{after_sigterm: 0s}"},
                  {"exit.safety_margin", "soon"}});
  ASSERT_FALSE(c);
  const std::string& e = c.error().message;
  EXPECT_THAT(e, HasSubstr("--set compensation.redis.bogus: unknown key \"bogus\""));
  EXPECT_THAT(e, HasSubstr("--set app.diagnostics.after_sigterm: invalid duration \"0s\""));
  EXPECT_THAT(e, HasSubstr("--set exit.safety_margin: invalid duration \"soon\""));
  EXPECT_THAT(e, Not(HasSubstr("empty.yaml:"))) << e;
  // A file value next to it keeps its position.
  auto mixed = parse("exit:\n  grace_period: 0s\n", "f.yaml", {{"exit.safety_margin", "soon"}});
  ASSERT_FALSE(mixed);
  EXPECT_THAT(mixed.error().message, HasSubstr("f.yaml:2:17: exit.grace_period: "));
  EXPECT_THAT(mixed.error().message, HasSubstr("--set exit.safety_margin: "));
}

TEST(CheckConfigCommand, SetHeaderSecretIsNotPrintedAndNamesTheSet) {
  testing::TempDir dir;
  const std::string empty = dir.write("empty.yaml", "");
  const std::string out = dir.file("out.txt");
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "check-config", empty, "--set",
                                 "trace.otlp={headers: {authorization: \"Bearer s3cr3t-token\"}, "
                                 "bogus: 1}"},
                                out),
            2);
  EXPECT_THAT(testing::readFile(out), HasSubstr("--set trace.otlp.bogus: unknown key"));
  EXPECT_THAT(testing::readFile(out), Not(HasSubstr("s3cr3t-token")));
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "check-config", empty, "--set",
                                 "compensation.redis={password: x, bogus: 1}"},
                                out),
            2);
  EXPECT_THAT(testing::readFile(out), HasSubstr("--set compensation.redis.bogus: unknown key"));
  EXPECT_THAT(testing::readFile(out), Not(HasSubstr("empty.yaml:1:")));
}

}  // namespace
}  // namespace lameduck::config
