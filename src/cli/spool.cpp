// `lameduck spool replay`: hands the local spool to the Redis stream.

#include "saga/spool.h"

#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "saga/handoff.h"

namespace lameduck::cli {

int spool(const Args& args) {
  if (args.empty() || args[0] != "replay") {
    std::cerr << "usage: lameduck spool replay [--config FILE] [--set key.path=value ...]\n";
    return kExitUsage;
  }
  auto loaded = loadForCommand(Args(args.begin() + 1, args.end()), "spool replay", false);
  if (!loaded) return loaded.error();
  const config::Config* cfg = &loaded->config;
  saga::Spool spool(cfg->compensation.spool);
  auto before = spool.read();
  if (!before) {
    std::cerr << "lameduck spool replay: " << before.error().message << "\n";
    return kExitFailed;
  }
  auto handed = saga::replaySpool(cfg->compensation, spool, nullptr);
  if (!handed) {
    std::cerr << "lameduck spool replay: " << handed.error().message << "\n";
    return kExitFailed;
  }
  auto after = spool.read();
  std::cout << "replayed " << *handed << " of " << before->records.size()
            << " spooled record(s) into " << cfg->compensation.stream << "; "
            << (after ? after->records.size() : 0) << " left in " << spool.path();
  if (before->torn_lines > 0) std::cout << " (dropped a torn last line, never acknowledged)";
  std::cout << "\n";
  return kExitOk;
}

}  // namespace lameduck::cli
