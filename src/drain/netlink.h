#pragma once

// TCP connection facts from the kernel's socket diagnostics (NETLINK_SOCK_DIAG,
// inet_diag): for each socket of the network namespace its state, queues and
// struct tcp_info, which says how long ago data last moved each way. The
// pod's containers share one network namespace, and an unprivileged reader
// sees every socket in it, so this needs no capability and no app change.
//
// Two layers: parseDiagAnswer, a pure parser over the bytes the kernel sent
// (tested on recorded answers and fuzzed), and NetlinkConnectionSource, which
// asks the kernel and feeds the answers to it.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "drain/connections.h"

namespace lameduck::drain {

// What one or more answer buffers of a sock_diag dump held.
struct DiagParse {
  // Sockets with a tracked local or remote port (all of them when the port
  // list is empty), in the order the kernel listed them.
  std::vector<ConnectionFacts> sockets;
  bool done = false;         // NLMSG_DONE seen: the dump is complete
  bool interrupted = false;  // NLM_F_DUMP_INTR: the table changed mid-dump; read it again
  int64_t messages = 0;      // socket messages seen (before the port filter)
  int64_t unknown = 0;       // messages and attributes of types we do not read, skipped
};

// Parses `bytes` — one buffer received from the netlink socket, or several
// concatenated (netlink messages delimit themselves) — and appends to `out`.
// Stops after NLMSG_DONE. Only the fields of tcp_info that lie within the
// attribute's length are read: an older kernel's shorter tcp_info leaves the
// later fields absent. Fails, never crashes, on: a header cut short, a
// message length below its header or beyond the buffer, a socket message or
// attribute too short for what it must hold (kBadResponse); NLMSG_ERROR
// (kPermissionDenied for EPERM/EACCES, kFailedPrecondition when the kernel
// lacks the feature, else kUnavailable; the message names the errno).
Status parseDiagAnswer(std::span<const uint8_t> bytes, const std::vector<uint16_t>& ports,
                       DiagParse& out);
Result<DiagParse> parseDiagAnswer(std::span<const uint8_t> bytes,
                                  const std::vector<uint16_t>& ports = {});

// The kernel-side filter sent with each dump request: inet_diag bytecode
// that accepts a socket whose local or remote port is one of `ports`, so the
// kernel does not build messages (and tcp_info) for the other sockets of the
// namespace. Empty when `ports` is empty or too long for the bytecode's jump
// offsets (more than kMaxFilterPorts): the reader's own filter then serves.
inline constexpr size_t kMaxFilterPorts = 64;
std::vector<uint8_t> portFilterBytecode(const std::vector<uint16_t>& ports);

// Whether an error from this file means netlink is refused here (seccomp,
// gVisor, a kernel without sock_diag, EPERM/EACCES) — retrying cannot help and
// the /proc reader should serve instead — rather than a passing failure.
bool isNetlinkRefused(const Error& e);

struct NetlinkOptions {
  std::vector<uint16_t> ports;                     // app.ports
  Duration timeout = std::chrono::milliseconds(500);  // per read(), both families
  size_t max_bytes = 64u << 20;                    // per read(), answer bytes in all
  int max_retries = 3;                             // re-reads of an interrupted dump
};

// Dumps the TCP sockets of one family (AF_INET or AF_INET6, or AF_UNSPEC for
// both in one walk of the kernel's table, with the older TCPDIAG_GETSOCK
// request) into `out`
// (sockets with a tracked port only), re-reading an interrupted dump up to
// options.max_retries times. `on_buffer`, when set, sees every raw answer
// buffer (recorders, tests). Bounded by `deadline` (judged on `clock`) and
// options.max_bytes. Errors: socket()/sendmsg refused → kPermissionDenied or
// kFailedPrecondition (see isNetlinkRefused); timeout → kDeadlineExceeded;
// too many bytes or interruptions → kUnavailable; parse errors as above.
using BufferSink = std::function<void(std::span<const uint8_t>)>;
Status dumpTcpSockets(int family, const NetlinkOptions& options, Clock& clock,
                      TimePoint deadline, std::vector<ConnectionFacts>& out,
                      const BufferSink& on_buffer = nullptr);

// ConnectionSource over sock_diag: each read() dumps IPv4 and IPv6 in one
// request (AF_UNSPEC); where the kernel refuses that form, it dumps IPv4
// then IPv6 from then on (a kernel without IPv6 answers the second with an
// error that is ignored),
// and summarizes with lameduck's own connections left out. Snapshots have
// source kNetlink and timestamps. read() fails as dumpTcpSockets does.
// Not thread-safe (one poller).
class NetlinkConnectionSource final : public ConnectionSource {
 public:
  // Keeps `options` and `own`; `clock` must outlive the source.
  NetlinkConnectionSource(NetlinkOptions options, Clock& clock, OwnConnections own);
  Result<ConnectionSnapshot> read() override;

 private:
  NetlinkOptions options_;
  Clock& clock_;
  OwnConnections own_;
  bool combined_ = true;  // AF_UNSPEC dumps work here (until refused once)
};

}  // namespace lameduck::drain
