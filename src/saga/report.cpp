#include "saga/report.h"

#include <nlohmann/json.hpp>

namespace lameduck::saga {

void CompensationReport::addRejected(std::string reason) {
  ++rejected;
  if (rejected_reasons.size() < kMaxRejectedReasons) rejected_reasons.push_back(std::move(reason));
}

std::string toJson(const CompensationReport& r) {
  nlohmann::ordered_json j = {{"pending", r.pending},
                              {"rejected", r.rejected},
                              {"written", r.written},
                              {"duplicates", r.duplicates},
                              {"spooled", r.spooled},
                              {"acked", r.acked},
                              {"rejected_reasons", r.rejected_reasons}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lameduck::saga
