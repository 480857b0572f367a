// Fuzz entry point for the sock_diag answer parser (libFuzzer). Built by the
// fuzz preset, run by tests/fuzz/run (`tests/fuzz/run netlink`).
// The parse must never crash or read out of bounds, whatever the bytes; the
// snapshot and classifier built from what it returns must not either.

#include <cstddef>
#include <cstdint>
#include <span>

#include "drain/activity.h"
#include "drain/netlink.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lameduck::drain;
  std::span<const uint8_t> bytes(data, size);
  auto all = parseDiagAnswer(bytes);
  auto tracked = parseDiagAnswer(bytes, {8080, 443});
  if (all) {
    OwnConnections own([] { return std::set<uint64_t>{4242}; },
                       [] { return std::set<uint16_t>{50000}; });
    std::vector<uint16_t> ports = {8080};
    if (!all->sockets.empty()) ports.push_back(all->sockets.front().local.port);
    ConnectionSnapshot first = summarizeFacts(all->sockets, ports, own, SourceKind::kNetlink);
    ConnectionSnapshot second = first;
    if (tracked) second = summarizeFacts(tracked->sockets, ports, own, SourceKind::kNetlink);
    (void)classify(nullptr, first, std::chrono::milliseconds(0));
    (void)classify(&first, second, std::chrono::milliseconds(100));
    for (const auto& c : first.connections) (void)c.key();
  }
  return 0;
}
