#include "fakes/coord.h"

#include <algorithm>

namespace lameduck::fakes {

// Counts a call as it returns, after its effect: a test that sees the
// count sees what the call did.
class FakeCoordinationBackend::Counted {
 public:
  Counted(FakeCoordinationBackend& fake, std::string what)
      : fake_(fake), what_(std::move(what)) {}
  ~Counted() {
    std::lock_guard lock(fake_.mu_);
    fake_.calls_[what_]++;
  }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;

 private:
  FakeCoordinationBackend& fake_;
  std::string what_;
};

void FakeCoordinationBackend::put(coord::PodRecord p, Duration ttl) {
  std::lock_guard lock(mu_);
  putLocked(std::move(p), ttl);
}

void FakeCoordinationBackend::remove(const std::string& service, const std::string& pod) {
  std::lock_guard lock(mu_);
  pods_[service].erase(pod);
}

void FakeCoordinationBackend::hold(const std::string& service, const std::string& holder,
                                   int64_t token, Duration ttl) {
  std::lock_guard lock(mu_);
  slots_[service][holder] = {token, clock_.now() + ttl};
  fence_ = std::max(fence_, token);
}

void FakeCoordinationBackend::release(const std::string& service, const std::string& holder) {
  std::lock_guard lock(mu_);
  slots_[service].erase(holder);
}

void FakeCoordinationBackend::at(Duration offset, std::function<void()> change) {
  std::lock_guard lock(mu_);
  script_.emplace_back(offset, std::move(change));
}

void FakeCoordinationBackend::setDown(bool down) {
  std::lock_guard lock(mu_);
  down_ = down;
}

int FakeCoordinationBackend::calls(const std::string& what) {
  std::lock_guard lock(mu_);
  return calls_[what];
}

std::vector<coord::PodRecord> FakeCoordinationBackend::published() {
  std::lock_guard lock(mu_);
  return published_;
}

std::map<std::string, int64_t> FakeCoordinationBackend::holders(const std::string& service) {
  std::lock_guard lock(mu_);
  std::map<std::string, int64_t> out;
  for (auto& [h, lease] : slots_[service]) {
    if (lease.second > clock_.now()) out[h] = lease.first;
  }
  return out;
}

Status FakeCoordinationBackend::publish(const coord::PodRecord& pod, Duration ttl) {
  const Counted counted(*this, "publish");
  if (auto s = enter(); !s) return s;
  std::lock_guard lock(mu_);
  published_.push_back(pod);
  putLocked(pod, ttl);
  return {};
}

Result<std::vector<coord::PodRecord>> FakeCoordinationBackend::pods(const std::string& service) {
  const Counted counted(*this, "pods");
  if (auto s = enter(); !s) return std::unexpected(s.error());
  std::lock_guard lock(mu_);
  std::vector<coord::PodRecord> out;
  for (auto& [name, entry] : pods_[service]) {
    if (entry.second > clock_.now()) out.push_back(entry.first);
  }
  return out;
}

Result<coord::SlotAttempt> FakeCoordinationBackend::acquireSlot(const std::string& service,
                                                                const std::string& holder,
                                                                int64_t limit, Duration ttl) {
  const Counted counted(*this, "acquire");
  if (auto s = enter(); !s) return std::unexpected(s.error());
  std::lock_guard lock(mu_);
  auto& slots = slots_[service];
  std::erase_if(slots, [&](const auto& kv) { return kv.second.second <= clock_.now(); });
  coord::SlotAttempt out;
  if (auto it = slots.find(holder); it != slots.end()) {
    it->second.second = clock_.now() + ttl;
    return coord::SlotAttempt{true, it->second.first, {}};
  }
  if (static_cast<int64_t>(slots.size()) >= limit) {
    for (auto& [h, lease] : slots) {
      out.holders.push_back(h + " (token " + std::to_string(lease.first) + ")");
    }
    return out;
  }
  slots[holder] = {++fence_, clock_.now() + ttl};
  return coord::SlotAttempt{true, fence_, {}};
}

Result<bool> FakeCoordinationBackend::renewSlot(const std::string& service,
                                                const std::string& holder, int64_t token,
                                                Duration ttl) {
  const Counted counted(*this, "renew");
  if (auto s = enter(); !s) return std::unexpected(s.error());
  std::lock_guard lock(mu_);
  auto& slots = slots_[service];
  auto it = slots.find(holder);
  if (it == slots.end() || it->second.first != token || it->second.second <= clock_.now()) {
    return false;
  }
  it->second.second = clock_.now() + ttl;
  return true;
}

Status FakeCoordinationBackend::releaseSlot(const std::string& service,
                                            const std::string& holder, int64_t token) {
  const Counted counted(*this, "release");
  if (auto s = enter(); !s) return s;
  std::lock_guard lock(mu_);
  auto& slots = slots_[service];
  if (auto it = slots.find(holder); it != slots.end() && it->second.first == token) {
    slots.erase(it);
  }
  return {};
}

void FakeCoordinationBackend::putLocked(coord::PodRecord p, Duration ttl) {
  const std::string service = p.service, pod = p.pod;
  pods_[service][pod] = {std::move(p), clock_.now() + ttl};
}

Status FakeCoordinationBackend::enter() {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(mu_);
    for (auto it = script_.begin(); it != script_.end();) {
      if (clock_.now() - t0_ >= it->first) {
        due.push_back(std::move(it->second));
        it = script_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& change : due) change();
  std::lock_guard lock(mu_);
  if (down_) return makeError(ErrorCode::kUnavailable, "Redis unix:/x: cannot connect");
  return {};
}

}  // namespace lameduck::fakes
