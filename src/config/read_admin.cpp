// The admin section: where the admin port listens and who may call it.

#include "config/sections.h"

namespace lameduck::config::detail {
namespace {

// One allow_cidrs entry. "${HOST_IP}" with HOST_IP unset is refused (never
// widen the list to "any source"), naming the variable.
void readCidr(Issues& issues, const YAML::Node& item, const std::string& path,
              std::vector<Cidr>& out) {
  auto v = scalar(issues, item, path, "a CIDR");
  if (!v) return;
  auto cidr = Cidr::parse(*v);
  if (cidr) {
    out.push_back(*cidr);
    return;
  }
  std::string message = cidr.error().message;
  if (item.Scalar().find("${") != std::string::npos) {
    message += "; \"" + item.Scalar() + "\" expanded to \"" + *v +
               "\": is the variable set? (the Helm chart sets HOST_IP from the downward API)";
  }
  issues.fail(item, path, message);
}

}  // namespace

void readAdmin(Issues& issues, const YAML::Node& node, const std::string& path, AdminConfig& out) {
  MapReader m(issues, node, path);
  m.field("listen", parsed<HostPort>(issues, out.listen, parseHostPort));
  m.field("token", str(issues, out.token));
  m.field("allow_cidrs", list(
                             issues,
                             [&](const YAML::Node& item, const std::string& ip) {
                               readCidr(issues, item, ip, out.allow_cidrs);
                             },
                             [&] { out.allow_cidrs.clear(); }));
  m.finish();
}

}  // namespace lameduck::config::detail
