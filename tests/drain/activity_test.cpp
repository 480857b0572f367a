// The busy/idle rules over made-up snapshots.

#include "drain/activity.h"

#include <gtest/gtest.h>

namespace lameduck::drain {
namespace {

using namespace std::chrono_literals;

// An established connection from 10.0.0.<n>:<40000+n> to the app on 8080,
// whose last request arrived 900 ms ago and was answered 800 ms ago.
ConnectionFacts conn(int n) {
  ConnectionFacts f;
  f.local.addr = {10, 0, 0, 1};
  f.local.port = 8080;
  f.peer.addr = {10, 0, 0, static_cast<uint8_t>(n)};
  f.peer.port = static_cast<uint16_t>(40000 + n);
  f.state = tcp_state::kEstablished;
  f.ms_since_data_in = 900;
  f.ms_since_data_out = 800;
  f.unacked = 0;
  f.notsent = 0;
  f.bytes_received = 1000;
  f.bytes_acked = 5000;
  f.cookie = static_cast<uint64_t>(n);
  f.source = SourceKind::kNetlink;
  return f;
}

ConnectionSnapshot snap(std::vector<ConnectionFacts> conns) {
  ConnectionSnapshot s;
  s.source = SourceKind::kNetlink;
  for (auto& c : conns) {
    s.established.insert(c.key());
    s.seen[c.key()].open = true;
  }
  s.connections = std::move(conns);
  return s;
}

// Ages every timestamp by `d`, as if `d` passed with nothing sent.
ConnectionSnapshot later(ConnectionSnapshot s, Duration d) {
  const auto ms = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  for (auto& c : s.connections) {
    if (c.ms_since_data_in) *c.ms_since_data_in += ms;
    if (c.ms_since_data_out) *c.ms_since_data_out += ms;
  }
  return s;
}

TEST(Classify, AnIdleKeepAlivePoolIsIdle) {
  auto before = snap({conn(1), conn(2), conn(3)});
  auto now = later(before, 100ms);
  ActivityReport r = classify(&before, now, 100ms);
  EXPECT_EQ(r.busy, 0);
  EXPECT_EQ(r.idle, 3);
  EXPECT_FALSE(r.request_bytes);
  EXPECT_EQ(r.new_connections, 0);
  ASSERT_TRUE(r.last_request_bytes_ago);
  EXPECT_EQ(*r.last_request_bytes_ago, 1000ms);
  EXPECT_EQ(classify(nullptr, now, 0ms).idle, 3) << "the first poll too";
}

TEST(Classify, ThePeerSpeakingLastIsARequestBeingWorkedOn) {
  auto before = snap({conn(1)});
  auto now = later(before, 100ms);
  // The request arrived 50 ms ago, the last reply went 900 ms ago; a long
  // poll looks the same for minutes.
  now.connections[0].ms_since_data_in = 50;
  now.connections[0].ms_since_data_out = 900;
  now.connections[0].bytes_received = 1200;
  ActivityReport r = classify(&before, now, 100ms);
  EXPECT_EQ(r.busy, 1);
  EXPECT_EQ(r.connections[0].reason, "peer spoke last");
  EXPECT_TRUE(r.request_bytes);
  EXPECT_EQ(*r.last_request_bytes_ago, 50ms);
  // Still unanswered a minute later, nothing moving: still busy.
  auto minute = later(now, 60s);
  EXPECT_EQ(classify(&now, minute, 60s).busy, 1);
  EXPECT_FALSE(classify(&now, minute, 60s).request_bytes);
}

TEST(Classify, TheFirstRequestOfANewConnectionIsBusyEvenWithinOneKernelTick) {
  // Accepted and sent its request within the same tick: both timestamps
  // equal, but the app has not sent a byte (bytes_acked 1 is the SYN).
  ConnectionFacts c = conn(1);
  c.ms_since_data_in = 200;
  c.ms_since_data_out = 200;
  c.bytes_received = 80;
  c.bytes_acked = 1;
  auto now = snap({c});
  auto before = later(now, 0ms);
  ActivityReport r = classify(&before, later(now, 100ms), 100ms);
  EXPECT_EQ(r.busy, 1);
  EXPECT_EQ(r.connections[0].reason, "peer spoke last");
  // Once answered, the counters say so.
  c.bytes_acked = 300;
  EXPECT_EQ(classify(nullptr, snap({c}), 0ms).idle, 1);
  // Accepted and silent: nothing to answer.
  c.bytes_received = 0;
  c.bytes_acked = 1;
  EXPECT_EQ(classify(nullptr, snap({c}), 0ms).idle, 1);
}

TEST(Classify, QueuedBytesEitherWayAreBusy) {
  for (int which = 0; which < 4; ++which) {
    auto before = snap({conn(1)});
    auto now = later(before, 100ms);
    auto& c = now.connections[0];
    if (which == 0) c.rqueue = 10;
    if (which == 1) c.wqueue = 10;
    if (which == 2) c.unacked = 1;
    if (which == 3) c.notsent = 4096;
    ActivityReport r = classify(&before, now, 100ms);
    EXPECT_EQ(r.busy, 1) << which;
    EXPECT_EQ(r.connections[0].reason, "bytes queued") << which;
  }
}

TEST(Classify, DataMovingSinceTheLastPollIsBusy) {
  auto before = snap({conn(1)});
  auto now = later(before, 100ms);
  // A streaming reply: the app sends, the client acks; the request was long ago.
  now.connections[0].bytes_acked = 9000;
  now.connections[0].ms_since_data_out = 3;
  ActivityReport r = classify(&before, now, 100ms);
  EXPECT_EQ(r.busy, 1);
  EXPECT_EQ(r.connections[0].reason, "data moved since the last poll");
  EXPECT_FALSE(r.request_bytes) << "a reply is not request bytes";
  // Without byte counters (an old kernel) the timestamps tell the same.
  auto no_counters_before = before, no_counters = now;
  no_counters_before.connections[0].bytes_acked.reset();
  no_counters_before.connections[0].bytes_received.reset();
  no_counters.connections[0].bytes_acked.reset();
  no_counters.connections[0].bytes_received.reset();
  EXPECT_EQ(classify(&no_counters_before, no_counters, 100ms).busy, 1);
  no_counters.connections[0].ms_since_data_out = 150;
  no_counters.connections[0].ms_since_data_in = 160;
  EXPECT_EQ(classify(&no_counters_before, no_counters, 100ms).busy, 0);
}

TEST(Classify, KeepaliveProbesAndAcksAreNotData) {
  // A keepalive probe and its ACK change neither the data timestamps nor the
  // byte counters (the kernel's last_ack_recv moves, which is never read).
  auto before = snap({conn(1)});
  auto now = later(before, 75s);
  ActivityReport r = classify(&before, now, 75s);
  EXPECT_EQ(r.idle, 1);
  EXPECT_FALSE(r.request_bytes);
}

TEST(Classify, ARequestOnAnExistingConnectionIsRequestBytes) {
  auto before = snap({conn(1), conn(2)});
  auto now = later(before, 100ms);
  // conn 2: a quick request answered within the interval.
  now.connections[1].bytes_received = 1300;
  now.connections[1].bytes_acked = 5400;
  now.connections[1].ms_since_data_in = 40;
  now.connections[1].ms_since_data_out = 39;
  ActivityReport r = classify(&before, now, 100ms);
  EXPECT_TRUE(r.request_bytes);
  EXPECT_EQ(*r.last_request_bytes_ago, 40ms);
  EXPECT_EQ(r.busy, 1) << "data moved since the last poll";
  // The poll after that sees it idle.
  auto next = later(now, 100ms);
  ActivityReport r2 = classify(&now, next, 100ms);
  EXPECT_FALSE(r2.request_bytes);
  EXPECT_EQ(r2.busy, 0);
}

TEST(Classify, NewConnectionsAreCountedAndSetupIsBusy) {
  auto before = snap({conn(1)});
  auto now = later(before, 100ms);
  ConnectionFacts fresh = conn(2);
  fresh.bytes_received = 0;
  fresh.bytes_acked = 0;
  fresh.ms_since_data_in = 20;
  fresh.ms_since_data_out = 20;
  ConnectionFacts syn = conn(3);
  syn.state = tcp_state::kSynRecv;
  syn.ms_since_data_in.reset();
  syn.ms_since_data_out.reset();
  syn.bytes_received.reset();
  syn.bytes_acked.reset();
  now.connections.push_back(fresh);
  now.connections.push_back(syn);
  for (const auto& c : {fresh, syn}) now.seen[c.key()].open = true;
  ActivityReport r = classify(&before, now, 100ms);
  EXPECT_EQ(r.new_connections, 2);
  EXPECT_FALSE(r.request_bytes) << "a connection without payload is not request bytes";
  EXPECT_EQ(r.busy, 1);
  EXPECT_EQ(r.connections[2].reason, "being set up");
  EXPECT_EQ(r.connections[1].activity, Activity::kIdle) << "a handshake is not data";
}

TEST(Classify, TheFinOfAClientThatClosedIsNotQueuedData) {
  auto before = snap({conn(1)});
  auto now = later(before, 100ms);
  now.connections[0].state = tcp_state::kCloseWait;
  now.connections[0].rqueue = 1;  // the FIN, not yet read by the app
  EXPECT_EQ(classify(&before, now, 100ms).idle, 1);
  now.connections[0].rqueue = 20;  // data before the FIN
  EXPECT_EQ(classify(&before, now, 100ms).busy, 1);
}

TEST(Classify, TimeWaitIsHistoryNotAConnection) {
  auto now = snap({conn(1)});
  now.connections[0].state = tcp_state::kTimeWait;
  ActivityReport r = classify(nullptr, now, 0ms);
  EXPECT_TRUE(r.connections.empty());
  EXPECT_EQ(r.busy + r.idle, 0);
}

TEST(Classify, TheProcSourceJudgesByQueuesOnly) {
  ConnectionFacts p;
  p.local.port = 8080;
  p.peer.port = 40001;
  p.state = tcp_state::kEstablished;
  p.source = SourceKind::kProc;
  auto before = snap({p});
  before.source = SourceKind::kProc;
  auto now = before;
  EXPECT_EQ(classify(&before, now, 100ms).idle, 1);
  EXPECT_FALSE(classify(&before, now, 100ms).last_request_bytes_ago);
  now.connections[0].rqueue = 30;
  ActivityReport r = classify(&before, now, 100ms);
  EXPECT_EQ(r.busy, 1);
  EXPECT_TRUE(r.request_bytes) << "unread bytes that were not there before";
  EXPECT_FALSE(classify(&now, now, 100ms).request_bytes);
}

}  // namespace
}  // namespace lameduck::drain
