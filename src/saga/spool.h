#pragma once

// The local spool: an append-only file "<dir>/compensations.jsonl" of
// compensation records, one JSON object per line (toJsonLine), used when
// Redis cannot take them.
//
// Promises (see docs/compensation.md, "Spool durability"):
// - append() returns success only once every record, newline included, is
//   fsync'd (and the directory too when the file is new): a record the app
//   is acked for survives a crash or a power cut.
// - A record is only ever acked after a successful append, so a last line
//   without a newline (a torn tail: the disk filled up or the process died
//   during an append) was never acked. Before writing, append() cuts such a
//   tail back to the last complete line; if cutting fails it fences the
//   tail with a newline (the fragment then reads as one unreadable line)
//   and if that fails too it refuses to append. A new record is therefore
//   never glued onto a fragment.
// - A failed append (write or fsync) truncates the file back to where it
//   started, so what it wrote partly is never read as records later.
// - replay() hands the records to the stream in batches and keeps, in the
//   same order, what the stream did not confirm plus every unreadable line
//   (a batch ends early at an unreadable line, to keep that order); it drops
//   a torn tail. The report counts each kind. The file is replaced
//   atomically (write aside, fsync, rename, fsync the directory) and only
//   after the stream confirmed what is dropped. A replay that fails part-way
//   removes the file it was writing aside (the disk may be full).
// - Memory is bounded by one write buffer (64 KiB), one line and one replay
//   batch: neither append nor replay holds the whole file.
//
// Failure: every call returns an Error (kUnavailable from the file system)
// and then has changed nothing that was durable before.
//
// Thread-safety: appends and replays, in this process or another (the
// `lameduck spool replay` command), are serialised by an flock on
// "<dir>/.lock". The SpoolFiles given must outlive the Spool.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "saga/files.h"
#include "saga/record.h"

namespace lameduck::saga {

// Lines longer than this are unreadable: no record comes near it. A record
// holds one app entry, at most app::kMaxCompensationBytes of text (larger
// entries are refused when the app's answer is read), which its line escapes
// to at most twice that (JSON text inside a JSON string: each byte becomes at
// most two), plus the origin fields and the keys.
inline constexpr size_t kMaxSpoolLineBytes = 2 * app::kMaxCompensationBytes + 64 * 1024;

struct SpoolContents {
  std::vector<CompensationRecord> records;
  std::vector<std::string> unreadable;  // whole lines that do not parse; kept on replay
  int64_t torn_lines = 0;               // a cut-off last line (never acked)
};

// Counts only, from one streaming pass.
struct SpoolStats {
  int64_t records = 0;
  int64_t unreadable = 0;
  int64_t torn_lines = 0;
};

struct ReplayReport {
  int64_t handed = 0;      // confirmed by the stream, dropped from the spool
  int64_t kept = 0;        // readable records the stream did not confirm; still spooled
  int64_t unreadable = 0;  // lines that do not parse; kept in the spool for a person to read
  int64_t torn_lines = 0;  // a cut-off last line, dropped (never acked)
};

// What a replay batch writer reports back.
struct BatchOutcome {
  std::vector<std::string> confirmed;  // ids now safely in the stream
  bool keep_going = true;              // false: write no further batches (e.g. Redis is down)
};

class Spool {
 public:
  explicit Spool(std::string dir, SpoolFiles& files = PosixSpoolFiles::instance());

  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

  Status append(const std::vector<CompensationRecord>& records);

  // The whole spool in memory: for small spools and tests; scan() and
  // replay() stream instead.
  Result<SpoolContents> read() const;
  Result<SpoolStats> scan() const;
  // Complete non-empty lines, without parsing them (the spool-size metric).
  Result<int64_t> lineCount() const;

  // Hands the spooled records, `batch` at a time and in file order, to
  // `write`. See the header comment for what is kept.
  using BatchWriter = std::function<BatchOutcome(const std::vector<CompensationRecord>&)>;
  Result<ReplayReport> replay(const BatchWriter& write, size_t batch = 1000);

  // Torn tails cut back or fenced by append() since this object was made.
  int64_t tornTailsRepaired() const { return torn_repaired_.load(); }

 private:
  // Calls `line` for each complete line of `file`: its offset, its length
  // (without the newline) and its text, or nullopt when it is longer than
  // kMaxSpoolLineBytes. Returns the number of torn (unterminated) last lines.
  using LineFn =
      std::function<Status(int64_t offset, int64_t length, std::optional<std::string_view> text)>;
  static Result<int64_t> forEachLine(SpoolFile& file, const LineFn& line);
  // Opens the spool for reading; nullptr when there is none.
  Result<std::unique_ptr<SpoolFile>> openForReading() const;
  // Makes the file end in a newline (or be empty). Returns the size then.
  Result<int64_t> repairTail(SpoolFile& file);

  SpoolFiles& files_;
  std::string dir_;
  std::string path_;
  std::atomic<int64_t> torn_repaired_{0};
};

}  // namespace lameduck::saga
