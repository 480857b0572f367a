#include "http/event_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "http/wire.h"

namespace lameduck::http::detail {
namespace {

// Descriptors kept free for everything else the process opens (files,
// client sockets, Redis) when the connection cap is derived from the limit.
constexpr size_t kReservedDescriptors = 128;
// Accepted per event-loop round, so a flood of connects cannot starve reads.
constexpr int kAcceptsPerRound = 256;

std::string peerAddress(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

}  // namespace

// Job and LanePool are members' types of EventServer::Impl, so they live in
// the named namespace (a member of an anonymous-namespace type would give
// Impl internal linkage parts).

// A request that fully arrived, waiting for or running in a worker.
struct Job {
  uint64_t conn = 0;
  Request request;
  const RouteEntry* route = nullptr;  // null: 404
  bool keep_alive = true;
  bool head = false;
};

// A pool whose threads start on demand, up to `max`.
class LanePool {
 public:
  using Run = std::function<void(Job&)>;
  LanePool(size_t max, Run run) : max_(std::max<size_t>(1, max)), run_(std::move(run)) {}
  ~LanePool() { stop(); }

  void push(Job job) {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(job));
    if (idle_ == 0 && threads_.size() < max_) {
      threads_.emplace_back([this] { work(); });
    }
    cv_.notify_one();
  }

  // Drops queued jobs and waits for running ones.
  void stop() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      queue_.clear();
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) t.join();
  }

 private:
  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (stopping_) return;
      Job job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      run_(job);
      lock.lock();
    }
  }

  const size_t max_;
  Run run_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

const RouteEntry* findRoute(const std::vector<RouteEntry>& routes, std::string_view method,
                            std::string_view path) {
  if (method == "HEAD") method = "GET";
  for (const RouteEntry& r : routes) {
    if (r.method != method) continue;
    if (r.prefix ? path.starts_with(r.path) : path == r.path) return &r;
  }
  return nullptr;
}

size_t raiseDescriptorLimit() {
  static std::once_flag once;
  std::call_once(once, [] {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
      rlimit raised = lim;
      raised.rlim_cur = lim.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
        log::warn("cannot raise the descriptor limit",
                  {{"soft", static_cast<int64_t>(lim.rlim_cur)},
                   {"hard", static_cast<int64_t>(lim.rlim_max)},
                   {"error", std::strerror(errno)}});
      }
    }
  });
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return static_cast<size_t>(lim.rlim_cur);
}

struct EventServer::Impl {
  enum class State { kReading, kHandling, kWriting };

  struct Conn {
    int fd = -1;
    std::string peer;
    State state = State::kReading;
    std::string in;
    std::string out;
    size_t out_sent = 0;
    bool started = false;       // bytes of the next request arrived
    TimePoint since{};          // idle since, or the request's first byte
    TimePoint write_deadline{};
    bool close_after_write = false;
    bool continue_sent = false;
    bool screened = false;    // the current request's head passed the screen
    bool restricted = false;  // an untrusted peer: small heads, no bodies
  };

  struct Completion {
    uint64_t conn;
    std::string bytes;
    bool close;
  };

  Impl(const ServerOptions& o, const std::vector<RouteEntry>& r)
      : options(o),
        routes(r),
        clock(SystemClock::instance()),
        quick(o.threads, [this](Job& j) { run(j); }),
        slow(o.slow_threads, [this](Job& j) { run(j); }) {}

  // On a worker: run the handler, hand the bytes back to the event thread.
  void run(Job& job) {
    Response res{404, "not found\n"};
    if (job.route) {
      try {
        res = job.route->handler(job.request);
      } catch (const std::exception& e) {
        log::error("HTTP handler failed", {{"path", job.request.path}, {"error", e.what()}});
        res = Response{500, "internal error\n"};
      }
    }
    bool keep = job.keep_alive;
    for (const auto& [k, v] : res.headers) {
      if (iequals(k, "Connection") && hasToken(v, "close")) keep = false;
    }
    complete(job.conn, renderResponse(res, keep, job.head), !keep);
  }

  void complete(uint64_t conn, std::string bytes, bool close) {
    {
      std::lock_guard lock(done_mu);
      done.push_back({conn, std::move(bytes), close});
    }
    wake();
  }

  void wake() {
    const char b = 1;
    [[maybe_unused]] auto n = ::write(wake_pipe[1], &b, 1);  // full pipe: already woken
  }

  void closeConn(uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    ::close(it->second.fd);
    setBuffered(buffered - it->second.in.size());
    conns.erase(it);
  }

  // The request bytes held, published for stats().
  void setBuffered(size_t bytes) {
    buffered = bytes;
    stat_buffered.store(bytes, std::memory_order_relaxed);
    if (bytes > stat_peak.load(std::memory_order_relaxed)) {
      stat_peak.store(bytes, std::memory_order_relaxed);
    }
  }

  // Drops the first `n` request bytes of a connection.
  void consume(Conn& c, size_t n) {
    n = std::min(n, c.in.size());
    c.in.erase(0, n);
    setBuffered(buffered - n);
  }

  void report(std::atomic<uint64_t>& counter, std::string_view reason) {
    counter.fetch_add(1, std::memory_order_relaxed);
    if (options.on_shed) options.on_shed(reason);
  }

  // The most request bytes one connection may hold: a whole request (head,
  // blank line, body), or a small head from a restricted peer.
  size_t connBound(const Conn& c) const {
    return c.restricted ? options.restricted_max_head_bytes + 4
                        : options.max_head_bytes + 4 + options.max_body_bytes;
  }

  // Makes room in max_buffered_bytes for `n` more bytes on connection `id`
  // by shedding the connections that hold the largest incomplete requests
  // (the oldest among equals). Only reading connections are candidates, so
  // a request being handled or answered is never shed. False when `id`
  // itself was shed.
  bool reserve(uint64_t id, size_t n) {
    while (buffered + n > options.max_buffered_bytes) {
      auto victim = conns.end();
      for (auto it = conns.begin(); it != conns.end(); ++it) {
        const Conn& c = it->second;
        if (c.state != State::kReading || (c.in.empty() && it->first != id)) continue;
        if (victim == conns.end() || c.in.size() > victim->second.in.size() ||
            (c.in.size() == victim->second.in.size() && c.since < victim->second.since)) {
          victim = it;
        }
      }
      if (victim == conns.end()) victim = conns.find(id);
      const uint64_t gone = victim->first;
      report(stat_shed_budget, "budget");
      closeConn(gone);
      if (gone == id) return false;
    }
    return true;
  }

  // Writes what the socket takes now; false when the connection is gone.
  bool flush(uint64_t id, Conn& c) {
    while (c.out_sent < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c.out_sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n < 0 && errno == EINTR) continue;
      closeConn(id);
      return false;
    }
    c.out.clear();
    c.out_sent = 0;
    if (c.close_after_write) {
      closeConn(id);
      return false;
    }
    c.state = State::kReading;
    c.started = !c.in.empty();
    c.since = clock.now();
    return parse(id, c);  // a pipelined request may be waiting
  }

  // Answers at once from the event thread (errors found while reading) and
  // closes after the write.
  bool refuse(uint64_t id, Conn& c, int status, std::string why) {
    return answerAndClose(id, c, Response{status, why + "\n"});
  }

  // Drops what the connection sent, answers `res` and closes after the
  // write. False when the connection is gone.
  bool answerAndClose(uint64_t id, Conn& c, const Response& res) {
    consume(c, c.in.size());
    c.out = renderResponse(res, false, false);
    c.out_sent = 0;
    c.close_after_write = true;
    c.state = State::kWriting;
    c.write_deadline = clock.now() + options.write_timeout;
    return flush(id, c);
  }

  // Looks for a complete request in c.in; hands it to a worker when there is
  // one. False when the connection is gone.
  bool parse(uint64_t id, Conn& c) {
    if (c.state != State::kReading || c.in.empty()) return true;
    ReadResult read = readRequest(c.in, c.restricted ? restricted_limits : limits);
    if (auto* refusal = std::get_if<Refusal>(&read)) {
      return refuse(id, c, refusal->status, std::move(refusal->why));
    }
    if (auto* more = std::get_if<NeedMore>(&read)) {
      if (more->head && !admit(id, c, *more->head, true)) return conns.contains(id);
      if (more->expect_continue && !c.continue_sent) {
        c.continue_sent = true;
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        [[maybe_unused]] auto n =
            ::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      return true;
    }
    ParsedRequest& parsed = std::get<ParsedRequest>(read);
    if (!admit(id, c, parsed.request, !parsed.request.body.empty())) return conns.contains(id);
    consume(c, parsed.consumed);
    c.continue_sent = false;
    c.screened = false;
    Job job;
    job.conn = id;
    job.request = std::move(parsed.request);
    job.request.remote_addr = c.peer;
    job.keep_alive = parsed.keep_alive;
    job.head = parsed.head;
    const std::string method = job.head ? "GET" : job.request.method;
    job.route = findRoute(routes, method, job.request.path);
    c.state = State::kHandling;
    if (job.route && job.route->lane == Lane::kSlow) {
      slow.push(std::move(job));
    } else {
      quick.push(std::move(job));
    }
    return true;
  }

  // Runs the checks due once a request's head has arrived (once per
  // request): the screen may refuse, and a restricted peer may not send a
  // body. False when the request was refused (being answered, then closed).
  bool admit(uint64_t id, Conn& c, Request& head, bool has_body) {
    if (c.screened) return true;
    c.screened = true;
    head.remote_addr = c.peer;
    if (options.screen) {
      if (auto refusal = options.screen(head)) {
        stat_screened.fetch_add(1, std::memory_order_relaxed);
        answerAndClose(id, c, *refusal);
        return false;
      }
    }
    if (c.restricted && has_body) {
      report(stat_refused_source, "source");
      refuse(id, c, 403, "forbidden: this source address may not send a request body");
      return false;
    }
    return true;
  }

  void takeCompletions() {
    std::vector<Completion> batch;
    {
      std::lock_guard lock(done_mu);
      batch.swap(done);
    }
    for (Completion& d : batch) {
      auto it = conns.find(d.conn);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      c.out = std::move(d.bytes);
      c.out_sent = 0;
      c.close_after_write = d.close;
      c.state = State::kWriting;
      c.write_deadline = clock.now() + options.write_timeout;
      flush(d.conn, c);
    }
  }

  // Makes room for one more connection; false when every open connection is
  // being handled or written.
  bool shed() {
    auto victim = conns.end();
    for (auto it = conns.begin(); it != conns.end(); ++it) {
      if (it->second.state != State::kReading) continue;
      if (victim == conns.end() || it->second.since < victim->second.since) victim = it;
    }
    if (victim == conns.end()) return false;
    report(stat_shed_cap, "cap");
    closeConn(victim->first);
    return true;
  }

  void acceptSome() {
    for (int i = 0; i < kAcceptsPerRound; ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) {
          // Out of descriptors: give the oldest idle one up and retry later.
          shed();
        }
        return;
      }
      if (conns.size() >= cap && !shed()) {
        ::close(fd);
        continue;
      }
      int yes = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      Conn c;
      c.fd = fd;
      c.peer = peerAddress(addr);
      c.since = clock.now();
      c.restricted = options.trusted_peer && !options.trusted_peer(c.peer);
      conns.emplace(next_id++, std::move(c));
    }
  }

  // Reads what has arrived, up to the connection's bound, within the
  // server's budget; a whole request is then handed on by parse().
  void readFrom(uint64_t id, Conn& c) {
    char buf[16 * 1024];
    const size_t bound = connBound(c);
    while (c.in.size() < bound) {
      const size_t room = std::min(sizeof buf, bound - c.in.size());
      ssize_t n = ::recv(c.fd, buf, room, MSG_DONTWAIT);
      if (n > 0) {
        if (!c.started) {
          c.started = true;
          c.since = clock.now();
        }
        // Shedding erases other connections; `c` itself stays valid unless
        // it was the one shed.
        if (!reserve(id, static_cast<size_t>(n))) return;
        c.in.append(buf, static_cast<size_t>(n));
        setBuffered(buffered + static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      closeConn(id);  // peer closed or failed
      return;
    }
    parse(id, c);
  }

  // Closes connections past their deadlines; returns the next deadline.
  TimePoint expire(TimePoint now) {
    TimePoint next = now + std::chrono::seconds(1);
    std::vector<std::pair<uint64_t, bool>> expired;  // id, a request or response was overdue
    for (auto& [id, c] : conns) {
      TimePoint due = TimePoint::max();
      if (c.state == State::kReading) {
        // From the request's first byte: the head and the body together.
        due = c.since + (c.started ? options.read_timeout : options.keep_alive);
      } else if (c.state == State::kWriting) {
        due = c.write_deadline;
      }
      if (due <= now) {
        expired.emplace_back(id, c.state == State::kWriting || c.started);
      } else {
        next = std::min(next, due);
      }
    }
    for (auto [id, overdue] : expired) {
      if (overdue) report(stat_shed_overdue, "overdue");
      closeConn(id);
    }
    return next;
  }

  void loop() {
    std::vector<pollfd> fds;
    std::vector<uint64_t> ids;
    while (!stopping.load()) {
      const TimePoint next = expire(clock.now());
      fds.clear();
      ids.clear();
      fds.push_back({wake_pipe[0], POLLIN, 0});
      fds.push_back({listen_fd, POLLIN, 0});
      for (auto& [id, c] : conns) {
        short events = 0;
        if (c.state == State::kReading) events = POLLIN;
        if (c.state == State::kWriting) events = POLLOUT;
        if (events == 0) continue;
        fds.push_back({c.fd, events, 0});
        ids.push_back(id);
      }
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - clock.now());
      int rc = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, wait.count())));
      if (rc < 0 && errno != EINTR) {
        log::error("HTTP server poll failed", {{"error", std::strerror(errno)}});
        return;
      }
      if (rc <= 0) continue;
      if (fds[0].revents & POLLIN) {
        char drain[256];
        while (::read(wake_pipe[0], drain, sizeof drain) > 0) {
        }
      }
      takeCompletions();
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto it = conns.find(ids[i - 2]);
        if (it == conns.end() || it->second.fd != fds[i].fd) continue;
        Conn& c = it->second;
        if (c.state == State::kReading) {
          readFrom(it->first, c);
        } else if (c.state == State::kWriting) {
          if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            closeConn(it->first);
          } else {
            flush(it->first, c);
          }
        }
      }
      if (fds[1].revents & POLLIN) acceptSome();
    }
  }

  ServerOptions options;
  WireLimits limits{options.max_head_bytes, options.max_body_bytes};
  WireLimits restricted_limits{options.restricted_max_head_bytes, options.max_body_bytes};
  const std::vector<RouteEntry>& routes;
  Clock& clock;
  int listen_fd = -1;
  int wake_pipe[2] = {-1, -1};
  size_t cap = 0;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::mutex done_mu;
  std::vector<Completion> done;
  // Owned by the event thread.
  std::unordered_map<uint64_t, Conn> conns;
  uint64_t next_id = 1;
  size_t buffered = 0;  // sum of every connection's `in`
  // Written by the event thread, read by stats().
  std::atomic<size_t> stat_buffered{0};
  std::atomic<size_t> stat_peak{0};
  std::atomic<uint64_t> stat_shed_cap{0};
  std::atomic<uint64_t> stat_shed_budget{0};
  std::atomic<uint64_t> stat_shed_overdue{0};
  std::atomic<uint64_t> stat_refused_source{0};
  std::atomic<uint64_t> stat_screened{0};
  LanePool quick;
  LanePool slow;
  bool started = false;
  bool stopped = false;
};

EventServer::EventServer(const ServerOptions& options, const std::vector<RouteEntry>& routes)
    : impl_(std::make_unique<Impl>(options, routes)) {}

EventServer::~EventServer() {
  stop();
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  for (int fd : impl_->wake_pipe) {
    if (fd >= 0) ::close(fd);
  }
}

Result<int> EventServer::bind(const HostPort& address) {
  const size_t limit = raiseDescriptorLimit();
  impl_->cap = std::min(impl_->options.max_connections,
                        limit > 2 * kReservedDescriptors ? limit - kReservedDescriptors
                                                         : limit / 2);
  impl_->cap = std::max<size_t>(impl_->cap, 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  const char* host = address.host.empty() ? nullptr : address.host.c_str();
  if (int rc = getaddrinfo(host, port.c_str(), &hints, &found); rc != 0) {
    return makeError(ErrorCode::kUnavailable,
                     "cannot listen on " + address.str() + ": " + gai_strerror(rc));
  }
  std::string why = "no address";
  int fd = -1;
  // With no host, prefer the IPv6 wildcard (dual-stack) so IPv4 peers reach it too.
  std::vector<addrinfo*> order;
  for (addrinfo* a = found; a; a = a->ai_next) order.push_back(a);
  if (!host) {
    std::stable_sort(order.begin(), order.end(), [](addrinfo* x, addrinfo* y) {
      return x->ai_family == AF_INET6 && y->ai_family != AF_INET6;
    });
  }
  for (addrinfo* a : order) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int yes = 1;
    int no = 0;
    // SO_REUSEADDR (not SO_REUSEPORT, which would let a second process share
    // the port silently): a quick restart works, a second listener fails.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (a->ai_family == AF_INET6 && !host) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) break;
    why = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) return makeError(ErrorCode::kUnavailable, "cannot listen on " + address.str() + ": " + why);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  impl_->listen_fd = fd;
  return bound_port;
}

ServerStats EventServer::stats() const {
  const Impl& i = *impl_;
  ServerStats s;
  s.buffered_bytes = i.stat_buffered.load(std::memory_order_relaxed);
  s.peak_buffered_bytes = i.stat_peak.load(std::memory_order_relaxed);
  s.shed_cap = i.stat_shed_cap.load(std::memory_order_relaxed);
  s.shed_budget = i.stat_shed_budget.load(std::memory_order_relaxed);
  s.shed_overdue = i.stat_shed_overdue.load(std::memory_order_relaxed);
  s.refused_source = i.stat_refused_source.load(std::memory_order_relaxed);
  s.screened_out = i.stat_screened.load(std::memory_order_relaxed);
  return s;
}

Status EventServer::start() {
  if (impl_->started) return makeError(ErrorCode::kFailedPrecondition, "server already started");
  if (impl_->listen_fd < 0) return makeError(ErrorCode::kFailedPrecondition, "server not bound");
  if (::pipe2(impl_->wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
    return makeError(ErrorCode::kUnavailable,
                     std::string("cannot create the server's wake pipe: ") + std::strerror(errno));
  }
  impl_->started = true;
  impl_->thread = std::thread([this] { impl_->loop(); });
  return {};
}

void EventServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->stopping = true;
  if (impl_->started) {
    impl_->wake();
    if (impl_->thread.joinable()) impl_->thread.join();
  }
  // No new work can arrive now; wait for handlers in flight.
  impl_->quick.stop();
  impl_->slow.stop();
  for (auto& [id, c] : impl_->conns) ::close(c.fd);
  impl_->conns.clear();
  impl_->setBuffered(0);
  if (impl_->listen_fd >= 0) {
    ::close(impl_->listen_fd);
    impl_->listen_fd = -1;
  }
}

}  // namespace lameduck::http::detail
