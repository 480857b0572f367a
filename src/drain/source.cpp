#include "drain/source.h"

#include <cstdlib>
#include <string_view>

#include "drain/netlink.h"

namespace lameduck::drain {

bool netlinkDisabledByEnvironment() {
  const char* v = std::getenv(kDisableNetlinkEnv);
  return v && std::string_view(v) == "1";
}

SourceChoice chooseConnectionSource(const SourceOptions& options, Clock& clock) {
  auto own = [&] { return OwnConnections(options.own_inodes, options.own_ports); };
  auto proc = [&](std::string reason) {
    SourceChoice c;
    c.source = std::make_unique<ProcConnectionSource>(options.proc_root, options.ports, own());
    c.kind = SourceKind::kProc;
    c.fallback = true;
    c.reason = std::move(reason);
    return c;
  };
  if (options.disable_netlink) {
    return proc(std::string("netlink disabled (") + kDisableNetlinkEnv +
                "=1); reading " + options.proc_root + "/net/tcp{,6}, which has no timestamps");
  }
  NetlinkOptions nl;
  nl.ports = options.ports;
  nl.timeout = options.netlink_timeout;
  auto source = std::make_unique<NetlinkConnectionSource>(nl, clock, own());
  auto probe = source->read();
  if (!probe && isNetlinkRefused(probe.error())) {
    return proc("netlink refused (" + probe.error().message + "); reading " + options.proc_root +
                "/net/tcp{,6}, which has no timestamps");
  }
  SourceChoice c;
  c.source = std::move(source);
  c.kind = SourceKind::kNetlink;
  c.reason = probe ? "netlink sock_diag answered"
                   : "netlink sock_diag chosen; its first read failed (" + probe.error().message +
                         ") and will be retried";
  return c;
}

}  // namespace lameduck::drain
