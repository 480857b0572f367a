#include "support/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace lameduck::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "lameduck-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string p = file(name);
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

Process::Process(const std::vector<std::string>& argv, const std::string& output_path,
                 const std::map<std::string, std::string>& env)
    : program_(argv.empty() ? std::string() : argv[0]), output_(output_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // Opened (and truncated) before fork, so a reader never sees what an
  // earlier process left in the same file.
  int fd = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + output_path);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    // Start with a clean signal state whatever the test runner left behind.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fd);
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
  // A child built with a sanitizer (lameduck, the sample apps) reports into
  // its output; under TSan it goes on after a race and is killed at the end
  // of the test, so nobody else would ever read the report.
  if (pid_ > 0) {
    if (const std::string report = sanitizerReport(readFile(output_)); !report.empty()) {
      ADD_FAILURE() << program_ << " reported (full output in " << output_ << "):\n" << report;
    }
  }
}

std::string sanitizerReport(const std::string& output) {
  for (const char* marker : {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                             "ERROR: LeakSanitizer", "SUMMARY: UndefinedBehaviorSanitizer"}) {
    const size_t at = output.find(marker);
    if (at == std::string::npos) continue;
    const size_t line = output.rfind('\n', at);
    const size_t start = line == std::string::npos ? 0 : line + 1;
    constexpr size_t kShown = 4096;
    return output.substr(start, kShown) + (output.size() - start > kShown ? "\n..." : "");
  }
  return {};
}

std::string Process::output() const { return readFile(output_); }

void Process::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

bool Process::running() { return !waitExit(0ms).has_value(); }

std::optional<int> Process::waitExit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto reap = [&] {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return true;
    }
    return false;
  };
  if (reap()) return status_;
  waitUntil(reap, timeout, 5ms);
  return status_;
}

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<nlohmann::json> jsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(readFile(path));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

std::optional<nlohmann::json> waitForLine(const std::string& path,
                                          const std::function<bool(const nlohmann::json&)>& match,
                                          std::chrono::milliseconds timeout) {
  std::optional<nlohmann::json> found;
  waitUntil(
      [&] {
        for (auto& j : jsonLines(path)) {
          if (match(j)) {
            found = j;
            return true;
          }
        }
        return false;
      },
      timeout, 20ms);
  return found;
}

std::optional<int> waitForLameduckPort(const Process& p, const std::string& server,
                                       std::chrono::milliseconds timeout) {
  auto line = waitForLine(
      p.outputPath(),
      [&](const nlohmann::json& j) {
        return j.value("msg", "") == "listening" && j.value("server", "") == server;
      },
      timeout);
  if (!line) return std::nullopt;
  return (*line)["port"].get<int>();
}

std::optional<int> waitForAppPort(const Process& p, std::chrono::milliseconds timeout) {
  auto line = waitForLine(
      p.outputPath(), [](const nlohmann::json& j) { return j.value("event", "") == "listening"; },
      timeout);
  if (!line) return std::nullopt;
  return (*line)["port"].get<int>();
}

Result<http::ClientResponse> call(int port, const std::string& method, const std::string& path,
                                  const http::Headers& headers, std::chrono::milliseconds timeout,
                                  const std::string& body) {
  HttpUrl url{"http", "127.0.0.1", static_cast<uint16_t>(port), ""};
  http::Client client(url, SystemClock::instance());
  return client.send(method, path, body, body.empty() ? "" : "text/plain", headers, timeout);
}

std::string lameduckBinary() { return LAMEDUCK_BIN; }
std::string sampleAppBinary() { return SAMPLE_APP_BIN; }
std::string plainAppBinary() { return PLAIN_APP_BIN; }
std::string noNetlinkBinary() { return NO_NETLINK_BIN; }

int runCommand(const std::vector<std::string>& argv, const std::string& output_path,
               std::chrono::milliseconds timeout) {
  Process p(argv, output_path);
  auto status = p.waitExit(timeout);
  return status ? *status : -1;
}

}  // namespace lameduck::testing

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

namespace lameduck::testing {
namespace {

// A TCP socket of `type` bound to 127.0.0.1 on a port the kernel picks,
// stored in `port`; -1 on failure.
int bindLoopback(int type, int& port) {
  int fd = socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

int listenOnLoopback(int& port) {
  int fd = bindLoopback(SOCK_STREAM, port);
  if (fd >= 0 && listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

RefusingPort::RefusingPort() { fd_ = bindLoopback(SOCK_STREAM | SOCK_CLOEXEC, port_); }

RefusingPort::~RefusingPort() {
  if (fd_ >= 0) close(fd_);
}

std::string RefusingPort::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

namespace {

// The lowest port of the kernel's ephemeral range (ip_local_port_range),
// where it picks the local port of every outgoing connection and of every
// bind to port 0.
int ephemeralLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  if (!(in >> low) || low < 1) return 32768;
  return low;
}

// Whether 127.0.0.1:`port` can be listened on right now.
bool canListen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

}  // namespace

// A port the kernel hands out itself (bind to port 0) lies in the ephemeral
// range, where the many outgoing connections of the tests running beside
// this one take their local ports: one of them can take it between this
// probe and the server's own bind, and the server then fails with "address
// already in use". So the port is drawn at random from below that range,
// where the kernel never picks one on its own; only another test's draw
// could collide with it, one in thousands, and the fixtures that use it
// retry with a fresh port when their server did not come up.
int freePort() {
  const int first = 10000;
  const int last = std::min(ephemeralLow(), 65536) - 1;
  if (last - first >= 1000) {
    static std::mt19937 random(std::random_device{}() ^ static_cast<unsigned>(getpid()));
    static std::mutex lock;
    std::lock_guard<std::mutex> hold(lock);
    std::uniform_int_distribution<int> pick(first, last);
    for (int attempt = 0; attempt < 200; ++attempt) {
      const int port = pick(random);
      if (canListen(port)) return port;
    }
  }
  int port = 0;
  int fd = listenOnLoopback(port);
  if (fd >= 0) close(fd);
  return port;
}

int64_t monoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double metricValue(int port, const std::string& series) {
  auto r = call(port, "GET", "/metrics");
  if (!r) return -1;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}
}  // namespace lameduck::testing
