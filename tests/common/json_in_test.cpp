// The bounds every outside JSON document is checked against before a
// parser sees it: size, depth and the number of values.

#include "common/json_in.h"

#include <gtest/gtest.h>

#include <string>

namespace lameduck {
namespace {

// `[x,x,...]` with `n` elements.
std::string arrayOf(const std::string& x, size_t n) {
  std::string s = "[";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) s += ',';
    s += x;
  }
  return s + "]";
}

TEST(JsonBounds, CountsValuesAndMemberNamesExactly) {
  // 1 array + 3 objects + 3 member names + 3 values (a string, a number, a literal).
  const std::string text = R"([{"a": "x,{[]"}, {"b": -1.5e3}, {"c": true}])";
  EXPECT_TRUE(checkJsonBounds(text, {.max_values = 10}, "doc"));
  auto over = checkJsonBounds(text, {.max_values = 9}, "doc");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().message,
            "doc: 10 JSON values and member names, more than the bound of 9 (parsed, each "
            "costs up to 96 bytes of memory)");
}

TEST(JsonBounds, ManySmallValuesAreRefusedBeforeParsingNamingTheSourceAndTheBound) {
  // 1 MiB of `{}` would cost ~45 MB as a document.
  const std::string text = arrayOf("{}", 350'000);
  auto doc = JsonDoc::parse(text, "prometheus query answer", {.max_bytes = 4 << 20});
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, ErrorCode::kBadResponse);
  EXPECT_EQ(doc.error().message.rfind("prometheus query answer: 350001 JSON values", 0), 0u)
      << doc.error().message;
  EXPECT_NE(doc.error().message.find("more than the bound of 65536"), std::string::npos);
  for (const char* tiny : {"[]", "0", "null", "\"\""}) {
    EXPECT_FALSE(JsonDoc::parse(arrayOf(tiny, 70'000), "doc")) << tiny;
  }
}

TEST(JsonBounds, DocumentsWithinTheBoundParse) {
  auto doc = JsonDoc::parse(arrayOf("{\"k\":1}", 30'000), "doc");  // 90,001 values
  EXPECT_FALSE(doc);
  auto fits = JsonDoc::parse(arrayOf("{\"k\":1}", 20'000), "doc");  // 60,001 values
  ASSERT_TRUE(fits) << fits.error().message;
  auto elements = fits->elements();
  ASSERT_TRUE(elements);
  EXPECT_EQ(elements->size(), 20'000u);
  // Strings count once whatever they hold; long ones cost their bytes only.
  auto one = JsonDoc::parse("[\"" + std::string(1 << 20, ',') + "\"]", "doc");
  EXPECT_TRUE(one);
}

TEST(JsonBounds, DepthAndSizeAreStillChecked) {
  EXPECT_FALSE(checkJsonBounds(std::string(65, '['), {}, "doc"));
  auto big = checkJsonBounds("[1, 2]", {.max_bytes = 3}, "doc");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, "doc: 6 bytes, more than the bound of 3");
}

}  // namespace
}  // namespace lameduck
