#include "common/trace_context.h"

#include <random>

namespace lameduck {
namespace {

bool isLowerHex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

bool isId(std::string_view hex, size_t digits) {
  return hex.size() == digits && isLowerHex(hex) &&
         hex.find_first_not_of('0') != std::string_view::npos;
}

std::string randomHex(size_t digits) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  do {
    s.clear();
    while (s.size() < digits) {
      uint64_t v = rng();
      for (int i = 0; i < 16 && s.size() < digits; ++i, v >>= 4) s += kHex[v & 0xf];
    }
  } while (s.find_first_not_of('0') == std::string::npos);
  return s;
}

}  // namespace

std::string TraceContext::traceparent() const { return "00-" + trace_id + "-" + span_id + "-01"; }

std::optional<TraceContext> TraceContext::parse(std::string_view h) {
  // version "-" trace-id "-" parent-id "-" flags
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  const std::string_view version = h.substr(0, 2), trace = h.substr(3, 32), span = h.substr(36, 16),
                         flags = h.substr(53, 2);
  if (!isLowerHex(version) || version == "ff" || !isTraceId(trace) || !isSpanId(span) ||
      !isLowerHex(flags)) {
    return std::nullopt;
  }
  if (version == "00" ? h.size() != 55 : (h.size() > 55 && h[55] != '-')) return std::nullopt;
  auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  return TraceContext{std::string(trace), std::string(span),
                      static_cast<uint8_t>(digit(flags[0]) * 16 + digit(flags[1]))};
}

bool isTraceId(std::string_view hex) { return isId(hex, 32); }
bool isSpanId(std::string_view hex) { return isId(hex, 16); }

std::string newTraceId() { return randomHex(32); }
std::string newSpanId() { return randomHex(16); }
std::string newTraceparent() { return TraceContext{newTraceId(), newSpanId()}.traceparent(); }

}  // namespace lameduck
