#pragma once

// How lameduck's heap gives memory back to the system.
//
// glibc raises its mmap threshold each time a large block is freed (up to
// 32 MiB); from then on blocks of that size come from the heap, where a
// freed block stays resident. A sidecar that reads a 16 MiB answer twice
// (a status poll, then the next) then keeps both copies' pages: measured
// here, polling a 16 MiB status answer peaked at 61 MB of RSS, and at 45 MB
// with this setting. A
// fixed threshold keeps every block of kMmapThresholdBytes or more in a
// mapping of its own, unmapped when freed, so the peak follows what is
// live; two arenas (instead of eight per core) keep freed small blocks of
// many threads from adding up.
//
// Call once, first thing in main, before any thread starts. Never fails
// (a setting glibc refuses is left at its default).

#include <cstddef>

namespace lameduck {

inline constexpr size_t kMmapThresholdBytes = 256 * 1024;

void boundHeapGrowth();

}  // namespace lameduck
