// `lameduck compensator`: consumes the compensation stream until SIGTERM.

#include "saga/compensator.h"

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "common/log.h"
#include "common/version.h"
#include "config/rules.h"
#include "saga/metrics.h"
#include "redis/redis_client.h"
#include "server/endpoints.h"
#include "server/metrics.h"

namespace lameduck::cli {

int compensator(const Args& args) {
  auto start = startService(args, "compensator");
  if (!start) return start.error();
  const config::Config* cfg = &start->loaded.config;
  sigset_t signals = start->signals;
  if (auto ok = config::requireRedisAddress(cfg->compensation.redis, "the compensator"); !ok) {
    log::error(ok.error().message);
    return kExitUsage;
  }
  std::string consumer = cfg->compensator.consumer;
  if (consumer.empty()) consumer = instanceName();
  // A registry of its own: the compensator's /metrics carries no exit figures.
  server::Exposition exposition(kVersion, kCommit);
  saga::CompensatorMetrics metrics(exposition.registry());
  server::MetricsServer metrics_server(cfg->compensator.listen, "compensator.listen",
                                       [&exposition] { return exposition.render(); });
  if (auto port = metrics_server.start(); !port) {
    log::error("cannot start", {{"error", port.error().message}});
    return kExitFailed;
  }
  saga::Compensator worker(*cfg, consumer, metrics, SystemClock::instance(),
                           &redis::RedisClient::connect);
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log::info("signal received; finishing the call in flight",
              {{"signal", signalName(sig)}});
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
