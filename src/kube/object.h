#pragma once

// Which Kubernetes object lameduck talks about, and where it lives in the
// REST API. No I/O here: these are pure functions over the reference.
//
// Thread-safety: pure functions, callable from any thread.

#include <string>

#include "common/error.h"
#include "config/config.h"

namespace lameduck::kube {

// One object: its type (apiVersion + kind, or an explicit plural resource
// name), and where it is (namespace, empty for cluster-scoped objects; name).
struct ObjectRef {
  std::string api_version;  // "v1" (core) or "group/version"
  std::string kind;         // "Ingress"
  std::string namespace_;   // empty: cluster-scoped
  std::string name;
  std::string resource;  // plural override for irregular CRDs; empty: derived from kind

  // The API group: "" for the core group, else the part before '/'.
  std::string group() const;
  // "ingresses.networking.k8s.io" (group-qualified plural, as RBAC and the
  // API server's messages name it); "services" for the core group.
  std::string groupResource() const;
  // `ingresses.networking.k8s.io "app-canary" in namespace "default"`, for messages.
  std::string describe() const;
};

// The reference a traffic config points at.
ObjectRef objectRef(const config::KubernetesTrafficConfig& cfg);

// The plural resource name: `resource` when set, else derived from `kind`
// the way the API server names built-in and conventional CRD resources
// (Ingress → ingresses, NetworkPolicy → networkpolicies, Endpoints →
// endpoints, Gateway → gateways, HTTPRoute → httproutes). CRDs with an
// irregular plural need the override.
std::string pluralOf(const ObjectRef& ref);

// The object's REST path:
//   core, namespaced:      /api/v1/namespaces/<ns>/<plural>/<name>
//   grouped, namespaced:   /apis/<group>/<version>/namespaces/<ns>/<plural>/<name>
//   cluster-scoped:        the same without namespaces/<ns>
// Fails with kInvalidArgument naming the field when apiVersion, kind, name,
// namespace or resource breaks its rule in config/rules.h (the rules the
// config loader applies to traffic.kubernetes): empty where required, or
// characters that cannot be a path segment (/, %, ?, #, whitespace, "." or
// "..").
Result<std::string> restPath(const ObjectRef& ref);

}  // namespace lameduck::kube
