#pragma once

// Hostile clients for server tests and the admin benchmark: connections that
// are open but never finish a request. Idle ones send nothing (a keep-alive
// pool, or a port scanner); slowloris ones send one byte of a request head
// every `interval`, forever; slow-body ones send a whole head announcing a
// body of `body_bytes`, all of that body but its last KiB at once, then one
// byte every `interval`. A connection the server closes is opened again on
// the next round, so `count` stay open (as far as the client sees).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace lameduck::testing {

class IdleClients {
 public:
  enum class Kind { kIdle, kSlowloris, kSlowBody };
  // Opens the connections at once (blocking connects to 127.0.0.1:port).
  IdleClients(int port, size_t count, Kind kind,
              std::chrono::milliseconds interval = std::chrono::milliseconds(200),
              size_t body_bytes = 65536);
  ~IdleClients();  // closes them all
  IdleClients(const IdleClients&) = delete;
  IdleClients& operator=(const IdleClients&) = delete;

  // Connections open right now, and how many the server closed so far.
  size_t open() const { return open_.load(); }
  size_t reopened() const { return reopened_.load(); }

 private:
  int connectOne() const;
  void run();

  int port_;
  Kind kind_;
  std::chrono::milliseconds interval_;
  size_t body_bytes_;
  std::vector<int> fds_;
  std::atomic<size_t> open_{0};
  std::atomic<size_t> reopened_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool quit_ = false;
  std::thread thread_;
};

// One raw loopback connection, for requests an http::Client would not send
// (a head without its body, a body larger than announced bounds). Owns its
// socket; one thread at a time.
class RawConnection {
 public:
  // Connects to 127.0.0.1:port; throws std::runtime_error when it cannot.
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends what the socket takes now; the server may close it part way.
  void send(const std::string& bytes);
  // What the server sent until it closed (or reset) the connection; nullopt
  // when it was still open after `timeout`.
  std::optional<std::string> readUntilClosed(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
};

}  // namespace lameduck::testing
