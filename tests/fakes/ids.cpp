#include "fakes/ids.h"

#include <gtest/gtest.h>

namespace lameduck::fakes {

void expectEveryIdOnce(const std::map<std::string, int>& ids, int n, const std::string& prefix,
                       int first) {
  EXPECT_EQ(ids.size(), static_cast<size_t>(n)) << "distinct ids in the stream";
  int missing = 0, doubled = 0;
  std::string examples;
  for (int i = first; i < first + n; ++i) {
    const std::string id = prefix + std::to_string(i);
    auto it = ids.find(id);
    if (it == ids.end() || it->second != 1) {
      (it == ids.end() ? missing : doubled)++;
      if (examples.size() < 200) {
        examples += " " + id + "×" + std::to_string(it == ids.end() ? 0 : it->second);
      }
    }
  }
  EXPECT_EQ(missing, 0) << "ids missing:" << examples;
  EXPECT_EQ(doubled, 0) << "ids written more than once:" << examples;
}

}  // namespace lameduck::fakes
