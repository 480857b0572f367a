#include "http/socket_bytes.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>

namespace lameduck::http::detail {

std::optional<uint64_t> bytesTaken(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  // Kernels before 4.1 return a shorter struct without the counter.
  if (len < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
    return std::nullopt;
  }
  int queued = 0;
  if (::ioctl(fd, SIOCINQ, &queued) != 0 || queued < 0) queued = 0;
  const uint64_t received = info.tcpi_bytes_received;
  return received - std::min<uint64_t>(received, static_cast<uint64_t>(queued));
}

}  // namespace lameduck::http::detail
