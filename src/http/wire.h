#pragma once

// HTTP/1.1 on the wire for lameduck's own ports (internal to src/http):
// reading one request out of the bytes a connection has sent so far, and
// writing a response.
//
// The request bytes come from anyone who can reach the port, so every length
// is bounded by WireLimits and anything malformed becomes a Refusal (status
// and reason) that the server answers before it closes the connection. A
// request body must come with Content-Length; chunked bodies are refused
// (501). Pure functions of their arguments: thread-safe, no I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "http/http.h"

namespace lameduck::http::detail {

struct WireLimits {
  size_t max_head_bytes = 8192;    // request line and headers, without the blank line
  size_t max_body_bytes = 65536;
  size_t max_headers = 100;
};

// One whole request.
struct ParsedRequest {
  Request request;          // remote_addr is left to the caller
  bool keep_alive = false;  // HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive
  bool head = false;        // HEAD: routed as GET, answered without the body
  size_t consumed = 0;      // bytes of the input it took (head, blank line, body)
};

// Not a request that will be served: the status to answer and why.
struct Refusal {
  int status = 400;
  std::string why;
};

// The request has not fully arrived. `head`: its head is complete (the
// request without its body), its body is not. `expect_continue`: besides,
// the client waits for "100 Continue" before sending the body.
struct NeedMore {
  bool expect_continue = false;
  std::optional<Request> head{};
};

using ReadResult = std::variant<NeedMore, ParsedRequest, Refusal>;

// Reads the first request in `in`. Bytes after it (a pipelined request) are
// left for the next call.
ReadResult readRequest(std::string_view in, const WireLimits& limits);

// The status line, Content-Type, Content-Length, the response's own headers
// (except those three and Connection), Connection, and the body unless
// `head`.
std::string renderResponse(const Response& res, bool keep_alive, bool head);

// Case-insensitive ASCII comparison of header names and tokens.
bool iequals(std::string_view a, std::string_view b);
// Whether a comma-separated header value holds `token` (case-insensitive).
bool hasToken(std::string_view value, std::string_view token);

}  // namespace lameduck::http::detail
