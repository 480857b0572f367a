// Fuzz entry point for the /proc/net/tcp{,6} reader (libFuzzer). Built by the
// fuzz preset, run by tests/fuzz/run (`tests/fuzz/run proc_tcp`).
// Parsing, summarizing (both the port-based and the pair-based way),
// counting new connections and classifying must never crash.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "drain/activity.h"
#include "drain/connections.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lameduck::drain;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ParsedTable all, tracked;
  parseProcNetTcp(text, all);
  parseProcNetTcp(text, tracked, {8080});
  ConnectionSnapshot a = summarize(all, {8080}, {54321});
  ConnectionSnapshot b = summarize(tracked, {8080}, {});
  (void)countNew(a, b);
  (void)countNew(b, a);
  std::vector<ConnectionFacts> rows;
  for (const SocketEntry& e : all.entries) {
    auto local = parseProcEndpoint(e.local);
    auto remote = parseProcEndpoint(e.remote);
    if (!local || !remote) continue;
    ConnectionFacts f;
    f.local = *local;
    f.peer = *remote;
    f.state = e.state;
    f.rqueue = e.rx_queue;
    f.wqueue = e.tx_queue;
    f.inode = e.inode;
    rows.push_back(f);
  }
  OwnConnections own([] { return std::set<uint64_t>{1004}; },
                     [] { return std::set<uint16_t>{54321}; });
  ConnectionSnapshot c = summarizeFacts(rows, {8080}, own, SourceKind::kProc);
  (void)classify(&c, c, std::chrono::milliseconds(100));
  (void)parseProcEndpoint(text);
  return 0;
}
