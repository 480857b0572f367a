// `lameduck spool replay`: hands the local spool to the Redis stream.
//
// Exit codes (docs/compensation.md, "Spool durability"): 0 when every
// readable record is in the stream and no line was unreadable; 1 when Redis
// could not take them all, the spool could not be read or rewritten, or the
// spool holds unreadable lines (they are kept, never dropped, and need a
// person); 2 for bad arguments or config.

#include "saga/spool.h"

#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"
#include "saga/handoff.h"
#include "saga/sink.h"

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
  auto before = spool.scan();
  if (!before) {
    std::cerr << "lameduck spool replay: " << before.error().message << "\n";
    return kExitFailed;
  }
  if (!cfg->compensation.redis.address) {
    std::cerr << "lameduck spool replay: no Redis configured (compensation.redis.address); the "
                 "spool stays as it is\n";
    return kExitFailed;
  }
  saga::RedisStreamConnector stream(cfg->compensation);
  auto report = saga::replaySpool(stream, spool, nullptr);
  if (!report) {
    std::cerr << "lameduck spool replay: " << report.error().message << "\n";
    return kExitFailed;
  }
  std::cout << "replayed " << report->handed << " of " << before->records
            << " spooled record(s) into " << cfg->compensation.stream << "; " << report->kept
            << " left in " << spool.path();
  if (report->torn_lines > 0) std::cout << " (dropped a torn last line, never acknowledged)";
  std::cout << "\n";
  if (report->unreadable > 0) {
    std::cerr << "lameduck spool replay: " << report->unreadable << " unreadable line(s) kept in "
              << spool.path() << "; they were not replayed and need a person to look at them\n";
    return kExitFailed;
  }
  if (report->kept > 0) {
    // The stream did not confirm them (a lost connection between batches):
    // they stay spooled, and the command says it did not finish.
    std::cerr << "lameduck spool replay: " << report->kept << " record(s) were not confirmed by "
              << "the stream and stay in " << spool.path() << "; run it again\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace lameduck::cli
