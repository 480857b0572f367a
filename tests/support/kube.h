#pragma once

// The test Kubernetes API server (tests/fixtures/kube_apiserver.cpp) as a
// fixture: its own CA and certificate, a token file, the process on free
// loopback ports, and helpers that steer it through its control port.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/parse.h"
#include "config/config.h"
#include "kube/client.h"
#include "kube/object.h"
#include "support/harness.h"
#include "support/tls.h"

namespace lameduck::testing {

// One RBAC rule as the test server applies it; an empty list matches all.
struct RbacRule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;
  std::vector<std::string> resource_names;
  std::vector<std::string> namespaces;
};

// One API request as the test server saw it.
struct ApiRequest {
  int64_t mono_ns = 0;  // CLOCK_MONOTONIC at arrival (testing::monoNs())
  std::string method;
  std::string path;
  std::string content_type;
  std::string body;
  std::string authorization;  // the whole header, "Bearer ..."
  int status = 0;             // 0 while still being handled
};

// Not thread-safe; one test drives it. The destructor stops the server
// (SIGTERM, then SIGKILL after 10 s).
class KubeApiServer {
 public:
  // Generates the certificates and token, starts the server and waits (at
  // most 20 s) until it listens. Throws std::runtime_error when it cannot.
  KubeApiServer();
  ~KubeApiServer();
  KubeApiServer(const KubeApiServer&) = delete;
  KubeApiServer& operator=(const KubeApiServer&) = delete;

  HttpUrl url() const;  // https://127.0.0.1:<port>
  int apiPort() const { return api_port_; }
  const std::string& caFile() const { return certs_.ca_file; }
  // A CA that did not sign the server's certificate.
  const std::string& otherCaFile() const { return other_ca_file_; }
  const std::string& tokenFile() const { return token_file_; }
  const std::string& token() const { return token_; }

  // A traffic config for `ref` that reaches this server (server, token_file,
  // ca_file set), and the matching cluster config.
  config::KubernetesTrafficConfig trafficConfig(const kube::ObjectRef& ref) const;
  kube::ClusterConfig clusterConfig() const;

  // Stores `object` at `ref`'s REST path (created or replaced; the server
  // sets resourceVersion, uid, generation). Needs apiVersion, kind and
  // metadata.name/namespace matching `ref`.
  Result<nlohmann::json> put(const kube::ObjectRef& ref, const nlohmann::json& object);
  // The stored object; kNotFound when there is none.
  Result<nlohmann::json> get(const kube::ObjectRef& ref);
  // The next `count` API requests that pass authentication and RBAC are
  // answered `status` (with Retry-After when given).
  Status failNext(int count, int status, std::optional<int> retry_after_seconds = std::nullopt);
  // The next `count` API requests wait `delay` before being handled (cut
  // short when the server stops).
  Status delayNext(int count, std::chrono::milliseconds delay);
  // Only requests matching one of `rules` pass; others get 403.
  Status allowOnly(const std::vector<RbacRule>& rules);
  Status allowAll();
  // A new token: the server accepts only it from now on, and the token file
  // is replaced by rename as the kubelet does. Returns the new token.
  Result<std::string> rotateToken();
  // The server accepts only `token`; the token file is left alone.
  Status acceptOnly(const std::string& token);
  // Every API request so far, in arrival order.
  Result<std::vector<ApiRequest>> requests();
  Status clearRequests();

 private:
  Result<http::ClientResponse> control(const std::string& method, const std::string& path,
                                       const std::string& body = "");
  Status controlOk(const std::string& method, const std::string& path, const nlohmann::json& body);

  TempDir dir_;
  TestCertificates certs_;
  std::string other_ca_file_;
  std::string token_file_;
  std::string token_;
  int rotations_ = 0;
  std::unique_ptr<Process> process_;
  int api_port_ = 0;
  int control_port_ = 0;
};

std::string kubeApiServerBinary();

// Overwrites `path` in place (same inode) with `content` and puts its
// modification time back, so that stat() cannot tell it changed when the
// size is the same: a token rotated "invisibly". False on any failure.
bool rewriteKeepingTimestamps(const std::string& path, const std::string& content);

}  // namespace lameduck::testing
