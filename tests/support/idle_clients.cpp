#include "support/idle_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace lameduck::testing {

IdleClients::IdleClients(int port, size_t count, Kind kind, std::chrono::milliseconds interval,
                         size_t body_bytes)
    : port_(port), kind_(kind), interval_(interval), body_bytes_(body_bytes) {
  fds_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    fds_.push_back(connectOne());
    if (fds_.back() >= 0) ++open_;
  }
  thread_ = std::thread([this] { run(); });
}

IdleClients::~IdleClients() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

int IdleClients::connectOne() const {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port_));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  if (kind_ == Kind::kSlowloris) {
    // The start of a head that never ends.
    static constexpr char kStart[] = "GET /healthz HTTP/1.1\r\nX-Slow: ";
    [[maybe_unused]] auto n = ::send(fd, kStart, sizeof kStart - 1, MSG_NOSIGNAL);
  }
  if (kind_ == Kind::kSlowBody) {
    // A body that never ends: all but its last KiB now, the rest a byte a round.
    std::string start = "POST /healthz HTTP/1.1\r\nContent-Length: " +
                        std::to_string(body_bytes_) + "\r\n\r\n";
    start.append(body_bytes_ > 1024 ? body_bytes_ - 1024 : 0, 'b');
    [[maybe_unused]] auto n = ::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
  }
  return fd;
}

void IdleClients::run() {
  std::unique_lock lock(mu_);
  std::vector<pollfd> fds;
  while (!cv_.wait_for(lock, interval_, [this] { return quit_; })) {
    fds.clear();
    for (int fd : fds_) fds.push_back({fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 0);
    for (size_t i = 0; i < fds_.size(); ++i) {
      int& fd = fds_[i];
      bool closed = fd < 0;
      if (!closed && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        char buf[512];
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      }
      if (!closed && kind_ != Kind::kIdle) {
        closed = ::send(fd, "a", 1, MSG_NOSIGNAL) != 1;
      }
      if (closed) {
        if (fd >= 0) {
          ::close(fd);
          --open_;
          ++reopened_;
        }
        fd = connectOne();
        if (fd >= 0) ++open_;
      }
    }
  }
}

RawConnection::RawConnection(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
}

RawConnection::~RawConnection() { ::close(fd_); }

void RawConnection::send(const std::string& bytes) {
  [[maybe_unused]] auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

std::optional<std::string> RawConnection::readUntilClosed(std::chrono::milliseconds timeout) {
  std::string got;
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return got;  // closed, or reset
  }
  return std::nullopt;
}

}  // namespace lameduck::testing
