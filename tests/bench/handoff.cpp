// Compensation hand-off benchmark: 10,000 compensations from the sample app
// through lameduck (fetch, idempotent pipelined write, ack) against
// redis-benchmark's pipelined XADD on the same server in the same run, and
// the time to replay a 10,000-record spool.
// Usage: handoff [--count 10000]

#include "saga/handoff.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <regex>

#include "saga/spool.h"
#include "support/harness.h"
#include "support/redis.h"

using namespace lameduck;
using namespace lameduck::testing;
using nlohmann::json;

int main(int argc, char** argv) {
  int count = 10'000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--count" && i + 1 < argc) {
      count = std::max(1, std::atoi(argv[++i]));
    } else {
      std::cerr << "usage: handoff [--count 10000]\n";
      return 2;
    }
  }
  RedisServer redis;
  TempDir dir;

  // 1. redis-benchmark: one client, pipeline 100, XADD. Twice: with one
  // field, and with entries shaped like lameduck's (the same eleven fields
  // and sizes), which is the like-for-like comparison.
  auto benchmark = [&](std::vector<std::string> fields) {
    std::vector<std::string> cmd{
        "/usr/bin/redis-benchmark", "-s",    redis.socket(), "-c",    "1", "-P", "100", "-n",
        std::to_string(count),      "--csv", "XADD",         "bench", "*"};
    cmd.insert(cmd.end(), fields.begin(), fields.end());
    const std::string out = dir.file("rb.txt");
    runCommand(cmd, out, std::chrono::seconds(120));
    std::smatch m;
    const std::string text = readFile(out);
    // The rps column: the first of the seven numeric columns ending the
    // line (the command column may itself hold quotes).
    if (std::regex_search(text, m, std::regex(R"re(","([0-9.]+)"(,"[0-9.]+"){6}\s*$)re"))) {
      return std::stod(m[1].str());
    }
    return 0.0;
  };
  const double rb_one = benchmark({"f", "v"});
  const double rb_rps =
      benchmark({"id",      "c-1234",   "saga_id",   "order-1234", "step",
                 "payment", "action",   "refund",    "payload",    "{\"amount\":1234}",
                 "service", "",         "namespace", "",           "pod",
                 "",        "revision", "",          "created_at", "2026-11-24T22:00:00.000Z",
                 "attempt", "1"});

  // 2. lameduck: a real exit handing off `count` compensations.
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
    return 1;
  }
  auto r = call(*admin, "GET", "/prestop", {}, std::chrono::seconds(120));
  if (!r) {
    std::cerr << "prestop failed: " << r.error().message << "\n";
    return 1;
  }
  json summary = json::parse(r->body);
  double handoff_ms = 0;
  for (const json& step : summary["steps"]) {
    if (step["step"] == "compensation_handoff") handoff_ms = step["duration_ms"].get<double>();
  }
  const double ld_rps = count / (handoff_ms / 1000.0);

  // 3. Replay of a spool of `count` records.
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
  auto handed = saga::replaySpool(cc, spool, nullptr);
  double replay_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r0).count();

  std::printf("compensation hand-off, %d entries, same redis-server (unix socket)\n", count);
  std::printf("  redis-benchmark -c 1 -P 100 XADD, 1 field:             %10.0f entries/s\n",
              rb_one);
  std::printf("  redis-benchmark -c 1 -P 100 XADD, lameduck's 11 fields: %10.0f entries/s\n",
              rb_rps);
  std::printf(
      "  lameduck hand-off (fetch+write+ack):                    %10.0f entries/s  (%.1f ms; %s "
      "written, %s acked)\n",
      ld_rps, handoff_ms, summary["compensations"]["written"].dump().c_str(),
      summary["compensations"]["acked"].dump().c_str());
  std::printf("  ratio lameduck / redis-benchmark (11 fields):           %10.2f  (target >= 0.5)\n",
              ld_rps / rb_rps);
  std::printf("  ratio lameduck / redis-benchmark (1 field):             %10.2f\n",
              ld_rps / rb_one);
  std::printf(
      "  replay of a %d-record spool:                         %10.1f ms (%lld records into the "
      "stream)\n",
      count, replay_ms, handed ? static_cast<long long>(*handed) : -1LL);
  ld.signal(SIGTERM);
  app.signal(SIGTERM);
  ld.waitExit(std::chrono::seconds(10));
  app.waitExit(std::chrono::seconds(10));
  return 0;
}
