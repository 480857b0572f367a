#pragma once

// The service-account bearer token, read from its file and re-read when the
// file changes. Bound service-account tokens expire (the kubelet rotates
// them about hourly by swapping the projected volume's files), so a token
// read at start-up cannot be kept for the pod's lifetime.

#include <sys/types.h>

#include <ctime>
#include <mutex>
#include <string>

#include "common/error.h"

namespace lameduck::kube {

// Thread-safe.
class TokenFile {
 public:
  explicit TokenFile(std::string path);

  // The token, surrounding whitespace removed. Re-read when the file's
  // identity (device, inode, size, modification time) differs from the last
  // read; a stat() per call, a read only after a change. When the file
  // cannot be read but a token was read before, that token is kept (logged
  // at warn). Fails with kFailedPrecondition naming the path when there is
  // no token at all (missing, unreadable or empty file).
  Result<std::string> current();

  // Reads the file now whatever stat() says: after a 401, in case the token
  // changed without its size or timestamp changing.
  Result<std::string> reload();

  const std::string& path() const { return path_; }

 private:
  struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    timespec mtime{};
    bool operator==(const Identity& o) const;
  };
  Result<std::string> readLocked(const Identity& id);
  // The token read before (with a warning), or an error naming the problem.
  Result<std::string> unusableLocked(const std::string& problem);

  const std::string path_;
  std::mutex mu_;
  Identity seen_;
  std::string token_;
};

}  // namespace lameduck::kube
