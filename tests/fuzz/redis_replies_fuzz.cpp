// libFuzzer target: what Redis answers, as RESP bytes (redis/redis_client.h,
// parseReply: hiredis's reader and the conversion every command's reply goes
// through), read as each exit-ordering script's answer (coord/redis_backend.h)
// and as a stream entry (redis::fieldsOf, what the compensator reads). Redis
// is a peer: a wrong or hostile server may answer anything. Properties: never
// crashes or throws; an accepted pod list is sorted and names a pod in every
// entry; a taken slot has no holders.
// Built by the fuzz preset, run by tests/fuzz/run (`tests/fuzz/run redis_replies`).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "coord/redis_backend.h"
#include "redis/redis_client.h"

namespace {

void readAsStreamEntries(const lameduck::redis::RedisReply& reply, int depth) {
  (void)lameduck::redis::fieldsOf(reply);
  if (depth == 0) return;
  for (const auto& e : reply.elements) readAsStreamEntries(e, depth - 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lameduck;
  auto reply = redis::parseReply(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!reply) return 0;
  if (auto pods = coord::podsFromReply(*reply)) {
    for (size_t i = 0; i < pods->size(); ++i) {
      if ((*pods)[i].pod.empty()) std::abort();
      if (i > 0 && (*pods)[i].pod < (*pods)[i - 1].pod) std::abort();
    }
  }
  if (auto slot = coord::slotAttemptFromReply(*reply); slot && slot->acquired) {
    if (!slot->holders.empty()) std::abort();
  }
  (void)coord::renewalFromReply(*reply);
  // XREADGROUP / XAUTOCLAIM: [[stream, [[id, [f, v, ...]], ...]]] and
  // [cursor, [[id, [f, v, ...]], ...], ...]: every level may be an entry.
  readAsStreamEntries(*reply, 4);
  return 0;
}
