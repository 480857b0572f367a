#include "fakes/saga.h"

#include <algorithm>
#include <charconv>

namespace lameduck::fakes {

std::vector<saga::CompensationRecord> makeRecords(int n, const std::string& prefix) {
  std::vector<saga::CompensationRecord> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    saga::CompensationRecord r;
    r.id = prefix + std::to_string(i);
    r.saga_id = "order-" + std::to_string(i);
    r.step = "payment";
    r.action = "refund";
    r.payload = "{\"amount\":" + std::to_string(i) + "}";
    r.service = "shop";
    r.namespace_ = "prod";
    r.pod = "shop-1";
    r.revision = "7";
    r.created_at = "2026-11-24T20:00:00.000Z";
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<app::Compensation> makeCompensations(int n, const std::string& prefix, int first) {
  std::vector<app::Compensation> out;
  for (int i = first; i < first + n; ++i) {
    out.push_back({prefix + std::to_string(i), "order-" + std::to_string(i), "payment", "refund",
                   "{\"amount\":" + std::to_string(i) + "}"});
  }
  return out;
}

// ---- FakeStreamConnector ----------------------------------------------------

class FakeSink final : public saga::StreamSink {
 public:
  explicit FakeSink(FakeStreamConnector& owner) : owner_(owner) {}
  saga::WriteResult write(const std::vector<saga::CompensationRecord>& records) override {
    if (broken_) {
      saga::WriteResult r;
      r.error = Error{ErrorCode::kUnavailable, "fake stream: connection lost"};
      return r;
    }
    return owner_.write(records, broken_);
  }
  bool broken() const override { return broken_; }

 private:
  FakeStreamConnector& owner_;
  bool broken_ = false;
};

Result<std::unique_ptr<saga::StreamSink>> FakeStreamConnector::connect(Duration timeout) {
  std::lock_guard lock(mu_);
  ++connects_;
  if (clock) clock->advance(std::min(connect_takes, timeout));
  if (wrong_password) {
    return makeError(ErrorCode::kPermissionDenied, "fake stream: authentication refused");
  }
  if (connect_error) return makeError(*connect_error, "fake stream: cannot connect (refused)");
  const bool gone = down_after_connects && connects_ > *down_after_connects;
  if (down || gone || fail_connects > 0) {
    if (fail_connects > 0) --fail_connects;
    return makeError(ErrorCode::kUnavailable, "fake stream: cannot connect (down)");
  }
  if (connect_takes > timeout) {
    return makeError(ErrorCode::kDeadlineExceeded, "fake stream: connect timed out");
  }
  return std::make_unique<FakeSink>(*this);
}

saga::WriteResult FakeStreamConnector::write(const std::vector<saga::CompensationRecord>& records,
                                             bool& broken) {
  std::lock_guard lock(mu_);
  ++writes_;
  if (clock) clock->advance(write_takes);
  saga::WriteResult out;
  if (down) {
    broken = true;
    out.error = Error{ErrorCode::kUnavailable, "fake stream: connection lost"};
    return out;
  }
  if (refuse_writes) {
    out.error = Error{ErrorCode::kBadResponse, "fake stream: ERR refused"};
    return out;
  }
  size_t limit = records.size();
  if (cut_next_write_after) {
    limit = std::min(limit, *cut_next_write_after);
    cut_next_write_after.reset();
    broken = true;
    out.error = Error{ErrorCode::kUnavailable, "fake stream: connection lost mid-batch"};
  } else if (close_after_next_write) {
    close_after_next_write = false;
    broken = true;  // the reply came, then the connection closed
  }
  for (size_t i = 0; i < limit; ++i) {
    const saga::CompensationRecord& r = records[i];
    if (count_[r.id]++ == 0) {
      stream_.push_back(r);
      ++out.written;
    } else {
      --count_[r.id];  // dedup: never a second entry
      ++out.duplicates;
    }
    out.confirmed.push_back(r.id);
  }
  return out;
}

std::map<std::string, int> FakeStreamConnector::entries() const {
  std::lock_guard lock(mu_);
  return count_;
}
std::vector<saga::CompensationRecord> FakeStreamConnector::records() const {
  std::lock_guard lock(mu_);
  return stream_;
}
int FakeStreamConnector::connects() const {
  std::lock_guard lock(mu_);
  return connects_;
}
int FakeStreamConnector::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}
bool FakeStreamConnector::has(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = count_.find(id);
  return it != count_.end() && it->second > 0;
}

// ---- MemorySpoolFiles -------------------------------------------------------

namespace {
std::unexpected<Error> fsError(const std::string& what, const std::string& path) {
  return makeError(ErrorCode::kUnavailable, what + " " + path + ": fake failure");
}
}  // namespace

class MemoryFile final : public saga::SpoolFile {
 public:
  MemoryFile(MemorySpoolFiles& fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  Result<int64_t> size() override {
    std::lock_guard lock(fs_.mu_);
    return static_cast<int64_t>(fs_.files_[path_].size());
  }
  Result<size_t> readAt(int64_t offset, char* buf, size_t n) override {
    std::lock_guard lock(fs_.mu_);
    if (fs_.fail_read) return fsError("cannot read", path_);
    const std::string& data = fs_.files_[path_];
    if (offset >= static_cast<int64_t>(data.size())) return size_t{0};
    const size_t got = std::min(n, data.size() - static_cast<size_t>(offset));
    std::copy_n(data.data() + offset, got, buf);
    return got;
  }
  Status append(std::string_view data) override {
    std::lock_guard lock(fs_.mu_);
    size_t fits = data.size();
    if (fs_.capacity) {
      const int64_t free_bytes = std::max<int64_t>(0, *fs_.capacity - fs_.usedLocked());
      fits = std::min<size_t>(fits, static_cast<size_t>(free_bytes));
    }
    fs_.files_[path_].append(data.substr(0, fits));
    if (fits < data.size()) {
      return makeError(ErrorCode::kUnavailable,
                       "cannot write " + path_ + ": No space left on device");
    }
    return {};
  }
  Status truncate(int64_t size) override {
    std::lock_guard lock(fs_.mu_);
    if (fs_.fail_truncate) return fsError("cannot truncate", path_);
    fs_.files_[path_].resize(static_cast<size_t>(size));
    return {};
  }
  Status sync() override {
    std::lock_guard lock(fs_.mu_);
    if (fs_.fail_sync) return fsError("cannot fsync", path_);
    ++fs_.syncs_;
    return {};
  }

 private:
  MemorySpoolFiles& fs_;
  std::string path_;
};

Status MemorySpoolFiles::createDirs(const std::string& dir) {
  std::lock_guard lock(mu_);
  dirs_.insert(dir);
  return {};
}
Result<bool> MemorySpoolFiles::exists(const std::string& path) {
  std::lock_guard lock(mu_);
  if (dirs_.count(path) > 0 || files_.count(path) > 0) return true;
  auto it = files_.lower_bound(path + "/");
  return it != files_.end() && it->first.starts_with(path + "/");
}
Result<std::unique_ptr<saga::SpoolFile>> MemorySpoolFiles::open(const std::string& path,
                                                                Mode mode) {
  std::lock_guard lock(mu_);
  if (fail_open) return fsError("cannot open", path);
  if (mode == Mode::kRead && !files_.count(path)) {
    return makeError(ErrorCode::kNotFound, "no spool file " + path);
  }
  if (mode == Mode::kCreate) files_[path].clear();
  if (mode == Mode::kAppend) files_[path];
  return std::make_unique<MemoryFile>(*this, path);
}
Result<std::unique_ptr<saga::SpoolLock>> MemorySpoolFiles::lock(const std::string&) {
  // The tests that use this fake have one spool user at a time.
  return std::make_unique<saga::SpoolLock>();
}
Status MemorySpoolFiles::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (fail_rename) return fsError("cannot rename " + from + " to", to);
  files_[to] = std::move(files_[from]);
  files_.erase(from);
  return {};
}
Status MemorySpoolFiles::remove(const std::string& path) {
  std::lock_guard lock(mu_);
  files_.erase(path);
  return {};
}
Status MemorySpoolFiles::syncDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (fail_dir_sync) return fsError("cannot fsync", dir);
  ++syncs_;
  return {};
}
std::string MemorySpoolFiles::content(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  return it == files_.end() ? "" : it->second;
}
void MemorySpoolFiles::setContent(const std::string& path, std::string content) {
  std::lock_guard lock(mu_);
  files_[path] = std::move(content);
}
bool MemorySpoolFiles::fileExists(const std::string& path) const {
  std::lock_guard lock(mu_);
  return files_.count(path) > 0;
}
int MemorySpoolFiles::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}
int64_t MemorySpoolFiles::usedLocked() const {
  int64_t used = 0;
  for (const auto& [path, data] : files_) used += static_cast<int64_t>(data.size());
  return used;
}

// ---- FakeAppClient ----------------------------------------------------------

FakeAppClient::FakeAppClient(std::vector<app::Compensation> pending) {
  int64_t pos = 0;
  for (app::Compensation& c : pending) pending_.emplace(pos++, std::move(c));
}

namespace {
// An app call that keeps to its timeout and would not make it: it costs the
// timeout and fails.
Status timedOut(SimulatedClock* clock, const app::Call& call, std::string_view what) {
  if (clock && call.timeout > Duration::zero()) clock->advance(call.timeout);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(call.timeout).count();
  return makeError(ErrorCode::kDeadlineExceeded, "fake app: no answer to " + std::string(what) +
                                                     " within " + std::to_string(ms) + " ms");
}
}  // namespace

Result<app::CompensationPage> FakeAppClient::fetch(const app::PageRequest& page,
                                                   const app::Call& call, bool paged) {
  std::lock_guard lock(mu_);
  requests_.push_back(page);
  const int fetch_no = static_cast<int>(requests_.size());
  if (honours_timeout && (call.timeout <= Duration::zero() || fetch_takes > call.timeout)) {
    return std::unexpected(timedOut(clock, call, "the compensations fetch").error());
  }
  if (clock) clock->advance(fetch_takes);
  if (fetch_error) return makeError(*fetch_error, "fake app: compensations hook failed");
  if (fail_fetch_of_page > 0 && fetch_no == fail_fetch_of_page) {
    return makeError(fail_fetch_code,
                     "fake app: fetching page " + std::to_string(fetch_no) + " failed");
  }
  app::CompensationPage out;
  if (paged && empty_page_with_next > 0 && fetch_no == empty_page_with_next) {
    out.next = "skip-" + std::to_string(fetch_no);
    return out;
  }
  const bool first = !page.after;
  if (first) {
    out.batch.rejected = rejected;
    out.batch.rejected_unlisted = rejected_unlisted;
  }
  int64_t after = -1;
  if (paged && page.after) {
    // A cursor this app never gave out reads as "from the start".
    const std::string& c = *page.after;
    if (std::from_chars(c.data(), c.data() + c.size(), after).ec != std::errc{}) after = -1;
  }
  auto it = pending_.upper_bound(after);
  int64_t last = after;
  for (; it != pending_.end(); ++it) {
    if (paged && page.limit > 0 && static_cast<int64_t>(out.batch.valid.size()) >= page.limit) {
      break;
    }
    out.batch.valid.push_back(it->second);
    last = it->first;
  }
  if (paged && it != pending_.end()) out.next = std::to_string(last);
  if (paged && stuck_cursor) out.next = stuck_cursor;
  largest_page_ = std::max(largest_page_, out.batch.valid.size());
  return out;
}

Result<app::CompensationBatch> FakeAppClient::compensations(const app::Call& call) {
  auto page = fetch({}, call, false);
  if (!page) return std::unexpected(page.error());
  return std::move(page->batch);
}

Result<app::CompensationPage> FakeAppClient::compensationsPage(const app::PageRequest& page,
                                                               const app::Call& call) {
  if (!pages) return AppClient::compensationsPage(page, call);
  return fetch(page, call, true);
}

Status FakeAppClient::ack(const std::vector<std::string>& ids, const app::Call& call) {
  if (on_ack) on_ack(ids);
  std::lock_guard lock(mu_);
  ++ack_calls_;
  if (honours_timeout && call.timeout <= Duration::zero()) return timedOut(clock, call, "the ack");
  if (ack_error) return makeError(*ack_error, "fake app: ack hook failed");
  if (fail_ack_call > 0 && ack_calls_ == fail_ack_call) {
    return makeError(ErrorCode::kUnavailable,
                     "fake app: ack call " + std::to_string(ack_calls_) + " failed");
  }
  std::set<std::string> done(ids.begin(), ids.end());
  for (auto it = pending_.begin(); it != pending_.end();) {
    it = done.count(it->second.id) ? pending_.erase(it) : std::next(it);
  }
  acked_.insert(acked_.end(), ids.begin(), ids.end());
  return {};
}

std::vector<std::string> FakeAppClient::acked() const {
  std::lock_guard lock(mu_);
  return acked_;
}
int FakeAppClient::ackCalls() const {
  std::lock_guard lock(mu_);
  return ack_calls_;
}
std::vector<app::PageRequest> FakeAppClient::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}
size_t FakeAppClient::largestPage() const {
  std::lock_guard lock(mu_);
  return largest_page_;
}

// ---- RecordingHandoffObserver -----------------------------------------------

void RecordingHandoffObserver::onWritten(std::string_view sink, int64_t count) {
  std::lock_guard lock(mu_);
  written_[std::string(sink)] += count;
}
void RecordingHandoffObserver::onFailure(std::string_view reason) {
  std::lock_guard lock(mu_);
  failures_[std::string(reason)]++;
}
void RecordingHandoffObserver::onFailures(std::string_view reason, int64_t count) {
  std::lock_guard lock(mu_);
  failures_[std::string(reason)] += count;
}
void RecordingHandoffObserver::onSpoolSize(int64_t records) {
  std::lock_guard lock(mu_);
  spool_size_ = records;
}
int64_t RecordingHandoffObserver::written(const std::string& sink) const {
  std::lock_guard lock(mu_);
  auto it = written_.find(sink);
  return it == written_.end() ? 0 : it->second;
}
int64_t RecordingHandoffObserver::failures(const std::string& reason) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(reason);
  return it == failures_.end() ? 0 : it->second;
}
std::optional<int64_t> RecordingHandoffObserver::spoolSize() const {
  std::lock_guard lock(mu_);
  return spool_size_;
}

}  // namespace lameduck::fakes
