#pragma once

// Hostile clients for server tests and the admin benchmark: connections that
// are open but never finish a request. Idle ones send nothing (a keep-alive
// pool, or a port scanner); slowloris ones send one byte of a request head
// every `interval`, forever. A connection the server closes is opened again
// at once, so `count` stay open the whole time (as far as the client sees).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace lameduck::testing {

class IdleClients {
 public:
  enum class Kind { kIdle, kSlowloris };
  // Opens the connections at once (blocking connects to 127.0.0.1:port).
  IdleClients(int port, size_t count, Kind kind,
              std::chrono::milliseconds interval = std::chrono::milliseconds(200));
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
  std::vector<int> fds_;
  std::atomic<size_t> open_{0};
  std::atomic<size_t> reopened_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace lameduck::testing
