// The connection half of "drained" with a fake kernel in simulated time:
// idle pools never hold the exit, request bytes on an existing connection
// restart the quiet period, a slow request is waited for and no longer.

#include "drain/tracker.h"

#include <gtest/gtest.h>

#include <map>

#include "drain/report.h"

namespace lameduck::drain {
namespace {

using namespace std::chrono_literals;

// A fake network namespace: connections whose data times and byte counts
// the test moves, snapshotted as the kernel would report them at `now`.
class FakeKernel {
 public:
  explicit FakeKernel(SimulatedClock& clock) : clock_(clock) {}
  struct Conn {
    TimePoint last_in, last_out;
    uint64_t received = 0, acked = 0;
    uint32_t rqueue = 0;
  };
  void open(int id) { conns_[id] = Conn{clock_.now(), clock_.now()}; }
  void close(int id) { conns_.erase(id); }
  void request(int id, uint64_t bytes = 100) {
    conns_[id].last_in = clock_.now();
    conns_[id].received += bytes;
  }
  void reply(int id, uint64_t bytes = 500) {
    conns_[id].last_out = clock_.now();
    conns_[id].acked += bytes;
  }
  ConnectionSnapshot snapshot() const {
    ConnectionSnapshot s;
    s.source = SourceKind::kNetlink;
    for (const auto& [id, c] : conns_) {
      ConnectionFacts f;
      f.local.addr = {10, 0, 0, 1};
      f.local.port = 8080;
      f.peer.addr = {10, 0, 0, 2};
      f.peer.port = static_cast<uint16_t>(40000 + id);
      f.state = tcp_state::kEstablished;
      f.ms_since_data_in = ms(clock_.now() - c.last_in);
      f.ms_since_data_out = ms(clock_.now() - c.last_out);
      f.bytes_received = c.received;
      f.bytes_acked = c.acked;
      f.unacked = 0;
      f.notsent = 0;
      f.rqueue = c.rqueue;
      f.cookie = static_cast<uint64_t>(id);
      s.established.insert(f.key());
      s.seen[f.key()].open = true;
      s.connections.push_back(f);
    }
    return s;
  }
  std::map<int, Conn> conns_;

 private:
  static uint32_t ms(Duration d) {
    return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  }
  SimulatedClock& clock_;
};

struct Timeline {
  SimulatedClock clock;
  FakeKernel kernel{clock};
  TimePoint start = clock.now();
  ConnectionTracker tracker{DrainRules{0, 2s}, clock.now()};
  ConnectionVerdict last;
  // Polls every 100 ms, running `during(t)` before each poll, until drained
  // or `limit`; returns how long after the start it drained (or nullopt).
  template <typename F>
  std::optional<Duration> until(Duration limit, F during) {
    while (clock.now() - start <= limit) {
      during(clock.now() - start);
      last = tracker.observe(kernel.snapshot(), clock.now());
      if (last.drained) return clock.now() - start;
      clock.advance(100ms);
    }
    return std::nullopt;
  }
};

TEST(ConnectionTracker, AnIdlePoolNeverHoldsTheExit) {
  Timeline r;
  for (int id = 0; id < 16; ++id) {
    r.kernel.open(id);
    r.kernel.request(id);
    r.kernel.reply(id);
  }
  r.clock.advance(5s);  // the pool has been quiet for a while
  r.start = r.clock.now();
  r.tracker = ConnectionTracker(DrainRules{0, 2s}, r.start);
  auto took = r.until(30s, [](Duration) {});
  ASSERT_TRUE(took);
  EXPECT_EQ(*took, 2s) << "one quiet period";
  EXPECT_EQ(r.last.idle, 16);
  EXPECT_EQ(r.last.busy, 0);
}

TEST(ConnectionTracker, RequestsOverAnExistingConnectionRestartTheQuietPeriod) {
  Timeline r;
  r.kernel.open(1);
  // The balancer keeps sending over its pooled connection until 3 s in.
  auto took = r.until(30s, [&](Duration t) {
    if (t <= 3s && t.count() % std::chrono::nanoseconds(500ms).count() == 0) {
      r.kernel.request(1);
      r.kernel.reply(1);
    }
  });
  ASSERT_TRUE(took);
  EXPECT_GE(*took, 5s) << "the last request at 3 s, then a full quiet period";
  EXPECT_LE(*took, 5s + 200ms);
}

TEST(ConnectionTracker, ASlowRequestIsWaitedForAndNoLonger) {
  Timeline r;
  r.kernel.open(1);
  r.clock.advance(100ms);
  r.kernel.request(1);  // a 3 s request starts
  auto took = r.until(30s, [&](Duration t) {
    if (t == 3s) r.kernel.reply(1);
  });
  ASSERT_TRUE(took);
  EXPECT_GE(*took, 3s);
  EXPECT_LE(*took, 3s + 200ms) << "the quiet period already ran while the request was worked on";
}

TEST(ConnectionTracker, NamesTheConnectionsThatHeldIt) {
  Timeline r;
  r.kernel.open(7);
  r.kernel.request(7);
  r.kernel.conns_[7].rqueue = 12;
  auto took = r.until(3s, [](Duration) {});
  EXPECT_FALSE(took);
  ASSERT_EQ(r.last.held_by.size(), 1u);
  EXPECT_EQ(r.last.held_by[0].peer, "10.0.0.2:40007");
  EXPECT_EQ(r.last.held_by[0].activity, Activity::kBusy);
  EXPECT_EQ(r.last.held_by[0].bytes_queued, 12u);
  EXPECT_EQ(r.last.held_by[0].ms_since_data_in, 3000u);
  ASSERT_FALSE(r.last.reasons.empty());
  EXPECT_NE(r.last.reasons[0].find("1 busy connection(s) (drain.max_connections 0"),
            std::string::npos)
      << r.last.reasons[0];
}

TEST(ConnectionTracker, NewConnectionsRestartTheQuietPeriodAndMaxConnectionsLetsBusyOnesThrough) {
  Timeline r;
  r.tracker = ConnectionTracker(DrainRules{1, 2s}, r.start);
  r.kernel.open(1);
  r.clock.advance(10ms);
  r.kernel.request(1);  // never answered: busy, but one is allowed
  auto took = r.until(30s, [&](Duration t) {
    if (t >= 1s && !r.kernel.conns_.count(2)) r.kernel.open(2);
  });
  ASSERT_TRUE(took);
  EXPECT_GE(*took, 3s);
  EXPECT_LE(*took, 3s + 200ms);
  EXPECT_EQ(r.last.busy, 1);
}

TEST(ConnectionTracker, AnUnreadableSourceIsNeverDrained) {
  ConnectionTracker t(DrainRules{0, 0s}, TimePoint{});
  ConnectionVerdict v = t.unreadable(Error{ErrorCode::kUnavailable, "sock_diag timed out"});
  EXPECT_FALSE(v.drained);
  ASSERT_EQ(v.reasons.size(), 1u);
  EXPECT_NE(v.reasons[0].find("sock_diag timed out"), std::string::npos);
}

}  // namespace
}  // namespace lameduck::drain

namespace lameduck::drain {
namespace {

TEST(DrainSection, RendersSourceCountsAndWhatHeldTheDrain) {
  DrainReport s;
  s.source = "netlink";
  s.busy = 1;
  s.idle = 4;
  s.connections = 5;
  s.wait = std::chrono::milliseconds(2500);
  HeldConnection h;
  h.peer = "[fd00::9]:41000";
  h.activity = Activity::kBusy;
  h.reason = "peer spoke last";
  h.ms_since_data_in = 30;
  h.ms_since_data_out = 900;
  h.bytes_queued = 0;
  s.held_by.push_back(h);
  const std::string json = toJson(s);
  EXPECT_NE(json.find(R"("source":"netlink")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("busy":1,"idle":4)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("wait_ms":2500)"), std::string::npos) << json;
  EXPECT_NE(
      json.find(
          R"({"peer":"[fd00::9]:41000","activity":"busy","reason":"peer spoke last","ms_since_data_in":30,"ms_since_data_out":900,"bytes_queued":0})"),
      std::string::npos)
      << json;
  EXPECT_NE(toJson(DrainReport{}).find(R"("source":null)"), std::string::npos);
}

}  // namespace
}  // namespace lameduck::drain
