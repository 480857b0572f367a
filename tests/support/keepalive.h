#pragma once

// A raw HTTP/1.1 keep-alive connection to a loopback server (IPv4 or IPv6),
// for tests that must know and control one exact TCP connection: its local
// port (as the server and lameduck see the client), and when each request
// goes out on it. Every read has a deadline. Not thread-safe: one thread
// uses a connection at a time. Closed by the destructor.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace lameduck::testing {

class KeepAliveConnection {
 public:
  // Connects to 127.0.0.1:port (AF_INET) or [::1]:port (AF_INET6); nullptr
  // with `error` set when the connection cannot be made within 5 s.
  static std::unique_ptr<KeepAliveConnection> open(int family, int port, std::string& error);
  ~KeepAliveConnection();
  KeepAliveConnection(const KeepAliveConnection&) = delete;
  KeepAliveConnection& operator=(const KeepAliveConnection&) = delete;

  int localPort() const { return local_port_; }
  // The client end as lameduck names a peer: "127.0.0.1:41000", "[::1]:41000".
  std::string peerName() const;

  // Sends `GET path` (keep-alive); false when the write failed.
  bool sendRequest(const std::string& path);
  // Reads one whole answer (Content-Length or chunked body); its status
  // code, or nullopt when the server closed or `timeout` passed first.
  std::optional<int> readResponse(std::chrono::milliseconds timeout);
  // Both: one request and its answer.
  std::optional<int> get(const std::string& path, std::chrono::milliseconds timeout);

 private:
  KeepAliveConnection(int fd, int family, int local_port)
      : fd_(fd), family_(family), local_port_(local_port) {}
  int fd_;
  int family_;
  int local_port_;
  std::string buffered_;  // bytes read past the previous answer
};

}  // namespace lameduck::testing
