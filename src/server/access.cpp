#include "server/access.h"

#include <strings.h>

namespace lameduck::server {
namespace {

// Compares without an early exit so that timing does not reveal how much of
// a guessed token was right.
bool constantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (size_t i = 0; i < longer.size(); ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace

bool AccessPolicy::sourceAllowed(const std::string& remote_addr) const {
  if (cidrs_.empty()) return true;
  bool allowed = false;
  for (const Cidr& c : cidrs_) allowed = allowed || c.contains(remote_addr);
  return allowed;
}

Access AccessPolicy::check(const std::string& remote_addr, const std::string& authorization) const {
  if (!sourceAllowed(remote_addr)) return Access::kSourceDenied;
  if (token_.empty()) return Access::kAllowed;
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      strncasecmp(authorization.c_str(), kBearer.data(), kBearer.size()) != 0) {
    return Access::kNoToken;
  }
  return constantTimeEquals(authorization.substr(kBearer.size()), token_) ? Access::kAllowed
                                                                          : Access::kBadToken;
}

}  // namespace lameduck::server
