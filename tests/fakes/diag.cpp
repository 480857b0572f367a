#include "fakes/diag.h"

namespace lameduck::fakes {

Result<diag::Dump> FakeDumpSource::fetch(Duration timeout) {
  timeouts.push_back(timeout);
  if (timeouts.size() > answers.size()) {
    return makeError(ErrorCode::kUnavailable, "no more answers");
  }
  return answers[timeouts.size() - 1];
}

std::string FakeDumpSource::source() const {
  return "http://127.0.0.1:6060/debug/pprof/goroutine?debug=2";
}

}  // namespace lameduck::fakes
