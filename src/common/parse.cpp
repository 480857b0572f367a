#include "common/parse.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace lameduck {
namespace {

constexpr std::string_view kDurationHelp =
    "expected a positive number with a unit (ms, s, m or h), e.g. 500ms, 30s, 2m, 1m30s";

// Parses an IPv4 or IPv6 literal into IPv4-mapped/IPv6 form.
bool parseIp(std::string_view text, std::array<uint8_t, 16>& out, bool& is_v4) {
  std::string s(text);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out.fill(0);
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    is_v4 = true;
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    is_v4 = false;
    return true;
  }
  return false;
}

Result<uint16_t> parsePort(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > 65535) {
    return makeError(ErrorCode::kInvalidArgument, "invalid port " + quoteAddress(text) + " in " +
                                                      quoteAddress(whole) +
                                                      "; expected a number from 0 to 65535");
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

std::string quoteAddress(std::string_view text) {
  constexpr size_t kMaxQuoted = 200;
  std::string out(text);
  const size_t scheme = out.find("://");
  const size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t end = std::min(out.find('/', start), out.size());
  const size_t at = out.rfind('@', end == 0 ? 0 : end - 1);
  if (at != std::string::npos && at >= start && at < end) out.replace(start, at - start, "***");
  if (out.size() > kMaxQuoted) out = out.substr(0, kMaxQuoted) + "...";
  return "\"" + out + "\"";
}

Result<Duration> parseDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return makeError(ErrorCode::kInvalidArgument, "invalid duration \"" + std::string(text) +
                                                      "\" (" + std::string(why) + "); " +
                                                      std::string(kDurationHelp));
  };
  if (text.empty()) return bad("empty");
  if (text.front() == '-') return bad("negative");
  long double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start) return bad("a number must come before each unit");
    std::string number(text.substr(start, i - start));
    if (std::count(number.begin(), number.end(), '.') > 1 || number == ".") {
      return bad("malformed number");
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    long double scale = 0;
    if (unit == "ms") {
      scale = 1e6L;
    } else if (unit == "s") {
      scale = 1e9L;
    } else if (unit == "m") {
      scale = 60e9L;
    } else if (unit == "h") {
      scale = 3600e9L;
    } else if (unit.empty()) {
      return bad("missing unit");
    } else {
      return bad("unknown unit \"" + std::string(unit) + "\"");
    }
    total_ns += std::strtold(number.c_str(), nullptr) * scale;
  }
  if (total_ns > 1e18L) return bad("too large");
  return Duration(static_cast<int64_t>(std::llround(static_cast<double>(total_ns))));
}

std::string formatDuration(Duration d) {
  using namespace std::chrono;
  int64_t ms = duration_cast<milliseconds>(d).count();
  if (ms == 0) return d.count() == 0 ? "0s" : std::to_string(d.count()) + "ns";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  int64_t h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60, rest = ms % 1000;
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (s && rest == 0) {
    out += std::to_string(s) + "s";
  } else if (rest) {
    out += std::to_string(s * 1000 + rest) + "ms";
  }
  return out;
}

std::string HostPort::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<HostPort> parseHostPort(std::string_view text) {
  const std::string help = "; expected host:port, e.g. 0.0.0.0:9901, [::]:9901 or :9901";
  if (text.empty()) return makeError(ErrorCode::kInvalidArgument, "empty address" + help);
  HostPort out;
  std::string_view port_text;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return makeError(ErrorCode::kInvalidArgument,
                       "invalid address " + quoteAddress(text) + help);
    }
    out.host = std::string(text.substr(1, close - 1));
    std::array<uint8_t, 16> ip{};
    bool v4 = false;
    if (!parseIp(out.host, ip, v4) || v4) {
      return makeError(
          ErrorCode::kInvalidArgument,
          "invalid IPv6 address \"" + out.host + "\" in " + quoteAddress(text) + help);
    }
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return makeError(ErrorCode::kInvalidArgument,
                       "invalid address " + quoteAddress(text) + " (no port)" + help);
    }
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return makeError(ErrorCode::kInvalidArgument, "invalid address " + quoteAddress(text) +
                                                        " (IPv6 hosts need brackets)" + help);
    }
    for (char c : out.host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return makeError(ErrorCode::kInvalidArgument, "invalid host in " + quoteAddress(text) + help);
      }
    }
    port_text = text.substr(colon + 1);
  }
  auto port = parsePort(port_text, text);
  if (!port) return std::unexpected(port.error());
  out.port = *port;
  if (out.host.empty()) out.host = "0.0.0.0";
  return out;
}

std::string HttpUrl::origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

Result<HttpUrl> parseHttpUrl(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid URL " + quoteAddress(text) + " (" + std::string(why) +
                         "); expected http://host[:port][/path] or https://...");
  };
  HttpUrl url;
  std::string_view rest;
  if (text.starts_with("http://")) {
    url.scheme = "http";
    url.port = 80;
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    url.scheme = "https";
    url.port = 443;
    rest = text.substr(8);
  } else {
    return bad("scheme must be http or https");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) url.path = std::string(rest.substr(slash));
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string_view::npos)
    return bad("credentials in URLs are not supported");
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after IPv6 host");
      auto port = parsePort(after.substr(1), text);
      if (!port) return bad("bad port");
      url.port = *port;
    }
  } else {
    size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      auto port = parsePort(authority.substr(colon + 1), text);
      if (!port) return bad("bad port");
      url.port = *port;
    }
  }
  if (url.host.empty()) return bad("no host");
  if (url.port == 0) return bad("port 0");
  if (url.path.find_first_of("?#") != std::string::npos)
    return bad("query or fragment not allowed");
  return url;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid CIDR \"" + std::string(text) + "\" (" + std::string(why) +
                         "); expected an IPv4 or IPv6 network like 10.0.0.0/8 or fd00::/8");
  };
  Cidr out;
  out.text_ = std::string(text);
  size_t slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  bool v4 = false;
  if (!parseIp(addr, out.net_, v4)) return bad("not an IP address");
  int max_prefix = v4 ? 32 : 128;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || prefix < 0 ||
        prefix > max_prefix) {
      return bad("prefix length must be 0.." + std::to_string(max_prefix));
    }
  }
  out.prefix_ = v4 ? prefix + 96 : prefix;
  // Clear host bits so that "10.1.2.3/8" means 10.0.0.0/8.
  for (int bit = out.prefix_; bit < 128; ++bit) {
    out.net_[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return out;
}

bool Cidr::contains(std::string_view address) const {
  std::array<uint8_t, 16> ip{};
  bool v4 = false;
  if (!parseIp(address, ip, v4)) return false;
  for (int bit = 0; bit < prefix_; ++bit) {
    uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    if ((ip[bit / 8] & mask) != (net_[bit / 8] & mask)) return false;
  }
  return true;
}

namespace {

std::string percentEncode(std::string_view text, bool keep_dot) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    const bool alnum = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
    if (alnum || ch == '-' || ch == '_' || ch == '~' || (keep_dot && ch == '.')) {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 0xF];
    }
  }
  return out;
}

}  // namespace

std::optional<int64_t> parseWholeInt64(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string urlEncode(std::string_view text) { return percentEncode(text, true); }
std::string pathSegmentEncode(std::string_view text) { return percentEncode(text, false); }

}  // namespace lameduck
