#include "app/http_app_client.h"

#include <nlohmann/json.hpp>

namespace lameduck::app {
namespace {

using nlohmann::json;

// At most this many bytes of a bad answer are quoted in an error.
constexpr size_t kQuoteBytes = 120;

std::string quote(std::string_view body) {
  std::string s(body.substr(0, kQuoteBytes));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return "\"" + s + (body.size() > kQuoteBytes ? "...\"" : "\"");
}

Result<json> parseJson(std::string_view body, std::string_view what) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return makeError(ErrorCode::kBadResponse,
                     std::string(what) + " answer is not valid JSON: " + quote(body));
  }
  return doc;
}

std::optional<std::string> stringField(const json& entry, const char* key) {
  auto it = entry.find(key);
  if (it == entry.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return std::nullopt;
}

}  // namespace

Result<Figures> parseStatus(std::string_view body) {
  auto doc = parseJson(body, "status hook");
  if (!doc) return std::unexpected(doc.error());
  if (!doc->is_object()) {
    return makeError(
        ErrorCode::kBadResponse,
        "status hook answer must be a JSON object like {\"inflight\": 0}, got " + quote(body));
  }
  Figures f;
  for (auto [key, out] : {std::pair{"inflight", &f.inflight},
                          {"connections", &f.connections},
                          {"queued", &f.queued}}) {
    auto it = doc->find(key);
    if (it == doc->end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return makeError(ErrorCode::kBadResponse, std::string("status hook field \"") + key +
                                                    "\" must be a non-negative integer, got " +
                                                    it->dump());
    }
    *out = it->get<int64_t>();
  }
  if (auto it = doc->find("error_rate"); it != doc->end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() < 0.0 || it->get<double>() > 1.0) {
      return makeError(ErrorCode::kBadResponse,
                       "status hook field \"error_rate\" must be a number from 0 to 1 or null, "
                       "got " +
                           it->dump());
    }
    f.error_rate = it->get<double>();
  }
  return f;
}

Result<CompensationBatch> parseCompensations(std::string_view body) {
  auto doc = parseJson(body, "compensations hook");
  if (!doc) return std::unexpected(doc.error());
  const json* list = nullptr;
  if (doc->is_object()) {
    auto it = doc->find("compensations");
    if (it != doc->end() && it->is_array()) list = &*it;
  }
  if (!list) {
    return makeError(
        ErrorCode::kBadResponse,
        "compensations hook answer must be {\"compensations\": [...]}, got " + quote(body));
  }
  CompensationBatch batch;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& e = (*list)[i];
    std::string where = "entry " + std::to_string(i);
    if (!e.is_object()) {
      batch.rejected.push_back(where + ": not a JSON object");
      continue;
    }
    Compensation c;
    auto id = stringField(e, "id");
    if (id) where += " (id " + *id + ")";
    std::string missing;
    for (auto [key, out] :
         {std::pair{"id", &c.id}, {"saga_id", &c.saga_id}, {"action", &c.action}}) {
      auto v = stringField(e, key);
      if (!v || v->empty()) {
        missing += (missing.empty() ? "" : ", ") + std::string(key);
      } else {
        *out = *v;
      }
    }
    if (!missing.empty()) {
      batch.rejected.push_back(where + ": missing or empty " + missing);
      continue;
    }
    c.step = stringField(e, "step").value_or("");
    auto payload = e.find("payload");
    c.payload_json = (payload == e.end() || payload->is_null()) ? "{}" : payload->dump();
    batch.valid.push_back(std::move(c));
  }
  return batch;
}

HttpAppClient::HttpAppClient(const config::AppConfig& config, Clock& clock, HookObserver observer)
    : base_path_(config.base_url ? config.base_url->path : ""),
      hooks_(config.hooks),
      client_(*config.base_url, clock),
      observer_(std::move(observer)) {}

Result<http::ClientResponse> HttpAppClient::send(std::string_view hook, const std::string& method,
                                                 const std::string& path, const std::string& body,
                                                 const Call& call, bool last_call) {
  http::Headers headers;
  // After the last hook the connection is closed rather than kept idle: an
  // idle keep-alive connection would hold one of the app's workers and delay
  // its own shutdown.
  if (last_call) headers.emplace("Connection", "close");
  if (!call.traceparent.empty()) headers.emplace("traceparent", call.traceparent);
  headers.emplace("User-Agent", "lameduck");
  auto res =
      client_.send(method, base_path_ + path, body, "application/json", headers, call.timeout);
  if (!res) {
    if (observer_) {
      observer_(hook, res.error().code == ErrorCode::kDeadlineExceeded ? "timeout" : "unreachable");
    }
    return std::unexpected(
        Error{res.error().code, std::string(hook) + " hook: " + res.error().message});
  }
  if (observer_) observer_(hook, std::to_string(res->status));
  if (res->status < 200 || res->status > 299) {
    return makeError(ErrorCode::kBadResponse,
                     std::string(hook) + " hook: " + method + " " + client_.origin() + base_path_ +
                         path + " answered HTTP " + std::to_string(res->status) +
                         (res->body.empty() ? "" : ": " + quote(res->body)));
  }
  return res;
}

Status HttpAppClient::drain(const Call& call) {
  auto res = send("drain", "POST", hooks_.drain, "{}", call);
  if (!res) return std::unexpected(res.error());
  return {};
}

Result<Figures> HttpAppClient::status(const Call& call) {
  auto res = send("status", "GET", hooks_.status, "", call);
  if (!res) return std::unexpected(res.error());
  return parseStatus(res->body);
}

Result<CompensationBatch> HttpAppClient::compensations(const Call& call) {
  auto res = send("compensations", "GET", hooks_.compensations, "", call);
  if (!res) return std::unexpected(res.error());
  return parseCompensations(res->body);
}

Status HttpAppClient::ack(const std::vector<std::string>& ids, const Call& call) {
  json body = {{"ids", ids}};
  auto res = send("ack", "POST", hooks_.ack, body.dump(), call);
  if (!res) return std::unexpected(res.error());
  return {};
}

Status HttpAppClient::terminate(const Call& call) {
  auto res = send("terminate", "POST", hooks_.terminate, "{}", call, /*last_call=*/true);
  if (!res) return std::unexpected(res.error());
  return {};
}

}  // namespace lameduck::app
