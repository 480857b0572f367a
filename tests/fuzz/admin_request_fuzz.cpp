// libFuzzer target: the bytes a client sends to lameduck's admin or metrics
// port (http/wire.h, readRequest: request line, query, headers,
// Content-Length, body), read the way the server reads a connection,
// pipelined requests included. Anyone who can reach the port controls them.
// Properties: never crashes or throws; a request never takes more bytes than
// arrived, never has a head over the limit nor a body over the limit; a
// request path always starts with '/'; a refusal is a 4xx or 5xx that
// renders as one HTTP response.
// Built by the fuzz preset, run by tests/fuzz/run (`tests/fuzz/run admin_request`).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "http/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lameduck::http::detail;
  const WireLimits limits{512, 1024, 16};
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int requests = 0; requests < 64 && !in.empty(); ++requests) {
    ReadResult r = readRequest(in, limits);
    if (auto* refusal = std::get_if<Refusal>(&r)) {
      if (refusal->status < 400 || refusal->status > 599) std::abort();
      const std::string bytes = renderResponse({refusal->status, refusal->why}, false, false);
      if (bytes.rfind("HTTP/1.1 ", 0) != 0 || bytes.find("\r\n\r\n") == std::string::npos) {
        std::abort();
      }
      return 0;
    }
    if (std::holds_alternative<NeedMore>(r)) return 0;
    const ParsedRequest& p = std::get<ParsedRequest>(r);
    if (p.consumed == 0 || p.consumed > in.size()) std::abort();
    if (p.request.body.size() > limits.max_body_bytes) std::abort();
    if (p.consumed - p.request.body.size() > limits.max_head_bytes + 4) std::abort();
    if (p.request.path.empty() || p.request.path.front() != '/') std::abort();
    if (p.request.headers.size() > limits.max_headers) std::abort();
    (void)renderResponse({200, p.request.body}, p.keep_alive, p.head);
    in.remove_prefix(p.consumed);
  }
  return 0;
}
