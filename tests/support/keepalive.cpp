#include "support/keepalive.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lameduck::testing {

std::unique_ptr<KeepAliveConnection> KeepAliveConnection::open(int family, int port,
                                                               std::string& error) {
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  sockaddr_storage a{};
  socklen_t len = 0;
  if (family == AF_INET6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    a6->sin6_addr = in6addr_loopback;
    len = sizeof *a6;
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&a);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a4;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 && errno != EINPROGRESS) {
    error = std::string("connect: ") + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  pollfd p{fd, POLLOUT, 0};
  int soerr = 0;
  socklen_t soerr_len = sizeof soerr;
  if (poll(&p, 1, 5000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0 ||
      soerr != 0) {
    error = std::string("connect to port ") + std::to_string(port) + " failed: " +
            std::strerror(soerr ? soerr : ETIMEDOUT);
    close(fd);
    return nullptr;
  }
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  const int local_port = family == AF_INET6
                             ? ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port)
                             : ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  return std::unique_ptr<KeepAliveConnection>(new KeepAliveConnection(fd, family, local_port));
}

KeepAliveConnection::~KeepAliveConnection() { close(fd_); }

std::string KeepAliveConnection::peerName() const {
  return (family_ == AF_INET6 ? "[::1]:" : "127.0.0.1:") + std::to_string(local_port_);
}

bool KeepAliveConnection::sendRequest(const std::string& path) {
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n";
  size_t sent = 0;
  while (sent < req.size()) {
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    const ssize_t n = send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::optional<int> KeepAliveConnection::readResponse(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  constexpr size_t kMaxAnswer = 64u << 20;
  std::string& buf = buffered_;
  // Whether `buf` holds a whole answer; its length then goes to `size`.
  auto complete = [&](size_t& size) {
    const size_t head_end = buf.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    std::string head = buf.substr(0, head_end);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t body = head_end + 4;
    if (head.find("transfer-encoding: chunked") != std::string::npos) {
      const size_t end = buf.find("\r\n0\r\n\r\n", body - 2);
      if (end == std::string::npos) return false;
      size = end + 7;
      return true;
    }
    size_t length = 0;
    if (const size_t cl = head.find("content-length:"); cl != std::string::npos) {
      length = static_cast<size_t>(std::strtoull(head.c_str() + cl + 15, nullptr, 10));
    }
    if (buf.size() < body + length) return false;
    size = body + length;
    return true;
  };
  size_t size = 0;
  while (!complete(size)) {
    if (buf.size() > kMaxAnswer) return std::nullopt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (r <= 0) continue;
    char chunk[16384];
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return std::nullopt;
    buf.append(chunk, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  const int status = buf.size() > 12 ? std::atoi(buf.c_str() + 9) : 0;
  buf.erase(0, size);
  return status;
}

std::optional<int> KeepAliveConnection::get(const std::string& path,
                                            std::chrono::milliseconds timeout) {
  if (!sendRequest(path)) return std::nullopt;
  return readResponse(timeout);
}

}  // namespace lameduck::testing
