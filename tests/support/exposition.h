#pragma once

// The text exposition of a registry, as /metrics serves it: what the tests
// of each component's metrics read. Header-only; the test links
// prometheus-cpp::core.

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <string>

namespace lameduck::testing {

inline std::string exposition(const prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

}  // namespace lameduck::testing
