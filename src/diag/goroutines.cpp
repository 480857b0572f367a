#include "diag/goroutines.h"

#include "common/parse.h"

namespace lameduck::diag {
namespace {

constexpr std::string_view kGoroutine = "goroutine ";
constexpr std::string_view kCreatedBy = "created by ";
constexpr std::string_view kInGoroutine = " in goroutine ";
constexpr std::string_view kOriginating = "[originating from goroutine ";

// A non-negative decimal number that fills `text` exactly.
std::optional<int64_t> number(std::string_view text) {
  if (text.size() > 18) return std::nullopt;
  const std::optional<int64_t> value = parseWholeInt64(text);
  if (!value || *value < 0) return std::nullopt;
  return value;
}

std::string_view trimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Up to 80 characters of `text` with everything unprintable replaced, to
// quote hostile input in an error message.
std::string quote(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > 80) out += "...";
  return out;
}

// "pkg.func(args)" → "pkg.func"; nullopt when the line is not a frame.
std::optional<std::string> frameFunction(std::string_view line) {
  line = trimRight(line);
  if (line.size() < 3 || line.back() != ')' || line.front() == ' ') return std::nullopt;
  int depth = 0;
  for (size_t i = line.size(); i-- > 0;) {
    if (line[i] == ')') {
      ++depth;
    } else if (line[i] == '(') {
      if (--depth == 0) {
        if (i == 0) return std::nullopt;
        return std::string(line.substr(0, i));
      }
    }
  }
  return std::nullopt;
}

// "\t/path/file.go:123 +0x45 fp=0x... sp=0x..." → file and line; the
// rightmost ":digits" followed by the end or a space is the line number, so
// a path with colons or spaces still reads.
bool parseLocation(std::string_view text, Frame& frame) {
  text = trimRight(text);
  size_t colon = text.size();
  while (colon > 0) {
    colon = text.rfind(':', colon - 1);
    if (colon == std::string_view::npos || colon == 0) return false;
    size_t end = colon + 1;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == colon + 1 || (end < text.size() && text[end] != ' ')) continue;
    auto line = number(text.substr(colon + 1, end - colon - 1));
    if (!line) continue;
    frame.file = std::string(text.substr(0, colon));
    frame.line = *line;
    return true;
  }
  return false;
}

// "...12 frames elided..." → 12; "...additional frames elided..." → 1.
std::optional<int64_t> elided(std::string_view line) {
  line = trimRight(line);
  if (line.size() < 13 || !line.starts_with("...") || !line.ends_with(" elided...")) {
    return std::nullopt;
  }
  std::string_view middle = line.substr(3, line.size() - 3 - std::string_view(" elided...").size());
  if (middle == "additional frames") return 1;
  size_t space = middle.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  if (middle.substr(space) != " frames" && middle.substr(space) != " frame") return std::nullopt;
  return number(middle.substr(0, space));
}

}  // namespace

std::string Frame::location() const {
  if (file.empty()) return "";
  return file + ":" + std::to_string(line);
}

std::optional<Goroutine> parseHeader(std::string_view line) {
  line = trimRight(line);
  if (!line.starts_with(kGoroutine) || !line.ends_with("]:")) return std::nullopt;
  std::string_view rest = line.substr(kGoroutine.size());
  size_t id_end = 0;
  while (id_end < rest.size() && rest[id_end] >= '0' && rest[id_end] <= '9') ++id_end;
  auto id = number(rest.substr(0, id_end));
  if (!id) return std::nullopt;
  // Between the id and '[': nothing, or " gp=0x… m=… mp=0x…" (Go >= 1.23 with
  // GOTRACEBACK=system and in crash tracebacks).
  size_t open = rest.find('[', id_end);
  if (open == std::string_view::npos || open == id_end || rest[id_end] != ' ') return std::nullopt;
  for (size_t i = id_end; i < open; ++i) {
    if (rest[i] == ']' || rest[i] == ':' || rest[i] == '\t') return std::nullopt;
  }
  std::string_view inside = rest.substr(open + 1, rest.size() - open - 1 - 2);
  Goroutine g;
  g.id = *id;
  bool first = true;
  while (true) {
    size_t comma = inside.find(", ");
    std::string_view part = inside.substr(0, comma);
    if (first) {
      g.wait_reason = std::string(part);
      first = false;
    } else if (part == "locked to thread") {
      g.locked_to_thread = true;
    } else if (part.ends_with(" minutes") || part.ends_with(" minute")) {
      if (auto m = number(part.substr(0, part.find(' ')))) g.wait_minutes = *m;
    }
    // Other parts, from Go versions we do not know yet, are ignored.
    if (comma == std::string_view::npos) break;
    inside.remove_prefix(comma + 2);
  }
  if (g.wait_reason.empty()) return std::nullopt;
  return g;
}


namespace {

// Reads a dump line by line into goroutines. A goroutine's header starts it;
// its frames (function line, then a tab-indented location line), "created
// by" and elision lines follow; a blank line ends it. Lines it does not know
// are counted, never fatal. Ancestors' frames (GODEBUG=tracebackancestors)
// are skipped: they describe where an ancestor was, not this goroutine.
class DumpReader {
 public:
  explicit DumpReader(const Limits& limits) : limits_(limits) {}

  // One line without its end of line; false once the goroutine bound is
  // reached (the dump is then marked truncated).
  bool read(std::string_view line) {
    if (trimRight(line).empty()) {
      finishGoroutine();
      return true;
    }
    if (line.starts_with(kGoroutine)) {
      if (auto header = parseHeader(line)) {
        finishGoroutine();
        seen_header_ = true;
        if (dump_.goroutines.size() >= limits_.max_goroutines) {
          dump_.truncated = true;
          return false;
        }
        current_ = std::move(*header);
        return true;
      }
    }
    if (!current_) return true;  // text before the first goroutine (a panic message, …)
    Target next = Target::kNone;
    if (line.front() == '\t') {
      location(line.substr(1));
    } else if (line.starts_with(kOriginating) && originating(line)) {
      in_ancestor_ = true;
    } else if (in_ancestor_) {
      return true;
    } else if (auto n = elided(line)) {
      current_->elided_frames += *n;
    } else if (line.starts_with(kCreatedBy)) {
      createdBy(line);
      next = Target::kCreator;
    } else if (auto function = frameFunction(line)) {
      next = frame(std::move(*function));
    } else {
      ++dump_.unknown_lines;
    }
    target_ = next;
    return true;
  }

  bool seenHeader() const { return seen_header_; }

  Dump take() {
    finishGoroutine();
    return std::move(dump_);
  }

 private:
  // What a tab-indented location line belongs to.
  enum class Target { kNone, kFrame, kCreator };

  void finishGoroutine() {
    if (current_) dump_.goroutines.push_back(std::move(*current_));
    current_.reset();
    target_ = Target::kNone;
    in_ancestor_ = false;
  }

  void location(std::string_view text) {
    if (target_ == Target::kFrame && !current_->frames.empty()) {
      if (!parseLocation(text, current_->frames.back())) ++dump_.unknown_lines;
    } else if (target_ == Target::kCreator && current_->created_by) {
      if (!parseLocation(text, *current_->created_by)) ++dump_.unknown_lines;
    } else if (!in_ancestor_) {
      ++dump_.unknown_lines;
    }
  }

  // "[originating from goroutine N]:"; false when the line is not one.
  bool originating(std::string_view line) {
    std::string_view rest = trimRight(line.substr(kOriginating.size()));
    if (!rest.ends_with("]:")) return false;
    if (auto id = number(rest.substr(0, rest.size() - 2));
        id && current_->ancestors.size() < limits_.max_ancestors) {
      current_->ancestors.push_back(*id);
    }
    return true;
  }

  // "created by pkg.func in goroutine N".
  void createdBy(std::string_view line) {
    std::string_view rest = trimRight(line.substr(kCreatedBy.size()));
    size_t in = rest.rfind(kInGoroutine);
    if (in != std::string_view::npos) {
      if (auto id = number(rest.substr(in + kInGoroutine.size()))) {
        current_->created_in_goroutine = *id;
        rest = rest.substr(0, in);
      }
    }
    Frame creator;
    creator.function = std::string(rest);
    current_->created_by = std::move(creator);
  }

  Target frame(std::string function) {
    if (current_->frames.size() >= limits_.max_frames) {
      ++current_->elided_frames;
      return Target::kNone;
    }
    current_->frames.push_back(Frame{std::move(function), "", 0});
    return Target::kFrame;
  }

  const Limits& limits_;
  Dump dump_;
  std::optional<Goroutine> current_;
  Target target_ = Target::kNone;
  bool in_ancestor_ = false;
  bool seen_header_ = false;
};

}  // namespace

Result<Dump> parseGoroutines(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_bytes) {
    return makeError(ErrorCode::kBadResponse, "goroutine dump of " + std::to_string(text.size()) +
                                                  " bytes is over the bound of " +
                                                  std::to_string(limits.max_bytes) + " bytes");
  }
  if (text.starts_with("goroutine profile:")) {
    return makeError(ErrorCode::kBadResponse,
                     "the goroutine dump is the ?debug=1 format, which has no wait reasons; "
                     "point the URL at /debug/pprof/goroutine?debug=2");
  }
  DumpReader reader(limits);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, std::min(nl - pos, limits.max_line));
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!reader.read(line)) break;
  }
  if (!reader.seenHeader()) {
    return makeError(ErrorCode::kBadResponse,
                     "not a goroutine dump: no \"goroutine N [state]:\" line; the text starts with "
                     "\"" +
                         quote(text) + "\"");
  }
  return reader.take();
}

}  // namespace lameduck::diag
