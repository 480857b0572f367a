#include "support/trickle.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "support/harness.h"

namespace lameduck::testing {

TricklingServer::TricklingServer(std::string answer, std::chrono::milliseconds gap,
                                 TrickleAfter after)
    : answer_(std::move(answer)), gap_(gap), after_(after) {
  listen_fd_ = listenOnLoopback(port_);
  thread_ = std::thread([this] { serve(); });
}

TricklingServer::TricklingServer(std::string head, std::string line)
    : head_(std::move(head)), answer_(std::move(line)), flooding_(true), gap_(0) {
  listen_fd_ = listenOnLoopback(port_);
  thread_ = std::thread([this] { serve(); });
}

TricklingServer::~TricklingServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

// Waits until `fd` is readable or the server stops; false when stopping.
bool TricklingServer::waitReadable(int fd) {
  while (!stop_) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) return true;
  }
  return false;
}

void TricklingServer::serve() {
  if (listen_fd_ < 0 || !waitReadable(listen_fd_)) return;
  int fd = ::accept(listen_fd_, nullptr, nullptr);
  if (fd < 0) return;
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos && waitReadable(fd)) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
    if (after_ == TrickleAfter::kFirstBytes) break;
  }
  if (flooding_) {
    flood(fd);
  } else {
    trickle(fd);
  }
  hung_up_ = !stop_;
  ::close(fd);
}

void TricklingServer::trickle(int fd) {
  char buf[4096];
  for (size_t i = 0; !stop_; i = (i + 1) % answer_.size()) {
    if (::send(fd, &answer_[i], 1, MSG_NOSIGNAL) != 1) break;
    ++sent_;
    pollfd p{fd, POLLIN, 0};  // readable now: the client sent more, or hung up
    if (::poll(&p, 1, static_cast<int>(gap_.count())) > 0) {
      if (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) break;
    }
  }
}

void TricklingServer::flood(int fd) {
  char buf[4096];
  std::string pending = head_;  // what is to be sent next, in order
  while (!stop_) {
    while (pending.size() < 64 * 1024) pending += answer_;
    // Writable, or readable (the client's end of stream: it shut the
    // connection down, though its kernel may keep a closed receive window
    // for a minute), or 20 ms to look at stop_ again.
    pollfd p{fd, POLLOUT | POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    if (p.revents & (POLLERR | POLLHUP)) return;
    if ((p.revents & POLLIN) && ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) return;
    if (!(p.revents & POLLOUT)) continue;
    ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) return;
    sent_ += static_cast<size_t>(n);
    pending.erase(0, static_cast<size_t>(n));
  }
}

std::string tlsServerHelloStart() {
  std::string hello = {'\x16', '\x03', '\x03', '\x40', '\x00',  // handshake record, 16 KiB
                       '\x02', '\x00', '\x3f', '\xfc',          // ServerHello, 16380 bytes
                       '\x03', '\x03'};                         // TLS 1.2
  hello += std::string(16 * 1024, '\x01');
  return hello;
}

}  // namespace lameduck::testing
