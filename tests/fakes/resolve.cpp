#include "fakes/resolve.h"

namespace lameduck::fakes {

Result<std::vector<std::string>> FakeResolver::resolve(const std::string& host) {
  std::unique_lock lock(mu_);
  ++lookups_;
  if (hang_) cv_.wait(lock, [&] { return !hang_; });
  auto it = table_.find(host);
  if (it == table_.end()) return makeError(ErrorCode::kUnavailable, "unknown host " + host);
  return it->second;
}

void FakeResolver::hang(bool on) {
  {
    std::lock_guard lock(mu_);
    hang_ = on;
  }
  cv_.notify_all();
}

int FakeResolver::lookups() {
  std::lock_guard lock(mu_);
  return lookups_;
}

}  // namespace lameduck::fakes
