#pragma once

// Fakes for the saga component, with failure switches: the compensation
// stream (FakeStreamConnector), the spool's file system (MemorySpoolFiles),
// the app's drain protocol (FakeAppClient), and recording hand-off and
// compensator observers.
// Every fake is thread-safe (one mutex each) and runs in simulated time:
// nothing here sleeps or touches the network or the disk.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app/app_client.h"
#include "common/clock.h"
#include "saga/compensator.h"
#include "saga/files.h"
#include "saga/handoff.h"
#include "saga/record.h"
#include "saga/sink.h"

namespace lameduck::fakes {

// `n` records "<prefix>0".."<prefix>n-1" of one origin.
std::vector<saga::CompensationRecord> makeRecords(int n, const std::string& prefix = "c-");
// `n` app entries "<prefix>first".."<prefix>first+n-1".
std::vector<app::Compensation> makeCompensations(int n, const std::string& prefix = "c-",
                                                 int first = 0);

// The stream: entries by id (exact text), deduplicated as the real script
// does.
class FakeStreamConnector final : public saga::StreamConnector {
 public:
  // --- failure switches (set before or between calls) ---
  bool down = false;            // connect fails: kUnavailable
  bool wrong_password = false;  // connect fails: kPermissionDenied
  int fail_connects = 0;        // the next N connects fail: kUnavailable
  // Redis that answers N connections and then is gone: the connects after
  // the first N (counting every connect) fail with kUnavailable.
  std::optional<int> down_after_connects;
  // Every connect fails with this code (kInvalidArgument: a bad address).
  std::optional<ErrorCode> connect_error;
  // The next write confirms only its first N records, then the connection
  // drops (kUnavailable; the sink is broken). Cleared once used.
  std::optional<size_t> cut_next_write_after;
  bool refuse_writes = false;  // every write: an error reply, nothing confirmed
  // The next write is confirmed whole, then the server closes the
  // connection: the sink is broken without an error. Cleared once used.
  bool close_after_next_write = false;
  // Time a connect and a write take on this clock (simulated time).
  SimulatedClock* clock = nullptr;
  Duration connect_takes{};
  Duration write_takes{};

  Result<std::unique_ptr<saga::StreamSink>> connect(Duration timeout) override;

  // --- what happened ---
  std::map<std::string, int> entries() const;  // id → entries carrying it
  std::vector<saga::CompensationRecord> records() const;
  int connects() const;
  int writes() const;
  bool has(const std::string& id) const;

 private:
  friend class FakeSink;
  saga::WriteResult write(const std::vector<saga::CompensationRecord>& records, bool& broken);

  mutable std::mutex mu_;
  std::vector<saga::CompensationRecord> stream_;
  std::map<std::string, int> count_;
  int connects_ = 0;
  int writes_ = 0;
};

// An in-memory file system. The disk has an optional capacity: an append
// that does not fit writes what fits and fails with "No space left on
// device", as a full tmpfs does.
class MemorySpoolFiles final : public saga::SpoolFiles {
 public:
  // --- failure switches ---
  std::optional<int64_t> capacity;  // bytes, all files together
  bool fail_sync = false;
  bool fail_truncate = false;
  bool fail_rename = false;
  bool fail_open = false;
  bool fail_dir_sync = false;
  bool fail_read = false;

  Status createDirs(const std::string& dir) override;
  Result<bool> exists(const std::string& path) override;
  Result<std::unique_ptr<saga::SpoolFile>> open(const std::string& path, Mode mode) override;
  Result<std::unique_ptr<saga::SpoolLock>> lock(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status syncDir(const std::string& dir) override;

  std::string content(const std::string& path) const;
  void setContent(const std::string& path, std::string content);
  bool fileExists(const std::string& path) const;
  int syncs() const;

 private:
  friend class MemoryFile;
  int64_t usedLocked() const;

  mutable std::mutex mu_;
  std::set<std::string> dirs_;
  std::map<std::string, std::string> files_;
  int syncs_ = 0;
};

// The app's side of the drain protocol, pages included: entries in order,
// the cursor is the position of the last entry of a page (as text), acked
// entries are no longer offered.
// (fakes/app.h's FakeApp is the other fake app: it scripts drain, status
// and terminate by failure mode in simulated time; this one scripts the
// compensation pages and acks of the hand-off. See there why two.)
class FakeAppClient final : public app::AppClient {
 public:
  // --- setup and failure switches ---
  bool pages = true;                     // false: ignores limit/after, answers everything
  std::vector<std::string> rejected;     // refused entries, reported with the first page
  size_t rejected_unlisted = 0;          // more refused entries, only counted (first page)
  std::optional<ErrorCode> fetch_error;  // every fetch fails with this code
  int fail_fetch_of_page = 0;            // only that fetch (1-based) fails, ...
  ErrorCode fail_fetch_code = ErrorCode::kUnavailable;  // ... with this code
  // That fetch (1-based) answers no entries but names a next cursor that
  // moves on ("skip-<n>").
  int empty_page_with_next = 0;
  std::optional<ErrorCode> ack_error;       // every ack fails with this code
  int fail_ack_call = 0;                    // only that ack call (1-based) fails (kUnavailable)
  std::optional<std::string> stuck_cursor;  // answer this same cursor on every page
  SimulatedClock* clock = nullptr;
  Duration fetch_takes{};
  // true: calls keep to call.timeout as the real client does. A fetch that
  // takes longer, or any call given no time at all, costs its timeout and
  // fails with kDeadlineExceeded. false: every answer comes, however late.
  bool honours_timeout = false;
  // Called at each ack with the ids, before they count as acked (tests
  // check durability at that moment).
  std::function<void(const std::vector<std::string>&)> on_ack;

  explicit FakeAppClient(std::vector<app::Compensation> pending = {});

  Status drain(const app::Call&) override { return {}; }
  Result<app::Figures> status(const app::Call&) override { return app::Figures{}; }
  Result<app::CompensationBatch> compensations(const app::Call& call) override;
  Status ack(const std::vector<std::string>& ids, const app::Call& call) override;
  Status terminate(const app::Call&) override { return {}; }
  Result<app::CompensationPage> compensationsPage(const app::PageRequest& page,
                                                  const app::Call& call) override;

  // --- what happened ---
  std::vector<std::string> acked() const;  // every acked id, in ack order
  int ackCalls() const;
  std::vector<app::PageRequest> requests() const;
  size_t largestPage() const;

 private:
  Result<app::CompensationPage> fetch(const app::PageRequest& page, const app::Call& call,
                                      bool paged);

  mutable std::mutex mu_;
  std::map<int64_t, app::Compensation> pending_;  // position → entry
  std::vector<std::string> acked_;
  int ack_calls_ = 0;
  std::vector<app::PageRequest> requests_;
  size_t largest_page_ = 0;
};

class RecordingHandoffObserver final : public saga::HandoffObserver {
 public:
  void onWritten(std::string_view sink, int64_t count) override;
  void onFailure(std::string_view reason) override;
  void onFailures(std::string_view reason, int64_t count) override;
  void onSpoolSize(int64_t records) override;
  void onWriteDuration(Duration) override {}

  int64_t written(const std::string& sink) const;
  int64_t failures(const std::string& reason) const;
  std::optional<int64_t> spoolSize() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> written_;
  std::map<std::string, int64_t> failures_;
  std::optional<int64_t> spool_size_;
};

class RecordingCompensatorObserver final : public saga::CompensatorObserver {
 public:
  void onApplied() override { ++applied; }
  void onRetry() override { ++retries; }
  void onDeadLettered() override { ++dead_lettered; }
  void onInvalid() override { ++invalid; }
  void onRedisError(std::string_view command) override {
    std::lock_guard lock(mu_);
    redis_errors_[std::string(command)]++;
  }
  void onGroupRecreated() override { ++groups_recreated; }
  int redisErrors(const std::string& command) const {
    std::lock_guard lock(mu_);
    auto it = redis_errors_.find(command);
    return it == redis_errors_.end() ? 0 : it->second;
  }

  std::atomic<int> applied{0}, retries{0}, dead_lettered{0}, invalid{0}, groups_recreated{0};

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> redis_errors_;
};

}  // namespace lameduck::fakes
