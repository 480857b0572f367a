// The exit section: the grace period and the budgets carved out of it.

#include "config/sections.h"

namespace lameduck::config::detail {

void readExit(Issues& issues, const YAML::Node& node, const std::string& path, ExitConfig& out) {
  MapReader m(issues, node, path);
  m.field("grace_period", duration(issues, out.grace_period, ZeroOk::kNo));
  m.field("safety_margin", duration(issues, out.safety_margin, ZeroOk::kYes));
  m.field("compensation_reserve", duration(issues, out.compensation_reserve, ZeroOk::kYes));
  m.field("app_shutdown", duration(issues, out.app_shutdown, ZeroOk::kYes));
  m.finish();
}

}  // namespace lameduck::config::detail
