#pragma once

// The plain-HTTP server behind http::Server (internal to src/http).
//
// One event thread owns every socket: it accepts, reads request heads and
// bodies, and writes responses, all non-blocking under poll(). Only a request
// that has fully arrived is handed to a worker (quick or slow lane); the
// worker runs the handler and gives the response bytes back to the event
// thread. So an idle keep-alive or slowloris connection costs a descriptor
// and a few bytes, never a worker, and a handler that blocks for the whole
// exit (/prestop) never delays /healthz.
//
// Bounds: a connection with no request started closes after keep_alive; a
// request (head and body) must arrive within read_timeout of its first byte;
// a response must be written within write_timeout; the head is at most
// max_head_bytes and the body max_body_bytes; all connections together hold
// at most max_buffered_bytes of requests (over it, the largest incomplete
// request is shed); at most max_connections are open, and at the cap the
// longest-idle (or longest-incomplete) connection is shed for a new one.
// Untrusted peers (trusted_peer) get small heads and no bodies; the screen
// sees each head before its body is read.
//
// Ownership: the server owns its sockets, its event thread and its
// workers; `routes` and `options` are copied. Thread-safety: bind/start/stop
// from one owner thread; handlers run on worker threads.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.h"

namespace lameduck::http::detail {

struct RouteEntry {
  std::string method;
  std::string path;     // the whole path, or (prefix) how it begins
  bool prefix = false;  // Server::routePrefix
  Handler handler;
  Lane lane = Lane::kQuick;
};

// The first of `routes` for `method` (HEAD looks for GET's) whose path is
// `path` exactly, or for a prefix route begins `path`; null when none. Both
// servers route through it, so HTTP and HTTPS match alike.
const RouteEntry* findRoute(const std::vector<RouteEntry>& routes, std::string_view method,
                            std::string_view path);

class EventServer {
 public:
  EventServer(const ServerOptions& options, const std::vector<RouteEntry>& routes);
  ~EventServer();
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  // Listens on `address` (port 0: any free port; no host: every address,
  // IPv6 dual-stack first) and returns the port bound. Fails with
  // kUnavailable naming the address and the reason (unknown host, port in
  // use, no permission). A second bind replaces the first listener.
  Result<int> bind(const HostPort& address);
  // Starts the event thread. Fails with kFailedPrecondition when not bound
  // or already started, kUnavailable when the wake pipe cannot be made.
  Status start();
  // Closes the listener and every connection after the handlers in flight
  // returned; joins the event thread. Idempotent; the destructor calls it.
  void stop();
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Raises RLIMIT_NOFILE's soft limit to the hard limit, once per process.
// Returns the soft limit in force afterwards.
size_t raiseDescriptorLimit();

}  // namespace lameduck::http::detail
