#pragma once

// Helpers for the summary sections each component renders as JSON: times in
// milliseconds rounded to the microsecond, and optional values as null.
// Include only from a .cpp that renders a section (it pulls in nlohmann).
//
// Thread-safety: pure functions over values, callable from any thread;
// they never fail.

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/clock.h"

namespace lameduck::report_json {

using nlohmann::ordered_json;

inline double ms(Duration d) { return std::round(toMillis(d) * 1000.0) / 1000.0; }

template <typename T>
ordered_json opt(const std::optional<T>& v) {
  return v ? ordered_json(*v) : ordered_json(nullptr);
}

inline ordered_json optMs(const std::optional<Duration>& d) {
  return d ? ordered_json(ms(*d)) : ordered_json(nullptr);
}

}  // namespace lameduck::report_json
