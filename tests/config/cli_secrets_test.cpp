// No message of the command line prints a secret: an argument's value, a
// --set typed with the wrong separator, or credentials inside an address.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/parse.h"
#include "support/harness.h"

namespace lameduck {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSecret = "s3cr3tvalue";

// Runs lameduck with `args` and returns what it printed; the exit code must
// be 2 (bad usage or config).
std::string usageErrorOf(std::vector<std::string> args) {
  testing::TempDir dir;
  const std::string out = dir.file("out.txt");
  args.insert(args.begin(), testing::lameduckBinary());
  EXPECT_EQ(testing::runCommand(args, out), 2) << testing::readFile(out);
  return testing::readFile(out);
}

TEST(CommandLineSecrets, AnArgumentsValueIsNeverEchoed) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"prestop", "--tokn=" + std::string(kSecret)},
        {"run", "--token=" + std::string(kSecret)},
        {"check-config", "--set", "admin.token:" + std::string(kSecret)},
        {"check-config", "--set", "admin.token " + std::string(kSecret)}}) {
    const std::string out = usageErrorOf(args);
    EXPECT_THAT(out, Not(HasSubstr(kSecret))) << args.back();
    EXPECT_FALSE(out.empty());
  }
  EXPECT_THAT(usageErrorOf({"check-config", "--set", "admin.token:" + std::string(kSecret)}),
              HasSubstr("--set \"admin.token...\": expected key.path=value"));
  EXPECT_THAT(usageErrorOf({"prestop", "--tokn=" + std::string(kSecret)}),
              HasSubstr("unknown or incomplete argument \"--tokn=...\""));
}

TEST(CommandLineSecrets, CredentialsInAddressesAreNeverEchoed) {
  const std::string secret(kSecret);
  for (const std::string& set :
       {"app.base_url=http://admin:" + secret + "@127.0.0.1:8080",
        "compensation.redis.address=redis://:" + secret + "@redis:6379",
        "compensation.redis.address=:" + secret + "@redis:6379",
        "traffic.webhook.url=https://u:" + secret + "@hook:9090"}) {
    const std::string out = usageErrorOf({"check-config", "--set", set});
    EXPECT_THAT(out, Not(HasSubstr(kSecret))) << set << "\n" << out;
    EXPECT_THAT(out, HasSubstr("***")) << set << "\n" << out;
  }
}

TEST(QuoteAddress, HidesCredentialsAndCutsHugeValues) {
  EXPECT_EQ(quoteAddress("http://u:p@app:8080/x@y"), "\"http://***@app:8080/x@y\"");
  EXPECT_EQ(quoteAddress("redis://:pw@redis:6379"), "\"redis://***@redis:6379\"");
  EXPECT_EQ(quoteAddress(":pw@redis:6379"), "\"***@redis:6379\"");
  EXPECT_EQ(quoteAddress("http://app:8080/a@b"), "\"http://app:8080/a@b\"");
  EXPECT_EQ(quoteAddress("127.0.0.1:80"), "\"127.0.0.1:80\"");
  EXPECT_EQ(quoteAddress(""), "\"\"");
  const std::string quoted = quoteAddress(std::string(100000, 'a'));
  EXPECT_EQ(quoted.size(), 200u + 5u);
  EXPECT_TRUE(quoted.ends_with("...\""));
}

}  // namespace
}  // namespace lameduck
