#pragma once

// A small HTTP(S) server and client, the only place that includes
// cpp-httplib. Keeping httplib behind this interface keeps the build lean (one
// translation unit compiles it) and keeps its defaults in one place: every
// client call has a connect, read and write timeout; servers have a fixed
// worker pool, TCP_NODELAY and a short keep-alive. TLS comes from httplib's
// OpenSSL support (Debian builds it in).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/parse.h"
#include "common/resolve.h"

namespace lameduck::http {

using namespace std::chrono_literals;

// Header names are compared case-insensitively.
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  std::string method;
  std::string path;
  std::string body;
  std::string remote_addr;
  Headers headers;
  std::map<std::string, std::string> params;  // query parameters

  // The first value of a header, or "" when absent.
  std::string header(const std::string& name) const;
};

struct Response {
  Response() = default;
  Response(int status_code, std::string body_text, std::string type = "text/plain; charset=utf-8")
      : status(status_code), body(std::move(body_text)), content_type(std::move(type)) {}

  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  Headers headers;
};

using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  // Workers of the quick lane (most routes). A worker is held only while a
  // handler runs: connections are read and written by one event thread, and
  // a request reaches a worker only once it has fully arrived, so idle
  // keep-alive and slowloris connections never hold a worker.
  size_t threads = 4;
  // At most this many slow-lane handlers (routes that block, like /prestop)
  // run at once; their threads are started on demand.
  size_t slow_threads = 128;
  // An open connection with no request started is closed after this long.
  Duration keep_alive = 2s;
  // A request (head and body) must arrive completely within this long of its
  // first byte, or the connection is closed.
  Duration read_timeout = 5s;
  // A response must be sent completely within this long.
  Duration write_timeout = 5s;
  size_t max_body_bytes = 1 << 20;
  size_t max_head_bytes = 16 * 1024;
  // Open connections at most (further capped by the process's descriptor
  // limit). At the cap, a new connection sheds the one that has been idle or
  // incomplete the longest; connections whose request is being handled are
  // never shed.
  size_t max_connections = 4096;
  // Request bytes held at most across all connections together (heads and
  // bodies read but not yet handed to a handler). A read that would pass it
  // sheds the connection holding the largest incomplete request (the oldest
  // among equals; it may be the reading one); a connection whose request is
  // being handled or answered is never shed. So memory for requests is
  // bounded by this, whatever max_connections and max_body_bytes allow.
  size_t max_buffered_bytes = 4 << 20;
  // Sorts each accepted connection by its peer's address, before anything is
  // read from it (on the event thread: quick, never blocking). Unset: every
  // peer is trusted. An untrusted peer's connection is restricted: at most
  // `restricted_max_head_bytes` of a request head are read, and a request
  // with a body is refused (403) and the connection closed before its body
  // is read. Bodiless requests (probes) are served as usual.
  std::function<bool(const std::string& peer)> trusted_peer{};
  size_t restricted_max_head_bytes = 2048;
  // Screens each request once its head has arrived, before its body is read
  // (method, path, query, headers and remote_addr set; body empty), on the
  // event thread: quick, never blocking. A Response refuses the request: it
  // is sent and the connection closed, the body never read. Unset: every
  // request is admitted.
  std::function<std::optional<Response>(const Request& head)> screen{};
  // Told each time the server closes a connection on its own, with why:
  // "cap" (max_connections or the descriptor limit), "budget"
  // (max_buffered_bytes), "overdue" (a request or response not done within
  // read_timeout or write_timeout), "source" (a restricted peer sent a body).
  // Idle keep-alive connections closing are not reported. On the event
  // thread: quick, never blocking.
  std::function<void(std::string_view reason)> on_shed{};
  // Both set: serve HTTPS with this PEM certificate (chain) and private key.
  // Both empty: plain HTTP. bind() fails when they cannot be loaded. HTTPS
  // is served by httplib's thread-per-connection server (test fixtures only)
  // and has none of the connection protections above.
  std::string tls_cert_file{};
  std::string tls_key_file{};
};

// What a plain-HTTP server holds and shed so far (all zero for HTTPS).
struct ServerStats {
  size_t buffered_bytes = 0;       // request bytes held right now
  size_t peak_buffered_bytes = 0;  // the most ever held at once
  uint64_t shed_cap = 0;           // closed for the connection cap
  uint64_t shed_budget = 0;        // closed for max_buffered_bytes
  uint64_t shed_overdue = 0;       // request or response overdue
  uint64_t refused_source = 0;     // restricted peers that sent a body
  uint64_t screened_out = 0;       // requests refused by the screen
};

// Which workers run a route's handler.
enum class Lane {
  kQuick,  // short handlers; a fixed pool of ServerOptions::threads
  kSlow,   // handlers that block for long (/prestop); never delay the quick lane
};

// Thread-safe after start(); routes must be added before it, from the
// thread that owns the server (bind, start and stop too). Owns its sockets
// and threads; handlers are copied and must stay callable until stop().
class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves requests for `method` whose whole (decoded) path is `path`.
  // Routes are tried in the order they were added; the first match answers,
  // no match is a 404. A handler exception becomes a 500 with the message
  // logged, never a crash. HEAD is answered by the GET route without the
  // body. Paths are compared as strings, never as patterns.
  void route(const std::string& method, const std::string& path, Handler handler,
             Lane lane = Lane::kQuick);
  // Like route(), for every path that begins with `prefix` ("/refund/"
  // serves "/refund/42" and "/refund/", not "/refund").
  void routePrefix(const std::string& method, const std::string& prefix, Handler handler,
                   Lane lane = Lane::kQuick);

  // Binds; port 0 picks a free port. Returns the bound port. Raises the
  // process's soft descriptor limit to its hard limit (once), so that
  // thousands of connections can be open. Fails with kUnavailable naming
  // the address (port in use, unknown host, no permission); kInvalidArgument
  // when the TLS files cannot be loaded.
  Result<int> bind(const HostPort& address);
  // Serves on a background thread until stop(). Fails with
  // kFailedPrecondition when not bound or already started. An HTTPS server
  // has answered one request of its own (OPTIONS /, on a connection closed
  // after it) when start() returns, and fails with kUnavailable when that
  // took over 10 s; the first request any server takes runs alone, before
  // its workers start, so that what httplib sets up on first use is ordered
  // before them (see FirstJobInlinePool in http.cpp).
  Status start();
  // Idempotent; waits for handlers in flight to return.
  void stop();
  // A snapshot of the counters; any thread, any time.
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ClientResponse {
  int status = 0;
  std::string body;
  Headers headers;
};

// How an https:// client trusts its server. Ignored for http:// origins.
// TLS clients and servers set SIGPIPE to be ignored process-wide: OpenSSL
// writes with write(2), and a peer that hung up must not kill the process.
struct TlsOptions {
  // PEM file of the CA certificates the server's certificate must chain to;
  // empty: the system's trust store.
  std::string ca_file{};
  // No verification at all (chain or host name). Only for users who ask for
  // it explicitly; callers should say so loudly in their logs.
  bool insecure_skip_verify = false;
};

// The answer size bound when the caller names none.
inline constexpr size_t kDefaultMaxResponseBytes = 1024 * 1024;
// What a call may take from its connection before the answer's body starts
// (status line and headers; see Client::send).
inline constexpr size_t kMaxHeadBytes = 64 * 1024;
// Added to it over https, for the TLS handshake of a new connection (the
// server's certificate chain) and TLS record framing.
inline constexpr size_t kTlsHandshakeBytes = 64 * 1024;

// One connection target (scheme://host:port), keep-alive reused between
// calls. Thread-safe: calls are serialised. Owns one watchdog thread
// (started by the first call) that enforces call deadlines. `resolver`
// (null: the system's) looks up the host name for each new connection; an
// IP literal is never looked up.
class Client {
 public:
  Client(const HttpUrl& origin, Clock& clock, TlsOptions tls = {},
         std::shared_ptr<Resolver> resolver = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request. ONE deadline, `timeout`, covers the whole exchange:
  // the DNS lookup (when a new connection is needed), connect, the TLS
  // handshake, sending, the status line and headers, and the body. A peer
  // that trickles its handshake, headers or body a byte at a time is cut off
  // at the deadline (a watchdog shuts the socket down, which fails every
  // wait on it at once), and a DNS lookup is abandoned at the deadline, so
  // the call returns no later than about `timeout` after it started. When the
  // host has several addresses and one refuses the connection, the next is
  // tried within the same deadline. The TLS handshake checks the certificate
  // against the host name of the URL, never the address.
  // Fails with kUnavailable when the peer cannot be reached or closes the
  // connection (or the host name does not resolve), kDeadlineExceeded when
  // the timeout runs out (the message names the URL, and the host when the
  // DNS lookup was what ran out), kBadResponse
  // when the body is longer than `max_response_bytes` (the message names the
  // bound; the rest is not read), and kBadResponse too when the call takes
  // more than kMaxHeadBytes (plus kTlsHandshakeBytes over https) from its
  // connection before the body starts — endless header lines, a header line
  // that never ends — or more than that plus 1.25 × `max_response_bytes` in
  // all (chunk framing that never ends); the message names the bound, and the
  // connection is shut down within a few ms of passing it, so that what
  // httplib holds for a head stays within a few MB. An HTTP error status is
  // not an Error. Over
  // https, a server certificate that does not verify (wrong CA, wrong host
  // name) or a CA file that cannot be loaded fails with kFailedPrecondition
  // naming the host and the CA file: retrying cannot help until the config
  // changes.
  Result<ClientResponse> send(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& content_type,
                              const Headers& headers, Duration timeout,
                              size_t max_response_bytes = kDefaultMaxResponseBytes);

  std::string origin() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Local ports of every TCP connection this process's Clients opened (each
// client socket is bound to an ephemeral port before it connects, so the port
// is known even after the socket is gone). Connection tracking uses it to
// tell lameduck's own calls to the app from the app's traffic. Thread-safe.
std::set<uint16_t> ownClientPorts();

}  // namespace lameduck::http
