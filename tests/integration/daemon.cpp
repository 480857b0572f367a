#include "integration/daemon.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <sstream>

namespace lameduck::testing {

Daemon::Daemon(const std::string& yaml, std::optional<AppOptions> app,
               std::map<std::string, std::string> env, const std::vector<std::string>& sets,
               const std::vector<std::string>& prefix) {
  if (!prefix.empty()) {
    chmod(dir_.path().c_str(), 0755);
    mkdir(spoolDir().c_str(), 0777);
    chmod(spoolDir().c_str(), 0777);
  }
  std::vector<std::string> args = prefix;
  args.insert(args.end(), {lameduckBinary(), "run", "--config", dir_.write("lameduck.yaml", yaml),
                           "--set", "admin.listen=127.0.0.1:0", "--set",
                           "metrics.listen=127.0.0.1:0", "--set",
                           "compensation.spool=" + spoolDir()});
  if (app) {
    std::vector<std::string> app_args =
        app->plain ? std::vector<std::string>{plainAppBinary(), "--listen", app->listen}
                   : std::vector<std::string>{sampleAppBinary(),
                                              "--listen",
                                              app->listen,
                                              "--hooks",
                                              app->hooks,
                                              "--compensations",
                                              std::to_string(app->compensations),
                                              "--bad-compensations",
                                              std::to_string(app->bad_compensations),
                                              "--check-spool",
                                              spoolDir() + "/compensations.jsonl"};
    if (app->bloat > 0 && !app->plain) {
      app_args.insert(app_args.end(), {"--bloat", std::to_string(app->bloat)});
    }
    app_ = std::make_unique<Process>(app_args, dir_.file("app.log"));
    auto port = waitForAppPort(*app_);
    if (!port) {
      ADD_FAILURE() << (app->plain ? "plain" : "sample") << " app did not start:\n"
                    << app_->output();
      return;
    }
    app_port_ = *port;
    if (!app->plain) {
      args.push_back("--set");
      args.push_back("app.base_url=http://127.0.0.1:" + std::to_string(app_port_));
    }
  }
  args.push_back("--set");
  args.push_back(app && app->track_port ? "app.ports=[" + std::to_string(app_port_) + "]"
                                        : std::string("app.ports=[]"));
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  lameduck_ = std::make_unique<Process>(args, dir_.file("lameduck.log"), env);
  auto admin = waitForLameduckPort(*lameduck_, "admin");
  auto metrics = waitForLameduckPort(*lameduck_, "metrics");
  if (!admin || !metrics) {
    ADD_FAILURE() << "lameduck did not start:\n" << lameduck_->output();
    return;
  }
  admin_port_ = *admin;
  metrics_port_ = *metrics;
}

std::string Daemon::metrics() {
  auto r = call(metrics_port_, "GET", "/metrics");
  return r ? r->body : "";
}

double Daemon::metric(const std::string& series) { return metricValue(metrics_port_, series); }

std::string Daemon::adminBody(const std::string& path, const http::Headers& h) {
  auto r = admin(path, h);
  if (!r) {
    ADD_FAILURE() << "GET " << path << " on the admin port failed: " << r.error().message
                  << "\nlameduck output:\n"
                  << lameduck_->output();
    return "";
  }
  return r->body;
}

int Daemon::adminStatus(const std::string& path, const http::Headers& h) {
  auto r = admin(path, h);
  if (!r) {
    ADD_FAILURE() << "GET " << path << " on the admin port failed: " << r.error().message;
    return -1;
  }
  return r->status;
}

nlohmann::json Daemon::adminJson(const std::string& path, const http::Headers& h) {
  auto r = admin(path, h);
  if (!r) {
    ADD_FAILURE() << "GET " << path << " on the admin port failed: " << r.error().message
                  << "\nlameduck output:\n"
                  << lameduck_->output();
    return nullptr;
  }
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "GET " << path << " answered " << r->status
                  << " with a body that is not JSON: " << r->body.substr(0, 500);
    return nullptr;
  }
  return j;
}

int64_t peakRssKb(pid_t pid) {
  const std::string status = readFile("/proc/" + std::to_string(pid) + "/status");
  const auto at = status.find("VmHWM:");
  return at == std::string::npos ? -1 : std::atoll(status.c_str() + at + 6);
}

std::jthread slowAppRequest(Daemon& d, int ms) {
  const int port = d.appPort();
  std::jthread t([port, ms] {
    const std::string path = "/work?ms=" + std::to_string(ms);
    auto r = call(port, "GET", path);
    EXPECT_TRUE(r && r->status == 200)
        << "GET " << path << " on the app, in flight during the exit: "
        << (r ? "answered " + std::to_string(r->status) : r.error().message);
  });
  EXPECT_TRUE(waitUntil(
      [&] {
        auto r = call(port, "GET", "/lameduck/status");
        return r && r->body.find("\"inflight\":1") != std::string::npos;
      },
      10s))
      << "the app never counted GET /work?ms=" << ms << " in flight";
  return t;
}

}  // namespace lameduck::testing
