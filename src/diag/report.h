#pragma once

// What a goroutine dump says about an app that did not finish: the
// goroutines that were already there at the baseline dump and are still
// parked, grouped by where the app's own code waits.
//
// Rules (docs/diagnosis.md explains them to users):
// - Only goroutines present in the baseline (by id) are reported: work that
//   started during the drain, or the app's own shutdown code, is not what
//   held the drain up. Without a baseline every goroutine is a candidate.
// - A goroutine "running" or "runnable" is not parked and is left out.
// - Left out: the runtime's own goroutines (every frame in the runtime and
//   the creator in the runtime), the pprof server's (a frame in
//   net/http/pprof or runtime/pprof: the goroutine serving the dump), and
//   goroutines that run standard-library code only — accept loops, idle
//   keep-alive connections, the signal handler — which end when their
//   server is shut down and are not the app's work.
// - A goroutine's function is its innermost frame outside the runtime and
//   the standard library. A function belongs to the standard library when
//   the first element of its package path has no dot and is one of Go's
//   standard top-level packages (net/http.(*conn).serve, time.Sleep,
//   sync.(*Mutex).Lock); `main.foo`, `example.com/x.F` and module paths
//   without a dot (`myapp/store.F`) are the app's.
// - Groups are keyed by (wait reason, function, file:line) and sorted by
//   count, then longest wait, then function.
//
// Thread-safety: free functions over values (nothing is kept), safe from
// any thread; they never fail.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diag/goroutines.h"

namespace lameduck::diag {

struct Group {
  int64_t count = 0;
  std::string wait_reason;
  int64_t minutes = 0;      // the longest wait in the group, in whole minutes
  std::string function;     // the app's innermost frame
  std::string location;     // its file:line
  std::string created_by;   // the function whose `go` statement started it ("" unknown)
  bool cancellable = true;  // see isCancellable
};

struct Report {
  std::string source;                          // the URL the dump came from
  std::optional<int64_t> goroutines_at_start;  // goroutines in the baseline; unset without one
  int64_t goroutines_at_end = 0;
  std::vector<Group> groups;
};

// Builds the report of `now` against `baseline` (nullptr: no baseline).
Report buildReport(const Dump* baseline, const Dump& now, std::string source);

// {"source", "goroutines_at_start" (null without a baseline),
//  "goroutines_at_end", "groups": [{"count", "wait_reason", "minutes",
//  "function", "location", "created_by", "cancellable"}]}
std::string renderJson(const Report& report);

// Whether a context cancel can wake a goroutine parked for `wait_reason`:
// false for sleep, IO wait, semacquire, the sync waits (sync.Mutex.Lock,
// sync.RWMutex.*, sync.WaitGroup.Wait, sync.Cond.Wait, any sync.*), syscall,
// operations on a nil channel and select (no cases); true for channel
// operations and select (one of its cases may be ctx.Done() or a channel the
// shutdown closes) and for reasons this version does not know.
bool isCancellable(std::string_view wait_reason);

// Whether `function` ("net/http.(*conn).serve") is in Go's standard
// library, including the runtime (rule above).
bool isStandardLibrary(std::string_view function);

// Whether `function` is in the runtime package ("runtime.gopark",
// "runtime/internal/atomic.Load").
bool isRuntime(std::string_view function);

}  // namespace lameduck::diag
