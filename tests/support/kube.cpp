#include "support/kube.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>

namespace lameduck::testing {
namespace {

using json = nlohmann::json;

}  // namespace

KubeApiServer::KubeApiServer() {
  certs_ = makeCertificates(dir_, "apiserver", {"127.0.0.1", "localhost"});
  other_ca_file_ = makeCertificates(dir_, "other", {"127.0.0.1"}).ca_file;
  token_ = "token-0-" + std::to_string(monoNs());
  token_file_ = dir_.write("token", token_);
  process_ = std::make_unique<Process>(
      std::vector<std::string>{kubeApiServerBinary(), "--cert", certs_.cert_file, "--key",
                               certs_.key_file, "--token", token_},
      dir_.file("kube_apiserver.log"));
  auto line = waitForLine(
      process_->outputPath(), [](const json& j) { return j.value("event", "") == "listening"; },
      20s);
  if (!line) {
    throw std::runtime_error("kube_apiserver did not start: " + process_->output());
  }
  api_port_ = (*line)["api_port"].get<int>();
  control_port_ = (*line)["control_port"].get<int>();
}

KubeApiServer::~KubeApiServer() {
  if (process_ && process_->running()) {
    process_->signal(SIGTERM);
    process_->waitExit(10s);
  }
}

HttpUrl KubeApiServer::url() const {
  return HttpUrl{"https", "127.0.0.1", static_cast<uint16_t>(api_port_), ""};
}

config::KubernetesTrafficConfig KubeApiServer::trafficConfig(const kube::ObjectRef& ref) const {
  config::KubernetesTrafficConfig c;
  c.api_version = ref.api_version;
  c.kind = ref.kind;
  c.namespace_ = ref.namespace_;
  c.name = ref.name;
  c.resource = ref.resource;
  c.server = url();
  c.token_file = token_file_;
  c.ca_file = certs_.ca_file;
  return c;
}

kube::ClusterConfig KubeApiServer::clusterConfig() const {
  kube::ClusterConfig c;
  c.server = url();
  c.token_file = token_file_;
  c.ca_file = certs_.ca_file;
  return c;
}

Result<http::ClientResponse> KubeApiServer::control(const std::string& method,
                                                    const std::string& path,
                                                    const std::string& body) {
  http::Client client(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(control_port_), ""},
                      SystemClock::instance());
  return client.send(method, path, body, "application/json", {}, 10s);
}

Status KubeApiServer::controlOk(const std::string& method, const std::string& path,
                                const json& body) {
  auto r = control(method, path, body.dump());
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) {
    return makeError(ErrorCode::kBadResponse, method + " " + path + " on the test API server: " +
                                                  std::to_string(r->status) + " " + r->body);
  }
  return {};
}

Result<json> KubeApiServer::put(const kube::ObjectRef& ref, const json& object) {
  auto path = kube::restPath(ref);
  if (!path) return std::unexpected(path.error());
  auto r = control("PUT", "/objects?path=" + *path, object.dump());
  if (!r) return std::unexpected(r.error());
  if (r->status != 200) {
    return makeError(ErrorCode::kBadResponse,
                     "storing " + *path + ": " + std::to_string(r->status) + " " + r->body);
  }
  return json::parse(r->body);
}

Result<json> KubeApiServer::get(const kube::ObjectRef& ref) {
  auto path = kube::restPath(ref);
  if (!path) return std::unexpected(path.error());
  auto r = control("GET", "/objects?path=" + *path);
  if (!r) return std::unexpected(r.error());
  if (r->status == 404) return makeError(ErrorCode::kNotFound, *path + " is not stored");
  if (r->status != 200) {
    return makeError(ErrorCode::kBadResponse,
                     "reading " + *path + ": " + std::to_string(r->status) + " " + r->body);
  }
  return json::parse(r->body);
}

Status KubeApiServer::failNext(int count, int status, std::optional<int> retry_after_seconds) {
  json body = {{"count", count}, {"status", status}};
  if (retry_after_seconds) body["retry_after"] = std::to_string(*retry_after_seconds);
  return controlOk("POST", "/fail", body);
}

Status KubeApiServer::delayNext(int count, std::chrono::milliseconds delay) {
  return controlOk("POST", "/delay", {{"count", count}, {"ms", delay.count()}});
}

Status KubeApiServer::allowOnly(const std::vector<RbacRule>& rules) {
  json list = json::array();
  auto field = [](const std::vector<std::string>& v) { return v.empty() ? json() : json(v); };
  for (const RbacRule& r : rules) {
    list.push_back({{"verbs", field(r.verbs)},
                    {"apiGroups", field(r.api_groups)},
                    {"resources", field(r.resources)},
                    {"resourceNames", field(r.resource_names)},
                    {"namespaces", field(r.namespaces)}});
  }
  return controlOk("PUT", "/rbac", {{"rules", list}});
}

Status KubeApiServer::allowAll() { return controlOk("PUT", "/rbac", {{"rules", nullptr}}); }

Result<std::string> KubeApiServer::rotateToken() {
  const std::string token =
      "token-" + std::to_string(++rotations_) + "-" + std::to_string(monoNs());
  if (auto ok = acceptOnly(token); !ok) return std::unexpected(ok.error());
  const std::string next = dir_.write("token.next", token);
  if (std::rename(next.c_str(), token_file_.c_str()) != 0) {
    return makeError(ErrorCode::kInternal, "cannot replace " + token_file_);
  }
  return token;
}

Status KubeApiServer::acceptOnly(const std::string& token) {
  if (auto ok = controlOk("PUT", "/token", {{"token", token}}); !ok) return ok;
  token_ = token;
  return {};
}

Result<std::vector<ApiRequest>> KubeApiServer::requests() {
  auto r = control("GET", "/requests");
  if (!r) return std::unexpected(r.error());
  std::vector<ApiRequest> out;
  for (const json& j : json::parse(r->body)) {
    out.push_back(ApiRequest{j["mono_ns"].get<int64_t>(), j["method"], j["path"], j["content_type"],
                             j["body"], j["authorization"], j["status"].get<int>()});
  }
  return out;
}

Status KubeApiServer::clearRequests() { return controlOk("DELETE", "/requests", json::object()); }

std::string kubeApiServerBinary() { return KUBE_APISERVER_BIN; }

bool rewriteKeepingTimestamps(const std::string& path, const std::string& content) {
  struct stat before {};
  if (stat(path.c_str(), &before) != 0) return false;
  FILE* f = std::fopen(path.c_str(), "r+");
  if (f == nullptr) return false;
  const bool written = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  if (std::fclose(f) != 0 || !written) return false;
  const timespec times[2] = {before.st_atim, before.st_mtim};
  return utimensat(AT_FDCWD, path.c_str(), times, 0) == 0;
}

}  // namespace lameduck::testing
