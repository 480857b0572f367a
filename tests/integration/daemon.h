#pragma once

// Starts the real lameduck binary (and optionally the sample app) for
// integration tests, on ports the processes pick themselves.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "support/checks.h"
#include "support/harness.h"

namespace lameduck::testing {

// A short exit for tests that do not measure its phases: 6 s grace, a
// 500 ms app timeout, 20 ms polls.
constexpr const char* kShortExit =
    "exit: {grace_period: 6s, safety_margin: 1s, compensation_reserve: 1s}\n"
    "app: {timeout: 500ms}\n"
    "drain: {poll_interval: 20ms}\n";

struct AppOptions {
  std::string hooks = "ok";
  int compensations = 0;
  // Track the app's port in /proc/net/tcp (app.ports); otherwise app.ports
  // is emptied so that tests do not wait a quiet period they do not test.
  bool track_port = false;
  int bad_compensations = 0;
  // tests/fixtures/plain_app instead of the sample app: an app without the
  // drain protocol (no hooks, app.base_url unset).
  bool plain = false;
  std::string listen = "127.0.0.1:0";  // the app's address ("[::1]:0" for IPv6)
  // Status and compensations answers of ~this many bytes of tiny values
  // (sample_app --bloat); 0: normal answers.
  size_t bloat = 0;
};

class Daemon {
 public:
  // `yaml` is the config body; admin/metrics listen on 127.0.0.1:0 unless it
  // says otherwise. With `app`, a sample app is started first and
  // app.base_url points at it. `sets` are extra --set overrides
  // ("key.path=value"), applied last. With a `prefix`, lameduck runs under
  // that command (setpriv, a seccomp wrapper), possibly as another user: the
  // test's directory is then opened to everyone and the spool directory
  // created writable for that user.
  explicit Daemon(const std::string& yaml, std::optional<AppOptions> app = std::nullopt,
                  std::map<std::string, std::string> env = {},
                  const std::vector<std::string>& sets = {},
                  const std::vector<std::string>& prefix = {});

  Process& lameduck() { return *lameduck_; }
  Process* app() { return app_.get(); }
  int adminPort() const { return admin_port_; }
  int metricsPort() const { return metrics_port_; }
  int appPort() const { return app_port_; }
  const TempDir& dir() const { return dir_; }
  // compensation.spool is always a directory of the test's own.
  std::string spoolDir() const { return dir_.file("spool"); }

  Result<http::ClientResponse> admin(const std::string& path, const http::Headers& h = {}) {
    return call(admin_port_, "GET", path, h);
  }
  // The body of GET `path` on the admin port. A failed call fails the test
  // with the error (and returns ""), instead of crashing it.
  std::string adminBody(const std::string& path, const http::Headers& h = {});
  // The status code of GET `path`, or -1 (failing the test) when the call
  // itself failed.
  int adminStatus(const std::string& path, const http::Headers& h = {});
  // As adminBody, parsed: a failed call or a body that is not JSON fails the
  // test with a message and returns null.
  nlohmann::json adminJson(const std::string& path, const http::Headers& h = {});
  std::string metrics();
  // The value of a sample line in /metrics ("name{labels}"), or -1.
  double metric(const std::string& series);

 private:
  TempDir dir_;
  std::unique_ptr<Process> app_;
  std::unique_ptr<Process> lameduck_;
  int admin_port_ = 0;
  int metrics_port_ = 0;
  int app_port_ = 0;
};

// VmHWM (peak resident memory) of a process, in kB; -1 when unreadable.
int64_t peakRssKb(pid_t pid);

// Whether a peak-memory bound is checked: a sanitizer's shadow memory and
// quarantine (hundreds of MB) are not lameduck's, so the bound is checked by
// the unsanitized presets only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kMemoryBoundChecked = false;
#else
inline constexpr bool kMemoryBoundChecked = true;
#endif

// Keeps the sample app of `d` busy for `ms`: starts GET /work?ms=<ms> on a
// thread and returns it once the app counts the request in flight (the test
// fails if it never does, within 10 s). The request must end with 200: a
// drain that cut it off fails the test, with the error. The thread joins
// when destroyed, so that an ASSERT that returns early waits for it.
std::jthread slowAppRequest(Daemon& d, int ms);

}  // namespace lameduck::testing
