// Fuzz target: the value parsers of src/common/parse.h (durations, host:port
// addresses, URLs, CIDRs) and the W3C traceparent header a preStop request
// may carry (trace/otlp.h). The first byte picks the parser; each must return
// a value or an error for any text (no crash, no sanitizer report), and what
// a parsed value prints must be printable for any value.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/parse.h"
#include "trace/otlp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      if (auto d = lameduck::parseDuration(text)) (void)lameduck::formatDuration(*d);
      break;
    case 1:
      if (auto hp = lameduck::parseHostPort(text)) (void)lameduck::parseHostPort(hp->str());
      break;
    case 2:
      if (auto url = lameduck::parseHttpUrl(text)) {
        (void)lameduck::parseHttpUrl(url->origin() + url->path);
        (void)lameduck::urlEncode(text);
      }
      break;
    case 3:
      if (auto cidr = lameduck::Cidr::parse(text)) {
        (void)cidr->contains("10.1.2.3");
        (void)cidr->contains(text);
      }
      break;
    case 4:
      if (auto ctx = lameduck::TraceContext::parse(text)) {
        if (!lameduck::TraceContext::parse(ctx->traceparent())) std::abort();
      }
      break;
  }
  return 0;
}
