#include "http/wire.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

namespace lameduck::http::detail {
namespace {

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hexValue(s[i + 1]);
      const int lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The query string after '?': "a=1&b=x%20y" (a repeated name keeps its first value).
void readQuery(std::string_view query, std::map<std::string, std::string>& params) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (!pair.empty()) {
      params.emplace(percentDecode(pair.substr(0, eq), true),
                     eq == std::string_view::npos ? std::string()
                                                  : percentDecode(pair.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

// The header lines after the request line; a Refusal when one is malformed
// or there are too many.
std::optional<Refusal> readHeaders(std::string_view rest, size_t max_headers, Headers& headers) {
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    size_t colon = h.find(':');
    if (colon == 0 || colon == std::string_view::npos || h.front() == ' ' || h.front() == '\t' ||
        h.substr(0, colon).find(' ') != std::string_view::npos) {
      return Refusal{400, "malformed header line"};
    }
    if (headers.size() >= max_headers) return Refusal{431, "too many headers"};
    headers.emplace(std::string(h.substr(0, colon)), std::string(trim(h.substr(colon + 1))));
  }
  return std::nullopt;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool hasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string renderResponse(const Response& res, bool keep_alive, bool head) {
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " +
                    std::string(reasonPhrase(res.status)) + "\r\n";
  out += "Content-Type: " + res.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  for (const auto& [k, v] : res.headers) {
    if (iequals(k, "Content-Length") || iequals(k, "Content-Type") || iequals(k, "Connection")) {
      continue;
    }
    out += k + ": " + v + "\r\n";
  }
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  if (!head) out += res.body;
  return out;
}

ReadResult readRequest(std::string_view in, const WireLimits& limits) {
  const Refusal too_long{431, "request head longer than " + std::to_string(limits.max_head_bytes) +
                                  " bytes"};
  const size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (in.size() > limits.max_head_bytes) return too_long;
    return NeedMore{};
  }
  if (head_end > limits.max_head_bytes) return too_long;
  const std::string_view head = in.substr(0, head_end);
  ParsedRequest out;
  Request& req = out.request;

  const size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
    return Refusal{400, "malformed request line"};
  }
  req.method = std::string(line.substr(0, sp1));
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return Refusal{400, "unsupported HTTP version"};
  }
  if (target.empty() || target.front() != '/') return Refusal{400, "malformed target"};
  const size_t q = target.find('?');
  req.path = percentDecode(target.substr(0, q), false);
  if (q != std::string_view::npos) readQuery(target.substr(q + 1), req.params);
  const std::string_view rest =
      line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  if (auto refused = readHeaders(rest, limits.max_headers, req.headers)) return *refused;

  if (req.headers.count("Transfer-Encoding") > 0) {
    return Refusal{501, "chunked request bodies are not accepted; send Content-Length"};
  }
  size_t length = 0;
  if (auto it = req.headers.find("Content-Length"); it != req.headers.end()) {
    const std::string& v = it->second;
    if (v.empty() || v.size() > 12 ||
        !std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return Refusal{400, "malformed Content-Length"};
    }
    length = std::stoull(v);
    if (length > limits.max_body_bytes) {
      return Refusal{413, "request body longer than " + std::to_string(limits.max_body_bytes) +
                              " bytes"};
    }
  }
  const size_t body_start = head_end + 4;
  if (in.size() < body_start + length) {
    const bool expect_continue = hasToken(req.header("Expect"), "100-continue");
    return NeedMore{expect_continue, std::move(req)};
  }
  req.body = std::string(in.substr(body_start, length));
  out.consumed = body_start + length;
  const std::string connection = req.header("Connection");
  out.keep_alive = version == "HTTP/1.1" ? !hasToken(connection, "close")
                                         : hasToken(connection, "keep-alive");
  out.head = req.method == "HEAD";
  return out;
}

}  // namespace lameduck::http::detail
