#pragma once

// TCP connection tracking from /proc/net/tcp and /proc/net/tcp6. The pod's
// containers share one network namespace, so the sidecar sees the app's
// sockets without any change to the app.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace lameduck::drain {

// One row of a socket table. Endpoints are kept as the kernel prints them
// ("0100007F:1F90"); they only need to be stable keys.
struct SocketEntry {
  std::string local;
  std::string remote;
  uint16_t local_port = 0;
  uint8_t state = 0;        // 0x01 established, 0x0A listen, ...
  uint64_t timer_left = 0;  // the "tm->when" field: for TIME_WAIT, time left in jiffies
  uint64_t inode = 0;
};

struct ParsedTable {
  std::vector<SocketEntry> entries;
  int64_t malformed_lines = 0;
};

// Parses the text of /proc/net/tcp or /proc/net/tcp6 into `out`, keeping
// only sockets whose local or remote port is in `ports` (empty: keep all);
// a busy node has thousands of unrelated lines. Never fails: malformed
// lines, and a last line cut short (no newline), are counted in
// out.malformed_lines and skipped.
void parseProcNetTcp(std::string_view text, ParsedTable& out,
                     const std::vector<uint16_t>& ports = {});

// A client may reuse the address pair of a connection still in TIME_WAIT
// (Linux does on loopback); that reuse is a new connection too. It shows as
// the pair being open again, or, if it already closed again, as a TIME_WAIT
// timer that went up instead of down.
struct SeenConnection {
  bool open = false;  // being set up or established
  std::optional<uint64_t> time_wait_left;
};

// What one read of the socket tables found for the tracked ports.
struct ConnectionSnapshot {
  // Established connections whose local port is tracked (the app's side of
  // inbound connections), each as "server->client".
  std::set<std::string> established;
  // Every connection to a tracked port visible in any state but LISTEN
  // (established, closing, TIME_WAIT, ...), as "server->client". Closed
  // connections linger in TIME_WAIT, so a short request that came and went
  // between two reads is still seen here. Connections whose client is on
  // loopback are also found from the client's side.
  std::map<std::string, SeenConnection> seen;
  int64_t listening = 0;  // listening sockets on tracked ports
  int64_t malformed_lines = 0;
};

// Picks the tracked connections out of a table. Connections from one of
// `own_ports` (lameduck's own calls to the app, such as the status poll) are
// not the app's traffic and are left out.
ConnectionSnapshot summarize(const ParsedTable& table, const std::vector<uint16_t>& ports,
                             const std::set<uint16_t>& own_ports);

// Where connections come from; a fake can replace it in tests.
class ConnectionSource {
 public:
  virtual ~ConnectionSource() = default;
  // kUnavailable when the tables cannot be read; callers must then treat
  // the app as not drained.
  virtual Result<ConnectionSnapshot> read() = 0;
};

// Reads <proc_root>/net/tcp and <proc_root>/net/tcp6. A missing tcp6 (IPv6
// disabled) is fine; a missing or unreadable tcp is an error. `own_ports`
// is asked on every read for the local ports of lameduck's own connections.
class ProcConnectionSource final : public ConnectionSource {
 public:
  using OwnPorts = std::function<std::set<uint16_t>()>;
  ProcConnectionSource(std::string proc_root, std::vector<uint16_t> ports, OwnPorts own_ports);
  Result<ConnectionSnapshot> read() override;

 private:
  std::string root_;
  std::vector<uint16_t> ports_;
  OwnPorts own_ports_;
};

// Connections in `now.seen` that were not in `before.seen`, or are a new
// incarnation of an address pair seen there (see SeenConnection).
int64_t countNew(const ConnectionSnapshot& before, const ConnectionSnapshot& now);

}  // namespace lameduck::drain
