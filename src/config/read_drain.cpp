// The drain section: how the connection drain is polled and how long it may wait.

#include "config/sections.h"

namespace lameduck::config::detail {

void readDrain(Issues& issues, const YAML::Node& node, const std::string& path, DrainConfig& out) {
  MapReader m(issues, node, path);
  m.field("poll_interval", duration(issues, out.poll_interval, ZeroOk::kNo));
  m.field("quiet_period", duration(issues, out.quiet_period, ZeroOk::kYes));
  m.field("max_connections", integer(issues, out.max_connections, 0, 1'000'000));
  m.field("max_wait", [&](const YAML::Node& vn, const std::string& vp) {
    out.max_wait_auto = false;
    duration(issues, out.max_wait, ZeroOk::kNo)(vn, vp);
  });
  m.field("proc_root", [&](const YAML::Node& vn, const std::string& vp) {
    auto v = scalar(issues, vn, vp, "a directory path");
    if (!v) return;
    if (v->empty() || v->front() != '/') {
      issues.fail(vn, vp, "invalid path \"" + *v + "\"; expected an absolute directory like /proc");
      return;
    }
    while (v->size() > 1 && v->back() == '/') v->pop_back();
    out.proc_root = *v;
  });
  m.finish();
}

}  // namespace lameduck::config::detail
