#pragma once

// A raw TCP server on loopback that answers one byte at a time, for tests of
// call deadlines: a peer whose every byte arrives well within a per-read
// timeout, so that only a deadline for the whole exchange stops the call.

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace lameduck::testing {

// What the server waits for before it starts answering.
enum class TrickleAfter {
  kRequestHead,  // an HTTP request head ("\r\n\r\n")
  kFirstBytes,   // anything: a TLS ClientHello, a Redis command
};

// Accepts one connection on 127.0.0.1 (a free port), reads the request, then
// sends `answer` one byte every `gap`, over and over, until the client hangs
// up or the server is destroyed (which joins its thread; every wait in it is
// short). Thread-safe accessors.
class TricklingServer {
 public:
  TricklingServer(std::string answer, std::chrono::milliseconds gap,
                  TrickleAfter after = TrickleAfter::kRequestHead);
  // For tests of answer bounds, an answer that never ends: once the request
  // head has come, sends `head` once, then `line` over and over as fast as
  // the client takes it, until the client shuts the connection down or
  // closes it, or the server is destroyed.
  static TricklingServer flooding(std::string head, std::string line) {
    return TricklingServer(std::move(head), std::move(line));
  }
  ~TricklingServer();
  TricklingServer(const TricklingServer&) = delete;
  TricklingServer& operator=(const TricklingServer&) = delete;

  int port() const { return port_; }
  // Bytes the client had taken when it hung up (or so far); flooding: the
  // kernel accepted from the server (most may sit in socket buffers).
  size_t sent() const { return sent_.load(); }
  // Whether the client hung up (the server saw the end of its stream, or,
  // trickling, could not send).
  bool hungUp() const { return hung_up_.load(); }

 private:
  TricklingServer(std::string head, std::string line);
  bool waitReadable(int fd);
  void serve();
  void trickle(int fd);
  void flood(int fd);

  std::string head_;  // flooding: sent once before the lines
  std::string answer_;
  bool flooding_ = false;
  std::chrono::milliseconds gap_;
  TrickleAfter after_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> hung_up_{false};
  std::atomic<size_t> sent_{0};
  std::thread thread_;
};

// The start of a TLS ServerHello whose record claims 16 KiB: trickled, a
// TLS handshake cannot finish before all of it came.
std::string tlsServerHelloStart();

}  // namespace lameduck::testing
