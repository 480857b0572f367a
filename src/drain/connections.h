#pragma once

// TCP connection tracking from /proc/net/tcp and /proc/net/tcp6. The pod's
// containers share one network namespace, so the sidecar sees the app's
// sockets without any change to the app. The parsers are pure functions; a
// ConnectionSource is used by one thread at a time (the exit thread while
// draining, then the main thread while it waits for the app to stop).
// Sources own what they are given (paths, ports, the own-connection
// callbacks, which must stay callable for the source's lifetime).

#include <array>
#include <compare>
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
  // Added for per-connection facts; the keys above stay as they were.
  uint32_t tx_queue = 0;  // bytes the app wrote and the peer has not acked
  uint32_t rx_queue = 0;  // bytes received and not yet read by the app
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

// Which reader produced a snapshot. kNetlink (socket diagnostics) knows when
// data last moved on each connection; kProc (/proc/net/tcp{,6}, the
// fallback where netlink is refused) only knows the queues.
enum class SourceKind { kNetlink, kProc };
std::string_view sourceName(SourceKind kind);  // "netlink" | "proc"

// One end of a TCP connection. `family` is 4 or 6; an IPv4 address lives in
// addr[0..3] (network order). IPv4-mapped IPv6 addresses stay family 6.
struct Endpoint {
  uint8_t family = 4;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  auto operator<=>(const Endpoint&) const = default;
  // "127.0.0.1:8080", "[::1]:8080".
  std::string toString() const;
};

// TCP states as the kernel numbers them (include/net/tcp_states.h).
namespace tcp_state {
inline constexpr uint8_t kEstablished = 1, kSynSent = 2, kSynRecv = 3, kFinWait1 = 4,
                         kFinWait2 = 5, kTimeWait = 6, kClose = 7, kCloseWait = 8, kLastAck = 9,
                         kListen = 10, kClosing = 11, kNewSynRecv = 12;
}  // namespace tcp_state
std::string_view stateName(uint8_t state);  // "ESTABLISHED", ...; "UNKNOWN" otherwise

// What the kernel says about one connection, seen from the app's side
// (`local` is on a tracked port, `peer` is the client). Timestamps and the
// TCP counters are absent when the source cannot tell (kProc, or a kernel
// whose tcp_info is too short to hold them).
struct ConnectionFacts {
  Endpoint local;
  Endpoint peer;
  uint8_t state = 0;
  std::optional<uint32_t> ms_since_data_in;   // tcpi_last_data_recv: ACKs and probes excluded
  std::optional<uint32_t> ms_since_data_out;  // tcpi_last_data_sent
  uint32_t rqueue = 0;                        // received, not read by the app
  uint32_t wqueue = 0;                        // written by the app, not acked by the peer
  std::optional<uint32_t> unacked;            // tcpi_unacked (segments)
  std::optional<uint32_t> notsent;            // tcpi_notsent_bytes
  std::optional<uint64_t> bytes_received;     // tcpi_bytes_received
  std::optional<uint64_t> bytes_acked;        // tcpi_bytes_acked
  uint64_t inode = 0;                         // 0 in TIME_WAIT
  uint64_t cookie = 0;                        // kernel socket cookie (netlink only), else 0
  uint64_t timer = 0;  // TIME_WAIT time left: ms (netlink) or jiffies (proc); compared only
  SourceKind source = SourceKind::kProc;
  // "server->client" with both ends as Endpoint::toString().
  std::string key() const;
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
  // Added with the per-connection facts: which reader made this snapshot,
  // and every connection on a tracked port seen from the app's side except
  // LISTEN and TIME_WAIT (lameduck's own connections left out).
  SourceKind source = SourceKind::kProc;
  std::vector<ConnectionFacts> connections;
};

// Parses "0100007F:1F90" or 32 hex digits + ":PORT" as /proc/net/tcp{,6}
// print them (addresses in the kernel's in-memory byte order, 32-bit words).
std::optional<Endpoint> parseProcEndpoint(std::string_view field);

// The inodes of this process's sockets (readlink of /proc/self/fd/*, at
// most `limit` entries). Empty when /proc/self/fd cannot be read.
std::set<uint64_t> ownSocketInodes(size_t limit = 65536);

// Tells lameduck's own connections to the app from the app's traffic by the
// whole address pair. The client end of each of lameduck's connections is a
// socket of this process, visible in the same table (same network
// namespace); the app-side connection whose (local, peer) is that socket's
// (remote, local) is ours. Pairs found are remembered (bounded), so the
// connection stays ours after it closed (TIME_WAIT has no inode). Closed
// connections never seen open fall back to the client-port rule
// (`own_ports`, ports this process's clients bound). Not thread-safe: one
// per source.
class OwnConnections {
 public:
  using Inodes = std::function<std::set<uint64_t>()>;
  using Ports = std::function<std::set<uint16_t>()>;
  explicit OwnConnections(Inodes inodes = nullptr, Ports ports = nullptr);
  // Starts a read: asks for the current inodes and ports.
  void begin();
  // Notes a socket of the table; learns its pair if its inode is ours.
  void note(const Endpoint& local, const Endpoint& remote, uint64_t inode);
  // Whether the app-side connection (server, client) is one of ours.
  bool isOwn(const Endpoint& server, const Endpoint& client, bool open) const;

 private:
  Inodes inodes_fn_;
  Ports ports_fn_;
  std::set<uint64_t> inodes_;
  std::set<uint16_t> ports_;
  std::set<std::pair<Endpoint, Endpoint>> pairs_;  // (server, client)
  static constexpr size_t kMaxPairs = 4096;
};

// Builds a snapshot from the sockets of one read. `rows` are all sockets
// with a tracked local or remote port (both ends of loopback connections).
// Fills every field of ConnectionSnapshot, keys of `seen` and `established`
// as ConnectionFacts::key().
ConnectionSnapshot summarizeFacts(const std::vector<ConnectionFacts>& rows,
                                  const std::vector<uint16_t>& ports, OwnConnections& own,
                                  SourceKind source);

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
// disabled) is fine; a missing or unreadable tcp is kUnavailable naming the
// file. `own_ports` is asked on every read for the local ports of
// lameduck's own connections.
class ProcConnectionSource final : public ConnectionSource {
 public:
  using OwnPorts = std::function<std::set<uint16_t>()>;
  ProcConnectionSource(std::string proc_root, std::vector<uint16_t> ports, OwnPorts own_ports);
  // Matches lameduck's own connections by the whole address pair (see
  // OwnConnections); `own_ports` only serves for closed connections.
  // Snapshots carry `connections` (queues, no timestamps).
  ProcConnectionSource(std::string proc_root, std::vector<uint16_t> ports,
                       OwnConnections own_connections);
  Result<ConnectionSnapshot> read() override;

 private:
  std::string root_;
  std::vector<uint16_t> ports_;
  OwnPorts own_ports_;
  std::optional<OwnConnections> own_;  // set: pair-based reads with facts
};

// Connections in `now.seen` that were not in `before.seen`, or are a new
// incarnation of an address pair seen there (see SeenConnection).
int64_t countNew(const ConnectionSnapshot& before, const ConnectionSnapshot& now);

}  // namespace lameduck::drain
