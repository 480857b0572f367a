#pragma once

// Who may call the admin endpoints that change or reveal exit state
// (/prestop, /status): an optional bearer token and an optional list of
// source networks. Probes (/healthz, /readyz) stay open so that the kubelet
// can always reach them. Immutable once built (it copies the token and the
// networks): safe from any thread. check() never fails: every request gets
// a verdict, and an address that is in no allowed network (or is not an
// address) is refused.

#include <string>
#include <vector>

#include "common/parse.h"
#include "config/config.h"

namespace lameduck::server {

enum class Access { kAllowed, kNoToken, kBadToken, kSourceDenied };

class AccessPolicy {
 public:
  explicit AccessPolicy(const config::AdminConfig& config)
      : token_(config.token), cidrs_(config.allow_cidrs) {}

  // `authorization` is the Authorization header ("" when absent). The source
  // check comes first: a caller from a refused network learns nothing about
  // the token.
  Access check(const std::string& remote_addr, const std::string& authorization) const;
  // Whether admin.allow_cidrs lets `remote_addr` in (any address when empty).
  bool sourceAllowed(const std::string& remote_addr) const;

 private:
  std::string token_;
  std::vector<Cidr> cidrs_;
};

}  // namespace lameduck::server
