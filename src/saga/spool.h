#pragma once

// The local spool: an append-only file of compensation records, one JSON
// object per line, used when Redis cannot take them. Appends are fsync'd
// before they return, so a record the app is acked for survives a crash. A
// last line torn by a crash during an append is detected and skipped (its
// records were never acked). Replay rewrites the file with only what Redis
// did not confirm. Appends and replays, in this process or another (the
// `lameduck spool replay` command), are serialised by an flock.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "saga/record.h"

namespace lameduck::saga {

struct SpoolContents {
  std::vector<CompensationRecord> records;
  std::vector<std::string> unreadable;  // whole lines that do not parse; kept on replay
  int64_t torn_lines = 0;               // a cut-off last line
};

class Spool {
 public:
  explicit Spool(std::string dir);

  const std::string& path() const { return path_; }

  // Appends and fsyncs (the file, and the directory when the file is new).
  Status append(const std::vector<CompensationRecord>& records);
  Result<SpoolContents> read() const;

  // Hands every spooled record to `write`, which returns the ids that are
  // now safely elsewhere; the spool keeps the rest (and unreadable lines).
  // Returns how many records were handed off.
  using Writer = std::function<std::vector<std::string>(const std::vector<CompensationRecord>&)>;
  Result<int64_t> replay(const Writer& write);

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace lameduck::saga
