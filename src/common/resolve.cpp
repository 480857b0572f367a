#include "common/resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>


namespace lameduck {
namespace {

class SystemResolver final : public Resolver {
 public:
  Result<std::vector<std::string>> resolve(const std::string& host) override {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
      return makeError(ErrorCode::kUnavailable,
                       "cannot resolve host " + host + ": " + ::gai_strerror(rc));
    }
    std::vector<std::string> out;
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
      char text[NI_MAXHOST];
      if (::getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) !=
          0) {
        continue;
      }
      if (std::find(out.begin(), out.end(), text) == out.end()) out.emplace_back(text);
    }
    ::freeaddrinfo(found);
    if (out.empty()) {
      return makeError(ErrorCode::kUnavailable, "cannot resolve host " + host + ": no address");
    }
    return out;
  }
};

// Lookups running now, the abandoned ones included.
std::atomic<int> pending_lookups{0};

// What a lookup thread and its caller share; the thread keeps it alive when
// the caller has stopped waiting.
struct Lookup {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<std::vector<std::string>>> answer;
};

}  // namespace

std::shared_ptr<Resolver> systemResolver() {
  static const std::shared_ptr<Resolver> instance = std::make_shared<SystemResolver>();
  return instance;
}

bool isIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Result<std::vector<std::string>> resolveWithin(const std::shared_ptr<Resolver>& resolver,
                                               const std::string& host, Clock& clock,
                                               TimePoint deadline) {
  if (isIpLiteral(host)) return std::vector<std::string>{host};
  if (pending_lookups.fetch_add(1) >= kMaxPendingLookups) {
    pending_lookups.fetch_sub(1);
    return makeError(ErrorCode::kUnavailable,
                     "cannot resolve host " + host + ": " + std::to_string(kMaxPendingLookups) +
                         " DNS lookups are still pending (the resolver is not answering)");
  }
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, resolver, host] {
      auto answer = resolver->resolve(host);
      {
        std::lock_guard lock(lookup->mu);
        lookup->answer = std::move(answer);
      }
      lookup->cv.notify_all();
      pending_lookups.fetch_sub(1);
    }).detach();
  } catch (const std::system_error& e) {
    pending_lookups.fetch_sub(1);
    return makeError(ErrorCode::kUnavailable,
                     "cannot resolve host " + host + ": no thread for the lookup: " + e.what());
  }
  std::unique_lock lock(lookup->mu);
  clock.waitUntil(lookup->cv, lock, deadline, [&] { return lookup->answer.has_value(); });
  if (!lookup->answer) {
    return makeError(ErrorCode::kDeadlineExceeded,
                     "no answer from the DNS resolver for host " + host + " in time");
  }
  return std::move(*lookup->answer);
}

}  // namespace lameduck
