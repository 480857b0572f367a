#include "traffic/report.h"

#include "common/report_json.h"

namespace lameduck::traffic {
using namespace report_json;

std::string toJson(const TrafficReport& report) {
  const TrafficReport& t = report;
  ordered_json j;
  ordered_json shifts = ordered_json::array();
  for (const TrafficStepReport& st : t.steps) {
    shifts.push_back(
        {{"weight", st.weight},
         {"hold_ms", ms(st.hold)},
         {"planned_hold_ms", ms(st.planned)},
         {"started_at_ms", ms(st.started_at)},
         {"duration_ms", ms(st.took)},
         {"weight_set", st.weight_set},
         {"attempts", st.attempts},
         {"backend", st.backend_detail},
         {"gate", st.gate},
         {"error_rate", st.error_rate ? ordered_json(*st.error_rate) : ordered_json(nullptr)},
         {"gate_checks", st.gate_checks},
         {"result", st.result},
         {"detail", st.detail}});
  }
  j = {{"backend", t.backend},
       {"configured_ms", ms(t.configured)},
       {"available_ms", ms(t.available)},
       {"shortened", t.shortened},
       {"weight", opt(t.weight)},
       {"steps", shifts}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lameduck::traffic
