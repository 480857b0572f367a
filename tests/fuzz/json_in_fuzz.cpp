// Fuzz target: the bounded JSON reader (common/json_in.h). Any input must
// give a value or an error, never a crash, a throw or deep recursion.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json_in.h"

namespace {

// Walks the value through every accessor, a few levels deep.
void walk(const lameduck::JsonValue& v, int depth) {
  (void)v.kindName();
  (void)v.string();
  (void)v.boolean();
  (void)v.int64();
  (void)v.number();
  (void)v.text(64);
  (void)v.field("a");
  if (depth > 8) return;
  if (auto items = v.elements()) {
    for (const auto& item : *items) walk(item, depth + 1);
  }
  if (auto f = v.optionalField("status"); f && *f) walk(**f, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)lameduck::checkJsonBounds(text, {1 << 20, 64}, "fuzz");
  if (auto doc = lameduck::JsonDoc::parse(text, "fuzz", {1 << 20, 64})) walk(*doc, 0);
  return 0;
}
