#pragma once

// A parser for Go goroutine dumps in the text format of
// `/debug/pprof/goroutine?debug=2` (the same text as a crash traceback), as
// printed by Go 1.19 to current:
//
//   goroutine 18 [chan receive, 5 minutes, locked to thread]:
//   goroutine 1 gp=0xc000002380 m=0 mp=0x5f0ea0 [running]:
//   main.handler(0xc000012345, {0x6f8162?, 0x1})       a frame: function(args)
//   	/app/main.go:42 +0x1d                           its file:line (+pc offset optional)
//   net/http.(*conn).serve(...)                        an inlined frame
//   ...12 frames elided...                             (or ...additional frames elided...)
//   created by net/http.(*Server).Serve in goroutine 1 (Go >= 1.21: "in goroutine N")
//   	/usr/lib/go/src/net/http/server.go:3102 +0x4db
//   [originating from goroutine 5]:                    an ancestor block
//   (GODEBUG=tracebackancestors)
//
// Goroutines are separated by blank lines. A wait reason the parser does not
// know is kept as text; a line it does not understand inside a goroutine is
// counted and skipped. Input is hostile: every size is bounded by Limits and
// the parser never throws and never reads past the text it was given.
//
// Thread-safety: free functions over values; safe from any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace lameduck::diag {

struct Frame {
  std::string function;  // "net/http.(*conn).serve", "main.main.func1"
  std::string file;      // "/app/main.go"; empty when the tab line was missing
  int64_t line = 0;      // 0 when unknown
  // "file:line", or "" when the file is unknown.
  std::string location() const;
};

struct Goroutine {
  int64_t id = 0;
  // The wait reason or state as printed: "running", "sleep", "IO wait",
  // "chan receive (nil chan)", "sync.Mutex.Lock", or any text Go adds later.
  std::string wait_reason;
  int64_t wait_minutes = 0;  // 0 when the header has no ", N minutes"
  bool locked_to_thread = false;
  std::vector<Frame> frames;  // innermost first
  // Frames Go left out ("...N frames elided..."; "additional" counts as 1)
  // plus the frames over Limits::max_frames.
  int64_t elided_frames = 0;
  std::optional<Frame> created_by;              // function and the file:line of the `go` statement
  std::optional<int64_t> created_in_goroutine;  // Go >= 1.21 "in goroutine N"
  std::vector<int64_t> ancestors;               // ids of "[originating from goroutine N]" blocks
};

struct Dump {
  std::vector<Goroutine> goroutines;  // in the order of the text
  // Set when the text had more goroutines than Limits::max_goroutines; the
  // rest were not read.
  bool truncated = false;
  // Lines inside goroutine blocks that matched no known form, skipped.
  int64_t unknown_lines = 0;
};

struct Limits {
  size_t max_bytes = 16 << 20;      // a longer text is refused, not cut
  size_t max_goroutines = 100'000;  // more: `truncated`, the rest ignored
  size_t max_frames = 256;          // per goroutine; more: counted in elided_frames
  size_t max_line = 64 << 10;       // longer lines are cut to this for parsing
  size_t max_ancestors = 64;        // per goroutine
};

// Parses a whole dump. Fails with kBadResponse when the text is larger than
// limits.max_bytes (the message names the size and the bound), when it is
// the `?debug=1` format (no wait reasons: it says to use ?debug=2), or when
// it holds no goroutine header at all (the message quotes the start of the
// text, cut to 80 printable characters). Never throws.
Result<Dump> parseGoroutines(std::string_view text, const Limits& limits = {});

// The pieces of a header line "goroutine N [...]:" (nullopt when `line` is
// not one). Exposed for the tests.
std::optional<Goroutine> parseHeader(std::string_view line);

}  // namespace lameduck::diag
