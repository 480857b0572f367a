#include "drain/section.h"

#include <nlohmann/json.hpp>

namespace lameduck::drain {
namespace {

using nlohmann::ordered_json;

template <typename T>
ordered_json opt(const std::optional<T>& v) {
  return v ? ordered_json(*v) : ordered_json(nullptr);
}

ordered_json optMs(const std::optional<Duration>& d) {
  return d ? ordered_json(std::chrono::duration_cast<std::chrono::milliseconds>(*d).count())
           : ordered_json(nullptr);
}

}  // namespace

std::string renderDrainSection(const DrainSection& s) {
  ordered_json held = ordered_json::array();
  for (const HeldConnection& h : s.held_by) {
    held.push_back({{"peer", h.peer},
                    {"activity", activityName(h.activity)},
                    {"reason", h.reason},
                    {"ms_since_data_in", opt(h.ms_since_data_in)},
                    {"ms_since_data_out", opt(h.ms_since_data_out)},
                    {"bytes_queued", h.bytes_queued}});
  }
  ordered_json j = {{"source", s.source.empty() ? ordered_json(nullptr) : ordered_json(s.source)},
                    {"source_reason", s.source_reason},
                    {"connections", opt(s.connections)},
                    {"busy", opt(s.busy)},
                    {"idle", opt(s.idle)},
                    {"new_connections", s.new_connections},
                    {"last_activity_at_ms", optMs(s.last_activity_at)},
                    {"drained_at_ms", optMs(s.drained_at)},
                    {"wait_ms", optMs(s.wait)},
                    {"malformed_lines", s.malformed_lines},
                    {"inflight", opt(s.inflight)},
                    {"held_by", std::move(held)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lameduck::drain
