#pragma once

// Real loopback TCP connections for the drain tests and the netlink bench:
// a listener, clients that connect to it, and the accepted server ends, all
// in this process. Sockets are closed by the destructors.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>  // TCP_NODELAY; not netinet/tcp.h, which clashes with it
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lameduck::drain::testing {

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~Socket() { reset(); }
  int fd() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  uint64_t inode() const {
    struct stat st{};
    return ::fstat(fd_, &st) == 0 ? st.st_ino : 0;
  }
  uint16_t localPort() const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&a)->sin_port
                                        : reinterpret_cast<sockaddr_in6*>(&a)->sin6_port);
  }
  // Writes all of `data` (blocking).
  void send(std::string_view data) const {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads exactly `n` bytes (blocking).
  std::string receive(size_t n) const {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) throw std::runtime_error("recv: connection closed or failed");
      got += static_cast<size_t>(r);
    }
    return out;
  }

 private:
  int fd_ = -1;
};

// A listening socket on 127.0.0.1 or ::1 with a free port.
class Listener {
 public:
  explicit Listener(int family, int backlog = 128) : family_(family) {
    sock_ = Socket(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (sock_.fd() < 0) throw std::runtime_error("socket failed");
    int one = 1;
    ::setsockopt(sock_.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage a = address(0);
    if (::bind(sock_.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(sock_.fd(), backlog) != 0) {
      throw std::runtime_error(std::string("bind/listen: ") + std::strerror(errno));
    }
    port_ = sock_.localPort();
  }
  uint16_t port() const { return port_; }
  int family() const { return family_; }

  Socket connect() const {
    Socket c(::socket(family_, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_storage a = address(port_);
    if (::connect(c.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
    return c;
  }
  Socket accept() const {
    Socket s(::accept4(sock_.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    if (s.fd() < 0) throw std::runtime_error(std::string("accept: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
  }

 private:
  sockaddr_storage address(uint16_t port) const {
    sockaddr_storage a{};
    if (family_ == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&a);
      in->sin_family = AF_INET;
      in->sin_port = htons(port);
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&a);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(port);
      in6->sin6_addr = in6addr_loopback;
    }
    return a;
  }

  int family_;
  Socket sock_;
  uint16_t port_ = 0;
};

}  // namespace lameduck::drain::testing
