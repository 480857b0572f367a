#include "config/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "config/env.h"

namespace lameduck::config::detail {

namespace {

constexpr std::string_view kSecretKeys[] = {"token", "password", "secret", "headers"};
constexpr const char* kHidden = "<hidden>";

// The key names of a path: "a.b[2].c" → a, b, c.
std::vector<std::string_view> keysOf(std::string_view path) {
  std::vector<std::string_view> keys;
  size_t start = 0;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '.' || path[i] == '[') {
      if (i > start) keys.push_back(path.substr(start, i - start));
      if (i < path.size() && path[i] == '[') {
        const size_t close = path.find(']', i);
        i = close == std::string_view::npos ? path.size() : close;
      }
      start = i + 1;
    }
  }
  return keys;
}

// Replaces every occurrence of `secret` in `message`. The toolkit's own
// messages never carry a secret; this guards readers written later. Very
// short values are left alone: scrubbing "a" would garble the message and a
// one-letter secret protects nothing.
void scrub(std::string& message, const std::string& secret) {
  if (secret.size() < 4) return;
  for (size_t at = 0; (at = message.find(secret, at)) != std::string::npos;) {
    message.replace(at, secret.size(), kHidden);
    at += std::string_view(kHidden).size();
  }
}

bool looksStructured(const std::string& text) {
  return !text.empty() && (text.front() == '[' || text.front() == '{');
}

// A --set value holds at most a few levels (traffic.steps: a list of maps).
constexpr int kMaxSetDepth = 16;

bool depthOver(const YAML::Node& n, int left) {
  if (!n.IsMap() && !n.IsSequence()) return false;
  if (left == 0) return true;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (n.IsMap() ? depthOver(it->first, left - 1) || depthOver(it->second, left - 1)
                  : depthOver(*it, left - 1)) {
      return true;
    }
  }
  return false;
}

// A copy of a tree parsed from a --set value without its positions: they
// are offsets in the --set text, not in the config file, and would be
// reported as file positions. New nodes carry no mark.
YAML::Node unmarked(const YAML::Node& n) {
  YAML::Node out;
  switch (n.Type()) {
    case YAML::NodeType::Map:
      out = YAML::Node(YAML::NodeType::Map);
      for (auto it = n.begin(); it != n.end(); ++it) {
        out.force_insert(unmarked(it->first), unmarked(it->second));  // keeps duplicates
      }
      break;
    case YAML::NodeType::Sequence:
      out = YAML::Node(YAML::NodeType::Sequence);
      for (auto it = n.begin(); it != n.end(); ++it) out.push_back(unmarked(*it));
      break;
    case YAML::NodeType::Scalar:
      out = YAML::Node(n.Scalar());
      break;
    default:
      out = YAML::Node(YAML::NodeType::Null);
      break;
  }
  out.SetTag(n.Tag());
  return out;
}

// A --set text that was to be a map or list but did not parse may hold a
// secret key's value ("{password: x, bogus"): not printed when it names one.
bool mentionsSecretKey(const std::string& text) {
  for (std::string_view secret : kSecretKeys) {
    if (text.find(secret) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

bool isSecretPath(std::string_view path) {
  // A key named like a secret makes everything under it secret too (every
  // entry of a headers map).
  for (std::string_view key : keysOf(path)) {
    for (std::string_view secret : kSecretKeys) {
      if (key == secret) return true;
    }
  }
  return false;
}

void Issues::fail(const YAML::Node& at, const std::string& path, std::string message) {
  ConfigIssue issue{path, 0, 0, std::move(message)};
  if (isSecretPath(path) && at.IsScalar()) {
    scrub(issue.message, at.Scalar());
    if (auto expanded = expandEnv(at.Scalar(), kHidden)) scrub(issue.message, *expanded);
  }
  const YAML::Mark mark = at.Mark();
  if (mark.line >= 0) {
    issue.line = mark.line + 1;
    issue.column = mark.column + 1;
  } else {
    issue.from_set = true;  // nodes made from --set carry no position
  }
  issues_.push_back(std::move(issue));
}

void Issues::failNoPosition(const std::string& path, std::string message) {
  issues_.push_back(ConfigIssue{path, 0, 0, std::move(message)});
}

std::string Issues::report() const {
  std::vector<ConfigIssue> sorted = issues_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const ConfigIssue& a, const ConfigIssue& b) {
    return a.line < b.line || (a.line == b.line && a.column < b.column);
  });
  std::string out;
  for (const ConfigIssue& i : sorted) {
    if (!out.empty()) out += "\n";
    out += i.str(source_);
  }
  return out;
}

std::string describe(const YAML::Node& node, const std::string& path) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      if (isSecretPath(path)) return "a string (value hidden)";
      if (node.Tag() == kSetTag && looksStructured(node.Scalar()) &&
          mentionsSecretKey(node.Scalar())) {
        return "a --set text that is not a valid YAML flow map or list (value hidden: it names "
               "a secret key)";
      }
      return "\"" + node.Scalar() + "\"";
    default:
      return "nothing";
  }
}

YAML::Node structured(const YAML::Node& node) {
  // IsDefined() first: a missing key read through a const node is an
  // invalid node on which anything else throws.
  if (!node.IsDefined() || !node.IsScalar() || node.Tag() != kSetTag) return node;
  const std::string& text = node.Scalar();
  if (!looksStructured(text)) return node;
  try {
    const YAML::Node parsed = YAML::Load(text);
    // Deeper than any setting: reported as the string it is.
    if (depthOver(parsed, kMaxSetDepth)) return node;
    return unmarked(parsed);
  } catch (const YAML::Exception&) {
    return node;  // reported as the string it is: "expected a list, got ..."
  }
}

std::optional<std::string> scalar(Issues& issues, const YAML::Node& node, const std::string& path,
                                  std::string_view expected) {
  if (!node.IsScalar()) {
    issues.fail(node, path, "expected " + std::string(expected) + ", got " + describe(node, path));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  auto expanded = expandEnv(text, isSecretPath(path) ? std::string_view(kHidden) : text);
  if (!expanded) {
    issues.fail(node, path, expanded.error().message);
    return std::nullopt;
  }
  return *expanded;
}

MapReader::MapReader(Issues& issues, const YAML::Node& node, std::string path)
    : issues_(issues), node_(structured(node)), path_(std::move(path)) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    issues_.fail(node_, path_.empty() ? "<root>" : path_,
                 "expected a map of settings, got " + describe(node_, path_));
    valid_ = false;
  }
}

void MapReader::field(const std::string& key, const Reader& fn) {
  known_.push_back(key);
  if (!valid_ || !node_.IsMap()) return;
  const YAML::Node value = node_[key];
  if (!value.IsDefined() || value.IsNull()) return;
  fn(value, join(key));
}

void MapReader::finish() {
  if (!valid_ || !node_.IsMap()) return;
  std::set<std::string> known(known_.begin(), known_.end());
  std::set<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const YAML::Node key = it->first;
    std::string name = key.IsScalar() ? key.Scalar() : describe(key, "");
    if (!seen.insert(name).second) {
      // YAML parsers disagree on which duplicate wins; refuse the ambiguity.
      issues_.fail(key, join(name), "duplicate key \"" + name + "\"; each key may appear once");
      continue;
    }
    if (known.count(name)) continue;
    std::string accepted;
    for (const std::string& k : known_) accepted += (accepted.empty() ? "" : ", ") + k;
    issues_.fail(key, join(name), "unknown key \"" + name + "\"; accepted keys here: " + accepted);
  }
}

std::string MapReader::join(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

Reader str(Issues& issues, std::string& out, bool allow_empty) {
  return [&issues, &out, allow_empty](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, "a string");
    if (!v) return;
    if (!allow_empty && v->empty()) {
      issues.fail(n, path, "must not be empty");
      return;
    }
    out = *v;
  };
}

Reader boolean(Issues& issues, bool& out) {
  return [&issues, &out](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, "true or false");
    if (!v) return;
    if (*v == "true" || *v == "false") {
      out = *v == "true";
      return;
    }
    issues.fail(n, path, "invalid value \"" + *v + "\"; expected true or false");
  };
}

Reader duration(Issues& issues, Duration& out, ZeroOk zero) {
  return [&issues, &out, zero](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, "a duration like 500ms, 30s or 2m");
    if (!v) return;
    auto d = parseDuration(*v);
    if (!d) {
      issues.fail(n, path, d.error().message);
      return;
    }
    if (*d == Duration::zero() && zero == ZeroOk::kNo) {
      issues.fail(n, path, "invalid duration \"" + *v + "\": must be greater than zero");
      return;
    }
    out = *d;
  };
}

Reader integer(Issues& issues, int64_t& out, int64_t min, int64_t max, std::string_view expected) {
  // "an integer" → "integer", for "invalid integer ...".
  const std::string noun(expected.substr(expected.find(' ') + 1));
  return [&issues, &out, min, max, expected, noun](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, expected);
    if (!v) return;
    errno = 0;
    char* end = nullptr;
    long long value = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE) {
      issues.fail(n, path,
                  "invalid " + noun + " \"" + *v + "\"; expected a whole number from " +
                      std::to_string(min) + " to " + std::to_string(max));
      return;
    }
    if (value < min || value > max) {
      issues.fail(n, path,
                  "value " + *v + " out of range; expected " + std::to_string(min) + " to " +
                      std::to_string(max));
      return;
    }
    out = value;
  };
}

Reader number(Issues& issues, double& out, double min, double max) {
  return [&issues, &out, min, max](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, "a number");
    if (!v) return;
    char* end = nullptr;
    double value = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !std::isfinite(value) || value < min || value > max) {
      std::ostringstream range;
      range << min << " to " << max;
      issues.fail(n, path, "invalid number \"" + *v + "\"; expected a number from " + range.str());
      return;
    }
    out = value;
  };
}

Reader checked(Issues& issues, std::string& out, std::string_view expected,
               const std::function<Status(std::string_view)>& check) {
  return [&issues, &out, expected, check](const YAML::Node& n, const std::string& path) {
    auto v = scalar(issues, n, path, expected);
    if (!v) return;
    if (auto ok = check(*v); !ok) {
      issues.fail(n, path, ok.error().message);
      return;
    }
    out = *v;
  };
}

Reader list(Issues& issues, Reader item, std::function<void()> clear) {
  return [&issues, item, clear](const YAML::Node& given, const std::string& path) {
    const YAML::Node n = structured(given);
    if (!n.IsSequence()) {
      issues.fail(n, path, "expected a list, got " + describe(n, path));
      return;
    }
    clear();
    for (size_t i = 0; i < n.size(); ++i) item(n[i], path + "[" + std::to_string(i) + "]");
  };
}

}  // namespace lameduck::config::detail
