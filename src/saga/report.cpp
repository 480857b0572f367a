#include "saga/report.h"

#include <nlohmann/json.hpp>

namespace lameduck::saga {

using nlohmann::ordered_json;

std::string toJson(const CompensationReport& report) {
  const CompensationReport& c = report;
  ordered_json j;
  j = {{"pending", c.pending},
       {"rejected", c.rejected},
       {"written", c.written},
       {"duplicates", c.duplicates},
       {"spooled", c.spooled},
       {"acked", c.acked},
       {"rejected_reasons", c.rejected_reasons}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lameduck::saga
