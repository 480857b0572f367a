// What each signal means to the real lameduck binary (docs/signals.md):
// SIGHUP and SIGUSR1 are logged and survived, SIGQUIT runs a full exit like
// SIGTERM, and a SIGTERM that arrives while lameduck is still starting is
// kept and handled, not lost.

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "integration/daemon.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;

std::optional<json> waitForMessage(Process& p, const std::string& text,
                                   std::chrono::milliseconds timeout = 20s) {
  return waitForLine(
      p.outputPath(),
      [&](const json& j) { return j.value("msg", "").find(text) != std::string::npos; }, timeout);
}

std::optional<json> waitForAudit(Process& p, const std::string& event,
                                 std::chrono::milliseconds timeout = 20s) {
  return waitForLine(
      p.outputPath(),
      [&](const json& j) { return j.value("audit", false) && j.value("event", "") == event; },
      timeout);
}

// Whether `sig` is in the process's blocked set (SigBlk of /proc/PID/status).
bool blocks(pid_t pid, int sig) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("SigBlk:")) continue;
    const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> (sig - 1)) & 1;
  }
  return false;
}

// The real program the `lameduck` launcher executes: its sibling.
std::filesystem::path realProgram() {
  return std::filesystem::path(lameduckBinary()).parent_path() / "lameduck-main";
}

// Whether the process runs lameduck yet, the launcher or the real program
// (it is the forked test child until it calls exec).
bool runsLameduck(pid_t pid) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  if (ec) return false;
  return exe == std::filesystem::canonical(lameduckBinary(), ec) ||
         exe == std::filesystem::canonical(realProgram(), ec);
}

TEST(Signals, SighupAndSigusr1AreLoggedAndSurvived) {
  Daemon d(kShortExit, AppOptions{});
  ASSERT_GT(d.adminPort(), 0);
  d.lameduck().signal(SIGHUP);
  auto hup = waitForMessage(d.lameduck(), "config reload is not supported");
  ASSERT_TRUE(hup) << d.lameduck().output();
  EXPECT_EQ((*hup)["level"], "warn");
  d.lameduck().signal(SIGUSR1);
  auto usr1 = waitForMessage(d.lameduck(), "state snapshot");
  ASSERT_TRUE(usr1) << d.lameduck().output();
  EXPECT_EQ((*usr1)["signal"], "SIGUSR1");
  EXPECT_EQ((*usr1)["pid"], d.lameduck().pid());

  EXPECT_TRUE(d.lameduck().running()) << d.lameduck().output();
  auto health = d.admin("/healthz");
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->status, 200);
  auto ready = d.admin("/readyz");
  ASSERT_TRUE(ready) << ready.error().message;
  EXPECT_EQ(ready->status, 200) << "SIGHUP/SIGUSR1 must not start the exit";
  // Still a working sidecar: a preStop runs a full exit.
  auto prestop = call(d.adminPort(), "GET", "/prestop", {}, 60s);
  ASSERT_TRUE(prestop) << prestop.error().message;
  EXPECT_EQ(json::parse(prestop->body)["outcome"], "completed") << prestop->body;
}

TEST(Signals, SigquitRunsAFullExitToTerminated) {
  Daemon d(kShortExit, AppOptions{});
  ASSERT_GT(d.adminPort(), 0);
  d.lameduck().signal(SIGQUIT);
  auto code = d.lameduck().waitExit(60s);
  ASSERT_TRUE(code.has_value()) << "lameduck did not exit:\n" << d.lameduck().output();
  EXPECT_EQ(*code, 0) << d.lameduck().output();  // completed, not 128+SIGQUIT
  auto terminated = waitForLine(
      d.lameduck().outputPath(),
      [](const json& j) { return j.value("event", "") == "transition" && j["to"] == "Terminated"; },
      1s);
  EXPECT_TRUE(terminated) << d.lameduck().output();
  auto exit_record = waitForAudit(d.lameduck(), "exit", 1s);
  ASSERT_TRUE(exit_record) << d.lameduck().output();
  EXPECT_EQ((*exit_record)["outcome"], "completed");
  // The app was told to drain and terminate: the exit was the full one.
  int drains = 0, terminates = 0;
  for (const json& j : jsonLines(d.app()->outputPath())) {
    drains += j.value("event", "") == "drain";
    terminates += j.value("event", "") == "terminate";
  }
  EXPECT_EQ(drains, 1) << d.app()->output();
  EXPECT_EQ(terminates, 1) << d.app()->output();
}

// main() blocks the handled signals before it reads the config, starts
// logging or any thread. A SIGTERM sent as soon as that mask is in place
// (long before the admin port is up) stays pending and runs a full exit.
// The `lameduck` users start is a static launcher: the program it executes
// (its sibling lameduck-main) starts with every handled signal already
// blocked, so none can meet its default action while the dynamic loader runs.
// A stand-in lameduck-main prints the mask it was started with.
TEST(Signals, TheLauncherStartsTheProgramWithTheHandledSignalsBlocked) {
  TempDir dir;
  const std::filesystem::path launcher = dir.file("lameduck");
  std::filesystem::copy_file(lameduckBinary(), launcher);
  std::filesystem::permissions(launcher, std::filesystem::perms::owner_all);
  const std::filesystem::path stand_in =
      dir.write("lameduck-main", "#!/bin/sh\nexec grep '^SigBlk:' /proc/self/status\n");
  std::filesystem::permissions(stand_in, std::filesystem::perms::owner_all);
  Process p({launcher.string(), "run"}, dir.file("out"));
  auto code = p.waitExit(20s);
  ASSERT_TRUE(code.has_value()) << p.output();
  EXPECT_EQ(*code, 0) << p.output();
  const std::string out = p.output();
  const auto at = out.find("SigBlk:");
  ASSERT_NE(at, std::string::npos) << out;
  const unsigned long long mask = std::stoull(out.substr(at + 7), nullptr, 16);
  for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1}) {
    EXPECT_TRUE((mask >> (sig - 1)) & 1) << "signal " << sig << " not blocked: " << out;
  }
  EXPECT_FALSE((mask >> (SIGUSR2 - 1)) & 1) << out;
}

// Without its sibling the launcher names what it tried and exits 127.
TEST(Signals, TheLauncherWithoutTheProgramSaysWhatIsMissing) {
  TempDir dir;
  const std::filesystem::path launcher = dir.file("lameduck");
  std::filesystem::copy_file(lameduckBinary(), launcher);
  std::filesystem::permissions(launcher, std::filesystem::perms::owner_all);
  Process p({launcher.string(), "--version"}, dir.file("out"));
  auto code = p.waitExit(20s);
  ASSERT_TRUE(code.has_value()) << p.output();
  EXPECT_EQ(*code, 127) << p.output();
  EXPECT_NE(p.output().find("cannot execute " + dir.file("lameduck-main")), std::string::npos)
      << p.output();
}

TEST(Signals, SigtermRightAfterStartIsNotLost) {
  TempDir dir;
  std::vector<std::string> args{lameduckBinary(), "run",
                                "--config",       dir.write("lameduck.yaml", kShortExit),
                                "--set",          "admin.listen=127.0.0.1:0",
                                "--set",          "metrics.listen=127.0.0.1:0",
                                "--set",          "compensation.spool=" + dir.file("spool"),
                                "--set",          "app.ports=[]"};
  Process p(args, dir.file("lameduck.log"));
  // lameduck has begun when the process runs the launcher or the real
  // program and SIGTERM is blocked, with SIGUSR2 open: the launcher blocks
  // the handled signals within microseconds of the exec, long before the
  // real program's dynamic loader runs. Both checks matter under a
  // sanitizer: the forked test child may have SIGTERM blocked for a moment
  // before it clears its mask and calls exec (the runtime's fork handling),
  // and after exec the runtime blocks every signal for a moment while it
  // starts its own thread, before main(). lameduck never blocks SIGUSR2.
  auto mainBegun = [&] {
    return runsLameduck(p.pid()) && blocks(p.pid(), SIGTERM) && !blocks(p.pid(), SIGUSR2);
  };
  ASSERT_TRUE(waitUntil([&] { return mainBegun() || !p.running(); }, 20s, 1ms));
  p.signal(SIGTERM);
  auto code = p.waitExit(60s);
  ASSERT_TRUE(code.has_value()) << "lameduck did not exit:\n" << p.output();
  EXPECT_EQ(*code, 0) << p.output();
  auto exit_record = waitForAudit(p, "exit", 1s);
  ASSERT_TRUE(exit_record) << p.output();
  EXPECT_EQ((*exit_record)["outcome"], "completed");
  EXPECT_EQ((*exit_record)["trigger"], "SIGTERM");
}

}  // namespace
}  // namespace lameduck::testing
