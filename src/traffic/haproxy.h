#pragma once

// HAProxy backend: the Runtime API (stats socket, `level admin`) over a unix
// or TCP socket. One connection per command, as the non-interactive Runtime
// API expects. Used by the shift step on the exit thread only.

#include "config/config.h"
#include "traffic/backend.h"

namespace lameduck::traffic {

// Sends one Runtime API command and returns the whole answer (HAProxy closes
// the connection after it). Bounded by `timeout`. Connect failures are
// kUnavailable, running out of time kDeadlineExceeded.
Result<std::string> haproxyCommand(const std::string& socket, const std::string& command,
                                   Duration timeout, Clock& clock);

// Reads the server's initial weight (`get weight`), sets `percent` of it as
// an absolute weight (`set weight <backend>/<server> <n>`, at least 1 for a
// step above 0), and verifies it with `get weight`; at 0 also `set server
// ... state drain`, so the server takes no new connections at all (weight 0
// alone still lets persistent sessions through). All of it within the
// call's timeout. Errors: those of haproxyCommand; kFailedPrecondition when
// HAProxy refuses a command (no such backend or server; the message quotes
// its answer); kUnavailable when the weight read back differs (transient).
class HaproxyBackend final : public Backend {
 public:
  // Copies `config`; `clock` must outlive the backend.
  HaproxyBackend(const config::HaproxyConfig& config, Clock& clock);
  std::string_view name() const override { return "haproxy"; }
  Result<std::string> setWeight(int64_t percent, Duration timeout) override;

 private:
  Result<std::string> command(const std::string& text, TimePoint deadline);

  config::HaproxyConfig config_;
  Clock& clock_;
};

}  // namespace lameduck::traffic
