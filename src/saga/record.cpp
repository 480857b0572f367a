#include "saga/record.h"

#include <cstdint>

#include <nlohmann/json.hpp>

#include "common/json_in.h"

namespace lameduck::saga {

std::vector<std::pair<std::string, std::string>> CompensationRecord::fields() const {
  return {{"id", id},
          {"saga_id", saga_id},
          {"step", step},
          {"action", action},
          {"payload", payload},
          {"service", service},
          {"namespace", namespace_},
          {"pod", pod},
          {"revision", revision},
          {"created_at", created_at},
          {"attempt", std::to_string(attempt)}};
}

CompensationRecord makeRecord(app::Compensation c, const Origin& origin,
                              const std::string& created_at) {
  CompensationRecord r;
  r.id = std::move(c.id);
  r.saga_id = std::move(c.saga_id);
  r.step = std::move(c.step);
  r.action = std::move(c.action);
  r.payload = std::move(c.payload_json);
  r.service = origin.service;
  r.namespace_ = origin.namespace_;
  r.pod = origin.pod;
  r.revision = origin.revision;
  r.created_at = created_at;
  return r;
}

std::string toJsonLine(const CompensationRecord& r) {
  nlohmann::ordered_json j;
  for (const auto& [k, v] : r.fields()) j[k] = v;
  j["attempt"] = r.attempt;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// True when `text` nests arrays/objects deeper than `limit` (strings
// skipped). A record line is a flat object, so a deep one is garbage; this
// keeps nlohmann's recursive destructor and dump() away from it.
bool nestsDeeperThan(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

}  // namespace

Result<CompensationRecord> fromJsonLine(std::string_view line) {
  if (nestsDeeperThan(line, 4)) {
    return makeError(ErrorCode::kBadResponse, "spool line nests deeper than a record does");
  }
  // A record is one flat object of a dozen members: a line of many small
  // values is garbage, and parsed it would cost ~100 bytes a value.
  if (auto ok = checkJsonBounds(line, {SIZE_MAX, SIZE_MAX, 256}, "spool line"); !ok) {
    return std::unexpected(ok.error());
  }
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return makeError(ErrorCode::kBadResponse, "spool line is not a JSON object");
  }
  CompensationRecord r;
  auto str = [&](const char* key, std::string& out) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string()) out = it->get<std::string>();
  };
  str("id", r.id);
  str("saga_id", r.saga_id);
  str("step", r.step);
  str("action", r.action);
  str("payload", r.payload);
  str("service", r.service);
  str("namespace", r.namespace_);
  str("pod", r.pod);
  str("revision", r.revision);
  str("created_at", r.created_at);
  if (auto it = j.find("attempt"); it != j.end() && it->is_number_integer())
    r.attempt = it->get<int64_t>();
  if (r.id.empty() || r.saga_id.empty() || r.action.empty()) {
    return makeError(ErrorCode::kBadResponse, "spool line lacks id, saga_id or action");
  }
  return r;
}

}  // namespace lameduck::saga
