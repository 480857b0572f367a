#pragma once

// Host name lookups bounded by a deadline. getaddrinfo(3) blocks for as long
// as the DNS servers (and the resolver's own retries) take, which can be far
// longer than any of lameduck's calls may last. resolveWithin() runs the
// lookup on a thread of its own and stops waiting for it at the deadline;
// a lookup that overstays finishes (or hangs) on its thread, unwaited.
//
// Why not glibc's getaddrinfo_a: it runs the same blocking getaddrinfo on
// helper threads of its own, cannot cancel a lookup that has started
// (gai_cancel answers EAI_NOTCANCELED), and its request must stay in memory
// until the lookup ends, so giving up on one needs the same bookkeeping as a
// thread, without a bound on how many it keeps and without a way for tests to
// put in a resolver that hangs.

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace lameduck {

// Turns a host name into IP addresses, in the order to try them. May block
// for as long as it likes: resolveWithin() bounds the wait, not the resolver.
// Implementations must be thread-safe (lookups can overlap).
class Resolver {
 public:
  virtual ~Resolver() = default;
  // The addresses as text ("10.0.0.7", "fd00::7"); kUnavailable naming the
  // host when there are none.
  virtual Result<std::vector<std::string>> resolve(const std::string& host) = 0;
};

// getaddrinfo(3) for TCP, IPv4 and IPv6, in the order it returns them. A
// process-wide instance; stateless.
std::shared_ptr<Resolver> systemResolver();

// At most this many lookups run at once in the process, counting lookups
// whose caller gave up on them; beyond it resolveWithin() fails at once
// instead of starting another thread for a resolver that is not answering.
inline constexpr int kMaxPendingLookups = 8;

// Whether `host` is an IPv4 or IPv6 address literal (no lookup needed).
bool isIpLiteral(const std::string& host);

// The addresses of `host`, waiting no later than `deadline` (on `clock`). An
// IP literal is returned as it is, without a lookup. Fails with
// kDeadlineExceeded when the resolver has not answered by the deadline (the
// lookup goes on, unwaited, on its own thread, which holds `resolver`),
// kUnavailable when too many lookups are pending or the resolver fails; the
// messages name the host. Thread-safe.
Result<std::vector<std::string>> resolveWithin(const std::shared_ptr<Resolver>& resolver,
                                               const std::string& host, Clock& clock,
                                               TimePoint deadline);

}  // namespace lameduck
