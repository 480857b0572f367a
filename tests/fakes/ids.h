#pragma once

// The every-id-once check shared by the saga, hand-off and compensator
// tests: `ids` (id → how many stream entries carry it) holds exactly the
// ids "<prefix><first>".."<prefix><first+n-1>", each once. Fails the
// current test with the missing or doubled ids named.

#include <map>
#include <string>

namespace lameduck::fakes {

void expectEveryIdOnce(const std::map<std::string, int>& ids, int n,
                       const std::string& prefix = "c-", int first = 0);

}  // namespace lameduck::fakes
