#pragma once

// Kubernetes backend: PATCHes the configured object through the API server
// (traffic.kubernetes) with a merge or JSON patch rendered from a template.
// Owns its API client; used by the shift step on the exit thread only.

#include <memory>

#include "config/config.h"
#include "config/rules.h"
#include "kube/client.h"
#include "traffic/backend.h"

namespace lameduck::traffic {

using PatchValues = config::PatchValues;

// config::renderPatchTemplate (the rule the config loader checks the template with)
// with "traffic.kubernetes.patch: " before its errors, for the exit report.
Result<std::string> renderPatch(const std::string& patch_template, config::PatchType type,
                                const PatchValues& values);

// The detail of a weight change the API server accepted: the object and,
// when its answer (the patched object) carries one, its
// metadata.resourceVersion (at most 64 characters of it). The answer is
// outside input: bounded in size (4 MiB) and depth (64), types checked;
// anything else is ignored, never thrown. Exposed for fuzzing.
std::string describePatched(const kube::ObjectRef& ref, std::string_view answer);

// Each weight change is one PATCH of the configured object; the API
// client retries 409, 429 (Retry-After), 5xx and timeouts within the
// change's timeout, and names the verb and resource the Role must grant on
// 401/403. Transient failures come back as kUnavailable/kDeadlineExceeded,
// so the shift retries them too.
class KubernetesBackend final : public Backend {
 public:
  // Copies `config` and `cluster`; `clock` must outlive the backend (its
  // API client borrows it too).
  KubernetesBackend(const config::KubernetesTrafficConfig& config, kube::ClusterConfig cluster,
                    std::string pod, std::string pod_namespace, Clock& clock);
  std::string_view name() const override { return "kubernetes"; }
  Result<std::string> setWeight(int64_t percent, Duration timeout) override;

 private:
  config::KubernetesTrafficConfig config_;
  kube::ObjectRef ref_;
  std::string pod_;
  std::string namespace_;
  Clock& clock_;
  kube::Client client_;
};

}  // namespace lameduck::traffic
