// Fuzz target: what the Kubernetes API server sends back — an error answer
// (kube/client.h) and the patched object of an accepted weight change
// (traffic/kubernetes.h) — and the object references built from config
// text (kube/object.h). The input is split at the first NUL bytes: answer
// body, then apiVersion, kind, namespace, name. Never a crash or a throw;
// both descriptions, as the traffic section of the exit summary carries
// them, are JSON whatever the body.
// Built by the fuzz preset, run by tests/fuzz/run (`tests/fuzz/run kube_object`).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "kube/client.h"
#include "kube/object.h"
#include "traffic/kubernetes.h"
#include "traffic/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  while (parts.size() < 4) {
    size_t nul = text.find('\0');
    if (nul == std::string_view::npos) break;
    parts.emplace_back(text.substr(0, nul));
    text.remove_prefix(nul + 1);
  }
  parts.emplace_back(text);
  parts.resize(5);
  lameduck::kube::ObjectRef ref{parts[1], parts[2], parts[3], parts[4], ""};
  lameduck::traffic::TrafficReport report;
  report.steps.emplace_back();
  report.steps.back().detail = lameduck::kube::describeApiAnswer(403, parts[0]);
  report.steps.emplace_back();
  report.steps.back().detail = lameduck::traffic::describePatched(ref, parts[0]);
  const std::string section = lameduck::traffic::toJson(report);
  if (nlohmann::json::parse(section, nullptr, false).is_discarded()) std::abort();
  (void)lameduck::kube::restPath(ref);
  (void)lameduck::kube::pluralOf(ref);
  (void)ref.describe();
  return 0;
}
