#include "common/json_in.h"

#include <nlohmann/json.hpp>

namespace lameduck {
namespace {

using nlohmann::json;

const json& node(const void* p) { return *static_cast<const json*>(p); }

}  // namespace

std::string quoteExcerpt(std::string_view text, size_t max_bytes) {
  std::string s(text.substr(0, max_bytes));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return "\"" + s + (text.size() > max_bytes ? "...\"" : "\"");
}

Status checkJsonBounds(std::string_view text, const JsonLimits& limits, std::string_view what) {
  if (text.size() > limits.max_bytes) {
    return makeError(ErrorCode::kBadResponse,
                     std::string(what) + ": " + std::to_string(text.size()) +
                         " bytes, more than the bound of " + std::to_string(limits.max_bytes));
  }
  size_t depth = 0;
  // Strings (values and member names), containers and the first character
  // of each number or literal: in a valid text, exactly the values and
  // member names a parser would build. An invalid text fails to parse at
  // its first error, after building at most the values of the valid part.
  size_t values = 0;
  bool in_string = false;
  bool escaped = false;
  bool in_token = false;  // inside a number or literal
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    const bool token_char = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                            (c >= 'A' && c <= 'Z') || c == '-' || c == '+' || c == '.';
    if (token_char && !in_token) ++values;
    in_token = token_char;
    if (c == '"') {
      in_string = true;
      ++values;
    } else if (c == '{' || c == '[') {
      ++values;
      if (++depth > limits.max_depth) {
        return makeError(ErrorCode::kBadResponse,
                         std::string(what) + ": nested deeper than " +
                             std::to_string(limits.max_depth) + " levels (at byte " +
                             std::to_string(i) + ")");
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  if (values > limits.max_values) {
    return makeError(ErrorCode::kBadResponse,
                     std::string(what) + ": " + std::to_string(values) +
                         " JSON values and member names, more than the bound of " +
                         std::to_string(limits.max_values) + " (parsed, each costs up to " +
                         std::to_string(kJsonBytesPerValue) + " bytes of memory)");
  }
  return {};
}

struct JsonDoc::Impl {
  json root;
};

JsonDoc::JsonDoc(std::string what, std::unique_ptr<Impl> impl)
    : what_(std::move(what)), impl_(std::move(impl)) {}
JsonDoc::~JsonDoc() = default;

Result<JsonValue> JsonDoc::parse(std::string_view text, std::string what,
                                 const JsonLimits& limits) {
  if (auto ok = checkJsonBounds(text, limits, what); !ok) return std::unexpected(ok.error());
  auto impl = std::make_unique<Impl>();
  impl->root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (impl->root.is_discarded()) {
    return makeError(ErrorCode::kBadResponse, what + ": not valid JSON: " + quoteExcerpt(text));
  }
  std::shared_ptr<const JsonDoc> doc(new JsonDoc(std::move(what), std::move(impl)));
  return JsonValue(doc, &doc->impl_->root, "");
}

JsonValue::Kind JsonValue::kind() const {
  const json& j = node(node_);
  switch (j.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return Kind::kNull;
    case json::value_t::boolean:
      return Kind::kBool;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return Kind::kInteger;
    case json::value_t::number_float:
      return Kind::kNumber;
    case json::value_t::string:
    case json::value_t::binary:
      return Kind::kString;
    case json::value_t::array:
      return Kind::kArray;
    case json::value_t::object:
      return Kind::kObject;
  }
  return Kind::kNull;
}

std::string_view JsonValue::kindName() const {
  switch (kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "a boolean";
    case Kind::kInteger:
      return "an integer";
    case Kind::kNumber:
      return "a number";
    case Kind::kString:
      return "a string";
    case Kind::kArray:
      return "an array";
    case Kind::kObject:
      return "an object";
  }
  return "null";
}

Error JsonValue::error(std::string message) const {
  return Error{ErrorCode::kBadResponse,
               doc_->what() + ": " + (path_.empty() ? "" : path_ + ": ") + message};
}

Error JsonValue::typeError(std::string_view expected) const {
  return error("expected " + std::string(expected) + ", got " + std::string(kindName()) +
               (isObject() || isArray() ? "" : " " + text(60)));
}

std::string JsonValue::childPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

Result<std::string> JsonValue::string() const {
  const json& j = node(node_);
  if (!j.is_string()) return std::unexpected(typeError("a string"));
  return j.get_ref<const std::string&>();
}

Result<bool> JsonValue::boolean() const {
  const json& j = node(node_);
  if (!j.is_boolean()) return std::unexpected(typeError("a boolean"));
  return j.get<bool>();
}

Result<int64_t> JsonValue::int64() const {
  const json& j = node(node_);
  if (j.is_number_integer() && !j.is_number_unsigned()) return j.get<int64_t>();
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
    return std::unexpected(error("integer " + std::to_string(u) + " is out of range"));
  }
  return std::unexpected(typeError("an integer"));
}

Result<double> JsonValue::number() const {
  const json& j = node(node_);
  if (!j.is_number()) return std::unexpected(typeError("a number"));
  return j.get<double>();
}

Result<std::optional<JsonValue>> JsonValue::optionalField(std::string_view key) const {
  const json& j = node(node_);
  if (!j.is_object()) return std::unexpected(typeError("an object"));
  auto it = j.find(key);
  if (it == j.end()) return std::optional<JsonValue>();
  return std::optional<JsonValue>(JsonValue(doc_, &*it, childPath(key)));
}

Result<JsonValue> JsonValue::field(std::string_view key) const {
  auto f = optionalField(key);
  if (!f) return std::unexpected(f.error());
  if (!*f) return std::unexpected(error("no field \"" + std::string(key) + "\""));
  return **f;
}

Result<std::vector<JsonValue>> JsonValue::elements() const {
  const json& j = node(node_);
  if (!j.is_array()) return std::unexpected(typeError("an array"));
  std::vector<JsonValue> out;
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    out.push_back(JsonValue(doc_, &j[i], path_ + "[" + std::to_string(i) + "]"));
  }
  return out;
}

std::string JsonValue::text(size_t max_bytes) const {
  // The depth bound at parse time keeps dump()'s recursion shallow.
  std::string s = node(node_).dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > max_bytes) s = s.substr(0, max_bytes) + "...";
  return s;
}

}  // namespace lameduck
