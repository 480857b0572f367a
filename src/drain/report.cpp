#include "drain/report.h"

#include "common/report_json.h"

namespace lameduck::drain {
using namespace report_json;

std::string toJson(const AppFigures& f) {
  ordered_json j = {{"inflight", opt(f.inflight)},
                    {"connections", opt(f.connections)},
                    {"queued", opt(f.queued)},
                    {"inflight_zero_at_ms", optMs(f.inflight_zero_at)}};
  return j.dump();
}

std::string toJson(const DrainReport& d) {
  ordered_json j = {{"connections", opt(d.connections)},
                    {"new_connections", d.new_connections},
                    {"last_new_connection_at_ms", optMs(d.last_new_connection_at)},
                    {"drained_at_ms", optMs(d.drained_at)},
                    {"wait_ms", optMs(d.wait)},
                    {"grace_left_ms", optMs(d.grace_left)},
                    {"malformed_lines", d.malformed_lines},
                    {"source", d.source.empty() ? ordered_json(nullptr) : ordered_json(d.source)},
                    {"busy", opt(d.busy)},
                    {"idle", opt(d.idle)},
                    {"last_activity_at_ms", optMs(d.last_activity_at)}};
  ordered_json held = ordered_json::array();
  for (const HeldConnection& h : d.held_by) {
    held.push_back({{"peer", h.peer},
                    {"activity", activityName(h.activity)},
                    {"reason", h.reason},
                    {"ms_since_data_in", opt(h.ms_since_data_in)},
                    {"ms_since_data_out", opt(h.ms_since_data_out)},
                    {"bytes_queued", h.bytes_queued}});
  }
  j["held_by"] = std::move(held);
  return j.dump();
}

}  // namespace lameduck::drain
