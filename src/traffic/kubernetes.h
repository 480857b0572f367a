#pragma once

// Kubernetes backend: PATCHes the configured object through the API server
// (traffic.kubernetes) with a merge or JSON patch rendered from a template.

#include <memory>

#include "config/config.h"
#include "traffic/backend.h"

namespace lameduck::traffic {

struct PatchValues {
  int64_t weight = 0;
  std::string pod_name;
  std::string namespace_;
};

// Replaces {{weight}}, {{inverse_weight}} (100 - weight), {{pod_name}} and
// {{namespace}} (spaces inside the braces allowed) and checks that the result
// is JSON of the right shape (an object for merge patches, an array of
// operations for JSON patches). Errors name the unknown placeholder or the
// JSON problem.
Result<std::string> renderPatch(const std::string& patch_template, config::PatchType type,
                                const PatchValues& values);

}  // namespace lameduck::traffic
