#pragma once

// Checks of what lameduck puts on the wire of an outgoing HTTP request. Any
// part may come from outside (a stream entry's id becomes the
// Idempotency-Key header, a config value a header or a path), and a CR or LF
// in it would end the header early: an attacker could add headers or smuggle
// a second request on the same connection. Pure functions, thread-safe.

#include <string_view>

#include "common/error.h"
#include "http/http.h"

namespace lameduck::http {

// ok when every header name is an RFC 9110 token and no value holds CR, LF
// or NUL. The error names the header, never its value (it may be a secret):
//   header "Idempotency-Key": the value contains CR, LF or NUL; refused
Status checkHeaders(const Headers& headers);

// ok when the method is a token and the request target holds no space,
// CR, LF, NUL or other control character.
Status checkRequestLine(std::string_view method, std::string_view target);

}  // namespace lameduck::http
