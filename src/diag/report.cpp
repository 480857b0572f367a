#include "diag/report.h"

#include <algorithm>
#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

namespace lameduck::diag {
namespace {

// Go's standard top-level packages (go list std, Go 1.19 to 1.24), plus
// "vendor" (golang.org/x packages vendored into the standard library).
constexpr std::array<std::string_view, 44> kStdTopLevel = {
    "archive", "bufio",    "builtin", "bytes",   "cmp",      "compress", "container", "context",
    "crypto",  "database", "debug",   "embed",   "encoding", "errors",   "expvar",    "flag",
    "fmt",     "go",       "hash",    "html",    "image",    "index",    "internal",  "io",
    "iter",    "log",      "maps",    "math",    "mime",     "net",      "os",        "path",
    "plugin",  "reflect",  "regexp",  "runtime", "slices",   "sort",     "strconv",   "strings",
    "sync",    "syscall",  "testing", "text"};
constexpr std::array<std::string_view, 6> kStdTopLevelMore = {"time",   "unicode", "unique",
                                                              "unsafe", "vendor",  "weak"};

// The first element of a function's package path: "net" for
// "net/http.(*conn).serve", "main" for "main.main.func1", "github.com" for
// "github.com/x/y.F".
std::string_view firstPathElement(std::string_view function) {
  size_t slash = function.find('/');
  size_t dot = function.find('.');
  if (slash != std::string_view::npos) {
    std::string_view head = function.substr(0, slash);
    // A slash inside a receiver or type arguments is not a path separator.
    if (head.find_first_of("()[]* ") == std::string_view::npos) return head;
  }
  return function.substr(0, dot);
}

bool inPackage(std::string_view function, std::string_view package) {
  return function.starts_with(package) && function.size() > package.size() &&
         (function[package.size()] == '.' || function[package.size()] == '/');
}

bool isParked(const Goroutine& g) {
  return g.wait_reason != "running" && g.wait_reason != "runnable";
}

// The goroutine serving the dump itself, or any other pprof work.
bool isPprof(const Goroutine& g) {
  return std::any_of(g.frames.begin(), g.frames.end(), [](const Frame& f) {
    return f.function.starts_with("net/http/pprof.") || f.function.starts_with("runtime/pprof.");
  });
}

const Frame* appFrame(const Goroutine& g) {
  for (const Frame& f : g.frames) {
    if (!isStandardLibrary(f.function)) return &f;
  }
  return nullptr;
}

}  // namespace

bool isRuntime(std::string_view function) { return inPackage(function, "runtime"); }

bool isStandardLibrary(std::string_view function) {
  std::string_view head = firstPathElement(function);
  if (head.empty() || head.find('.') != std::string_view::npos) return false;
  return std::find(kStdTopLevel.begin(), kStdTopLevel.end(), head) != kStdTopLevel.end() ||
         std::find(kStdTopLevelMore.begin(), kStdTopLevelMore.end(), head) !=
             kStdTopLevelMore.end();
}

bool isCancellable(std::string_view r) {
  static constexpr std::array<std::string_view, 8> kNever = {"sleep",
                                                             "IO wait",
                                                             "semacquire",
                                                             "syscall",
                                                             "chan receive (nil chan)",
                                                             "chan send (nil chan)",
                                                             "select (no cases)",
                                                             "sync.Cond.Wait"};
  if (std::find(kNever.begin(), kNever.end(), r) != kNever.end()) return false;
  if (r.starts_with("sync.")) return false;  // sync.Mutex.Lock, sync.RWMutex.*, sync.WaitGroup.Wait
  return true;
}

Report buildReport(const Dump* baseline, const Dump& now, std::string source) {
  Report report;
  report.source = std::move(source);
  report.goroutines_at_end = static_cast<int64_t>(now.goroutines.size());
  std::set<int64_t> before;
  if (baseline) {
    report.goroutines_at_start = static_cast<int64_t>(baseline->goroutines.size());
    for (const Goroutine& g : baseline->goroutines) before.insert(g.id);
  }

  using Key = std::tuple<std::string, std::string, std::string>;  // reason, function, location
  std::map<Key, Group> groups;
  for (const Goroutine& g : now.goroutines) {
    if (baseline && !before.count(g.id)) continue;
    if (!isParked(g) || isPprof(g)) continue;
    const Frame* frame = appFrame(g);
    if (!frame) continue;  // runtime or standard-library machinery only
    Key key{g.wait_reason, frame->function, frame->location()};
    Group& group = groups[key];
    if (group.count == 0) {
      group.wait_reason = g.wait_reason;
      group.function = frame->function;
      group.location = frame->location();
      group.created_by = g.created_by ? g.created_by->function : "";
      group.cancellable = isCancellable(g.wait_reason);
    }
    ++group.count;
    group.minutes = std::max(group.minutes, g.wait_minutes);
  }
  for (auto& [key, group] : groups) report.groups.push_back(std::move(group));
  std::stable_sort(report.groups.begin(), report.groups.end(), [](const Group& a, const Group& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.minutes != b.minutes) return a.minutes > b.minutes;
    return a.function < b.function;
  });
  return report;
}

std::string renderJson(const Report& report) {
  nlohmann::ordered_json groups = nlohmann::ordered_json::array();
  for (const Group& g : report.groups) {
    groups.push_back({{"count", g.count},
                      {"wait_reason", g.wait_reason},
                      {"minutes", g.minutes},
                      {"function", g.function},
                      {"location", g.location},
                      {"created_by", g.created_by},
                      {"cancellable", g.cancellable}});
  }
  nlohmann::ordered_json j = {
      {"source", report.source},
      {"goroutines_at_start", report.goroutines_at_start
                                  ? nlohmann::ordered_json(*report.goroutines_at_start)
                                  : nlohmann::ordered_json(nullptr)},
      {"goroutines_at_end", report.goroutines_at_end},
      {"groups", std::move(groups)}};
  // Dumps are outside input: invalid UTF-8 in a function name is replaced,
  // never thrown on.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lameduck::diag
