#include "http/request_check.h"

#include <string>

namespace lameduck::http {
namespace {

// RFC 9110 5.6.2: tchar.
bool isTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool isToken(std::string_view text) {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (!isTokenChar(c)) return false;
  }
  return true;
}

bool breaksTheLine(unsigned char c) { return c == '\r' || c == '\n' || c == '\0'; }

}  // namespace

Status checkHeaders(const Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (!isToken(name)) {
      return makeError(ErrorCode::kInvalidArgument,
                       "header name \"" + std::string(name.substr(0, 64)) +
                           "\" is not a token (letters, digits and !#$%&'*+-.^_`|~); refused");
    }
    for (unsigned char c : value) {
      if (breaksTheLine(c)) {
        return makeError(ErrorCode::kInvalidArgument,
                         "header \"" + name + "\": the value contains CR, LF or NUL; refused");
      }
    }
  }
  return {};
}

Status checkRequestLine(std::string_view method, std::string_view target) {
  if (!isToken(method)) {
    return makeError(ErrorCode::kInvalidArgument, "the request method is not a token; refused");
  }
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) {
      return makeError(ErrorCode::kInvalidArgument,
                       "the request path contains a space or control character; refused");
    }
  }
  return {};
}

}  // namespace lameduck::http
