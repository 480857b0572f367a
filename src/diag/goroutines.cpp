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

  Dump dump;
  std::optional<Goroutine> current;
  enum class Target { kNone, kFrame, kCreatedBy } target = Target::kNone;
  bool in_ancestor = false;
  bool seen_header = false;

  auto finish = [&] {
    if (current) dump.goroutines.push_back(std::move(*current));
    current.reset();
    target = Target::kNone;
    in_ancestor = false;
  };

  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, std::min(nl - pos, limits.max_line));
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    if (trimRight(line).empty()) {
      finish();
      continue;
    }
    if (line.starts_with(kGoroutine)) {
      if (auto header = parseHeader(line)) {
        finish();
        seen_header = true;
        if (dump.goroutines.size() >= limits.max_goroutines) {
          dump.truncated = true;
          break;
        }
        current = std::move(*header);
        continue;
      }
    }
    if (!current) continue;  // text before the first goroutine (a panic message, …)

    if (line.front() == '\t') {
      if (target == Target::kFrame && !current->frames.empty()) {
        if (!parseLocation(line.substr(1), current->frames.back())) ++dump.unknown_lines;
      } else if (target == Target::kCreatedBy && current->created_by) {
        if (!parseLocation(line.substr(1), *current->created_by)) ++dump.unknown_lines;
      } else if (!in_ancestor) {
        ++dump.unknown_lines;
      }
      target = Target::kNone;
      continue;
    }
    if (line.starts_with(kOriginating)) {
      std::string_view rest = trimRight(line.substr(kOriginating.size()));
      if (rest.ends_with("]:")) {
        if (auto id = number(rest.substr(0, rest.size() - 2));
            id && current->ancestors.size() < limits.max_ancestors) {
          current->ancestors.push_back(*id);
        }
        in_ancestor = true;
        target = Target::kNone;
        continue;
      }
    }
    if (in_ancestor) continue;  // an ancestor's frames describe where it was, not this goroutine
    if (auto n = elided(line)) {
      current->elided_frames += *n;
      target = Target::kNone;
      continue;
    }
    if (line.starts_with(kCreatedBy)) {
      std::string_view rest = trimRight(line.substr(kCreatedBy.size()));
      Frame creator;
      size_t in = rest.rfind(kInGoroutine);
      if (in != std::string_view::npos) {
        if (auto id = number(rest.substr(in + kInGoroutine.size()))) {
          current->created_in_goroutine = *id;
          rest = rest.substr(0, in);
        }
      }
      creator.function = std::string(rest);
      current->created_by = std::move(creator);
      target = Target::kCreatedBy;
      continue;
    }
    if (auto function = frameFunction(line)) {
      if (current->frames.size() >= limits.max_frames) {
        ++current->elided_frames;
        target = Target::kNone;
      } else {
        current->frames.push_back(Frame{std::move(*function), "", 0});
        target = Target::kFrame;
      }
      continue;
    }
    ++dump.unknown_lines;
    target = Target::kNone;
  }
  finish();

  if (!seen_header) {
    return makeError(ErrorCode::kBadResponse,
                     "not a goroutine dump: no \"goroutine N [state]:\" line; the text starts with "
                     "\"" +
                         quote(text) + "\"");
  }
  return dump;
}

}  // namespace lameduck::diag
