#include "drain/connections.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <unistd.h>

namespace lameduck::drain {
namespace {

constexpr uint8_t kEstablished = 0x01;
constexpr uint8_t kListen = 0x0A;

// SYN_SENT, SYN_RECV and ESTABLISHED: a connection being set up or in use.
bool isOpen(uint8_t state) { return state >= 0x01 && state <= 0x03; }
constexpr uint8_t kTimeWait = 0x06;

// Merges one side of a connection into what is known of it.
void note(SeenConnection& seen, const SocketEntry& e) {
  seen.open = seen.open || isOpen(e.state);
  if (e.state == kTimeWait) {
    seen.time_wait_left = std::max(seen.time_wait_left.value_or(0), e.timer_left);
  }
}

// "0100007F:1F90" (IPv4) or 32 hex digits + ":PORT" (IPv6).
bool parseEndpoint(std::string_view field, uint16_t& port) {
  size_t colon = field.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view addr = field.substr(0, colon);
  if (addr.size() != 8 && addr.size() != 32) return false;
  for (char c : addr) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  std::string_view p = field.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value, 16);
  if (p.empty() || p.size() > 4 || ec != std::errc() || ptr != p.data() + p.size()) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

template <typename T>
bool parseNumber(std::string_view s, T& out, int base) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

// Loopback addresses as the kernel prints them: 127.x.x.x is stored in
// network order, so its last byte pair printed is "7F"; ::1 and
// ::ffff:127.x.x.x in tcp6.
bool isLoopback(std::string_view endpoint) {
  std::string_view addr = endpoint.substr(0, endpoint.find(':'));
  if (addr.size() == 8) return addr.substr(6, 2) == "7F";
  if (addr.size() == 32) {
    return addr == "00000000000000000000000001000000" ||
           (addr.substr(0, 16) == "0000000000000000" && addr.substr(16, 8) == "FFFF0000" &&
            addr.substr(30, 2) == "7F");
  }
  return false;
}

uint16_t portOf(std::string_view endpoint) {
  uint16_t port = 0;
  parseEndpoint(endpoint, port);
  return port;
}

}  // namespace

void parseProcNetTcp(std::string_view text, ParsedTable& out, const std::vector<uint16_t>& ports) {
  size_t pos = 0;
  bool header = true;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    const bool complete = eol != std::string_view::npos;
    std::string_view line = text.substr(pos, complete ? eol - pos : std::string_view::npos);
    pos = complete ? eol + 1 : text.size();
    if (header) {  // the first line names the columns
      header = false;
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    // Fields: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    std::string_view f[10];
    size_t n = 0, i = 0;
    while (n < 10 && i < line.size()) {
      while (i < line.size() && line[i] == ' ') ++i;
      size_t start = i;
      while (i < line.size() && line[i] != ' ') ++i;
      if (i > start) f[n++] = line.substr(start, i - start);
    }
    SocketEntry e;
    uint16_t remote_port = 0;
    unsigned state = 0;
    if (!complete || n < 10 || !f[0].ends_with(':') || !parseEndpoint(f[1], e.local_port) ||
        !parseEndpoint(f[2], remote_port) || f[3].size() != 2 || !parseNumber(f[3], state, 16) ||
        !parseNumber(f[9], e.inode, 10)) {
      out.malformed_lines++;
      continue;
    }
    if (!ports.empty() && std::find(ports.begin(), ports.end(), e.local_port) == ports.end() &&
        std::find(ports.begin(), ports.end(), remote_port) == ports.end()) {
      continue;
    }
    // "tx_queue:rx_queue", e.g. "00000000:00000010"; kept only when well formed.
    if (f[4].size() == 17 && f[4][8] == ':') {
      parseNumber(f[4].substr(0, 8), e.tx_queue, 16);
      parseNumber(f[4].substr(9), e.rx_queue, 16);
    }
    // "tr:tm->when", e.g. "03:00000C11" (timer kind 3 = TIME_WAIT).
    if (f[5].size() > 3 && f[5][2] == ':' && f[5].starts_with("03")) {
      parseNumber(f[5].substr(3), e.timer_left, 16);
    }
    e.local = std::string(f[1]);
    e.remote = std::string(f[2]);
    e.state = static_cast<uint8_t>(state);
    out.entries.push_back(std::move(e));
  }
}

ConnectionSnapshot summarize(const ParsedTable& table, const std::vector<uint16_t>& ports,
                             const std::set<uint16_t>& own_ports) {
  auto tracked = [&](uint16_t port) {
    return std::find(ports.begin(), ports.end(), port) != ports.end();
  };
  ConnectionSnapshot snap;
  snap.malformed_lines = table.malformed_lines;
  for (const SocketEntry& e : table.entries) {
    if (tracked(e.local_port)) {  // the app's side
      if (e.state == kListen) {
        snap.listening++;
        continue;
      }
      if (own_ports.count(portOf(e.remote))) continue;
      std::string key = e.local + "->" + e.remote;
      if (e.state == kEstablished) snap.established.insert(key);
      note(snap.seen[std::move(key)], e);
    } else if (e.state != kListen && isLoopback(e.remote) && tracked(portOf(e.remote)) &&
               !own_ports.count(e.local_port)) {
      // The client's side of a loopback connection to the app: it outlives
      // the app's side in TIME_WAIT when the client closed first.
      note(snap.seen[e.remote + "->" + e.local], e);
    }
  }
  return snap;
}

ProcConnectionSource::ProcConnectionSource(std::string proc_root, std::vector<uint16_t> ports,
                                           OwnPorts own_ports)
    : root_(std::move(proc_root)), ports_(std::move(ports)), own_ports_(std::move(own_ports)) {}

ProcConnectionSource::ProcConnectionSource(std::string proc_root, std::vector<uint16_t> ports,
                                           OwnConnections own_connections)
    : root_(std::move(proc_root)), ports_(std::move(ports)), own_(std::move(own_connections)) {}

Result<ConnectionSnapshot> ProcConnectionSource::read() {
  ParsedTable table;
  for (const char* name : {"/net/tcp", "/net/tcp6"}) {
    const std::string path = root_ + name;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      if (std::string_view(name) == "/net/tcp6" && errno == ENOENT) continue;
      return makeError(ErrorCode::kUnavailable,
                       "cannot read " + path + ": " + std::strerror(errno));
    }
    std::stringstream buf;
    buf << in.rdbuf();
    if (in.bad()) return makeError(ErrorCode::kUnavailable, "error reading " + path);
    parseProcNetTcp(buf.str(), table, ports_);
  }
  if (own_) {
    std::vector<ConnectionFacts> rows;
    rows.reserve(table.entries.size());
    for (const SocketEntry& e : table.entries) {
      auto local = parseProcEndpoint(e.local);
      auto remote = parseProcEndpoint(e.remote);
      if (!local || !remote) continue;  // parseProcNetTcp checked both
      ConnectionFacts f;
      f.local = *local;
      f.peer = *remote;
      f.state = e.state;
      f.rqueue = e.rx_queue;
      f.wqueue = e.tx_queue;
      f.inode = e.inode;
      f.timer = e.timer_left;
      f.source = SourceKind::kProc;
      rows.push_back(std::move(f));
    }
    ConnectionSnapshot snap = summarizeFacts(rows, ports_, *own_, SourceKind::kProc);
    snap.malformed_lines = table.malformed_lines;
    return snap;
  }
  return summarize(table, ports_, own_ports_ ? own_ports_() : std::set<uint16_t>{});
}

std::string_view sourceName(SourceKind kind) {
  return kind == SourceKind::kNetlink ? "netlink" : "proc";
}

std::string Endpoint::toString() const {
  // Appended piece by piece (no pointer arithmetic into a fixed buffer, no
  // operator+ chains that optimised builds misjudge): this runs for every
  // socket of every poll.
  std::string out;
  out.reserve(INET6_ADDRSTRLEN + 8);
  char num[8];
  if (family == 4) {
    for (size_t i = 0; i < 4; ++i) {
      out.append(num, std::to_chars(num, num + sizeof num, addr[i]).ptr);
      out += i < 3 ? '.' : ':';
    }
  } else {
    char buf[INET6_ADDRSTRLEN] = {};
    out += '[';
    out += inet_ntop(AF_INET6, addr.data(), buf, sizeof buf) ? buf : "?";
    out += "]:";
  }
  out.append(num, std::to_chars(num, num + sizeof num, port).ptr);
  return out;
}

std::string_view stateName(uint8_t state) {
  static constexpr std::string_view kNames[] = {
      "UNKNOWN",  "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",    "TIME_WAIT",
      "CLOSE",    "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};
  return state < std::size(kNames) ? kNames[state] : kNames[0];
}

std::string ConnectionFacts::key() const { return local.toString() + "->" + peer.toString(); }

std::optional<Endpoint> parseProcEndpoint(std::string_view field) {
  uint16_t port = 0;
  if (!parseEndpoint(field, port)) return std::nullopt;
  std::string_view hex = field.substr(0, field.find(':'));
  Endpoint e;
  e.family = hex.size() == 8 ? 4 : 6;
  e.port = port;
  // Each 8-digit group is one 32-bit word printed as a number: the bytes of
  // the address in memory are that number's bytes in host order.
  for (size_t w = 0; w * 8 < hex.size(); ++w) {
    uint32_t word = 0;
    parseNumber(hex.substr(w * 8, 8), word, 16);
    std::memcpy(e.addr.data() + w * 4, &word, 4);
  }
  return e;
}

std::set<uint64_t> ownSocketInodes(size_t limit) {
  std::set<uint64_t> inodes;
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec), end;
  for (; !ec && it != end && inodes.size() < limit; it.increment(ec)) {
    char target[64] = {};
    ssize_t n = ::readlink(it->path().c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    std::string_view t(target, static_cast<size_t>(n));
    if (!t.starts_with("socket:[") || !t.ends_with("]")) continue;
    uint64_t inode = 0;
    if (parseNumber(t.substr(8, t.size() - 9), inode, 10)) inodes.insert(inode);
  }
  return inodes;
}

OwnConnections::OwnConnections(Inodes inodes, Ports ports)
    : inodes_fn_(std::move(inodes)), ports_fn_(std::move(ports)) {}

void OwnConnections::begin() {
  inodes_ = inodes_fn_ ? inodes_fn_() : std::set<uint64_t>{};
  ports_ = ports_fn_ ? ports_fn_() : std::set<uint16_t>{};
}

void OwnConnections::note(const Endpoint& local, const Endpoint& remote, uint64_t inode) {
  if (inode == 0 || !inodes_.count(inode)) return;
  if (pairs_.size() >= kMaxPairs) pairs_.erase(pairs_.begin());
  pairs_.emplace(remote, local);  // the app's side: server = our remote
}

bool OwnConnections::isOwn(const Endpoint& server, const Endpoint& client, bool open) const {
  if (pairs_.count({server, client})) return true;
  return !open && ports_.count(client.port) > 0;
}

namespace {
SocketEntry entryOf(const ConnectionFacts& r) {
  SocketEntry e;
  e.state = r.state;
  e.timer_left = r.timer;
  return e;
}
}  // namespace

ConnectionSnapshot summarizeFacts(const std::vector<ConnectionFacts>& rows,
                                  const std::vector<uint16_t>& ports, OwnConnections& own,
                                  SourceKind source) {
  auto tracked = [&](uint16_t port) {
    return std::find(ports.begin(), ports.end(), port) != ports.end();
  };
  own.begin();
  std::set<Endpoint> app_ends;  // local ends of the app's sockets
  for (const ConnectionFacts& r : rows) {
    own.note(r.local, r.peer, r.inode);
    if (tracked(r.local.port)) app_ends.insert(r.local);
  }
  auto localServer = [&](const Endpoint& e) {
    if (app_ends.count(e)) return true;
    if (e.family == 4) return e.addr[0] == 127;
    static constexpr std::array<uint8_t, 16> kLoop6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr std::array<uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return e.addr == kLoop6 ||
           (std::equal(kMapped.begin(), kMapped.end(), e.addr.begin()) && e.addr[12] == 127);
  };
  ConnectionSnapshot snap;
  snap.source = source;
  for (const ConnectionFacts& r : rows) {
    const bool open = isOpen(r.state);
    if (tracked(r.local.port)) {  // the app's side
      if (r.state == kListen) {
        snap.listening++;
        continue;
      }
      if (own.isOwn(r.local, r.peer, open)) continue;
      std::string key = r.key();
      if (r.state == kEstablished) snap.established.insert(key);
      note(snap.seen[key], entryOf(r));
      if (r.state != kTimeWait) snap.connections.push_back(r);
    } else if (r.state != kListen && tracked(r.peer.port) && localServer(r.peer) &&
               !own.isOwn(r.peer, r.local, open)) {
      // The client's side of a connection to the app from this network
      // namespace: it outlives the app's side in TIME_WAIT.
      note(snap.seen[r.peer.toString() + "->" + r.local.toString()], entryOf(r));
    }
  }
  return snap;
}

int64_t countNew(const ConnectionSnapshot& before, const ConnectionSnapshot& now) {
  int64_t n = 0;
  for (const auto& [key, conn] : now.seen) {
    auto it = before.seen.find(key);
    if (it == before.seen.end()) {
      ++n;
    } else if (conn.open && !it->second.open) {
      ++n;  // reused while the old connection was closing or in TIME_WAIT
    } else if (!conn.open && !it->second.open && conn.time_wait_left && it->second.time_wait_left &&
               *conn.time_wait_left > *it->second.time_wait_left) {
      ++n;  // reused and closed again between the two reads: its TIME_WAIT restarted
    }
  }
  return n;
}

}  // namespace lameduck::drain
