#pragma once

// Parsers for the value formats lameduck accepts in config and on the command
// line. Each returns an Error whose message says what is accepted; callers add
// where the value came from.
//
// Thread-safety: pure functions, callable from any thread.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"

namespace lameduck {

// "500ms", "30s", "2m", "1h", "1m30s", "1.5s". A bare number is refused:
// a unit is required so that "30" cannot silently mean 30 ns or 30 s.
Result<Duration> parseDuration(std::string_view text);

// "1m30s" style, shortest exact form; inverse of parseDuration.
std::string formatDuration(Duration d);

// An address or URL as an error message may quote it: in double quotes,
// any credentials before an '@' in its authority replaced by "***"
// ("redis://:***@redis:6379", "http://***@app/x"), and cut to 200
// characters with "..." so a huge value cannot flood the log.
std::string quoteAddress(std::string_view text);

// host:port for listening or connecting. Host is an IPv4 address, a
// bracketed IPv6 address ("[::]:9901"), or a DNS name; an empty host
// (":9901") means all interfaces. Port 0..65535 (0 = pick a free one).
struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string str() const;  // host:port, brackets restored for IPv6
};
Result<HostPort> parseHostPort(std::string_view text);

// http://host[:port][/base/path] or https://...
struct HttpUrl {
  std::string scheme;          // "http" or "https"
  std::string host;            // without brackets
  uint16_t port = 0;           // explicit or the scheme's default
  std::string path;            // "" or starting with '/', no trailing '/'
  std::string origin() const;  // scheme://host:port
};
Result<HttpUrl> parseHttpUrl(std::string_view text);

// A decimal integer (an optional '-', then digits) that fills `text` exactly
// and fits int64; nullopt for anything else ("", "+1", "12x", " 1").
std::optional<int64_t> parseWholeInt64(std::string_view text);

// Percent-encodes everything but RFC 3986 unreserved characters, for query
// parameter values.
std::string urlEncode(std::string_view text);
// The same, and '.' too, for a value put into a URL path: "." and ".." can
// then never become a path segment of their own.
std::string pathSegmentEncode(std::string_view text);

// An IPv4 or IPv6 network in CIDR notation ("10.0.0.0/8", "fd00::/8"). A plain
// address is a /32 or /128. IPv4-mapped IPv6 peers ("::ffff:10.1.2.3") match
// IPv4 networks.
class Cidr {
 public:
  static Result<Cidr> parse(std::string_view text);
  // False for anything that is not an IP address.
  bool contains(std::string_view address) const;
  std::string str() const { return text_; }

 private:
  std::array<uint8_t, 16> net_{};  // IPv4 stored as IPv4-mapped IPv6
  int prefix_ = 0;                 // in IPv6 bits
  std::string text_;
};

}  // namespace lameduck
