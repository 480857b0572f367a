#pragma once

// Picks the reader of the app's connections: socket diagnostics (netlink)
// when the kernel lets us, /proc/net/tcp{,6} otherwise. Netlink is refused
// under some seccomp profiles, in gVisor and on kernels without sock_diag;
// the /proc reader works there but has no timestamps, so request bytes on an
// existing connection cannot be seen.
//
// Thread-safety: the factory runs once at start; a source's read() has one
// caller at a time (the drain wait, on the exit thread).

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "drain/connections.h"

namespace lameduck::drain {

// The environment switch that makes the factory skip netlink, for tests of
// the fallback: LAMEDUCK_TEST_DISABLE_NETLINK=1.
inline constexpr const char* kDisableNetlinkEnv = "LAMEDUCK_TEST_DISABLE_NETLINK";
bool netlinkDisabledByEnvironment();

struct SourceOptions {
  std::vector<uint16_t> ports;      // app.ports
  std::string proc_root = "/proc";  // drain.proc_root
  bool disable_netlink = false;     // e.g. netlinkDisabledByEnvironment()
  Duration netlink_timeout = std::chrono::milliseconds(500);  // per read
  OwnConnections::Inodes own_inodes = [] { return ownSocketInodes(); };
  OwnConnections::Ports own_ports;  // e.g. http::ownClientPorts
};

struct SourceChoice {
  std::unique_ptr<ConnectionSource> source;
  SourceKind kind = SourceKind::kProc;
  bool fallback = false;  // kProc because netlink was refused or disabled
  std::string reason;     // for the log and the summary
};

// Tries one netlink read. Netlink is kept unless it is refused (an error for
// which isNetlinkRefused holds) or disabled; a passing failure (timeout)
// keeps netlink, since later reads may work. Never fails: /proc is always
// the answer of last resort (its own errors surface on read()). The caller
// owns the source; a netlink source borrows `clock`, which must outlive it.
SourceChoice chooseConnectionSource(const SourceOptions& options, Clock& clock);

}  // namespace lameduck::drain
