#pragma once

// The one way lameduck reads JSON that comes from outside (app hook answers,
// Prometheus, the Kubernetes API, webhooks). Outside JSON is hostile: it may
// be huge, nested 100,000 deep (a recursive dump() or compare would blow the
// stack), or have any type where a field is expected. So:
//   - every text is checked against a size bound, a nesting-depth bound and
//     a bound on the number of values before any parser sees it
//     (checkJsonBounds). The last one bounds a parsed document's memory: a
//     value costs the document up to ~100 bytes whatever its text (`{}` is 2
//     bytes of text but ~85 bytes parsed), so 16 MiB of `[{},{},...]` would
//     take ~600 MB, far past the pod's memory limit;
//   - a parsed document is read through JsonValue, whose accessors return
//     Result and never throw; an error names the document, the path and
//     both types: `status hook answer: inflight: expected an integer, got a
//     string`.
// nlohmann/json stays out of this header (it is compiled in json_in.cpp).
//
// Thread-safety: a JsonDoc and its JsonValues are immutable once parsed and
// may be read from any number of threads.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace lameduck {

// What one value (or object member name) costs a parsed document at most,
// besides its text: measured with nlohmann/json 3.11 on 64-bit glibc
// (an empty object in an array ~85 bytes, a member `"k": 0` ~96 for two).
inline constexpr size_t kJsonBytesPerValue = 96;

struct JsonLimits {
  size_t max_bytes = 16 * 1024 * 1024;
  // Containers inside containers; the answers lameduck reads need < 10.
  size_t max_depth = 64;
  // Values, member names included. 65,536 keeps a document under ~6 MiB
  // (kJsonBytesPerValue each) plus its strings; the documents lameduck
  // parses (a Prometheus vector, a Kubernetes object, a collector answer)
  // have hundreds.
  size_t max_values = 64 * 1024;
};

// kBadResponse when `text` is longer than max_bytes, nests objects and
// arrays deeper than max_depth, or holds more than max_values values and
// member names (all counted outside strings, in one pass). It does not check
// that the text is valid JSON. `what` names the document in the message,
// which also names the bound and the value found.
Status checkJsonBounds(std::string_view text, const JsonLimits& limits, std::string_view what);

class JsonDoc;

// A node of a parsed document. Cheap to copy; keeps its document alive.
class JsonValue {
 public:
  enum class Kind { kNull, kBool, kInteger, kNumber, kString, kArray, kObject };

  Kind kind() const;
  // "null", "a boolean", "an integer", "a number", "a string", "an array", "an object".
  std::string_view kindName() const;
  // Where this value is: "" for the root, "data.result[2].value".
  const std::string& path() const { return path_; }

  bool isNull() const { return kind() == Kind::kNull; }
  bool isObject() const { return kind() == Kind::kObject; }
  bool isArray() const { return kind() == Kind::kArray; }

  // Typed reads; kBadResponse naming the path when the type differs.
  Result<std::string> string() const;
  Result<bool> boolean() const;
  // An integer that fits int64 (a larger one or a fraction is refused).
  Result<int64_t> int64() const;
  // Any JSON number.
  Result<double> number() const;

  // An object member; kBadResponse when this is not an object or the key is
  // absent.
  Result<JsonValue> field(std::string_view key) const;
  // An object member, or nullopt when absent; kBadResponse when this is not
  // an object.
  Result<std::optional<JsonValue>> optionalField(std::string_view key) const;
  // The elements of an array; kBadResponse when this is not an array.
  Result<std::vector<JsonValue>> elements() const;

  // Compact JSON text of this value, at most `max_bytes` (longer text ends in
  // "..."). Safe on any accepted document: its depth is bounded.
  std::string text(size_t max_bytes = 200) const;

  // "<what>: <path>: expected <expected>, got <kind>" as an Error.
  Error typeError(std::string_view expected) const;

 private:
  friend class JsonDoc;
  JsonValue(std::shared_ptr<const JsonDoc> doc, const void* node, std::string path)
      : doc_(std::move(doc)), node_(node), path_(std::move(path)) {}
  Error error(std::string message) const;
  std::string childPath(std::string_view key) const;

  std::shared_ptr<const JsonDoc> doc_;
  const void* node_;  // a const nlohmann::json* inside doc_
  std::string path_;
};

// A parsed document.
class JsonDoc : public std::enable_shared_from_this<JsonDoc> {
 public:
  // Checks the bounds, then parses. kBadResponse naming `what` for a text
  // over a bound or not valid JSON (with the start of the text quoted).
  static Result<JsonValue> parse(std::string_view text, std::string what,
                                 const JsonLimits& limits = {});
  ~JsonDoc();
  JsonDoc(const JsonDoc&) = delete;
  JsonDoc& operator=(const JsonDoc&) = delete;

  const std::string& what() const { return what_; }

 private:
  struct Impl;
  JsonDoc(std::string what, std::unique_ptr<Impl> impl);
  std::string what_;
  std::unique_ptr<Impl> impl_;
  friend class JsonValue;
};

// At most `max_bytes` of `text` in double quotes, control characters
// replaced by spaces, "..." when cut: for quoting outside input in messages.
std::string quoteExcerpt(std::string_view text, size_t max_bytes = 120);

}  // namespace lameduck
