// `lameduck compensator`: consumes the compensation stream until SIGTERM.

#include "saga/compensator.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "common/log.h"
#include "common/version.h"
#include "server/endpoints.h"
#include "server/metrics.h"

namespace lameduck::cli {

int compensator(const Args& args) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto options = parseConfigOptions(args, false);
  if (!options) {
    std::cerr << "lameduck compensator: " << options.error().message << "\n";
    return kExitUsage;
  }
  auto cfg = loadConfig(*options);
  if (!cfg) {
    std::cerr << "lameduck: invalid configuration:\n" << cfg.error().message << "\n";
    return kExitUsage;
  }
  if (!cfg->compensation.redis.address) {
    std::cerr << "lameduck compensator: compensation.redis.address is required\n";
    return kExitUsage;
  }
  log::Identity who = log::Identity::fromEnvironment();
  who.commit = kCommit;
  log::init(cfg->log.level, cfg->log.format, who);

  std::string consumer = cfg->compensator.consumer;
  if (consumer.empty()) consumer = who.pod;
  if (consumer.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    consumer = std::string(host) + "-" + std::to_string(getpid());
  }
  server::CompensatorMetrics metrics(kVersion, kCommit);
  server::MetricsServer metrics_server(cfg->compensator.listen, "compensator.listen",
                                       [&metrics] { return metrics.render(); });
  if (auto port = metrics_server.start(); !port) {
    log::error("cannot start", {{"error", port.error().message}});
    return kExitFailed;
  }
  saga::Compensator worker(*cfg, consumer, metrics);
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log::info("signal received; finishing the call in flight",
              {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    worker.stop();
  });
  Status st = worker.run();
  // run() only returns after stop(), so the signal thread has finished.
  signal_thread.join();
  metrics_server.stop();
  if (!st) {
    log::error("compensator failed", {{"error", st.error().message}});
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace lameduck::cli
