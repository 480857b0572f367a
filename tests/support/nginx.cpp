#include "support/nginx.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lameduck::testing {
namespace {

std::string nginxBinary() {
  for (const char* p : {"/usr/sbin/nginx", "/usr/bin/nginx"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "nginx";
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

std::string Nginx::config() const {
  const std::string d = dir_.path() + "/nginx";
  std::string upstream;
  for (const auto& [name, port] : servers_) {
    upstream += "    server 127.0.0.1:" + std::to_string(port) + ";  # " + name + "\n";
  }
  const std::string front = std::to_string(front_);
  // Run as root, the master would hand the workers to `nobody`, who cannot
  // enter the test's private directory.
  return std::string(geteuid() == 0 ? "user root;\n" : "") +
         "daemon off;\n"
         "master_process on;\n"
         "worker_processes 1;\n"
         "pid " + d + "/nginx.pid;\n"
         "error_log " + d + "/error.log notice;\n"
         "events { worker_connections 4096; }\n"
         "http {\n"
         "  access_log off;\n"
         "  client_body_temp_path " + d + "/body;\n"
         "  proxy_temp_path " + d + "/proxy;\n"
         "  fastcgi_temp_path " + d + "/fastcgi;\n"
         "  uwsgi_temp_path " + d + "/uwsgi;\n"
         "  scgi_temp_path " + d + "/scgi;\n"
         "  upstream be_app {\n" + upstream +
         "    keepalive 16;\n"
         "    keepalive_timeout 60s;\n"
         "  }\n"
         "  server {\n"
         "    listen 127.0.0.1:" + front + ";\n"
         "    keepalive_timeout 30s;\n"
         "    location / {\n"
         "      proxy_pass http://be_app;\n"
         "      proxy_http_version 1.1;\n"
         "      proxy_set_header Connection \"\";\n"
         "      proxy_next_upstream off;\n"
         "      proxy_connect_timeout 2s;\n"
         "      proxy_read_timeout 30s;\n"
         "      add_header X-Test-Nginx " + front + " always;\n"
         "    }\n"
         "  }\n"
         "}\n";
}

std::unique_ptr<Nginx> Nginx::start(const TempDir& dir,
                                    std::vector<std::pair<std::string, int>> servers,
                                    std::string& error) {
  std::unique_ptr<Nginx> n(new Nginx(dir));
  n->servers_ = std::move(servers);
  mkdir(dir.file("nginx").c_str(), 0700);
  // nginx cannot report a port it picked, so try a few free ones.
  for (int attempt = 0; attempt < 3 && !n->process_; ++attempt) {
    n->front_ = freePort();
    n->conf_ = dir.write("nginx/nginx.conf", n->config());
    auto p = std::make_unique<Process>(
        std::vector<std::string>{nginxBinary(), "-p", dir.file("nginx"), "-e",
                                 dir.file("nginx/error.log"), "-c", n->conf_},
        dir.file("nginx/stdout.log"));
    const int front = n->front_;
    // The answer must come from this nginx: another process may have taken
    // the free port first.
    bool up = waitUntil(
        [&] {
          auto r = call(front, "GET", "/", {}, 2s);
          if (r && r->status > 0) {
            auto it = r->headers.find("X-Test-Nginx");
            return it != r->headers.end() && it->second == std::to_string(front);
          }
          return !p->running();
        },
        20s, 20ms);
    if (up && p->running()) n->process_ = std::move(p);
  }
  if (!n->process_) {
    error = "nginx did not start: " + n->log() + readFile(dir.file("nginx/stdout.log"));
    return nullptr;
  }
  return n;
}

Nginx::~Nginx() {
  if (!process_) return;
  process_->signal(SIGTERM);
  if (!process_->waitExit(10s)) process_->signal(SIGKILL);
}

bool Nginx::removeServer(const std::string& name) {
  std::erase_if(servers_, [&](const auto& s) { return s.first == name; });
  const size_t reloads = count(log(), "reconfiguring");
  dir_.write("nginx/nginx.conf", config());
  process_->signal(SIGHUP);
  return waitUntil([&] { return count(log(), "reconfiguring") > reloads; }, 10s, 5ms);
}

std::string Nginx::log() const { return readFile(dir_.file("nginx/error.log")); }

}  // namespace lameduck::testing
