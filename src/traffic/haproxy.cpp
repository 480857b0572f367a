#include "traffic/haproxy.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/parse.h"
#include "config/rules.h"

namespace lameduck::traffic {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int pollMs(Clock& clock, TimePoint deadline) {
  const Duration left = deadline - clock.now();
  if (left <= Duration::zero()) return 0;
  return static_cast<int>(
      std::max<int64_t>(1, std::chrono::ceil<std::chrono::milliseconds>(left).count()));
}

Error sysError(ErrorCode code, const std::string& where, const std::string& what) {
  return Error{code, "haproxy runtime API " + where + ": " + what};
}

// Waits for `events` on fd until the deadline.
Status waitFor(int fd, short events, Clock& clock, TimePoint deadline, const std::string& where) {
  for (;;) {
    int ms = pollMs(clock, deadline);
    if (ms == 0) return std::unexpected(sysError(ErrorCode::kDeadlineExceeded, where, "timed out"));
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return std::unexpected(sysError(ErrorCode::kUnavailable, where, std::strerror(errno)));
    if (n > 0) return {};
  }
}

Result<int> connectTo(const std::string& socket, Clock& clock, TimePoint deadline) {
  int fd = -1;
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (socket.starts_with("unix:")) {
    const std::string path = socket.substr(5);
    sockaddr_un un{};
    // The config loader refuses such a path (traffic.haproxy.socket); this
    // keeps the copy below in bounds whatever the caller gives.
    if (auto ok = config::checkUnixSocketPath(path); !ok) {
      return std::unexpected(sysError(ErrorCode::kInvalidArgument, socket, ok.error().message));
    }
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
    std::memcpy(&addr, &un, sizeof(un));
    len = sizeof(un);
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  } else {
    auto hp = parseHostPort(std::string_view(socket).substr(4));
    if (!hp)
      return std::unexpected(sysError(ErrorCode::kInvalidArgument, socket, hp.error().message));
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(hp->host.c_str(), std::to_string(hp->port).c_str(), &hints, &found);
    if (rc != 0 || !found) {
      return std::unexpected(sysError(ErrorCode::kUnavailable, socket, ::gai_strerror(rc)));
    }
    std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
    len = found->ai_addrlen;
    fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::freeaddrinfo(found);
  }
  if (fd < 0) return std::unexpected(sysError(ErrorCode::kInternal, socket, std::strerror(errno)));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0) return fd;
  if (errno != EINPROGRESS && errno != EAGAIN) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return std::unexpected(sysError(ErrorCode::kUnavailable, socket, "connect: " + why));
  }
  if (auto ok = waitFor(fd, POLLOUT, clock, deadline, socket); !ok) {
    ::close(fd);
    return std::unexpected(ok.error());
  }
  int err = 0;
  socklen_t errlen = sizeof(err);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen);
  if (err != 0) {
    ::close(fd);
    return std::unexpected(
        sysError(ErrorCode::kUnavailable, socket, std::string("connect: ") + std::strerror(err)));
  }
  return fd;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t start = s.find_first_not_of("\n\r ");
  return start == std::string::npos ? "" : s.substr(start);
}

}  // namespace

Result<std::string> haproxyCommand(const std::string& socket, const std::string& command,
                                   Duration timeout, Clock& clock) {
  const TimePoint deadline = clock.now() + timeout;
  auto connected = connectTo(socket, clock, deadline);
  if (!connected) return std::unexpected(connected.error());
  Fd fd(*connected);
  const std::string line = command + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    if (auto ok = waitFor(fd.get(), POLLOUT, clock, deadline, socket); !ok) {
      return std::unexpected(ok.error());
    }
    ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      return std::unexpected(sysError(ErrorCode::kUnavailable, socket, std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[4096];
  for (;;) {
    if (auto ok = waitFor(fd.get(), POLLIN, clock, deadline, socket); !ok) {
      return std::unexpected(ok.error());
    }
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      return std::unexpected(sysError(ErrorCode::kUnavailable, socket, std::strerror(errno)));
    }
    if (n == 0) break;
    answer.append(buf, static_cast<size_t>(n));
    if (answer.size() > (1 << 20)) {
      return std::unexpected(sysError(ErrorCode::kBadResponse, socket, "answer over 1 MiB"));
    }
  }
  return answer;
}

HaproxyBackend::HaproxyBackend(const config::HaproxyConfig& config, Clock& clock)
    : config_(config), clock_(clock) {}

Result<std::string> HaproxyBackend::command(const std::string& text, TimePoint deadline) {
  return haproxyCommand(config_.socket, text, std::max(deadline - clock_.now(), Duration(1)),
                        clock_);
}

Result<std::string> HaproxyBackend::setWeight(int64_t percent, Duration timeout) {
  const TimePoint deadline = clock_.now() + timeout;
  const std::string& server = config_.server;
  const std::string get_cmd = "get weight " + server;
  auto refused = [&](const std::string& cmd, const std::string& answer) {
    return std::unexpected(
        Error{ErrorCode::kFailedPrecondition,
              "haproxy refused \"" + cmd + "\" on " + config_.socket + ": " + answer});
  };
  // A set command answers nothing on success, a message when refused.
  auto run = [&](const std::string& cmd) -> Status {
    auto answer = command(cmd, deadline);
    if (!answer) return std::unexpected(answer.error());
    if (std::string a = trimmed(*answer); !a.empty()) return refused(cmd, a);
    return {};
  };
  // "<current> (initial <initial>)"; anything else is HAProxy refusing
  // ("No such server.", "No such backend.").
  auto readWeight = [&]() -> Result<std::pair<long, long>> {
    auto got = command(get_cmd, deadline);
    if (!got) return std::unexpected(got.error());
    const std::string answer = trimmed(*got);
    long current = -1;
    long initial = -1;
    if (std::sscanf(answer.c_str(), "%ld (initial %ld)", &current, &initial) != 2) {
      return refused(get_cmd, answer);
    }
    return std::pair{current, initial};
  };
  auto before = readWeight();
  if (!before) return std::unexpected(before.error());
  const long initial = before->second;
  // The weight is set as an absolute value computed from the server's
  // initial weight: HAProxy's own "n%" rounds down, so with the default
  // weight 1 every step above 0 would become 0 and cut the server off early.
  // A step above 0 keeps at least weight 1.
  long target = std::min<long>(initial * percent / 100, 256);
  if (percent > 0 && target == 0) target = 1;
  const std::string set_cmd = "set weight " + server + " " + std::to_string(target);
  if (auto ok = run(set_cmd); !ok) return std::unexpected(ok.error());
  auto after = readWeight();
  if (!after) return std::unexpected(after.error());
  if (after->first != target) {
    return std::unexpected(
        Error{ErrorCode::kUnavailable, "haproxy reports weight " + std::to_string(after->first) +
                                           " for " + server + " after \"" + set_cmd + "\""});
  }
  std::string detail =
      "weight " + std::to_string(target) + " (initial " + std::to_string(initial) + ")";
  if (percent > 0 && target * 100 != initial * percent) {
    detail += ", nearest to " + std::to_string(percent) + "% (give servers a larger weight, e.g. " +
              "weight 100, for finer steps)";
  }
  if (percent == 0) {
    if (auto ok = run("set server " + server + " state drain"); !ok) {
      return std::unexpected(ok.error());
    }
    detail += ", state drain";
  }
  return detail;
}

}  // namespace lameduck::traffic
