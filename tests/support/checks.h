#pragma once

// Checks that fail the current test with a message instead of crashing it
// (a throwing json::parse, a dereferenced failed call): each reports what
// was asked, the error or the HTTP status and the start of the body, and
// gives nullopt, so that the caller stops with ASSERT_TRUE on the result:
//
//   auto r = d.admin("/prestop");
//   auto summary = jsonBody(r, "GET /prestop");
//   ASSERT_TRUE(summary);  // the failure above says why
//
// Header-only (GoogleTest's ADD_FAILURE): the support library itself does
// not link GoogleTest, the benchmarks and the kubelet stand-in use it too.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "common/error.h"
#include "http/http.h"

namespace lameduck::testing {

// `text` parsed as JSON. Text that is not JSON fails the current test with
// `what` and the first 500 bytes of the text.
inline std::optional<nlohmann::json> parseJson(std::string_view text, std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << what << ": not JSON: " << text.substr(0, 500);
    return std::nullopt;
  }
  return j;
}

// The JSON body of an HTTP answer, whatever its status. A failed call (its
// error) or a body that is not JSON (the status and the body) fails the
// current test with `what`.
inline std::optional<nlohmann::json> jsonBody(const Result<http::ClientResponse>& r,
                                              std::string_view what) {
  if (!r) {
    ADD_FAILURE() << what << " failed: " << r.error().message;
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << what << " answered " << r->status
                  << " with a body that is not JSON: " << r->body.substr(0, 500);
    return std::nullopt;
  }
  return j;
}

}  // namespace lameduck::testing
