#pragma once

// A host name resolver for tests of clients that look names up (the HTTP
// client): it answers from a table, or blocks until released, so a test can
// give a name the addresses it likes or make a lookup hang.

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/resolve.h"

namespace lameduck::fakes {

// Answers from `table` (host → addresses in order), kUnavailable naming the
// host when it is not in the table. While hang(true) is in force a lookup
// blocks until hang(false): the test that hangs it must release it before
// the resolver goes (the abandoned lookup's thread holds a shared_ptr to it,
// so releasing it is enough). Thread-safe.
class FakeResolver final : public Resolver {
 public:
  explicit FakeResolver(std::map<std::string, std::vector<std::string>> table)
      : table_(std::move(table)) {}
  Result<std::vector<std::string>> resolve(const std::string& host) override;
  // Makes lookups block (on) or lets them, and those blocked, go on (off).
  void hang(bool on);
  // How many lookups have started.
  int lookups();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<std::string>> table_;
  bool hang_ = false;
  int lookups_ = 0;
};

}  // namespace lameduck::fakes
