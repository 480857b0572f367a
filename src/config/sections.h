#pragma once

// One reader per config section (private to src/config). Each reads the
// YAML map `node` found at key path `path` into `out`, leaving defaults where
// a key is absent, and reports every problem (with its position) to
// `issues`. Checks that involve more than one section live in
// cross_check.h, not here.
//
// Thread-safety: called by the loader on its own thread; no shared state.

#include <yaml-cpp/yaml.h>

#include <string>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace lameduck::config::detail {

void readAdmin(Issues& issues, const YAML::Node& node, const std::string& path, AdminConfig& out);
void readMetrics(Issues& issues, const YAML::Node& node, const std::string& path,
                 MetricsConfig& out);
void readExit(Issues& issues, const YAML::Node& node, const std::string& path, ExitConfig& out);
void readApp(Issues& issues, const YAML::Node& node, const std::string& path, AppConfig& out);
void readDrain(Issues& issues, const YAML::Node& node, const std::string& path, DrainConfig& out);
void readCompensation(Issues& issues, const YAML::Node& node, const std::string& path,
                      CompensationConfig& out);
void readCompensator(Issues& issues, const YAML::Node& node, const std::string& path,
                     CompensatorConfig& out);
void readTraffic(Issues& issues, const YAML::Node& node, const std::string& path,
                 TrafficConfig& out);
void readCoordination(Issues& issues, const YAML::Node& node, const std::string& path,
                      CoordinationConfig& out);
void readTrace(Issues& issues, const YAML::Node& node, const std::string& path, TraceConfig& out);
void readLog(Issues& issues, const YAML::Node& node, const std::string& path, LogConfig& out);

// The whole document: every section above, and unknown top-level keys.
void readConfig(Issues& issues, const YAML::Node& root, Config& out);

// A section reader bound to where its result goes, for MapReader::field.
template <typename T>
Reader section(Issues& issues, void (*read)(Issues&, const YAML::Node&, const std::string&, T&),
               T& out) {
  return
      [&issues, read, &out](const YAML::Node& n, const std::string& p) { read(issues, n, p, out); };
}

}  // namespace lameduck::config::detail
