#include "config/rules.h"

#include <sys/un.h>

#include <algorithm>
#include <cctype>

#include "common/json_in.h"

namespace lameduck::config {
namespace {

Status refuse(std::string message) {
  return makeError(ErrorCode::kInvalidArgument, std::move(message));
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool lowerDns(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

// A patch is small; a Kubernetes object is at most ~1.5 MB.
constexpr JsonLimits kPatchLimits{.max_bytes = 4 * 1024 * 1024, .max_depth = 64};

}  // namespace

Status checkApiVersion(std::string_view text) {
  if (text.empty()) {
    return refuse("must not be empty; expected v1 or group/version, e.g. networking.k8s.io/v1");
  }
  const size_t slash = text.find('/');
  const std::string_view version = slash == std::string_view::npos ? text : text.substr(slash + 1);
  const std::string_view group = slash == std::string_view::npos ? "" : text.substr(0, slash);
  if (lowerDns(version) && version.find('.') == std::string_view::npos &&
      (slash == std::string_view::npos || lowerDns(group)))
    return {};
  return refuse("invalid apiVersion " + quoted(text) +
                 "; expected v1 for the core API or group/version, e.g. networking.k8s.io/v1");
}

Status checkKind(std::string_view kind) {
  if (kind.empty()) return refuse("must not be empty; expected a kind like Ingress");
  if (std::all_of(kind.begin(), kind.end(), [](unsigned char c) { return std::isalnum(c); }))
    return {};
  return refuse("invalid kind " + quoted(kind) + "; kinds must be letters and digits, like HTTPRoute");
}

Status checkObjectName(std::string_view value) {
  if (value.empty()) return refuse("must not be empty");
  if (value == "." || value == "..") {
    return refuse(quoted(value) + " is not a name; names are letters, digits, '-' and '.'");
  }
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '%' || c == '?' || c == '#' || std::isspace(u) || std::iscntrl(u)) {
      return refuse(quoted(value) + " contains '" + std::string(1, c) +
                     "'; names are letters, digits, '-', '.' (and ':' for some kinds)");
    }
  }
  return {};
}

Result<std::string> renderPatchTemplate(std::string_view patch_template, PatchType type,
                                const PatchValues& values) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    const size_t open = patch_template.find("{{", pos);
    if (open == std::string_view::npos) break;
    const size_t close = patch_template.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return makeError(ErrorCode::kInvalidArgument, "\"{{\" at offset " + std::to_string(open) +
                                                        " is never closed with \"}}\"");
    }
    std::string name(patch_template.substr(open + 2, close - open - 2));
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    out.append(patch_template.substr(pos, open - pos));
    if (name == "weight") {
      out += std::to_string(values.weight);
    } else if (name == "inverse_weight") {
      out += std::to_string(100 - values.weight);
    } else if (name == "pod_name") {
      out += values.pod_name;
    } else if (name == "namespace") {
      out += values.namespace_;
    } else {
      return makeError(ErrorCode::kInvalidArgument,
                       "unknown placeholder {{" + name +
                           "}}; known: {{weight}}, {{inverse_weight}}, {{pod_name}}, {{namespace}}");
    }
    pos = close + 2;
  }
  out.append(patch_template.substr(pos));
  if (auto ok = checkPatchBody(out, type); !ok) return std::unexpected(ok.error());
  return out;
}

Status checkPatchBody(std::string_view body, PatchType type) {
  // The bounds come first (JsonDoc checks them before parsing): quoting a
  // bad operation back recurses as deep as the text nests.
  auto doc = JsonDoc::parse(body, "rendered patch", kPatchLimits);
  if (!doc) {
    return refuse(doc.error().message + "; " +
                   (type == PatchType::kJson ? "a JSON patch must be a JSON array of operations"
                                             : "a merge patch must be a JSON object"));
  }
  if (type == PatchType::kMerge) {
    if (doc->isObject()) return {};
    return refuse("a merge patch must be a JSON object, got " + quoteExcerpt(body, 200));
  }
  if (!doc->isArray()) {
    return refuse("a JSON patch must be a JSON array of operations, got " +
                   quoteExcerpt(body, 200));
  }
  auto ops = doc->elements();
  if (!ops) return refuse(ops.error().message);
  for (const JsonValue& op : *ops) {
    bool complete = op.isObject();
    if (complete) {
      auto o = op.optionalField("op");
      auto p = op.optionalField("path");
      complete = o && *o && p && *p;
    }
    if (!complete) {
      return refuse("every JSON patch operation needs \"op\" and \"path\", got " + op.text(200));
    }
  }
  return {};
}

Status requireRedisAddress(const RedisConfig& redis, std::string_view who) {
  if (redis.address) return {};
  return makeError(ErrorCode::kFailedPrecondition,
                   "compensation.redis.address: not set; " + std::string(who) +
                       " needs Redis: host:port (e.g. 127.0.0.1:6379) or unix:/path");
}

Status checkUnixSocketPath(std::string_view path) {
  constexpr size_t kMax = sizeof(sockaddr_un{}.sun_path) - 1;
  if (path.empty() || path.front() != '/') {
    return refuse("the socket path " + quoted(path) + " must be absolute, e.g. /run/haproxy.sock");
  }
  if (path.size() > kMax) {
    return refuse("the socket path is " + std::to_string(path.size()) + " bytes long; at most " +
                   std::to_string(kMax) + " fit a unix socket address");
  }
  return {};
}

}  // namespace lameduck::config
