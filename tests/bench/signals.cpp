// Benchmark: is a SIGTERM sent right after lameduck starts lost?
//
// Starts `lameduck run` (through the static launcher, and lameduck-main
// directly for comparison), sends SIGTERM after a fixed delay, and counts
// the runs the signal killed outright (its default action: no exit, no
// hand-off) instead of starting the exit. Survivors are killed with SIGKILL
// after a short look. Prints one line per delay (docs/benchmarks.md).
//
//   tests/bench/run signals [--runs 20]

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

// Starts `argv` with its output to /dev/null; -1 when it could not start.
pid_t start(const std::vector<std::string>& argv) {
  std::vector<char*> raw;
  for (const std::string& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// True when the process ended by SIGTERM's default action within `look`.
bool killedBySigterm(pid_t pid, std::chrono::milliseconds look) {
  const auto until = std::chrono::steady_clock::now() + look;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string lameduck = "build/ci/src/lameduck";
  int runs = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--lameduck") lameduck = argv[i + 1];
    else if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else {
      std::cerr << "usage: bench_signals [--lameduck PATH] [--runs N]\n";
      return 2;
    }
  }
  const std::string real =
      (std::filesystem::path(lameduck).parent_path() / "lameduck-main").string();
  const std::string spool = std::filesystem::temp_directory_path() /
                            ("lameduck-bench-signals-" + std::to_string(getpid()));
  auto argvFor = [&](const std::string& binary) {
    return std::vector<std::string>{binary,  "run",   "--set", "admin.listen=127.0.0.1:0",
                                    "--set", "metrics.listen=127.0.0.1:0",
                                    "--set", "app.ports=[]",
                                    "--set", "compensation.spool=" + spool};
  };
  std::ifstream loadavg("/proc/loadavg");
  std::string load;
  std::getline(loadavg, load);
  std::printf("SIGTERM after start: runs killed by it (lost exits) of %d; load average %s\n", runs,
              load.c_str());
  std::printf("%10s  %22s  %22s\n", "delay", "lameduck (launcher)", "lameduck-main directly");
  for (double delay_ms : {0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0}) {
    int lost[2] = {0, 0};
    for (int r = 0; r < runs; ++r) {
      for (int which = 0; which < 2; ++which) {
        const pid_t pid = start(argvFor(which == 0 ? lameduck : real));
        if (pid < 0) {
          std::cerr << "cannot start " << (which == 0 ? lameduck : real) << "\n";
          return 1;
        }
        if (delay_ms > 0) {
          std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(delay_ms));
        }
        kill(pid, SIGTERM);
        if (killedBySigterm(pid, std::chrono::milliseconds(300))) ++lost[which];
      }
    }
    std::printf("%7.1f ms  %15d of %-4d  %15d of %-4d\n", delay_ms, lost[0], runs, lost[1], runs);
  }
  std::filesystem::remove_all(spool);
  return 0;
}
