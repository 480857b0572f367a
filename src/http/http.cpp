#include "http/http.h"

#include <fcntl.h>
#include <httplib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "http/event_server.h"
#include "http/request_check.h"
#include "http/socket_bytes.h"

namespace lameduck::http {
namespace {

// A timeout for httplib as seconds and microseconds, rounded up to a whole
// millisecond: httplib's poll-based timers take sec * 1000 + usec / 1000
// milliseconds and drop the rest, so an exact figure fired up to 1 ms before
// the time given (a call ended 299.6 ms into its 300 ms).
std::pair<time_t, time_t> secUsec(Duration d) {
  if (d < Duration::zero()) d = Duration::zero();
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return {static_cast<time_t>(ms / 1000), static_cast<time_t>(ms % 1000 * 1000)};
}

std::mutex own_ports_mu;
std::set<uint16_t>& ownPorts() {
  static std::set<uint16_t> ports;
  return ports;
}

// Binds a client socket to an ephemeral port before connect() and records
// the port. Failure to bind is not fatal: connect() then picks the port, and
// only the bookkeeping is lost.
void bindAndRecordClientPort(socket_t sock) {
  int family = AF_INET;
  socklen_t len = sizeof family;
  getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &family, &len);
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  if (family == AF_INET6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_addr = in6addr_any;
    addr_len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    a4->sin_family = AF_INET;
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
    addr_len = sizeof(sockaddr_in);
  }
  if (::bind(sock, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) return;
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  if (getsockname(sock, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) return;
  uint16_t port = family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  std::lock_guard lock(own_ports_mu);
  ownPorts().insert(port);
}

// OpenSSL writes to its socket with write(2), not send(MSG_NOSIGNAL) as
// httplib does for plain HTTP, so a peer that closed the connection raises
// SIGPIPE and would kill the process. Every TLS client and server ignores it
// process-wide (lameduck's main does as well).
void ignoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

// Whether `path` can be opened for reading; the reason when it cannot.
std::string unreadable(const std::string& path) {
  std::ifstream in(path);
  return in ? "" : std::strerror(errno);
}

// The job queue of httplib's (HTTPS) server: each accepted connection is a
// job. The first job runs on the listening thread itself and the workers
// are started after it, by that thread. Whatever the library initialises on
// first use (function-local statics behind a guard whose fast path is
// compiled into the uninstrumented library, such as the set of methods in
// httplib::Server::parse_request_line) is then ordered before everything
// every worker does by thread creation, which ThreadSanitizer sees; with
// httplib's own pool a second worker's first request is reported as racing
// the first worker's initialisation. Server::start makes that first job its
// own short request (warmUp), so no caller's request runs on the listening
// thread. enqueue and shutdown are called by the listening thread only.
class FirstJobInlinePool final : public httplib::TaskQueue {
 public:
  explicit FirstJobInlinePool(size_t threads) : threads_(threads) {}

  void enqueue(std::function<void()> fn) override {
    if (pool_) {
      pool_->enqueue(std::move(fn));
      return;
    }
    fn();
    pool_ = std::make_unique<httplib::ThreadPool>(threads_);
  }

  void shutdown() override {
    if (pool_) pool_->shutdown();
  }

 private:
  const size_t threads_;
  std::unique_ptr<httplib::ThreadPool> pool_;
};

// One request of lameduck's own, on a connection closed after it, so that
// FirstJobInlinePool's first job is this one. Certificates are not checked:
// nothing is learnt from the answer but that one came.
Status warmUp(const HostPort& bound) {
  std::string host = bound.host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  httplib::SSLClient client(host, bound.port);
  client.enable_server_certificate_verification(false);
  client.set_keep_alive(false);
  constexpr time_t kSeconds = 10;
  client.set_connection_timeout(kSeconds, 0);
  client.set_read_timeout(kSeconds, 0);
  client.set_write_timeout(kSeconds, 0);
  if (auto res = client.Options("/"); !res) {
    return makeError(ErrorCode::kUnavailable,
                     "the HTTPS server on " + bound.str() + " did not answer its first request (" +
                         std::to_string(kSeconds) + " s bound): " + httplib::to_string(res.error()));
  }
  return {};
}

}  // namespace

std::set<uint16_t> ownClientPorts() {
  std::lock_guard lock(own_ports_mu);
  return ownPorts();
}

bool CaseInsensitiveLess::operator()(const std::string& a, const std::string& b) const {
  return strcasecmp(a.c_str(), b.c_str()) < 0;
}

std::string Request::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

struct Server::Impl {
  ServerOptions options;
  bool tls = false;
  std::vector<detail::RouteEntry> routes;
  std::set<std::string> tls_methods;  // methods with httplib's catch-all route
  // Plain HTTP: the event-driven server. HTTPS: httplib's.
  std::unique_ptr<detail::EventServer> events;
  std::unique_ptr<httplib::Server> server;
  std::string tls_error;  // why the TLS server could not be set up
  HostPort bound;         // HTTPS: the address bind() listens on
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  std::mutex mu;
  bool started = false;
  bool stopped = false;

  // Adds a route; HTTPS: registers the method with httplib on first use.
  void addRoute(detail::RouteEntry entry);
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (!impl_->tls) {
    impl_->events = std::make_unique<detail::EventServer>(options, impl_->routes);
    return;
  }
  ignoreSigpipe();
  auto ssl = std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(),
                                                  options.tls_key_file.c_str());
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    impl_->tls_error = "TLS needs both a certificate file and a key file";
  } else if (auto why = unreadable(options.tls_cert_file); !why.empty()) {
    impl_->tls_error = "cannot read TLS certificate " + options.tls_cert_file + ": " + why;
  } else if (auto kwhy = unreadable(options.tls_key_file); !kwhy.empty()) {
    impl_->tls_error = "cannot read TLS key " + options.tls_key_file + ": " + kwhy;
  } else if (!ssl->is_valid()) {
    impl_->tls_error = "cannot load TLS certificate " + options.tls_cert_file + " with key " +
                       options.tls_key_file + " (not PEM, or the key does not match)";
  }
  impl_->server = std::move(ssl);
  httplib::Server& s = *impl_->server;
  const size_t threads = std::max<size_t>(1, options.threads);
  // The default pool counts the node's CPUs, not the pod's; size it on purpose.
  s.new_task_queue = [threads] { return new FirstJobInlinePool(threads); };
  s.set_tcp_nodelay(true);  // before bind, or keep-alive requests stall on Nagle
  auto keep = std::chrono::duration_cast<std::chrono::seconds>(options.keep_alive).count();
  s.set_keep_alive_timeout(std::max<time_t>(1, keep));
  auto [rs, ru] = secUsec(options.read_timeout);
  s.set_read_timeout(rs, ru);
  auto [ws, wu] = secUsec(options.write_timeout);
  s.set_write_timeout(ws, wu);
  s.set_payload_max_length(options.max_body_bytes);
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the
  // same port and silently share its traffic. SO_REUSEADDR alone still
  // allows a quick restart while refusing a second live listener.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
}

Server::~Server() { stop(); }

void Server::route(const std::string& method, const std::string& path, Handler handler,
                   Lane lane) {
  impl_->addRoute({method, path, false, std::move(handler), lane});
}

void Server::routePrefix(const std::string& method, const std::string& prefix, Handler handler,
                         Lane lane) {
  impl_->addRoute({method, prefix, true, std::move(handler), lane});
}

void Server::Impl::addRoute(detail::RouteEntry entry) {
  const std::string method = entry.method;
  routes.push_back(std::move(entry));
  if (!tls || !tls_methods.insert(method).second) return;
  // httplib routes by regular expression; lameduck by findRoute, as the plain
  // server does. So each method gets one catch-all httplib route whose
  // pattern is fixed here, never taken from a caller.
  const std::vector<detail::RouteEntry>* all = &routes;
  auto adapter = [all](const httplib::Request& req, httplib::Response& res) {
    const detail::RouteEntry* route = detail::findRoute(*all, req.method, req.path);
    Response out{404, "not found\n"};
    if (route) {
      Request r;
      r.method = req.method;
      r.path = req.path;
      r.body = req.body;
      r.remote_addr = req.remote_addr;
      for (const auto& [k, v] : req.headers) r.headers.emplace(k, v);
      for (const auto& [k, v] : req.params) r.params.emplace(k, v);
      try {
        out = route->handler(r);
      } catch (const std::exception& e) {
        log::error("HTTP handler failed", {{"path", req.path}, {"error", e.what()}});
        out = Response{500, "internal error\n"};
      }
    }
    res.status = out.status;
    for (const auto& [k, v] : out.headers) res.set_header(k.c_str(), v);
    res.set_content(out.body, out.content_type.c_str());
  };
  static constexpr const char* kAnyPath = R"([\s\S]*)";
  httplib::Server& s = *server;
  if (method == "GET") {
    s.Get(kAnyPath, adapter);
  } else if (method == "POST") {
    s.Post(kAnyPath, adapter);
  } else if (method == "PUT") {
    s.Put(kAnyPath, adapter);
  } else if (method == "PATCH") {
    s.Patch(kAnyPath, adapter);
  } else if (method == "DELETE") {
    s.Delete(kAnyPath, adapter);
  }
}

Result<int> Server::bind(const HostPort& address) {
  if (!impl_->tls) return impl_->events->bind(address);
  if (!impl_->tls_error.empty()) {
    return makeError(ErrorCode::kInvalidArgument,
                     "cannot serve HTTPS on " + address.str() + ": " + impl_->tls_error);
  }
  httplib::Server& s = *impl_->server;
  if (address.port == 0) {
    int port = s.bind_to_any_port(address.host);
    if (port <= 0) {
      return makeError(ErrorCode::kUnavailable,
                       "cannot listen on " + address.str() + ": " + std::strerror(errno));
    }
    impl_->bound = HostPort{address.host, static_cast<uint16_t>(port)};
    return port;
  }
  if (!s.bind_to_port(address.host, address.port)) {
    return makeError(ErrorCode::kUnavailable,
                     "cannot listen on " + address.str() + ": " + std::strerror(errno));
  }
  impl_->bound = address;
  return static_cast<int>(address.port);
}

ServerStats Server::stats() const { return impl_->tls ? ServerStats{} : impl_->events->stats(); }

Status Server::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return makeError(ErrorCode::kFailedPrecondition, "server already started");
  impl_->started = true;
  if (!impl_->tls) return impl_->events->start();
  if (impl_->bound.port == 0) return makeError(ErrorCode::kFailedPrecondition, "server not bound");
  impl_->thread = std::thread([this] {
    impl_->server->listen_after_bind();
    impl_->listen_returned = true;
  });
  return warmUp(impl_->bound);
}

void Server::stop() {
  std::lock_guard lock(impl_->mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->tls) {
    impl_->events->stop();
    return;
  }
  // httplib's stop() does nothing until the listen thread has marked itself
  // running; a stop right after start() would leave that thread blocked in
  // accept() for good, and the join below with it. It takes microseconds.
  if (impl_->thread.joinable()) {
    while (!impl_->listen_returned && !impl_->server->is_running()) std::this_thread::yield();
  }
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

struct Client::Impl {
  Impl(const HttpUrl& url, Clock& c, TlsOptions t, std::shared_ptr<Resolver> r)
      : origin(url.origin()),
        https(url.scheme == "https"),
        tls(std::move(t)),
        host(url.host),
        resolver(r ? std::move(r) : systemResolver()),
        client(origin),
        clock(c) {
    client.set_keep_alive(true);
    // Without it a POST on a reused connection waits ~40 ms for the peer's
    // delayed ACK (Nagle), because httplib writes headers and body apart.
    client.set_tcp_nodelay(true);
    // Called by httplib with each new socket, before it connects.
    client.set_socket_options([this](socket_t sock) {
      bindAndRecordClientPort(sock);
      adopt(sock);
    });
    if (https) {
      ignoreSigpipe();
      client.enable_server_certificate_verification(!tls.insecure_skip_verify);
      if (!tls.ca_file.empty() && !tls.insecure_skip_verify) client.set_ca_cert_path(tls.ca_file);
    }
  }

  // The message for a TLS failure: which host, which CA file, and OpenSSL's
  // reason, so that a wrong CA reads differently from a wrong host name.
  std::string tlsFailure(httplib::Error err) {
    const std::string trust =
        tls.ca_file.empty() ? "the system's trusted CAs" : "CA file " + tls.ca_file;
    if (err == httplib::Error::SSLLoadingCerts) {
      std::string why = tls.ca_file.empty() ? "" : unreadable(tls.ca_file);
      return "cannot load " + trust + (why.empty() ? " (not PEM certificates)" : ": " + why);
    }
    const long verify = client.get_openssl_verify_result();
    if (verify != X509_V_OK) {
      return "the server certificate of " + origin + " did not verify against " + trust + " (" +
             X509_verify_cert_error_string(verify) + ")";
    }
    return "the server certificate of " + origin + " verified against " + trust +
           " but is not valid for host name " + host;
  }

  ~Impl() {
    {
      std::lock_guard lock(watch_mu);
      watch_quit = true;
    }
    watch_cv.notify_all();
    if (watchdog.joinable()) watchdog.join();
  }

  // Keeps a duplicate of a socket httplib has just made for this call, so
  // that the watchdog can shut it down. httplib connects and runs the TLS
  // handshake while it holds its socket mutex, which its stop() needs too,
  // and its handshake wait starts over with every byte received: a peer
  // trickling its ServerHello would hold stop() off for as long as it likes.
  // shutdown(2) on the duplicate acts on the socket itself and fails every
  // wait on it (connect, handshake, read, write) at once, with no lock; a
  // duplicate (not the number httplib holds) cannot meet another socket
  // that reused a closed descriptor's number. Runs on the calling thread.
  void adopt(socket_t sock) {
    const int dup = ::fcntl(sock, F_DUPFD_CLOEXEC, 0);
    std::lock_guard lock(sock_mu);
    if (dup >= 0) {
      if (sock_dup >= 0) ::close(sock_dup);  // an earlier address's (or a stale kept-alive) socket
      sock_dup = dup;
      sock_base = 0;  // a new connection: every byte it brings is this call's
    }
    if (sock_cut) ::shutdown(sock, SHUT_RDWR);  // the deadline passed already
  }

  // Why the watchdog cut a call off.
  enum class Cut { kNone, kDeadline, kHead, kAnswer };

  // What one call may take from its connection (see send()).
  struct Bounds {
    uint64_t head = 0;    // before the body starts
    uint64_t answer = 0;  // in all
  };

  // Arms the watchdog for one call: at `deadline` it shuts the call's
  // socket down (see adopt()) and calls httplib's stop(), which shuts down
  // a kept-alive connection in use, so a peer trickling bytes cannot
  // stretch the call past its deadline the way it can stretch httplib's
  // per-read timeouts. It does the same once the call has taken more than
  // `bounds` from its connection (bytesTaken()). `kept_alive` is httplib's
  // open connection the call will reuse (INVALID_SOCKET: none); it is
  // duplicated here and counted from its present count. Returns at once.
  void arm(TimePoint deadline, Bounds bounds, socket_t kept_alive) {
    std::lock_guard lock(watch_mu);
    if (!watchdog.joinable()) watchdog = std::thread([this] { watch(); });
    if (kept_alive != INVALID_SOCKET) {
      const int dup = ::fcntl(kept_alive, F_DUPFD_CLOEXEC, 0);
      std::lock_guard sock_lock(sock_mu);
      if (dup >= 0) {
        if (sock_dup >= 0) ::close(sock_dup);
        sock_dup = dup;
        sock_base = detail::bytesTaken(dup).value_or(0);
      }
    }
    watch_deadline = deadline;
    watch_bounds = bounds;
    body_started = false;
    watch_armed = true;
    watch_cut = Cut::kNone;
    ++watch_generation;
    watch_cv.notify_all();
  }

  // Disarms and closes the call's socket duplicate; says whether and why the
  // watchdog cut the call off. Once it returns, the watchdog can no longer
  // touch this call's connection (it acts under watch_mu).
  Cut disarm() {
    std::lock_guard lock(watch_mu);
    watch_armed = false;
    ++watch_generation;
    watch_cv.notify_all();
    std::lock_guard sock_lock(sock_mu);
    if (sock_dup >= 0) ::close(sock_dup);
    sock_dup = -1;
    sock_cut = false;
    return watch_cut;
  }

  // Bytes the call has taken from its connection so far. Under watch_mu.
  uint64_t takenByCall() {
    std::lock_guard sock_lock(sock_mu);
    if (sock_dup < 0) return 0;
    const uint64_t taken = detail::bytesTaken(sock_dup).value_or(0);
    return taken - std::min(taken, sock_base);
  }

  // How often the watchdog reads the byte count: every kSampleMin while
  // bytes arrive, backing off to kSampleMax while the peer is quiet. What a
  // peer can make httplib parse between two looks is what it takes in one
  // interval (measured: ~3 MB/s for header lines, each costing ~12 times its
  // size as a header entry), so a few ms bound it to a few hundred KB.
  static constexpr Duration kSampleMin = std::chrono::milliseconds(1);
  static constexpr Duration kSampleMax = std::chrono::milliseconds(16);

  void watch() {
    std::unique_lock lock(watch_mu);
    while (!watch_quit) {
      if (!watch_armed) {
        watch_cv.wait(lock, [this] { return watch_quit || watch_armed; });
        continue;
      }
      const uint64_t generation = watch_generation;
      const auto disarmed = [&] {
        return watch_quit || !watch_armed || watch_generation != generation;
      };
      Duration pause = kSampleMin;
      uint64_t last = 0;
      Cut cut = Cut::kNone;
      while (cut == Cut::kNone) {
        // The byte count is sampled in real time whatever the clock (it is
        // the kernel's, not a wait for an event); the deadline is the
        // clock's, checked at every sample and waited for when sooner.
        const Duration left = watch_deadline - clock.now();
        if (left <= Duration::zero()) {
          cut = Cut::kDeadline;
          break;
        }
        if (watch_cv.wait_for(lock, std::min(left, pause), disarmed)) break;
        const uint64_t taken = takenByCall();
        if (!body_started && taken > watch_bounds.head) {
          cut = Cut::kHead;
        } else if (taken > watch_bounds.answer) {
          cut = Cut::kAnswer;
        }
        pause = taken == last ? std::min(pause * 2, kSampleMax) : kSampleMin;
        last = taken;
      }
      if (cut == Cut::kNone) continue;
      watch_cut = cut;
      watch_armed = false;
      {
        std::lock_guard sock_lock(sock_mu);
        sock_cut = true;
        if (sock_dup >= 0) ::shutdown(sock_dup, SHUT_RDWR);
      }
      // Under watch_mu: disarm() waits for this, so the next call's
      // connection is never the one shut down. stop() takes httplib's
      // socket mutex; the calling thread never holds it while it waits
      // for watch_mu, and holds it only briefly now that its socket is
      // shut down (adopt() takes sock_mu only, never watch_mu).
      client.stop();
    }
  }

  std::string origin;
  bool https;
  TlsOptions tls;
  std::string host;
  std::shared_ptr<Resolver> resolver;
  std::mutex mu;
  httplib::Client client;
  Clock& clock;

  std::mutex watch_mu;
  std::condition_variable watch_cv;
  std::thread watchdog;
  TimePoint watch_deadline{};
  Bounds watch_bounds{};
  uint64_t watch_generation = 0;
  bool watch_armed = false;
  Cut watch_cut = Cut::kNone;
  bool watch_quit = false;
  // Set by the calling thread once the answer's body starts arriving.
  std::atomic<bool> body_started{false};

  // Taken after watch_mu, or alone; nothing is waited for while it is held.
  std::mutex sock_mu;
  int sock_dup = -1;       // a duplicate of the socket this call uses
  uint64_t sock_base = 0;  // its bytesTaken() when the call started
  bool sock_cut = false;   // the call was cut off: a socket made now is shut at once
};

Client::Client(const HttpUrl& origin, Clock& clock, TlsOptions tls,
               std::shared_ptr<Resolver> resolver)
    : impl_(std::make_unique<Impl>(origin, clock, std::move(tls), std::move(resolver))) {}

Client::~Client() = default;

std::string Client::origin() const { return impl_->origin; }

Result<ClientResponse> Client::send(const std::string& method, const std::string& path,
                                    const std::string& body, const std::string& content_type,
                                    const Headers& headers, Duration timeout,
                                    size_t max_response_bytes) {
  // Nothing that could end a line early reaches the wire (request_check.h).
  for (Status ok : {checkRequestLine(method, path), checkHeaders(headers)}) {
    if (!ok) return makeError(ok.error().code, impl_->origin + ": " + ok.error().message);
  }
  std::lock_guard lock(impl_->mu);
  httplib::Client& c = impl_->client;
  Clock& clock = impl_->clock;
  const TimePoint deadline = clock.now() + timeout;
  const std::string target = method + " " + impl_->origin + path;
  // A new connection needs the host's addresses: looked up here, within the
  // deadline (httplib's own lookup blocks without one), and pinned for
  // httplib, which still sends the host name for TLS (SNI) and checks the
  // certificate against it. A kept-alive connection needs no lookup.
  std::vector<std::string> addresses;
  if (!isIpLiteral(impl_->host) && !c.is_socket_open()) {
    auto found = resolveWithin(impl_->resolver, impl_->host, clock, deadline);
    if (!found && found.error().code == ErrorCode::kDeadlineExceeded) {
      return makeError(ErrorCode::kDeadlineExceeded, target + ": no complete answer within " +
                                                         formatDuration(timeout) + " (" +
                                                         found.error().message + ")");
    }
    if (!found) return makeError(found.error().code, target + ": " + found.error().message);
    addresses = std::move(*found);
  }

  httplib::Request req;
  req.method = method;
  req.path = path;
  for (const auto& [k, v] : headers) req.headers.emplace(k, v);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.body = body;
    req.headers.emplace("Content-Type", content_type.empty() ? "application/json" : content_type);
  }
  // A peer that trickles its body would reset the per-read timeout forever;
  // the progress callback checks the call's total deadline between reads,
  // and the watchdog cuts off a peer that trickles anything else.
  bool over_deadline = false;
  req.progress = [&](uint64_t, uint64_t) {
    if (clock.now() > deadline) {
      over_deadline = true;
      return false;
    }
    return true;
  };
  // The body is collected here, not by httplib, so that its size is bounded
  // while it arrives instead of after it is all in memory.
  std::string answer;
  bool too_big = false;
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    impl_->body_started.store(true, std::memory_order_relaxed);
    if (answer.size() + len > max_response_bytes) {
      too_big = true;
      return false;
    }
    answer.append(data, len);
    return true;
  };
  // httplib bounds neither the number of header lines nor the length of a
  // line while it reads it (nor a chunk-size line), so the head is bounded
  // by what the call takes from its connection (the watchdog counts it):
  // kMaxHeadBytes before the body starts, and in all the body's bound plus
  // a quarter for framing (chunk sizes, TLS records) plus the head's.
  const uint64_t head_bound = kMaxHeadBytes + (impl_->https ? kTlsHandshakeBytes : 0);
  const Impl::Bounds bounds{head_bound, head_bound + max_response_bytes + max_response_bytes / 4};
  // Each address in turn while they refuse the connection, all within the
  // one deadline; httplib's own timeouts get what is left of it.
  Impl::Cut cut = Impl::Cut::kNone;
  httplib::Result res{nullptr, httplib::Error::Unknown};
  for (size_t i = 0;; ++i) {
    if (i < addresses.size()) c.set_hostname_addr_map({{impl_->host, addresses[i]}});
    // At least 1 µs (1 ms once rounded): a zero timeout means "none" to
    // SO_RCVTIMEO.
    auto [s, us] =
        secUsec(std::max<Duration>(deadline - clock.now(), std::chrono::microseconds(1)));
    c.set_connection_timeout(s, us);
    c.set_read_timeout(s, us);
    c.set_write_timeout(s, us);
    impl_->arm(deadline, bounds, c.is_socket_open() ? c.socket() : INVALID_SOCKET);
    res = c.send(req);
    cut = impl_->disarm();
    const bool refused = !res && res.error() == httplib::Error::Connection;
    if (!refused || cut != Impl::Cut::kNone || i + 1 >= addresses.size() ||
        clock.now() >= deadline) {
      break;
    }
  }
  if (too_big) {
    // Whatever is left unread would poison a reused connection.
    c.stop();
    return makeError(ErrorCode::kBadResponse, target + ": the answer is longer than the bound of " +
                                                  std::to_string(max_response_bytes) + " bytes");
  }
  if (cut == Impl::Cut::kHead) {
    return makeError(ErrorCode::kBadResponse,
                     target + ": the answer head exceeds " + std::to_string(bounds.head) +
                         " bytes (status line and headers, up to the body's first byte); "
                         "the connection was closed");
  }
  if (cut == Impl::Cut::kAnswer) {
    return makeError(ErrorCode::kBadResponse,
                     target + ": the answer exceeds " + std::to_string(bounds.answer) +
                         " bytes received (head, body and framing; the body's bound is " +
                         std::to_string(max_response_bytes) + " bytes); the connection was closed");
  }
  if (!res) {
    const httplib::Error err = res.error();
    if (err == httplib::Error::SSLServerVerification || err == httplib::Error::SSLLoadingCerts) {
      return makeError(ErrorCode::kFailedPrecondition, target + ": " + impl_->tlsFailure(err));
    }
    // httplib reports a read timeout and a peer closing the connection both
    // as Error::Read; what tells them apart is whether the time was up. Its
    // timers get whole milliseconds rounded up (secUsec); the small
    // tolerance is for one that still fires a little early.
    const Duration tolerance = std::min<Duration>(timeout / 20, std::chrono::milliseconds(20));
    if (cut == Impl::Cut::kDeadline || over_deadline || clock.now() + tolerance >= deadline ||
        err == httplib::Error::ConnectionTimeout) {
      return makeError(ErrorCode::kDeadlineExceeded,
                       target + ": no complete answer within " + formatDuration(timeout));
    }
    std::string what = httplib::to_string(err);
    if (err == httplib::Error::Connection) what = "cannot connect (" + what + ")";
    if (err == httplib::Error::SSLConnection) what = "TLS handshake failed (" + what + ")";
    if (err == httplib::Error::Read)
      what = "connection closed before a complete answer (" + what + ")";
    return makeError(ErrorCode::kUnavailable, target + ": " + what);
  }
  ClientResponse out;
  out.status = res->status;
  out.body = std::move(answer);
  for (const auto& [k, v] : res->headers) out.headers.emplace(k, v);
  return out;
}

}  // namespace lameduck::http
