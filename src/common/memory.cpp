#include "common/memory.h"

#include <malloc.h>

namespace lameduck {

void boundHeapGrowth() {
  // Setting the threshold also turns off glibc's dynamic adjustment of it
  // and of the trim threshold.
  (void)::mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes));
  (void)::mallopt(M_ARENA_MAX, 2);
}

}  // namespace lameduck
