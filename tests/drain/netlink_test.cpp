// The sock_diag parser on recorded and hand-made answers, the real kernel
// through NetlinkConnectionSource, lameduck's own connections told apart by
// address pair, and the choice of source (netlink, or /proc when refused).
//
// Recorded answers (tests/drain/data/tcp{4,6}_dump.bin with a .txt naming
// the roles of the ports) come from this machine; re-record them with
//   LAMEDUCK_RECORD_NETLINK_DIR=tests/drain/data build/ci/tests/test_drain
//     --gtest_filter='NetlinkRecorder.*'

#include "drain/netlink.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "drain/activity.h"
#include "drain/loopback.h"
#include "drain/source.h"
#include "support/harness.h"

namespace lameduck::drain {
namespace {

using namespace std::chrono_literals;
using testing::Listener;
using testing::Socket;

const std::filesystem::path kData = std::filesystem::path(LAMEDUCK_SOURCE_DIR) / "tests/drain/data";

std::vector<uint8_t> readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// "role port" lines of a recording's .txt.
std::map<std::string, uint16_t> readRoles(const std::filesystem::path& p) {
  std::map<std::string, uint16_t> roles;
  std::ifstream in(p);
  std::string role;
  unsigned port = 0;
  while (in >> role >> port) roles[role] = static_cast<uint16_t>(port);
  return roles;
}

// ---- hand-made answers -------------------------------------------------

void put(std::vector<uint8_t>& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
  while (out.size() % 4) out.push_back(0);
}

std::vector<uint8_t> attribute(uint16_t type, const std::vector<uint8_t>& value) {
  rtattr a{static_cast<unsigned short>(sizeof(rtattr) + value.size()), type};
  std::vector<uint8_t> out;
  put(out, &a, sizeof a);
  out.resize(sizeof a);
  put(out, value.data(), value.size());
  return out;
}

std::vector<uint8_t> message(uint16_t type, uint16_t flags, const std::vector<uint8_t>& payload) {
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(sizeof h + payload.size());
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  std::vector<uint8_t> out;
  put(out, &h, sizeof h);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

struct FakeSocket {
  uint8_t family = AF_INET;
  uint8_t state = tcp_state::kEstablished;
  uint16_t sport = 8080, dport = 50000;
  uint32_t rqueue = 0, wqueue = 0;
  std::vector<std::vector<uint8_t>> attrs;
};

std::vector<uint8_t> socketMessage(const FakeSocket& s, uint16_t flags = NLM_F_MULTI) {
  inet_diag_msg m{};
  m.idiag_family = s.family;
  m.idiag_state = s.state;
  m.id.idiag_sport = htons(s.sport);
  m.id.idiag_dport = htons(s.dport);
  m.id.idiag_src[0] = htonl(0x7f000001);
  m.id.idiag_dst[0] = htonl(0x7f000001);
  m.idiag_rqueue = s.rqueue;
  m.idiag_wqueue = s.wqueue;
  m.idiag_inode = 4242;
  std::vector<uint8_t> payload;
  put(payload, &m, sizeof m);
  for (const auto& a : s.attrs) payload.insert(payload.end(), a.begin(), a.end());
  return message(SOCK_DIAG_BY_FAMILY, flags, payload);
}

std::vector<uint8_t> tcpInfo(size_t length, uint32_t last_recv, uint32_t last_sent) {
  tcp_info info{};
  info.tcpi_last_data_recv = last_recv;
  info.tcpi_last_data_sent = last_sent;
  info.tcpi_unacked = 0;
  info.tcpi_bytes_received = 100;
  info.tcpi_bytes_acked = 200;
  std::vector<uint8_t> v(sizeof info);
  std::memcpy(v.data(), &info, sizeof info);
  v.resize(length);
  return attribute(INET_DIAG_INFO, v);
}

std::vector<uint8_t> done() { return message(NLMSG_DONE, NLM_F_MULTI, {0, 0, 0, 0}); }

std::vector<uint8_t> errorMessage(int32_t err) {
  nlmsgerr e{};
  e.error = err;
  std::vector<uint8_t> payload;
  put(payload, &e, sizeof e);
  return message(NLMSG_ERROR, 0, payload);
}

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(ParseDiagAnswer, ReadsSocketsTcpInfoAndDone) {
  FakeSocket s;
  s.rqueue = 7;
  s.attrs.push_back(tcpInfo(sizeof(tcp_info), 5, 900));
  auto r = parseDiagAnswer(concat({socketMessage(s), done()}));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->done);
  EXPECT_FALSE(r->interrupted);
  ASSERT_EQ(r->sockets.size(), 1u);
  const ConnectionFacts& f = r->sockets[0];
  EXPECT_EQ(f.local.toString(), "127.0.0.1:8080");
  EXPECT_EQ(f.peer.toString(), "127.0.0.1:50000");
  EXPECT_EQ(f.rqueue, 7u);
  EXPECT_EQ(f.ms_since_data_in, 5u);
  EXPECT_EQ(f.ms_since_data_out, 900u);
  EXPECT_EQ(f.bytes_received, 100u);
  EXPECT_EQ(f.bytes_acked, 200u);
  EXPECT_EQ(f.notsent, 0u);
  EXPECT_EQ(f.inode, 4242u);
  EXPECT_EQ(f.source, SourceKind::kNetlink);
}

TEST(ParseDiagAnswer, StopsAtDoneAndKeepsOnlyTrackedPorts) {
  FakeSocket tracked, other;
  other.sport = 22;
  other.dport = 40000;
  auto r = parseDiagAnswer(concat({socketMessage(tracked), socketMessage(other), done(),
                                   socketMessage(tracked)}),
                           {8080});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->messages, 2);
  EXPECT_EQ(r->sockets.size(), 1u) << "the unrelated socket and what follows DONE are left out";
}

TEST(ParseDiagAnswer, AShortTcpInfoOnlyGivesTheFieldsWithinItsLength) {
  FakeSocket s;
  // An old kernel's tcp_info ending right after tcpi_last_data_recv... but
  // before tcpi_bytes_acked/tcpi_notsent_bytes.
  s.attrs.push_back(tcpInfo(offsetof(tcp_info, tcpi_last_ack_recv), 5, 900));
  auto r = parseDiagAnswer(socketMessage(s));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->sockets.size(), 1u);
  EXPECT_EQ(r->sockets[0].ms_since_data_in, 5u);
  EXPECT_EQ(r->sockets[0].ms_since_data_out, 900u);
  EXPECT_FALSE(r->sockets[0].bytes_acked);
  EXPECT_FALSE(r->sockets[0].bytes_received);
  EXPECT_FALSE(r->sockets[0].notsent);
  EXPECT_FALSE(r->done) << "no NLMSG_DONE yet: the reader must keep reading";
  // So short that even the timestamps are missing.
  FakeSocket tiny;
  tiny.attrs.push_back(tcpInfo(8, 5, 900));
  auto t = parseDiagAnswer(socketMessage(tiny));
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->sockets[0].ms_since_data_in);
  EXPECT_FALSE(t->sockets[0].unacked);
}

TEST(ParseDiagAnswer, SkipsUnknownAttributesMessagesAndFamilies) {
  FakeSocket s;
  s.attrs.push_back(attribute(200, {1, 2, 3}));  // unknown, odd length (padded)
  s.attrs.push_back(tcpInfo(sizeof(tcp_info), 1, 2));
  FakeSocket unix_family;
  unix_family.family = AF_UNIX;
  auto r = parseDiagAnswer(concat({message(NLMSG_NOOP, 0, {}), message(0x7777, 0, {9, 9, 9, 9}),
                                   socketMessage(unix_family), socketMessage(s), done()}));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->sockets.size(), 1u);
  EXPECT_EQ(r->sockets[0].ms_since_data_in, 1u) << "INFO after an unknown attribute is read";
  EXPECT_EQ(r->unknown, 4);
}

TEST(ParseDiagAnswer, ReportsAnInterruptedDump) {
  auto r = parseDiagAnswer(concat({socketMessage(FakeSocket{}, NLM_F_MULTI | NLM_F_DUMP_INTR), done()}));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->interrupted);
}

TEST(ParseDiagAnswer, MapsNlmsgErrorToAClearError) {
  auto perm = parseDiagAnswer(errorMessage(-EPERM));
  ASSERT_FALSE(perm);
  EXPECT_EQ(perm.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(perm.error().message.find("errno 1"), std::string::npos) << perm.error().message;
  EXPECT_TRUE(isNetlinkRefused(perm.error()));
  auto missing = parseDiagAnswer(errorMessage(-ENOENT));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kFailedPrecondition);
  auto busy = parseDiagAnswer(errorMessage(-ENOBUFS));
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(isNetlinkRefused(busy.error()));
  EXPECT_TRUE(parseDiagAnswer(concat({errorMessage(0), done()}))) << "error 0 is an ACK";
  auto garbage = parseDiagAnswer(errorMessage(17));
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, ErrorCode::kBadResponse);
  EXPECT_FALSE(parseDiagAnswer(message(NLMSG_ERROR, 0, {})));
}

TEST(ParseDiagAnswer, RejectsBadLengthsWithoutReadingPastTheBuffer) {
  auto msg = socketMessage(FakeSocket{});
  // nlmsg_len below the header.
  auto small = msg;
  uint32_t len = 8;
  std::memcpy(small.data(), &len, 4);
  auto r = parseDiagAnswer(small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadResponse);
  EXPECT_NE(r.error().message.find("less than its 16-byte header"), std::string::npos);
  // nlmsg_len beyond the buffer.
  auto big = msg;
  len = 1u << 30;
  std::memcpy(big.data(), &len, 4);
  r = parseDiagAnswer(big);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  // A socket message too short for inet_diag_msg.
  EXPECT_FALSE(parseDiagAnswer(message(SOCK_DIAG_BY_FAMILY, 0, std::vector<uint8_t>(20, 0))));
  // An attribute claiming more than its message holds.
  FakeSocket s;
  s.attrs.push_back(tcpInfo(40, 1, 2));
  auto bad_attr = socketMessage(s);
  const size_t attr_at = sizeof(nlmsghdr) + sizeof(inet_diag_msg);
  uint16_t alen = 4000;
  std::memcpy(bad_attr.data() + attr_at, &alen, 2);
  EXPECT_FALSE(parseDiagAnswer(bad_attr));
  alen = 2;  // below the attribute header
  std::memcpy(bad_attr.data() + attr_at, &alen, 2);
  EXPECT_FALSE(parseDiagAnswer(bad_attr));
  // Trailing bytes shorter than a header.
  EXPECT_FALSE(parseDiagAnswer(concat({socketMessage(FakeSocket{}), {1, 2, 3, 4, 5, 6, 7, 8}})));
  EXPECT_TRUE(parseDiagAnswer(std::vector<uint8_t>{})) << "nothing is not an error";
}

// ---- recorded answers from this machine ---------------------------------

struct Recorded {
  std::vector<ConnectionFacts> sockets;
  std::map<std::string, uint16_t> roles;
};

Recorded loadRecording(const std::string& name) {
  Recorded r;
  r.roles = readRoles(kData / (name + ".txt"));
  auto bytes = readFile(kData / (name + ".bin"));
  auto parsed = parseDiagAnswer(bytes);
  EXPECT_TRUE(parsed) << name << ": " << (parsed ? "" : parsed.error().message);
  if (parsed) {
    EXPECT_TRUE(parsed->done) << name << " ends with NLMSG_DONE";
    r.sockets = parsed->sockets;
  }
  return r;
}

const ClassifiedConnection* byPeerPort(const ActivityReport& report, uint16_t port) {
  for (const auto& c : report.connections) {
    if (c.facts.peer.port == port) return &c;
  }
  return nullptr;
}

class RecordedDump : public ::testing::TestWithParam<std::string> {};

TEST_P(RecordedDump, ParsesAndClassifiesTheRecordedConnections) {
  Recorded rec = loadRecording(GetParam());
  ASSERT_EQ(rec.roles.size(), 5u) << "listen busy idle queued time_wait";
  const uint16_t port = rec.roles["listen"];
  OwnConnections none;
  ConnectionSnapshot snap = summarizeFacts(rec.sockets, {port}, none, SourceKind::kNetlink);
  EXPECT_EQ(snap.listening, 1);
  EXPECT_EQ(snap.established.size(), 3u);
  EXPECT_EQ(snap.seen.size(), 4u) << "three open connections and one in TIME_WAIT";
  EXPECT_EQ(snap.connections.size(), 3u);
  bool time_wait = false;
  for (const ConnectionFacts& c : rec.sockets) {
    time_wait |= c.state == tcp_state::kTimeWait && c.local.port == rec.roles["time_wait"];
  }
  EXPECT_TRUE(time_wait) << "the client's side of the closed connection";
  for (const ConnectionFacts& c : snap.connections) {
    EXPECT_TRUE(c.ms_since_data_in && c.ms_since_data_out && c.bytes_received && c.notsent)
        << c.key() << " has its tcp_info";
    EXPECT_EQ(c.local.family, GetParam() == "tcp4_dump" ? 4 : 6);
  }
  ActivityReport report = classify(nullptr, snap, 0ms);
  const auto* busy = byPeerPort(report, rec.roles["busy"]);
  const auto* idle = byPeerPort(report, rec.roles["idle"]);
  const auto* queued = byPeerPort(report, rec.roles["queued"]);
  ASSERT_TRUE(busy && idle && queued);
  EXPECT_EQ(busy->activity, Activity::kBusy);
  EXPECT_EQ(busy->reason, "peer spoke last");
  EXPECT_EQ(idle->activity, Activity::kIdle);
  EXPECT_EQ(queued->activity, Activity::kBusy);
  EXPECT_GT(queued->facts.rqueue, 0u);
  EXPECT_EQ(report.busy, 2);
  EXPECT_EQ(report.idle, 1);
}

TEST_P(RecordedDump, EveryTruncationFailsCleanlyOrStopsAtAMessageBoundary) {
  auto bytes = readFile(kData / (GetParam() + ".bin"));
  ASSERT_FALSE(bytes.empty());
  int64_t ok = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = parseDiagAnswer(std::span<const uint8_t>(bytes.data(), n));
    if (r) {
      ++ok;
      EXPECT_FALSE(r->done) << "cut at " << n;
    }
  }
  EXPECT_LT(ok, 64) << "only cuts at message boundaries parse";
  // Flipping every byte in turn never crashes either.
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= 0xff;
    (void)parseDiagAnswer(copy);
  }
}

INSTANTIATE_TEST_SUITE_P(Recordings, RecordedDump, ::testing::Values("tcp4_dump", "tcp6_dump"));

// Writes the messages of a real dump that concern `port` (and NLMSG_DONE):
// a recording of this machine without the other sockets on it.
void appendMessagesFor(std::span<const uint8_t> buf, uint16_t port, std::vector<uint8_t>& out) {
  size_t pos = 0;
  while (pos + sizeof(nlmsghdr) <= buf.size()) {
    nlmsghdr h;
    std::memcpy(&h, buf.data() + pos, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > buf.size() - pos) break;
    bool keep = h.nlmsg_type == NLMSG_DONE;
    if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      inet_diag_msg m;
      std::memcpy(&m, buf.data() + pos + sizeof h, sizeof m);
      keep = ntohs(m.id.idiag_sport) == port || ntohs(m.id.idiag_dport) == port;
    }
    const size_t len = std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), buf.size() - pos);
    if (keep) out.insert(out.end(), buf.begin() + pos, buf.begin() + pos + len);
    pos += len;
  }
}

TEST(NetlinkRecorder, RecordsLoopbackDumps) {
  const char* dir = std::getenv("LAMEDUCK_RECORD_NETLINK_DIR");
  if (!dir) GTEST_SKIP() << "set LAMEDUCK_RECORD_NETLINK_DIR to record";
  for (int family : {AF_INET, AF_INET6}) {
    Listener l(family);
    Socket idle_c = l.connect(), idle_s = l.accept();
    Socket busy_c = l.connect(), busy_s = l.accept();
    Socket queued_c = l.connect(), queued_s = l.accept();
    Socket tw_c = l.connect(), tw_s = l.accept();
    idle_c.send("GET / HTTP/1.1\r\n\r\n");
    idle_s.receive(18);
    idle_s.send("HTTP/1.1 200 OK\r\n\r\n");
    idle_c.receive(19);
    const uint16_t tw_port = tw_c.localPort();
    tw_c.reset();  // the client closes first: its side lingers in TIME_WAIT
    tw_s.reset();
    // A recorder, not a test: let the jiffies move so "spoke last" is clear.
    std::this_thread::sleep_for(50ms);
    busy_c.send("GET /slow HTTP/1.1\r\n\r\n");
    busy_s.receive(22);
    queued_c.send("GET /unread HTTP/1.1\r\n\r\n");
    std::this_thread::sleep_for(50ms);
    std::vector<uint8_t> bytes;
    std::vector<ConnectionFacts> ignored;
    NetlinkOptions options;
    auto ok = dumpTcpSockets(family, options, SystemClock::instance(),
                             SystemClock::instance().now() + 2s, ignored,
                             [&](std::span<const uint8_t> b) { appendMessagesFor(b, l.port(), bytes); });
    ASSERT_TRUE(ok) << ok.error().message;
    const std::string name = family == AF_INET ? "tcp4_dump" : "tcp6_dump";
    std::ofstream(std::filesystem::path(dir) / (name + ".bin"), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    std::ofstream(std::filesystem::path(dir) / (name + ".txt"))
        << "listen " << l.port() << "\nbusy " << busy_c.localPort() << "\nidle "
        << idle_c.localPort() << "\nqueued " << queued_c.localPort() << "\ntime_wait "
        << tw_port << "\n";
  }
}

// ---- the real kernel ----------------------------------------------------

class RealKernel : public ::testing::TestWithParam<int> {
 protected:
  // The test process owns both ends: leave own-connection matching out.
  NetlinkConnectionSource source(uint16_t port) {
    NetlinkOptions o;
    o.ports = {port};
    o.timeout = 2s;
    return NetlinkConnectionSource(o, SystemClock::instance(), OwnConnections());
  }
};

// Reads snapshots until the connection from `client_port` is classified as
// `want` against the snapshot before, or 5 s pass. Returns the last reason.
std::string pollUntil(NetlinkConnectionSource& src, ConnectionSnapshot& previous, TimePoint& at,
                      uint16_t client_port, Activity want, bool* reached) {
  std::string reason = "not seen";
  *reached = lameduck::testing::waitUntil(
      [&] {
        auto snap = src.read();
        if (!snap) return false;
        const TimePoint now = SystemClock::instance().now();
        ActivityReport r = classify(&previous, *snap, now - at);
        previous = std::move(*snap);
        at = now;
        const auto* c = byPeerPort(r, client_port);
        if (!c) return false;
        reason = std::string(c->reason);
        return c->activity == want;
      },
      5000ms, 5ms);
  return reason;
}

TEST_P(RealKernel, RequestWithoutReplyIsBusyReplyIsIdleStreamIsBusy) {
  Listener l(GetParam());
  auto src = source(l.port());
  Socket client = l.connect();
  Socket server = l.accept();
  auto first = src.read();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->source, SourceKind::kNetlink);
  EXPECT_EQ(first->listening, 1);
  ASSERT_EQ(first->connections.size(), 1u);
  EXPECT_EQ(first->connections[0].peer.port, client.localPort());
  EXPECT_EQ(first->connections[0].local.family, GetParam() == AF_INET ? 4 : 6);
  ConnectionSnapshot previous = *first;
  TimePoint at = SystemClock::instance().now();
  bool reached = false;

  // A connection nobody has spoken on yet settles as idle.
  std::string why = pollUntil(src, previous, at, client.localPort(), Activity::kIdle, &reached);
  ASSERT_TRUE(reached) << why;

  // A request the app has not read: bytes queued.
  client.send("GET /slow HTTP/1.1\r\n\r\n");
  auto snap = src.read();
  ASSERT_TRUE(snap);
  ActivityReport r = classify(&previous, *snap, SystemClock::instance().now() - at);
  ASSERT_NE(byPeerPort(r, client.localPort()), nullptr);
  EXPECT_EQ(byPeerPort(r, client.localPort())->activity, Activity::kBusy);
  EXPECT_TRUE(r.request_bytes);
  ASSERT_TRUE(r.last_request_bytes_ago);
  previous = *snap;
  at = SystemClock::instance().now();

  // Read but not answered: the peer spoke last, the connection stays busy
  // poll after poll.
  server.receive(22);
  for (int i = 0; i < 5; ++i) {
    auto s = src.read();
    ASSERT_TRUE(s);
    const TimePoint now = SystemClock::instance().now();
    ActivityReport rr = classify(&previous, *s, now - at);
    const auto* c = byPeerPort(rr, client.localPort());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->activity, Activity::kBusy) << "poll " << i << ": " << c->reason;
    previous = std::move(*s);
    at = now;
  }

  // Answered: idle once the reply is acked and a poll saw no movement.
  server.send("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
  client.receive(38);
  why = pollUntil(src, previous, at, client.localPort(), Activity::kIdle, &reached);
  ASSERT_TRUE(reached) << why;
  // Kept open and quiet: still idle, and no request bytes.
  auto quiet = src.read();
  ASSERT_TRUE(quiet);
  ActivityReport q = classify(&previous, *quiet, SystemClock::instance().now() - at);
  EXPECT_EQ(byPeerPort(q, client.localPort())->activity, Activity::kIdle);
  EXPECT_FALSE(q.request_bytes);
  EXPECT_EQ(q.new_connections, 0);
  previous = *quiet;
  at = SystemClock::instance().now();

  // A second request over the kept-alive connection, once the kernel's
  // clock has moved past the reply (its timestamps are in ticks): the
  // timestamps alone show the peer spoke last, poll after poll.
  ASSERT_TRUE(lameduck::testing::waitUntil(
      [&] {
        auto s = src.read();
        return s && s->connections.size() == 1 &&
               s->connections[0].ms_since_data_out.value_or(0) >= 20;
      },
      5000ms, 5ms));
  client.send("GET /again HTTP/1.1\r\n\r\n");
  server.receive(23);
  for (int i = 0; i < 3; ++i) {
    auto s = src.read();
    ASSERT_TRUE(s);
    const TimePoint now = SystemClock::instance().now();
    ActivityReport rr = classify(&previous, *s, now - at);
    const auto* c = byPeerPort(rr, client.localPort());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->activity, Activity::kBusy) << "poll " << i << ": " << c->reason;
    if (i > 0) {
      EXPECT_EQ(c->reason, "peer spoke last");
    }
    EXPECT_GT(c->facts.bytes_acked.value_or(0), 1u) << "the timestamps decide, not the counters";
    previous = std::move(*s);
    at = now;
  }
  server.send("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
  client.receive(38);
  why = pollUntil(src, previous, at, client.localPort(), Activity::kIdle, &reached);
  ASSERT_TRUE(reached) << why;

  // A streaming reply: data moves between every two polls.
  for (int i = 0; i < 5; ++i) {
    server.send(std::string(1000, 'x'));
    client.receive(1000);
    auto s = src.read();
    ASSERT_TRUE(s);
    const TimePoint now = SystemClock::instance().now();
    ActivityReport rr = classify(&previous, *s, now - at);
    const auto* c = byPeerPort(rr, client.localPort());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->activity, Activity::kBusy) << "chunk " << i << ": " << c->reason;
    EXPECT_FALSE(rr.request_bytes) << "a reply is not request bytes";
    previous = std::move(*s);
    at = now;
  }
}

TEST_P(RealKernel, SeesNewConnectionsAndShortOnesInTimeWait) {
  Listener l(GetParam());
  auto src = source(l.port());
  auto before = src.read();
  ASSERT_TRUE(before);
  {
    Socket c = l.connect();
    Socket s = l.accept();
    c.send("ping");
    s.receive(4);
  }  // closed before the next read: only TIME_WAIT remains
  auto after = src.read();
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->connections.empty());
  EXPECT_EQ(countNew(*before, *after), 1);
  EXPECT_EQ(classify(&*before, *after, 10ms).new_connections, 1);
}

TEST(PortFilter, TheKernelSendsOnlySocketsOnTrackedPorts) {
  EXPECT_TRUE(portFilterBytecode({}).empty());
  EXPECT_TRUE(portFilterBytecode(std::vector<uint16_t>(kMaxFilterPorts + 1, 80)).empty());
  Listener a(AF_INET), b(AF_INET6), other(AF_INET);
  Socket ca = a.connect(), sa = a.accept();
  Socket cb = b.connect(), sb = b.accept();
  Socket co = other.connect(), so = other.accept();
  NetlinkOptions o;
  o.ports = {a.port(), b.port()};
  for (int family : {AF_UNSPEC, AF_INET, AF_INET6}) {
    std::vector<uint8_t> raw;
    std::vector<ConnectionFacts> rows;
    auto ok = dumpTcpSockets(family, o, SystemClock::instance(), SystemClock::instance().now() + 2s,
                             rows, [&](std::span<const uint8_t> buf) {
                               raw.insert(raw.end(), buf.begin(), buf.end());
                             });
    ASSERT_TRUE(ok) << family << ": " << ok.error().message;
    auto unfiltered = parseDiagAnswer(raw);  // what the kernel itself sent
    ASSERT_TRUE(unfiltered);
    std::set<uint16_t> ports;
    for (const auto& f : unfiltered->sockets) {
      EXPECT_TRUE(f.local.port == a.port() || f.peer.port == a.port() || f.local.port == b.port() ||
                  f.peer.port == b.port())
          << f.key();
      ports.insert(f.local.port);
    }
    // Listener + both ends, per family. A connection of an earlier test (or
    // of one running beside this) may have used one of these port numbers
    // and still be in TIME_WAIT: the kernel rightly sends it too, so only
    // live sockets are counted.
    auto live = [](const auto& facts) {
      return std::count_if(facts.begin(), facts.end(), [](const ConnectionFacts& f) {
        return f.state != tcp_state::kTimeWait;
      });
    };
    const long want = family == AF_UNSPEC ? 6 : 3;
    EXPECT_EQ(live(unfiltered->sockets), want) << family;
    EXPECT_EQ(live(rows), want) << family;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, RealKernel, ::testing::Values(AF_INET, AF_INET6),
                         [](const auto& p) { return p.param == AF_INET ? "IPv4" : "IPv6"; });

TEST(OwnConnections, OnlyTheWholeAddressPairOfOurOwnSocketIsLeftOut) {
  Listener l(AF_INET);
  Socket ours = l.connect(), ours_s = l.accept();
  Socket theirs = l.connect(), theirs_s = l.accept();
  const uint64_t our_inode = ours.inode();
  NetlinkOptions o;
  o.ports = {l.port()};
  NetlinkConnectionSource src(o, SystemClock::instance(),
                              OwnConnections([&] { return std::set<uint64_t>{our_inode}; }));
  auto snap = src.read();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_EQ(snap->connections.size(), 1u);
  EXPECT_EQ(snap->connections[0].peer.port, theirs.localPort());
  // Closed by us first, then by the app: the pair stays ours while closing
  // and in TIME_WAIT, where the kernel reports no inode.
  const std::string our_key = "127.0.0.1:" + std::to_string(l.port()) + "->127.0.0.1:" +
                              std::to_string(ours.localPort());
  ours.reset();
  auto closing = src.read();
  ASSERT_TRUE(closing);
  EXPECT_EQ(closing->connections.size(), 1u);
  EXPECT_EQ(closing->seen.count(our_key), 0u);
  ours_s.reset();
  auto later = src.read();
  ASSERT_TRUE(later);
  EXPECT_EQ(later->connections.size(), 1u);
  EXPECT_EQ(later->seen.count(our_key), 0u);
  EXPECT_EQ(countNew(*snap, *later), 0) << "our own closing connection is not an arrival";
}

TEST(OwnConnections, ASamePortFromAnotherAddressIsTraffic) {
  // Pure: our client 127.0.0.1:5000 -> app 127.0.0.1:8080 (inode 7), and a
  // client at 10.0.0.9 that happens to use port 5000 too.
  auto row = [](uint32_t local, uint16_t lport, uint32_t remote, uint16_t rport, uint64_t inode) {
    ConnectionFacts f;
    uint32_t l = htonl(local), r = htonl(remote);
    std::memcpy(f.local.addr.data(), &l, 4);
    std::memcpy(f.peer.addr.data(), &r, 4);
    f.local.port = lport;
    f.peer.port = rport;
    f.state = tcp_state::kEstablished;
    f.inode = inode;
    return f;
  };
  std::vector<ConnectionFacts> rows = {
      row(0x7f000001, 8080, 0x7f000001, 5000, 100), row(0x7f000001, 5000, 0x7f000001, 8080, 7),
      row(0x0a000001, 8080, 0x0a000009, 5000, 101)};
  OwnConnections own([] { return std::set<uint64_t>{7}; }, [] { return std::set<uint16_t>{5000}; });
  ConnectionSnapshot s = summarizeFacts(rows, {8080}, own, SourceKind::kNetlink);
  ASSERT_EQ(s.connections.size(), 1u);
  EXPECT_EQ(s.connections[0].peer.toString(), "10.0.0.9:5000");
}

// ---- choosing the source ------------------------------------------------

TEST(ChooseConnectionSource, PrefersNetlinkAndFallsBackWhenDisabled) {
  SourceOptions o;
  o.ports = {8080};
  SourceChoice nl = chooseConnectionSource(o, SystemClock::instance());
  EXPECT_EQ(nl.kind, SourceKind::kNetlink) << nl.reason;
  EXPECT_FALSE(nl.fallback);
  ASSERT_TRUE(nl.source->read());
  EXPECT_EQ(nl.source->read()->source, SourceKind::kNetlink);

  o.disable_netlink = true;
  SourceChoice proc = chooseConnectionSource(o, SystemClock::instance());
  EXPECT_EQ(proc.kind, SourceKind::kProc);
  EXPECT_TRUE(proc.fallback);
  EXPECT_NE(proc.reason.find(kDisableNetlinkEnv), std::string::npos) << proc.reason;
  auto snap = proc.source->read();
  ASSERT_TRUE(snap) << snap.error().message;
  EXPECT_EQ(snap->source, SourceKind::kProc);

  ::setenv(kDisableNetlinkEnv, "1", 1);
  EXPECT_TRUE(netlinkDisabledByEnvironment());
  ::setenv(kDisableNetlinkEnv, "0", 1);
  EXPECT_FALSE(netlinkDisabledByEnvironment());
  ::unsetenv(kDisableNetlinkEnv);
}

TEST(ChooseConnectionSource, FallsBackToProcWhenSeccompRefusesNetlink) {
  Listener l(AF_INET);
  Socket c = l.connect(), s = l.accept();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // socket(AF_NETLINK, ...) fails with EPERM, as under a strict seccomp profile.
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      _exit(10);
    }
    SourceOptions o;
    o.ports = {l.port()};
    o.own_inodes = [] { return std::set<uint64_t>{}; };
    SourceChoice choice = chooseConnectionSource(o, SystemClock::instance());
    if (choice.kind != SourceKind::kProc || !choice.fallback) _exit(11);
    if (choice.reason.find("refused") == std::string::npos ||
        choice.reason.find("errno 1") == std::string::npos) {
      _exit(12);
    }
    auto snap = choice.source->read();
    if (!snap || snap->connections.size() != 1 || snap->listening != 1) _exit(13);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 seccomp, 11 not proc, 12 reason, 13 proc read";
}

}  // namespace
}  // namespace lameduck::drain
