#pragma once

// Validity rules of config values that other components apply too. The
// config loader refuses a config that breaks one of them (with the key's
// position); a component that gets such a value from elsewhere (the
// Kubernetes client's ObjectRef, a patch body) calls the same function, so
// each rule lives here once. Messages name the bad value and what is
// accepted, but not the key: the caller says which key or field it is.
//
// Thread-safety: pure functions, callable from any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "config/config.h"

namespace lameduck::config {

// "v1" (the core API) or "group/version" (networking.k8s.io/v1), lower case.
Status checkApiVersion(std::string_view api_version);
// A Kubernetes kind: letters and digits (HTTPRoute).
Status checkKind(std::string_view kind);
// An object name, namespace or plural resource: one REST path segment (no
// '/', '%', '?', '#', white space or control characters; not "." or "..").
Status checkObjectName(std::string_view name);

// The values a patch template's placeholders are filled with.
struct PatchValues {
  int64_t weight = 0;
  std::string pod_name;
  std::string namespace_;
};

// Replaces {{weight}}, {{inverse_weight}} (100 - weight), {{pod_name}} and
// {{namespace}} (spaces inside the braces allowed) and checks the result with
// checkPatchBody. Errors name the unknown placeholder, the unclosed "{{" or
// the JSON problem (kInvalidArgument).
Result<std::string> renderPatchTemplate(std::string_view patch_template, PatchType type,
                                const PatchValues& values);
// A patch body of the right shape: bounded JSON (4 MiB, 64 levels), an
// object for a merge patch, an array of operations that each have "op" and
// "path" for a JSON patch. kInvalidArgument quoting the start of the body.
Status checkPatchBody(std::string_view body, PatchType type);

// kFailedPrecondition "compensation.redis.address: not set; <who> needs
// Redis (...)" when `redis` has no address; the commands and components that
// cannot work without Redis call this rather than word the rule themselves.
Status requireRedisAddress(const RedisConfig& redis, std::string_view who);

// A unix socket path that fits a sockaddr_un (at most 107 bytes), absolute.
Status checkUnixSocketPath(std::string_view path);

}  // namespace lameduck::config
