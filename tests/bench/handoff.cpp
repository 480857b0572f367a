// Compensation hand-off benchmark: 10,000 compensations from the sample app
// through lameduck (fetch, idempotent pipelined write, ack) against
// redis-benchmark's pipelined XADD on the same server in the same round, and
// the time to replay a 10,000-record spool.
//
// The machine is shared, so one figure means little: each round runs both
// redis-benchmark variants and then one real exit, back to back, on a
// flushed server, and the ratio is taken within the round. The summary gives
// the median and the range over the rounds.
// Usage: handoff [--count 10000] [--rounds 5]
//
// Memory: handoff --rss [--count 100000] runs one exit per case (sink Redis
// or spool; app paging with --pages or answering everything at once) and
// prints lameduck's peak RSS (VmHWM of /proc/<pid>/status, read after
// /prestop answered, before the process is stopped). The case that answers
// everything at once raises app.max_response_bytes to 16 MiB.

#include "saga/handoff.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "saga/redis_stream.h"
#include "saga/spool.h"
#include "support/harness.h"
#include "support/redis.h"

using namespace lameduck;
using namespace lameduck::testing;
using nlohmann::json;

namespace {

struct Round {
  double handoff_ms = 0;  // the hand-off step, as the exit summary reports it
  double fetch_ms = 0;    // from the step's "compensations handed off" log line
  double redis_ms = 0;
  double ack_ms = 0;
  int64_t written = 0;
  int64_t acked = 0;
};

// CPU time redis-server has used so far, in ms (INFO cpu).
double redisCpuMs(const RedisServer& redis) {
  const std::string info = redis.cli({"INFO", "cpu"});
  double total = 0;
  for (const char* key : {"used_cpu_user:", "used_cpu_sys:"}) {
    auto at = info.find(key);
    if (at != std::string::npos) total += std::atof(info.c_str() + at + std::strlen(key));
  }
  return total * 1000;
}

// The rps column of redis-benchmark's --csv output: the first of the seven
// quoted numeric columns that end its last line (the command column before
// them may itself hold quotes and commas). 0 when the line has no such shape.
double csvRps(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (auto nl = text.rfind('\n'); nl != std::string_view::npos) text.remove_prefix(nl + 1);
  size_t end = text.size();
  for (int column = 0; column < 7; ++column) {
    if (end == 0) return 0.0;
    size_t comma = text.rfind(',', end - 1);
    if (comma == std::string_view::npos) return 0.0;
    std::string_view field = text.substr(comma + 1, end - comma - 1);
    if (field.size() < 3 || field.front() != '"' || field.back() != '"') return 0.0;
    field = field.substr(1, field.size() - 2);
    if (field.find_first_not_of("0123456789.") != std::string_view::npos) return 0.0;
    if (column == 6) return std::stod(std::string(field));
    end = comma;
  }
  return 0.0;
}

// redis-benchmark -c 1 -P 100 -n count XADD bench * <fields>: entries/s.
double redisBenchmark(const RedisServer& redis, const TempDir& dir, int count,
                      const std::vector<std::string>& fields) {
  std::vector<std::string> cmd{
      "/usr/bin/redis-benchmark", "-s",    redis.socket(), "-c",    "1", "-P", "100", "-n",
      std::to_string(count),      "--csv", "XADD",         "bench", "*"};
  cmd.insert(cmd.end(), fields.begin(), fields.end());
  const std::string out = dir.file("rb.txt");
  runCommand(cmd, out, std::chrono::seconds(120));
  return csvRps(readFile(out));
}

// One real exit handing off `count` compensations from a fresh sample app.
std::optional<Round> handOff(const RedisServer& redis, const TempDir& dir, int count) {
  Round round;
  Process app(
      {sampleAppBinary(), "--listen", "127.0.0.1:0", "--compensations", std::to_string(count)},
      dir.file("app.log"));
  auto app_port = waitForAppPort(app);
  Process ld({lameduckBinary(), "run", "--set", "admin.listen=127.0.0.1:0", "--set",
              "metrics.listen=127.0.0.1:0", "--set",
              "app.base_url=http://127.0.0.1:" + std::to_string(app_port.value_or(0)), "--set",
              "app.ports=[]", "--set", "app.timeout=30s", "--set",
              "compensation.redis.address=unix:" + redis.socket(), "--set",
              "compensation.redis.timeout=10s", "--set", "compensation.spool=" + dir.file("spool")},
             dir.file("lameduck.log"));
  auto admin = waitForLameduckPort(ld, "admin");
  if (!app_port || !admin) {
    std::cerr << "processes did not start\n" << ld.output();
    return std::nullopt;
  }
  auto r = call(*admin, "GET", "/prestop", {}, std::chrono::seconds(120));
  if (!r) {
    std::cerr << "prestop failed: " << r.error().message << "\n";
    return std::nullopt;
  }
  json summary = json::parse(r->body);
  for (const json& step : summary["steps"]) {
    if (step["step"] == "compensation_handoff")
      round.handoff_ms = step["duration_ms"].get<double>();
  }
  round.written = summary["compensations"]["written"].get<int64_t>();
  round.acked = summary["compensations"]["acked"].get<int64_t>();
  for (const json& line : jsonLines(ld.outputPath())) {
    if (line.value("msg", "") != "compensations handed off") continue;
    round.fetch_ms = line.value("fetch_ms", 0.0);
    round.redis_ms = line.value("redis_ms", 0.0);
    round.ack_ms = line.value("ack_ms", 0.0);
  }
  ld.signal(SIGTERM);
  app.signal(SIGTERM);
  ld.waitExit(std::chrono::seconds(10));
  app.waitExit(std::chrono::seconds(10));
  return round;
}

// VmHWM of a process, in kB (0 when unreadable).
int64_t peakRssKb(pid_t pid) {
  const std::string status = readFile("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("VmHWM:");
  return at == std::string::npos ? 0 : std::atoll(status.c_str() + at + 6);
}

// One exit handing `count` compensations to Redis (or, with `spool`, to the
// spool only); returns lameduck's peak RSS in kB, or -1.
int64_t rssOfOneExit(const RedisServer& redis, int count, bool spool, bool pages) {
  TempDir dir;
  std::vector<std::string> app_args{sampleAppBinary(), "--listen", "127.0.0.1:0",
                                    "--compensations", std::to_string(count)};
  if (pages) app_args.push_back("--pages");
  Process app(app_args, dir.file("app.log"));
  auto app_port = waitForAppPort(app);
  std::vector<std::string> args{
      lameduckBinary(), "run", "--set", "admin.listen=127.0.0.1:0", "--set",
      "metrics.listen=127.0.0.1:0", "--set",
      "app.base_url=http://127.0.0.1:" + std::to_string(app_port.value_or(0)), "--set",
      "app.ports=[]", "--set", "app.timeout=60s", "--set", "exit.grace_period=120s", "--set",
      "compensation.spool=" + dir.file("spool")};
  // 100,000 entries answered at once are ~10 MB: more than the default
  // bound (8 MiB), which such an app would have to raise.
  if (!pages) args.insert(args.end(), {"--set", "app.max_response_bytes=16777216"});
  if (!spool) {
    args.insert(args.end(), {"--set", "compensation.redis.address=unix:" + redis.socket(), "--set",
                             "compensation.redis.timeout=10s"});
  }
  Process ld(args, dir.file("lameduck.log"));
  auto admin = waitForLameduckPort(ld, "admin");
  if (!app_port || !admin) {
    std::cerr << "processes did not start\n" << ld.output();
    return -1;
  }
  auto r = call(*admin, "GET", "/prestop", {}, std::chrono::seconds(300));
  if (!r) {
    std::cerr << "prestop failed: " << r.error().message << "\n";
    return -1;
  }
  json summary = json::parse(r->body);
  const int64_t kb = peakRssKb(ld.pid());
  const int64_t acked = summary["compensations"].value("acked", int64_t{0});
  ld.signal(SIGTERM);
  app.signal(SIGTERM);
  ld.waitExit(std::chrono::seconds(10));
  app.waitExit(std::chrono::seconds(10));
  if (acked != count) {
    std::cerr << "only " << acked << " of " << count << " acked: " << summary.dump() << "\n";
    return -1;
  }
  return kb;
}

int rssCases(int count) {
  RedisServer redis;
  std::printf("lameduck peak RSS (VmHWM) for one exit handing off %d compensations\n", count);
  std::printf("%-8s %-34s %10s\n", "sink", "app", "peak MB");
  for (bool spool : {false, true}) {
    for (bool pages : {true, false}) {
      redis.cli({"FLUSHALL"});
      const int64_t kb = rssOfOneExit(redis, count, spool, pages);
      if (kb < 0) return 1;
      std::printf("%-8s %-34s %10.1f\n", spool ? "spool" : "redis",
                  pages ? "pages (limit=1000)" : "answers everything at once", kb / 1024.0);
    }
  }
  return 0;
}

struct Spread {
  double median, low, high;
};
Spread spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  int count = 10'000;
  int rounds = 5;
  bool rss = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rss") {
      rss = true;
      count = 100'000;
    } else if (a == "--count" && i + 1 < argc) {
      count = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else {
      std::cerr << "usage: handoff [--count 10000] [--rounds 5] | --rss [--count 100000]\n";
      return 2;
    }
  }
  if (rss) return rssCases(count);
  RedisServer redis;
  TempDir dir;
  // Entries shaped like lameduck's: the same eleven fields and value sizes
  // (the pod identity is empty here, as in the exits below).
  const std::vector<std::string> eleven{
      "id",      "c-1234",   "saga_id",   "order-1234", "step",
      "payment", "action",   "refund",    "payload",    "{\"amount\":1234}",
      "service", "",         "namespace", "",           "pod",
      "",        "revision", "",          "created_at", "2026-11-24T22:00:00.000Z",
      "attempt", "1"};

  std::printf("compensation hand-off, %d entries, same redis-server (unix socket), %d rounds\n",
              count, rounds);
  // Per round: rates; where the hand-off's time went; the CPU time
  // redis-server spent on redis-benchmark's 11-field XADDs and on the
  // hand-off (the server's own cost, which the machine's load disturbs
  // less than wall time); the ratios.
  std::printf("%5s %10s %10s %10s %8s %6s %6s %6s %9s %9s %7s %7s %7s\n", "round", "rb 1 fld",
              "rb 11 fld", "lameduck", "hand-off", "fetch", "redis", "ack", "srv cpu", "srv cpu",
              "ratio", "ratio", "write");
  std::printf("%5s %10s %10s %10s %8s %6s %6s %6s %9s %9s %7s %7s %7s\n", "", "entries/s",
              "entries/s", "entries/s", "ms", "ms", "ms", "ms", "rb11 ms", "ld ms", "vs 11", "vs 1",
              "vs 11");
  std::vector<double> ratio11, ratio1, write11;
  for (int n = 1; n <= rounds; ++n) {
    redis.cli({"FLUSHALL"});
    const double rb_one = redisBenchmark(redis, dir, count, {"f", "v"});
    const double cpu0 = redisCpuMs(redis);
    const double rb_eleven = redisBenchmark(redis, dir, count, eleven);
    const double rb_cpu = redisCpuMs(redis) - cpu0;
    redis.cli({"FLUSHALL"});
    const double cpu1 = redisCpuMs(redis);
    auto round = handOff(redis, dir, count);
    const double ld_cpu = redisCpuMs(redis) - cpu1;
    if (!round || rb_one <= 0 || rb_eleven <= 0 || round->handoff_ms <= 0) {
      std::cerr << "round " << n << " failed\n";
      return 1;
    }
    if (round->written != count || round->acked != count) {
      std::cerr << "round " << n << ": " << round->written << " written, " << round->acked
                << " acked, expected " << count << "\n";
      return 1;
    }
    const double ld_rps = count / (round->handoff_ms / 1000.0);
    const double write_rps = count / (round->redis_ms / 1000.0);
    ratio11.push_back(ld_rps / rb_eleven);
    ratio1.push_back(ld_rps / rb_one);
    write11.push_back(write_rps / rb_eleven);
    std::printf("%5d %10.0f %10.0f %10.0f %8.1f %6.1f %6.1f %6.1f %9.1f %9.1f %7.2f %7.2f %7.2f\n",
                n, rb_one, rb_eleven, ld_rps, round->handoff_ms, round->fetch_ms, round->redis_ms,
                round->ack_ms, rb_cpu, ld_cpu, ratio11.back(), ratio1.back(), write11.back());
  }
  auto show = [](const char* what, const std::vector<double>& v) {
    const Spread s = spread(v);
    std::printf("  %-62s median %.2f (%.2f-%.2f)\n", what, s.median, s.low, s.high);
  };
  std::printf("ratios (lameduck rate / redis-benchmark rate; target >= 0.5 against 11 fields):\n");
  show("hand-off (fetch + write + ack) vs XADD with lameduck's 11 fields", ratio11);
  show("hand-off (fetch + write + ack) vs XADD with 1 field", ratio1);
  show("idempotent write alone vs XADD with lameduck's 11 fields", write11);

  // Replay of a spool of `count` records.
  redis.cli({"FLUSHALL"});
  saga::Spool spool(dir.file("replay-spool"));
  std::vector<saga::CompensationRecord> records;
  for (int i = 0; i < count; ++i) {
    saga::CompensationRecord rec;
    rec.id = "replay-" + std::to_string(i);
    rec.saga_id = "s-" + std::to_string(i);
    rec.action = "refund";
    rec.payload = "{}";
    records.push_back(rec);
  }
  if (!spool.append(records)) return 1;
  config::CompensationConfig cc;
  cc.redis = redis.config(std::chrono::milliseconds(10'000));
  auto r0 = std::chrono::steady_clock::now();
  saga::RedisStreamConnector stream(cc);
  auto handed = saga::replaySpool(stream, spool, nullptr);
  double replay_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r0).count();
  std::printf("replay of a %d-record spool: %.1f ms (%lld records into the stream)\n", count,
              replay_ms, handed ? static_cast<long long>(handed->handed) : -1LL);
  return 0;
}
