#include "support/haproxy.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

namespace lameduck::testing {
namespace {

std::string haproxyBinary() {
  for (const char* p : {"/usr/sbin/haproxy", "/usr/bin/haproxy"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "haproxy";
}

}  // namespace

std::unique_ptr<Haproxy> Haproxy::start(const TempDir& dir,
                                        const std::vector<std::pair<std::string, int>>& servers,
                                        std::string& error, const std::string& server_options,
                                        const std::string& backend_options) {
  std::unique_ptr<Haproxy> h(new Haproxy());
  h->socket_ = dir.file("haproxy.sock");
  std::string backend;
  for (const auto& [name, port] : servers) {
    backend +=
        "  server " + name + " 127.0.0.1:" + std::to_string(port) + " " + server_options + "\n";
  }
  // haproxy cannot report a port it picked, so try a few free ones.
  for (int attempt = 0; attempt < 3 && !h->process_; ++attempt) {
    h->front_ = freePort();
    std::string cfg = dir.write("haproxy.cfg", "global\n  stats socket " + h->socket_ +
                                                   " mode 600 level admin\n"
                                                   "  maxconn 4096\n"
                                                   "defaults\n"
                                                   "  mode http\n"
                                                   "  timeout connect 2s\n"
                                                   "  timeout client 30s\n"
                                                   "  timeout server 30s\n"
                                                   "  timeout http-keep-alive 10s\n"
                                                   "  retries 2\n"
                                                   "frontend fe\n"
                                                   "  bind 127.0.0.1:" +
                                                   std::to_string(h->front_) +
                                                   "\n  http-response set-header X-Test-Haproxy " +
                                                   std::to_string(h->front_) +
                                                   "\n  default_backend be_app\n"
                                                   "backend be_app\n"
                                                   "  balance roundrobin\n" +
                                                   backend_options + backend);
    auto p = std::make_unique<Process>(std::vector<std::string>{haproxyBinary(), "-db", "-f", cfg},
                                       dir.file("haproxy.log"));
    const int front = h->front_;
    // The answer must come from this haproxy: another process may have
    // taken the free port first.
    bool up = waitUntil(
        [&] {
          auto r = call(front, "GET", "/", {}, 2s);
          if (r && r->status > 0) {
            auto it = r->headers.find("X-Test-Haproxy");
            return it != r->headers.end() && it->second == std::to_string(front);
          }
          return !p->running();
        },
        20s, 20ms);
    if (up && p->running()) h->process_ = std::move(p);
  }
  if (!h->process_) {
    error = "haproxy did not start: " + readFile(dir.file("haproxy.log"));
    return nullptr;
  }
  return h;
}

Haproxy::~Haproxy() {
  if (!process_) return;
  process_->signal(SIGTERM);
  if (!process_->waitExit(10s)) process_->signal(SIGKILL);
}

std::string Haproxy::command(const std::string& text) const {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "cannot connect to " + socket_;
  }
  std::string line = text + "\n";
  (void)!write(fd, line.data(), line.size());
  std::string out;
  char buf[4096];
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::map<std::string, int64_t> Haproxy::served() const {
  // CSV: pxname,svname,qcur,qmax,scur,smax,slim,stot,...
  std::map<std::string, int64_t> out;
  std::istringstream in(command("show stat"));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("be_app,")) continue;
    std::vector<std::string> cols;
    std::istringstream fields(line);
    for (std::string f; std::getline(fields, f, ',');) cols.push_back(f);
    if (cols.size() < 8 || cols[1] == "BACKEND") continue;
    out[cols[1]] = std::atoll(cols[7].c_str());
  }
  return out;
}

std::string Haproxy::weight(const std::string& server) const {
  std::string w = command("get weight be_app/" + server);
  while (!w.empty() && (w.back() == '\n' || w.back() == '\r')) w.pop_back();
  return w;
}

}  // namespace lameduck::testing
