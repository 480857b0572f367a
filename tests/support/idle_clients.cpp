#include "support/idle_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lameduck::testing {

IdleClients::IdleClients(int port, size_t count, Kind kind, std::chrono::milliseconds interval)
    : port_(port), kind_(kind), interval_(interval) {
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
      if (!closed && kind_ == Kind::kSlowloris) {
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

}  // namespace lameduck::testing
