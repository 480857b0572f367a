#include "drain/netlink.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace lameduck::drain {
namespace {

constexpr size_t kHeader = sizeof(nlmsghdr);  // 16
constexpr size_t kAlign = NLMSG_ALIGNTO;      // 4

size_t align4(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// A tcp_info field, when the kernel's tcp_info is long enough to hold it.
template <typename T>
std::optional<T> infoField(std::span<const uint8_t> info, size_t offset) {
  if (offset + sizeof(T) > info.size()) return std::nullopt;
  return load<T>(info.data() + offset);
}

std::string errnoText(int err) {
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

// Maps an errno from the kernel (socket(), sendmsg, NLMSG_ERROR) to an Error.
Error fromErrno(int err, const std::string& what) {
  ErrorCode code = ErrorCode::kUnavailable;
  if (err == EPERM || err == EACCES) {
    code = ErrorCode::kPermissionDenied;
  } else if (err == EPROTONOSUPPORT || err == EAFNOSUPPORT || err == EOPNOTSUPP ||
             err == ENOENT || err == EINVAL) {
    // ENOENT: no sock_diag handler for the family (module not loaded).
    code = ErrorCode::kFailedPrecondition;
  }
  return Error{code, what + ": " + errnoText(err)};
}

bool tracked(const std::vector<uint16_t>& ports, uint16_t port) {
  return ports.empty() || std::find(ports.begin(), ports.end(), port) != ports.end();
}

std::unexpected<Error> bad(std::string message) {
  return makeError(ErrorCode::kBadResponse, "sock_diag answer: " + std::move(message));
}

// One SOCK_DIAG_BY_FAMILY message: an inet_diag_msg and its attributes.
Status parseSocket(std::span<const uint8_t> payload, size_t at, const std::vector<uint16_t>& ports,
                   DiagParse& out) {
  if (payload.size() < sizeof(inet_diag_msg)) {
    return bad("socket message at offset " + std::to_string(at) + " has " +
               std::to_string(payload.size()) + " bytes, an inet_diag_msg needs " +
               std::to_string(sizeof(inet_diag_msg)));
  }
  out.messages++;
  const auto msg = load<inet_diag_msg>(payload.data());
  if (msg.idiag_family != AF_INET && msg.idiag_family != AF_INET6) {
    out.unknown++;
    return {};
  }
  ConnectionFacts f;
  f.source = SourceKind::kNetlink;
  f.state = msg.idiag_state;
  f.local.family = f.peer.family = msg.idiag_family == AF_INET ? 4 : 6;
  f.local.port = ntohs(msg.id.idiag_sport);
  f.peer.port = ntohs(msg.id.idiag_dport);
  if (!tracked(ports, f.local.port) && !tracked(ports, f.peer.port)) return {};
  const size_t addr_len = f.local.family == 4 ? 4 : 16;
  std::memcpy(f.local.addr.data(), msg.id.idiag_src, addr_len);
  std::memcpy(f.peer.addr.data(), msg.id.idiag_dst, addr_len);
  f.rqueue = msg.idiag_rqueue;
  f.wqueue = msg.idiag_wqueue;
  f.inode = msg.idiag_inode;
  f.cookie = (static_cast<uint64_t>(msg.id.idiag_cookie[1]) << 32) | msg.id.idiag_cookie[0];
  if (f.state == tcp_state::kTimeWait) f.timer = msg.idiag_expires;

  size_t pos = align4(sizeof(inet_diag_msg));
  while (pos + sizeof(rtattr) <= payload.size()) {
    const auto attr = load<rtattr>(payload.data() + pos);
    if (attr.rta_len < sizeof(rtattr) || attr.rta_len > payload.size() - pos) {
      return bad("attribute at offset " + std::to_string(at + kHeader + pos) + " claims " +
                 std::to_string(attr.rta_len) + " bytes, " +
                 std::to_string(payload.size() - pos) + " left in its message");
    }
    std::span<const uint8_t> value =
        payload.subspan(pos + sizeof(rtattr), attr.rta_len - sizeof(rtattr));
    if ((attr.rta_type & NLA_TYPE_MASK) == INET_DIAG_INFO) {
      f.ms_since_data_in = infoField<uint32_t>(value, offsetof(tcp_info, tcpi_last_data_recv));
      f.ms_since_data_out = infoField<uint32_t>(value, offsetof(tcp_info, tcpi_last_data_sent));
      f.unacked = infoField<uint32_t>(value, offsetof(tcp_info, tcpi_unacked));
      f.notsent = infoField<uint32_t>(value, offsetof(tcp_info, tcpi_notsent_bytes));
      f.bytes_received = infoField<uint64_t>(value, offsetof(tcp_info, tcpi_bytes_received));
      f.bytes_acked = infoField<uint64_t>(value, offsetof(tcp_info, tcpi_bytes_acked));
    } else {
      out.unknown++;
    }
    pos += align4(attr.rta_len);
  }
  out.sockets.push_back(std::move(f));
  return {};
}

}  // namespace

Status parseDiagAnswer(std::span<const uint8_t> bytes, const std::vector<uint16_t>& ports,
                       DiagParse& out) {
  size_t pos = 0;
  while (pos < bytes.size() && !out.done) {
    const size_t left = bytes.size() - pos;
    if (left < kHeader) {
      return bad("truncated: " + std::to_string(left) + " byte(s) at offset " +
                 std::to_string(pos) + ", a message header needs " + std::to_string(kHeader));
    }
    const auto hdr = load<nlmsghdr>(bytes.data() + pos);
    if (hdr.nlmsg_len < kHeader) {
      return bad("message at offset " + std::to_string(pos) + " claims " +
                 std::to_string(hdr.nlmsg_len) + " bytes, less than its " +
                 std::to_string(kHeader) + "-byte header");
    }
    if (hdr.nlmsg_len > left) {
      return bad("truncated: message at offset " + std::to_string(pos) + " claims " +
                 std::to_string(hdr.nlmsg_len) + " bytes, " + std::to_string(left) + " left");
    }
    if (hdr.nlmsg_flags & NLM_F_DUMP_INTR) out.interrupted = true;
    std::span<const uint8_t> payload = bytes.subspan(pos + kHeader, hdr.nlmsg_len - kHeader);
    switch (hdr.nlmsg_type) {
      case NLMSG_DONE:
        out.done = true;
        break;
      case NLMSG_ERROR: {
        if (payload.size() < sizeof(int32_t)) {
          return bad("NLMSG_ERROR at offset " + std::to_string(pos) + " has no error code");
        }
        const auto err = load<int32_t>(payload.data());
        if (err == 0) break;  // an acknowledgement
        // The kernel sends -errno; a positive or absurd figure is garbage.
        const int code = err < 0 && err > -4096 ? -err : 0;
        if (code == 0) {
          return bad("NLMSG_ERROR at offset " + std::to_string(pos) + " carries error " +
                     std::to_string(err) + ", not a negative errno");
        }
        return std::unexpected(fromErrno(code, "the kernel refused the sock_diag dump"));
      }
      case NLMSG_NOOP:
      case NLMSG_OVERRUN:
        out.unknown++;
        break;
      case SOCK_DIAG_BY_FAMILY:
      case TCPDIAG_GETSOCK:  // answers to the older request that dumps both families
        if (auto ok = parseSocket(payload, pos, ports, out); !ok) return ok;
        break;
      default:
        out.unknown++;
        break;
    }
    // The last message of a buffer may lack its padding.
    pos += std::min(align4(hdr.nlmsg_len), left);
  }
  return {};
}

Result<DiagParse> parseDiagAnswer(std::span<const uint8_t> bytes,
                                  const std::vector<uint16_t>& ports) {
  DiagParse out;
  if (auto ok = parseDiagAnswer(bytes, ports, out); !ok) return std::unexpected(ok.error());
  return out;
}

std::vector<uint8_t> portFilterBytecode(const std::vector<uint16_t>& ports) {
  if (ports.empty() || ports.size() > kMaxFilterPorts) return {};
  // Per port and side, a clause: [GE p][LE p][JMP accept]. A condition that
  // fails moves to the next clause; after the last one, a JMP past the end
  // rejects. Jumps are byte offsets from the op; landing exactly on the end
  // accepts, 4 bytes beyond rejects.
  constexpr size_t kClause = 20;
  const size_t clauses = ports.size() * 2;
  const size_t len = clauses * kClause + 4;
  std::vector<inet_diag_bc_op> ops;
  ops.reserve(len / 4);
  size_t pos = 0;
  for (size_t i = 0; i < clauses; ++i) {
    const uint16_t port = ports[i / 2];
    const bool source = i % 2 == 0;
    auto code = [&](uint8_t s_code, uint8_t d_code) { return source ? s_code : d_code; };
    ops.push_back({code(INET_DIAG_BC_S_GE, INET_DIAG_BC_D_GE), 8, 20});
    ops.push_back({0, 0, port});
    ops.push_back({code(INET_DIAG_BC_S_LE, INET_DIAG_BC_D_LE), 8, 12});
    ops.push_back({0, 0, port});
    pos += 16;
    ops.push_back({INET_DIAG_BC_JMP, 4, static_cast<uint16_t>(len - pos)});
    pos += 4;
  }
  ops.push_back({INET_DIAG_BC_JMP, 4, 8});  // to len + 4: reject
  std::vector<uint8_t> out(ops.size() * sizeof(inet_diag_bc_op));
  std::memcpy(out.data(), ops.data(), out.size());
  return out;
}

bool isNetlinkRefused(const Error& e) {
  return e.code == ErrorCode::kPermissionDenied || e.code == ErrorCode::kFailedPrecondition;
}

namespace {

// Closes a descriptor on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// One dump of one family; `interrupted` tells the caller to read it again.
Status dumpOnce(int family, const NetlinkOptions& options, Clock& clock, TimePoint deadline,
                size_t& bytes_total, DiagParse& parse, const BufferSink& on_buffer) {
  const char* fam = family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "IPv4+IPv6";
  Fd sock{::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG)};
  if (sock.fd < 0) return std::unexpected(fromErrno(errno, "socket(AF_NETLINK, NETLINK_SOCK_DIAG)"));

  // AF_UNSPEC: the older TCPDIAG_GETSOCK request, the one form that dumps
  // both families in one walk of the kernel's socket table (the walk, not
  // the sockets, is most of the cost on a node with a large table).
  const bool both = family == AF_UNSPEC;
  nlmsghdr hdr{};
  inet_diag_req_v2 req{};
  inet_diag_req legacy{};
  const size_t req_size = both ? sizeof legacy : sizeof req;
  const std::vector<uint8_t> filter = portFilterBytecode(options.ports);
  rtattr filter_attr{};
  filter_attr.rta_type = INET_DIAG_REQ_BYTECODE;
  filter_attr.rta_len = static_cast<unsigned short>(RTA_LENGTH(filter.size()));
  hdr.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(req_size) +
                                        (filter.empty() ? 0 : RTA_SPACE(filter.size())));
  hdr.nlmsg_type = both ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY;
  hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  hdr.nlmsg_seq = 1;
  req.sdiag_family = static_cast<uint8_t>(family);
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
  req.idiag_states = ~0u;  // every state: LISTEN, TIME_WAIT and SYN_RECV included
  legacy.idiag_family = AF_UNSPEC;
  legacy.idiag_ext = req.idiag_ext;
  legacy.idiag_states = req.idiag_states;
  std::vector<uint8_t> request(hdr.nlmsg_len, 0);
  std::memcpy(request.data(), &hdr, sizeof hdr);
  if (both) {
    std::memcpy(request.data() + NLMSG_HDRLEN, &legacy, sizeof legacy);
  } else {
    std::memcpy(request.data() + NLMSG_HDRLEN, &req, sizeof req);
  }
  if (!filter.empty()) {
    uint8_t* at = request.data() + NLMSG_LENGTH(req_size);
    std::memcpy(at, &filter_attr, sizeof filter_attr);
    std::memcpy(at + RTA_LENGTH(0), filter.data(), filter.size());
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock.fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) != static_cast<ssize_t>(request.size())) {
    return std::unexpected(fromErrno(errno, std::string("sending the ") + fam + " sock_diag request"));
  }
  // Large enough for the kernel's biggest dump chunk (it fills up to the
  // receive buffer, at most ~32 KiB per message batch).
  std::vector<uint8_t> buf(64 * 1024);
  while (!parse.done) {
    const TimePoint now = clock.now();
    if (now >= deadline) {
      return makeError(ErrorCode::kDeadlineExceeded,
                       std::string("the ") + fam + " sock_diag dump did not finish in time");
    }
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    pollfd p{sock.fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left_ms.count() + 1, 1, 60000)));
    if (ready < 0 && errno != EINTR) {
      return std::unexpected(fromErrno(errno, "poll on the sock_diag socket"));
    }
    if (ready < 0) continue;  // EINTR
    if (ready == 0) {
      return makeError(ErrorCode::kDeadlineExceeded,
                       std::string("the ") + fam + " sock_diag dump did not finish in time");
    }
    const ssize_t n = ::recv(sock.fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return std::unexpected(fromErrno(errno, std::string("receiving the ") + fam + " sock_diag answer"));
    }
    if (static_cast<size_t>(n) > buf.size()) {
      return makeError(ErrorCode::kBadResponse, "a sock_diag answer of " + std::to_string(n) +
                                                    " bytes did not fit the " +
                                                    std::to_string(buf.size()) + "-byte buffer");
    }
    if (n == 0) {
      return makeError(ErrorCode::kUnavailable,
                       std::string("the ") + fam + " sock_diag answer ended without NLMSG_DONE");
    }
    bytes_total += static_cast<size_t>(n);
    if (bytes_total > options.max_bytes) {
      return makeError(ErrorCode::kUnavailable,
                       "the sock_diag answer exceeded " + std::to_string(options.max_bytes) +
                           " bytes (NetlinkOptions::max_bytes)");
    }
    std::span<const uint8_t> got(buf.data(), static_cast<size_t>(n));
    if (on_buffer) on_buffer(got);
    if (auto ok = parseDiagAnswer(got, options.ports, parse); !ok) return ok;
  }
  return {};
}

}  // namespace

Status dumpTcpSockets(int family, const NetlinkOptions& options, Clock& clock, TimePoint deadline,
                      std::vector<ConnectionFacts>& out, const BufferSink& on_buffer) {
  size_t bytes_total = 0;
  for (int attempt = 0; attempt <= options.max_retries; ++attempt) {
    DiagParse parse;
    if (auto ok = dumpOnce(family, options, clock, deadline, bytes_total, parse, on_buffer); !ok) {
      return ok;
    }
    if (!parse.interrupted) {
      out.insert(out.end(), std::make_move_iterator(parse.sockets.begin()),
                 std::make_move_iterator(parse.sockets.end()));
      return {};
    }
  }
  return makeError(ErrorCode::kUnavailable,
                   "the sock_diag dump was interrupted " + std::to_string(options.max_retries + 1) +
                       " times in a row (sockets changing too fast); giving up on this read");
}

NetlinkConnectionSource::NetlinkConnectionSource(NetlinkOptions options, Clock& clock,
                                                 OwnConnections own)
    : options_(std::move(options)), clock_(clock), own_(std::move(own)) {}

Result<ConnectionSnapshot> NetlinkConnectionSource::read() {
  const TimePoint deadline = clock_.now() + options_.timeout;
  std::vector<ConnectionFacts> rows;
  if (combined_) {
    auto ok = dumpTcpSockets(AF_UNSPEC, options_, clock_, deadline, rows);
    if (ok) return summarizeFacts(rows, options_.ports, own_, SourceKind::kNetlink);
    if (!isNetlinkRefused(ok.error())) return std::unexpected(ok.error());
    combined_ = false;  // a kernel without the older request: one dump per family
    rows.clear();
  }
  if (auto ok = dumpTcpSockets(AF_INET, options_, clock_, deadline, rows); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = dumpTcpSockets(AF_INET6, options_, clock_, deadline, rows); !ok) {
    // A kernel without IPv6 has no AF_INET6 sock_diag handler; IPv4 stands.
    if (ok.error().code != ErrorCode::kFailedPrecondition) return std::unexpected(ok.error());
  }
  return summarizeFacts(rows, options_.ports, own_, SourceKind::kNetlink);
}

}  // namespace lameduck::drain
