#include "exit/summary.h"

#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/json_in.h"
#include "common/report_json.h"

namespace lameduck::exit {

std::string_view stateName(State s) {
  switch (s) {
    case State::kReady:
      return "Ready";
    case State::kDraining:
      return "Draining";
    case State::kCompensating:
      return "Compensating";
    case State::kTerminated:
      return "Terminated";
  }
  return "Unknown";
}

std::string_view outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kNone:
      return "none";
    case Outcome::kCompleted:
      return "completed";
    case Outcome::kDeadline:
      return "deadline";
    case Outcome::kFailed:
      return "failed";
  }
  return "none";
}

std::string_view phaseName(Phase p) {
  switch (p) {
    case Phase::kDraining:
      return "draining";
    case Phase::kCompensating:
      return "compensating";
    case Phase::kTerminating:
      return "terminating";
  }
  return "unknown";
}

std::string_view stepStatusName(StepStatus s) {
  switch (s) {
    case StepStatus::kOk:
      return "ok";
    case StepStatus::kSkipped:
      return "skipped";
    case StepStatus::kDeadline:
      return "deadline";
    case StepStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

using report_json::ms;

const std::string* Summary::section(std::string_view name) const {
  for (const Section& sec : sections) {
    if (sec.name == name) return &sec.json;
  }
  return nullptr;
}

std::string toJson(const Summary& s) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["state"] = stateName(s.state);
  j["outcome"] =
      s.outcome == Outcome::kNone ? ordered_json(nullptr) : ordered_json(outcomeName(s.outcome));
  if (!s.reason.empty()) j["reason"] = s.reason;
  j["trigger"] = s.trigger.empty() ? ordered_json(nullptr) : ordered_json(s.trigger);
  j["trace_id"] = s.trace_id.empty() ? ordered_json(nullptr) : ordered_json(s.trace_id);
  j["started_at"] =
      s.trigger.empty() ? ordered_json(nullptr) : ordered_json(formatRfc3339(s.started_wall));
  j["duration_ms"] = ms(s.elapsed);
  j["budget_ms"] = ms(s.budget);
  j["compensation_reserve_ms"] = ms(s.compensation_reserve);
  ordered_json phases = ordered_json::object();
  for (const PhaseTiming& p : s.phases) {
    phases[std::string(phaseName(p.phase))] = {{"started_at_ms", ms(p.started_at)},
                                               {"duration_ms", ms(p.took)},
                                               {"budget_ms", ms(p.budget)}};
  }
  j["phases"] = phases;
  ordered_json steps = ordered_json::array();
  for (const StepReport& st : s.steps) {
    ordered_json one = {{"phase", phaseName(st.phase)},
                        {"step", st.name},
                        {"status", stepStatusName(st.status)},
                        {"started_at_ms", ms(st.started_at)},
                        {"duration_ms", ms(st.took)}};
    if (!st.detail.empty()) one["detail"] = st.detail;
    steps.push_back(std::move(one));
  }
  j["steps"] = steps;
  // The sections are JSON text already; splice them in rather than parse
  // them again.
  std::string out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.pop_back();  // the closing brace
  for (const Section& sec : s.sections) {
    out += ',';
    out += ordered_json(sec.name).dump();
    out += ':';
    out += sec.json.empty() ? "null" : sec.json;
  }
  out += '}';
  return out;
}

}  // namespace lameduck::exit

namespace lameduck::exit {

Result<Outcome> outcomeFromJson(std::string_view json) {
  // The answer comes over the network: bounded in size and depth before it is
  // parsed, so quoting a bad outcome back cannot recurse without end.
  auto doc = JsonDoc::parse(json, "exit summary");
  if (!doc) return std::unexpected(doc.error());
  if (!doc->isObject()) {
    return makeError(ErrorCode::kBadResponse,
                     "exit summary is not a JSON object: " + quoteExcerpt(json, 60));
  }
  auto outcome = doc->optionalField("outcome");
  if (!outcome) return std::unexpected(outcome.error());
  if (!*outcome || (*outcome)->isNull()) return Outcome::kNone;
  if (auto name = (*outcome)->string()) {
    for (Outcome o : kAllOutcomes) {
      if (*name == outcomeName(o)) return o;
    }
  }
  return makeError(ErrorCode::kBadResponse, "exit summary has an unknown outcome " +
                                                (*outcome)->text(60) +
                                                "; known: completed, deadline, failed, null");
}

}  // namespace lameduck::exit
