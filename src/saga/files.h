#pragma once

// The file operations the spool needs, behind a narrow interface so tests
// can swap in an in-memory file system with failure switches (a full disk,
// a failing fsync, a refused rename; tests/fakes/saga.h). PosixSpoolFiles is
// the real one.
//
// Errors: kNotFound (open for reading of a missing file), kUnavailable for
// every other failure of the operating system (the message names the call,
// the path and errno's text). Nothing throws.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace lameduck::saga {

// An open file. Not thread-safe: one owner. Closing (destruction) never
// fails visibly; durability comes from sync().
class SpoolFile {
 public:
  virtual ~SpoolFile() = default;
  virtual Result<int64_t> size() = 0;
  // Reads up to `n` bytes at `offset` into `buf`; 0 means end of file.
  virtual Result<size_t> readAt(int64_t offset, char* buf, size_t n) = 0;
  // Writes all of `data` at the end of the file. On failure a prefix of
  // `data` may have been written (as on a full disk): the caller decides
  // whether to truncate it away.
  virtual Status append(std::string_view data) = 0;
  // Cuts the file to `size` bytes.
  virtual Status truncate(int64_t size) = 0;
  // Makes everything written so far durable (fsync).
  virtual Status sync() = 0;
};

// An exclusive lock, held until destruction.
class SpoolLock {
 public:
  virtual ~SpoolLock() = default;
};

// Thread-safe (PosixSpoolFiles is stateless; fakes lock inside).
class SpoolFiles {
 public:
  enum class Mode {
    kRead,    // existing file, read only; kNotFound when missing
    kAppend,  // read and append; created (mode 0600) when missing
    kCreate,  // write; created or truncated to empty
  };

  virtual ~SpoolFiles() = default;
  virtual Status createDirs(const std::string& dir) = 0;
  virtual Result<bool> exists(const std::string& path) = 0;
  virtual Result<std::unique_ptr<SpoolFile>> open(const std::string& path, Mode mode) = 0;
  // Blocks until the exclusive lock on `path` (created when missing) is
  // held; serialises spool users across processes (flock).
  virtual Result<std::unique_ptr<SpoolLock>> lock(const std::string& path) = 0;
  // Atomically replaces `to` with `from`.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Removes `path`; a missing file is not an error.
  virtual Status remove(const std::string& path) = 0;
  // Makes the directory's entries (creations, renames, removals) durable.
  virtual Status syncDir(const std::string& dir) = 0;
};

class PosixSpoolFiles final : public SpoolFiles {
 public:
  Status createDirs(const std::string& dir) override;
  Result<bool> exists(const std::string& path) override;
  Result<std::unique_ptr<SpoolFile>> open(const std::string& path, Mode mode) override;
  Result<std::unique_ptr<SpoolLock>> lock(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status syncDir(const std::string& dir) override;

  // A process-wide instance; stateless, so sharing it is safe.
  static PosixSpoolFiles& instance();
};

}  // namespace lameduck::saga
