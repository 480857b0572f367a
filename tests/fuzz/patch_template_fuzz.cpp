// libFuzzer entry point for the Kubernetes backend's patch templates
// (traffic/kubernetes.h, renderPatch): the template comes from the config,
// the pod name and namespace from the pod's environment. Built by the fuzz
// preset, run by tests/fuzz/run (`tests/fuzz/run patch_template`).
// The input is split at NUL bytes: template, pod name, namespace; the
// template's first byte picks a merge or a JSON patch.
// Properties: never crashes, throws or recurses without bound; a rendered
// patch is JSON of the shape its type needs, and the API client's own
// bounds accept it.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_in.h"
#include "traffic/kubernetes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lameduck;
  if (size < 1) return 0;
  const config::PatchType type = data[0] & 1 ? config::PatchType::kJson : config::PatchType::kMerge;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> parts;
  while (parts.size() < 2) {
    const size_t nul = text.find('\0');
    if (nul == std::string_view::npos) break;
    parts.emplace_back(text.substr(0, nul));
    text.remove_prefix(nul + 1);
  }
  parts.emplace_back(text);
  parts.resize(3);
  const traffic::PatchValues values{static_cast<int64_t>(data[0] >> 1) % 101, parts[1], parts[2]};
  auto patch = traffic::renderPatch(parts[0], type, values);
  if (!patch) return 0;
  auto doc = JsonDoc::parse(*patch, "patch", {4 * 1024 * 1024, 64});
  if (!doc) return 0;  // the API client refuses it with a message, before sending
  if (type == config::PatchType::kMerge ? !doc->isObject() : !doc->isArray()) std::abort();
  return 0;
}
