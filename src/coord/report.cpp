#include "coord/report.h"

#include "common/report_json.h"

namespace lameduck::coord {
using namespace report_json;

std::string toJson(const CoordinationReport& report) {
  const CoordinationReport& c = report;
  ordered_json j;
  auto orNull = [](const std::string& v) {
    return v.empty() ? ordered_json(nullptr) : ordered_json(v);
  };
  j = {{"service", orNull(c.service)},
       {"pod", c.pod},
       {"slot",
        {{"status", orNull(c.slot)},
         {"token", opt(c.slot_token)},
         {"holders", c.slot_holders},
         {"wait_ms", optMs(c.slot_wait)}}},
       {"wait_for",
        {{"services", c.wait_for},
         {"status", orNull(c.wait_for_status)},
         {"alive", c.alive},
         {"wait_ms", optMs(c.wait_for_wait)},
         {"cycle", orNull(c.cycle)}}},
       {"error", orNull(c.error)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lameduck::coord
