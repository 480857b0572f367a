// The message a configuration that must be refused is refused with.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace lameduck::testing {

// Parses `yaml` (with overrides `o`), expects it to fail and returns the
// error's message ("" when it parsed).
inline std::string errorOf(std::string_view yaml, const std::vector<config::Override>& o = {}) {
  auto c = config::parse(yaml, "test.yaml", o);
  EXPECT_FALSE(c.has_value()) << "expected an error for:\n" << yaml;
  return c ? "" : c.error().message;
}

}  // namespace lameduck::testing
