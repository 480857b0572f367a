// The metrics section: the /metrics listener and the Pushgateway push.

#include "config/sections.h"

namespace lameduck::config::detail {
namespace {

void readPushgateway(Issues& issues, const YAML::Node& node, const std::string& path,
                     PushgatewayConfig& out) {
  MapReader g(issues, node, path);
  g.field("url", optionalParsed<HttpUrl>(issues, out.url, parseHttpUrl));
  g.field("job", str(issues, out.job, false));
  g.field("timeout", duration(issues, out.timeout, ZeroOk::kNo));
  g.finish();
}

}  // namespace

void readMetrics(Issues& issues, const YAML::Node& node, const std::string& path,
                 MetricsConfig& out) {
  MapReader m(issues, node, path);
  m.field("listen", parsed<HostPort>(issues, out.listen, parseHostPort));
  m.field("pushgateway", section(issues, readPushgateway, out.pushgateway));
  m.finish();
}

}  // namespace lameduck::config::detail
