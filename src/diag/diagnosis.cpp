#include "diag/diagnosis.h"

#include <map>

namespace lameduck::diag {

Status Diagnosis::takeBaseline(Duration timeout) {
  auto dump = source_.fetch(timeout);
  if (!dump) return std::unexpected(dump.error());
  std::lock_guard lock(mu_);
  baseline_ = std::move(*dump);
  return {};
}

Result<Report> Diagnosis::diagnose(Duration timeout) {
  auto dump = source_.fetch(timeout);
  if (!dump) return std::unexpected(dump.error());
  std::lock_guard lock(mu_);
  return buildReport(baseline_ ? &*baseline_ : nullptr, *dump, source_.source());
}

bool Diagnosis::hasBaseline() const {
  std::lock_guard lock(mu_);
  return baseline_.has_value();
}

std::vector<std::pair<std::string, int64_t>> countsByWaitReason(const Report& report) {
  std::map<std::string, int64_t> counts;
  for (const Group& g : report.groups) counts[g.wait_reason] += g.count;
  return {counts.begin(), counts.end()};
}

std::string describe(const Report& report) {
  if (report.groups.empty()) return "no goroutine of the app's own is parked";
  std::string out;
  for (const Group& g : report.groups) {
    if (!out.empty()) out += "; ";
    out += std::to_string(g.count) + " " + g.wait_reason + " " + g.function + " (" +
           (g.location.empty() ? "no location" : g.location) +
           (g.cancellable ? ")" : ", not cancellable)");
  }
  return out;
}

}  // namespace lameduck::diag
