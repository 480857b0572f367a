// The log section: log level and output format.

#include "config/sections.h"

namespace lameduck::config::detail {

void readLog(Issues& issues, const YAML::Node& node, const std::string& path, LogConfig& out) {
  MapReader m(issues, node, path);
  m.field("level", parsed<log::Level>(issues, out.level, log::parseLevel));
  m.field("format", parsed<log::Format>(issues, out.format, log::parseFormat));
  m.finish();
}

}  // namespace lameduck::config::detail
