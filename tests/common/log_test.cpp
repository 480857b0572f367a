#include "common/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace lameduck::log {
namespace {

Identity who() {
  Identity id;
  id.pod = "app-7d9f";
  id.namespace_ = "shop";
  id.pod_uid = "1234-abcd";
  id.node = "node-1";
  id.revision = "42";
  id.commit = "abc123";
  return id;
}

TEST(LogRecord, IsValidJsonWhateverTheMessageHolds) {
  const std::string nasty = "quote \" backslash \\ newline\n tab\t ctrl\x01 brace } \xff\xfe end";
  std::string line =
      formatRecord(Format::kJson, WallTime{}, Level::kWarn, nasty,
                   {{"detail", nasty}, {"count", 3}, {"ratio", 0.5}, {"ok", true}}, who(), false);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);  // throws if invalid
  EXPECT_EQ(j["level"], "warn");
  EXPECT_NE(j["msg"].get<std::string>().find("quote \" backslash \\ newline\n"), std::string::npos);
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["ratio"], 0.5);
  EXPECT_EQ(j["ok"], true);
}

TEST(LogRecord, CarriesThePodIdentity) {
  auto j = nlohmann::json::parse(
      formatRecord(Format::kJson, WallTime{}, Level::kInfo, "m", {}, who(), /*is_audit=*/true));
  EXPECT_EQ(j["pod"], "app-7d9f");
  EXPECT_EQ(j["namespace"], "shop");
  EXPECT_EQ(j["pod_uid"], "1234-abcd");
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["revision"], "42");
  EXPECT_EQ(j["commit"], "abc123");
  EXPECT_EQ(j["audit"], true);
  EXPECT_EQ(j["ts"], "1970-01-01T00:00:00.000Z");
}

TEST(LogRecord, FieldsCannotOverwriteFixedKeys) {
  auto j = nlohmann::json::parse(formatRecord(Format::kJson, WallTime{}, Level::kInfo, "real",
                                              {{"msg", "fake"}}, who(), false));
  EXPECT_EQ(j["msg"], "real");
  EXPECT_EQ(j["field.msg"], "fake");
}

TEST(LogRecord, TextFormatStaysOnOneLine) {
  std::string line = formatRecord(Format::kText, WallTime{}, Level::kInfo, "two\nlines",
                                  {{"k", "v\nw"}}, who(), false);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("k=\"v\\nw\""), std::string::npos) << line;
}

TEST(LogIdentity, ReadsTheDownwardApiEnvironment) {
  setenv("POD_NAME", "p", 1);
  setenv("POD_NAMESPACE", "ns", 1);
  setenv("POD_UID", "u", 1);
  setenv("NODE_NAME", "n", 1);
  setenv("POD_REVISION", "r", 1);
  Identity id = Identity::fromEnvironment();
  EXPECT_EQ(id.pod, "p");
  EXPECT_EQ(id.namespace_, "ns");
  EXPECT_EQ(id.pod_uid, "u");
  EXPECT_EQ(id.node, "n");
  EXPECT_EQ(id.revision, "r");
}

TEST(LogLevel, ParsesKnownNamesOnly) {
  EXPECT_EQ(parseLevel("warn").value(), Level::kWarn);
  EXPECT_FALSE(parseLevel("verbose"));
  EXPECT_EQ(parseFormat("text").value(), Format::kText);
  EXPECT_FALSE(parseFormat("xml"));
}

}  // namespace
}  // namespace lameduck::log
