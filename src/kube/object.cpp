#include "kube/object.h"

#include <algorithm>
#include <cctype>

namespace lameduck::kube {
namespace {

bool isVowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

// Empty when `value` can be one path segment; else why not.
std::string segmentProblem(const std::string& value) {
  if (value.empty()) return "must not be empty";
  if (value == "." || value == "..") return "\"" + value + "\" is not a name";
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '%' || c == '?' || c == '#' || std::isspace(u) || std::iscntrl(u)) {
      return "\"" + value + "\" contains '" + std::string(1, c) +
             "'; names are letters, digits, '-', '.' (and ':' for some kinds)";
    }
  }
  return "";
}

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
  auto bad = [&](const std::string& field, const std::string& why) {
    return makeError(ErrorCode::kInvalidArgument, "Kubernetes object " + field + ": " + why +
                                                      " (object " + ref.api_version + " " +
                                                      ref.kind + " \"" + ref.name + "\")");
  };
  const size_t slash = ref.api_version.find('/');
  const std::string group = ref.group();
  const std::string version =
      slash == std::string::npos ? ref.api_version : ref.api_version.substr(slash + 1);
  if (ref.api_version.empty()) return bad("apiVersion", "must not be empty");
  if (slash != std::string::npos &&
      (group.empty() || !segmentProblem(group).empty() || version.find('/') != std::string::npos))
    return bad("apiVersion", "\"" + ref.api_version + "\" is not v1 or group/version");
  if (auto why = segmentProblem(version); !why.empty()) return bad("apiVersion version", why);
  if (ref.resource.empty()) {
    if (ref.kind.empty()) return bad("kind", "must not be empty (or set resource)");
    if (!std::all_of(ref.kind.begin(), ref.kind.end(),
                     [](unsigned char c) { return std::isalnum(c); }))
      return bad("kind", "\"" + ref.kind + "\" must be letters and digits, like HTTPRoute");
  } else if (auto why = segmentProblem(ref.resource); !why.empty()) {
    return bad("resource", why);
  }
  if (auto why = segmentProblem(ref.name); !why.empty()) return bad("name", why);
  if (!ref.namespace_.empty()) {
    if (auto why = segmentProblem(ref.namespace_); !why.empty()) return bad("namespace", why);
  }

  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!ref.namespace_.empty()) path += "/namespaces/" + ref.namespace_;
  return path + "/" + pluralOf(ref) + "/" + ref.name;
}

}  // namespace lameduck::kube
