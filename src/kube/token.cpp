#include "kube/token.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.h"

namespace lameduck::kube {
namespace {

std::string trimmed(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

bool TokenFile::Identity::operator==(const Identity& o) const {
  return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
         mtime.tv_nsec == o.mtime.tv_nsec;
}

TokenFile::TokenFile(std::string path) : path_(std::move(path)) {}

Result<std::string> TokenFile::current() {
  std::lock_guard lock(mu_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return unusableLocked(std::string("cannot be read (") + std::strerror(errno) + ")");
  }
  const Identity id{st.st_dev, st.st_ino, st.st_size, st.st_mtim};
  if (!token_.empty() && id == seen_) return token_;
  return readLocked(id);
}

Result<std::string> TokenFile::reload() {
  std::lock_guard lock(mu_);
  struct stat st {};
  Identity id;
  if (::stat(path_.c_str(), &st) == 0) id = Identity{st.st_dev, st.st_ino, st.st_size, st.st_mtim};
  return readLocked(id);
}

Result<std::string> TokenFile::readLocked(const Identity& id) {
  std::ifstream in(path_, std::ios::binary);
  std::stringstream buf;
  if (in) buf << in.rdbuf();
  if (!in || in.bad()) {
    return unusableLocked(std::string("cannot be read (") + std::strerror(errno) + ")");
  }
  std::string token = trimmed(buf.str());
  if (token.empty()) return unusableLocked("is empty");
  if (!token_.empty() && token != token_) {
    log::info("service-account token changed; using the new one", {{"token_file", path_}});
  }
  token_ = std::move(token);
  seen_ = id;
  return token_;
}

Result<std::string> TokenFile::unusableLocked(const std::string& problem) {
  if (!token_.empty()) {
    log::warn("service-account token file " + problem + "; keeping the token read before",
              {{"token_file", path_}});
    return token_;
  }
  return makeError(ErrorCode::kFailedPrecondition,
                   "service-account token file " + path_ + " " + problem);
}

}  // namespace lameduck::kube
