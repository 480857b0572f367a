#include "kube/object.h"

#include <algorithm>
#include <cctype>

#include "config/rules.h"

namespace lameduck::kube {
namespace {

bool isVowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

}  // namespace

std::string ObjectRef::group() const {
  const size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

std::string ObjectRef::groupResource() const {
  const std::string g = group();
  return g.empty() ? pluralOf(*this) : pluralOf(*this) + "." + g;
}

std::string ObjectRef::describe() const {
  std::string out = groupResource() + " \"" + name + "\"";
  if (!namespace_.empty()) out += " in namespace \"" + namespace_ + "\"";
  return out;
}

ObjectRef objectRef(const config::KubernetesTrafficConfig& cfg) {
  return ObjectRef{cfg.api_version, cfg.kind, cfg.namespace_, cfg.name, cfg.resource};
}

std::string pluralOf(const ObjectRef& ref) {
  if (!ref.resource.empty()) return ref.resource;
  std::string s = ref.kind;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s.empty()) return s;
  // The API server's own rule leaves these alone (Endpoints is already plural).
  if (s.ends_with("endpoints")) return s;
  if (s.ends_with("s") || s.ends_with("x") || s.ends_with("z") || s.ends_with("ch") ||
      s.ends_with("sh"))
    return s + "es";
  // NetworkPolicy → networkpolicies, but Gateway → gateways.
  if (s.ends_with("y") && s.size() > 1 && !isVowel(s[s.size() - 2]))
    return s.substr(0, s.size() - 1) + "ies";
  return s + "s";
}

Result<std::string> restPath(const ObjectRef& ref) {
  // The config loader applies the same rules to traffic.kubernetes; these
  // guard references made elsewhere.
  auto bad = [&](const std::string& field, const Error& why) {
    return makeError(ErrorCode::kInvalidArgument, "Kubernetes object " + field + ": " +
                                                      why.message + " (object " + ref.api_version +
                                                      " " + ref.kind + " \"" + ref.name + "\")");
  };
  if (auto ok = config::checkApiVersion(ref.api_version); !ok) return bad("apiVersion", ok.error());
  if (ref.resource.empty()) {
    if (auto ok = config::checkKind(ref.kind); !ok) return bad("kind", ok.error());
  } else if (auto ok = config::checkObjectName(ref.resource); !ok) {
    return bad("resource", ok.error());
  }
  if (auto ok = config::checkObjectName(ref.name); !ok) return bad("name", ok.error());
  if (!ref.namespace_.empty()) {
    if (auto ok = config::checkObjectName(ref.namespace_); !ok) return bad("namespace", ok.error());
  }
  const size_t slash = ref.api_version.find('/');
  const std::string group = ref.group();
  const std::string version =
      slash == std::string::npos ? ref.api_version : ref.api_version.substr(slash + 1);

  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!ref.namespace_.empty()) path += "/namespaces/" + ref.namespace_;
  return path + "/" + pluralOf(ref) + "/" + ref.name;
}

}  // namespace lameduck::kube
