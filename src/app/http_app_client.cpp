#include "app/http_app_client.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "common/json_in.h"

namespace lameduck::app {
namespace {

using nlohmann::json;

// Hook answers nest a handful of levels; a payload may add a few dozen.
constexpr size_t kMaxAnswerDepth = 64;

std::string quote(std::string_view body) { return quoteExcerpt(body); }

// How http::Client says that an answer was longer than its bound.
constexpr std::string_view kOverBound = "longer than the bound of";

// The types nlohmann's SAX interface expects a reader to name.
struct SaxTypes {
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;
};

// Reads the status answer event by event (nlohmann's SAX interface, which
// is iterative) and keeps only the top-level members lameduck uses, as
// small values: unknown fields, of any size or shape, cost nothing but the
// time to read them. A kept string is cut to kKeptStringBytes (only an
// error message quotes it); a kept container is kept empty (only its type
// matters). The last of duplicate keys wins, as in a document.
class StatusReader : public SaxTypes {
 public:
  static constexpr size_t kKeptStringBytes = 64;

  bool null() { return keep(json(nullptr)); }
  bool boolean(bool v) { return keep(json(v)); }
  bool number_integer(number_integer_t v) { return keep(json(v)); }
  bool number_unsigned(number_unsigned_t v) { return keep(json(v)); }
  bool number_float(number_float_t v, const string_t&) { return keep(json(v)); }
  bool string(string_t& v) { return keep(json(v.substr(0, kKeptStringBytes))); }
  bool binary(binary_t&) { return keep(json(nullptr)); }  // JSON text has none
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(string_t& k) {
    if (depth_ == 1) {
      wanted_ = false;
      for (const char* name : {"inflight", "connections", "queued", "error_rate"}) {
        if (k == name) {
          key_ = name;
          wanted_ = true;
        }
      }
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception&) { return false; }

  bool rootIsObject() const { return root_is_object_; }
  // The members kept, as a small document's text.
  std::string keptText() const {
    return kept_.dump(-1, ' ', false, json::error_handler_t::replace);
  }

 private:
  bool keep(json v) {
    if (depth_ == 1 && wanted_) kept_[key_] = std::move(v);
    return true;
  }
  bool open(json::value_t type) {
    if (depth_ == 0) root_is_object_ = type == json::value_t::object;
    keep(json(type));
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  size_t depth_ = 0;
  bool root_is_object_ = false;
  bool wanted_ = false;  // the current top-level member is one lameduck reads
  std::string key_;
  json kept_ = json::object();
};

}  // namespace

Result<Figures> parseStatus(std::string_view body, size_t max_bytes) {
  constexpr std::string_view kWhat = "status hook answer";
  // No document is built from the answer itself, so the number of its
  // values is not bounded (only its size and depth).
  if (auto ok = checkJsonBounds(body, {max_bytes, kMaxAnswerDepth, SIZE_MAX}, kWhat); !ok) {
    return std::unexpected(ok.error());
  }
  StatusReader reader;
  if (!json::sax_parse(body.begin(), body.end(), &reader)) {
    return makeError(ErrorCode::kBadResponse,
                     std::string(kWhat) + ": not valid JSON: " + quote(body));
  }
  if (!reader.rootIsObject()) {
    return makeError(
        ErrorCode::kBadResponse,
        "status hook answer must be a JSON object like {\"inflight\": 0}, got " + quote(body));
  }
  // The kept members, at most four small values, read back as a document
  // for the checked accessors and their messages.
  auto doc = JsonDoc::parse(reader.keptText(), std::string(kWhat));
  if (!doc) return std::unexpected(doc.error());
  Figures f;
  for (auto [key, out] : {std::pair{"inflight", &f.inflight},
                          {"connections", &f.connections},
                          {"queued", &f.queued}}) {
    auto field = doc->optionalField(key);
    if (!field) return std::unexpected(field.error());
    if (!*field || (*field)->isNull()) continue;
    auto v = (*field)->int64();
    if (!v || *v < 0) {
      return std::unexpected((*field)->typeError("a non-negative integer"));
    }
    *out = *v;
  }
  auto rate = doc->optionalField("error_rate");
  if (!rate) return std::unexpected(rate.error());
  if (*rate && !(*rate)->isNull()) {
    auto v = (*rate)->number();
    if (!v || *v < 0.0 || *v > 1.0) {
      return std::unexpected((*rate)->typeError("a number from 0 to 1 or null"));
    }
    f.error_rate = *v;
  }
  return f;
}

namespace {

// Reads {"compensations": [...]} event by event (nlohmann's SAX interface)
// instead of building a document: for 10,000 entries the document costs
// more in allocations than the hand-off's Redis write. The result is the
// same as reading the document: the last of duplicate keys wins, `payload`
// is re-encoded exactly as a document's dump() would (it is the only part
// built as a document, one entry at a time, bounded by kMaxPayloadValues
// and kMaxCompensationBytes), and an invalid JSON text as a whole is an
// error. Refused entries beyond kMaxRejectedListed are only counted.
// The numbers of a JSON text, one after another, as written: the reader is
// handed "-0" as the integer 0, indistinguishable from "0", and an id keeps
// its exact text. It walks the text once, alongside the parser (each number
// the parser reports is the next one here), and keeps nothing. Only the text
// outside strings is looked at; a text that is not JSON is refused by the
// parser anyway.
class NumberTokens {
 public:
  explicit NumberTokens(std::string_view text) : text_(text) {}

  // The next number's text; empty past the last.
  std::string_view next() {
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (c == '"') {
        for (++pos_; pos_ < text_.size() && text_[pos_] != '"'; ++pos_) {
          if (text_[pos_] == '\\') ++pos_;
        }
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        const size_t start = pos_;
        while (pos_ < text_.size() && inNumber(text_[pos_])) ++pos_;
        return text_.substr(start, pos_ - start);
      }
    }
    return {};
  }

 private:
  static bool inNumber(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
  }

  std::string_view text_;
  size_t pos_ = 0;
};

class CompensationsReader : public SaxTypes {
 public:
  bool null() { return scalar(nullptr); }
  bool boolean(bool v) { return scalar(v); }
  bool number_integer(number_integer_t v) {
    // "-0" arrives as the integer 0; an id keeps its exact text.
    if (nextNumberIsNegativeZero() && !frames_.empty() && frames_.back() == Frame::kEntry) {
      if (auto* field = textField()) {
        *field = "-0";
        countBytes(2);
        return true;
      }
    }
    return scalar(v);
  }
  bool number_unsigned(number_unsigned_t v) {
    nextNumberIsNegativeZero();
    return scalar(v);
  }
  bool number_float(number_float_t v, const string_t& raw) {
    nextNumberIsNegativeZero();
    // A number too large for 64 bits arrives here; an id keeps its exact text.
    if (frames_.size() >= 1 && frames_.back() == Frame::kEntry) {
      if (auto* field = textField()) {
        *field = raw;
        return true;
      }
    }
    return scalar(v);
  }
  bool string(string_t& v) { return scalar(v); }
  bool binary(binary_t&) { return scalar(nullptr); }  // JSON text has none
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(string_t& k) {
    if (frames_.back() == Frame::kPayload) {
      countPayloadValue(k);
      payload_key_ = k;
    } else if (frames_.back() != Frame::kSkip) {
      key_ = k;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception&) { return false; }

  // `body`: the text being read, which must outlive the reader.
  CompensationsReader(EntryStream* stream, std::string_view body)
      : stream_(stream), numbers_(body) {}

  // Once the whole text is read: was there a "compensations" array?
  bool listFound() const { return root_is_object_ && list_found_; }
  CompensationBatch take() { return std::move(batch_); }

 private:
  // What the container being read is: the root object, the list, one entry,
  // (inside) a payload, or (inside) a value nobody reads.
  enum class Frame { kRoot, kList, kEntry, kPayload, kSkip };

  struct Entry {
    std::optional<std::string> id, saga_id, action, step;
    std::optional<json> payload;
  };

  // Strings and numbers are read as text (a number keeps its exact digits:
  // 18446744073709551615 stays that, never -1); anything else counts as
  // absent.
  static std::optional<std::string> text(const std::string& v) { return v; }
  static std::optional<std::string> text(int64_t v) { return std::to_string(v); }
  static std::optional<std::string> text(uint64_t v) { return std::to_string(v); }
  template <class T>
  static std::optional<std::string> text(const T&) {
    return std::nullopt;
  }

  // Moves on to the next number of the text; true when it is written "-0".
  bool nextNumberIsNegativeZero() { return numbers_.next() == "-0"; }

  // The entry member read as text under the current key, if any.
  std::optional<std::string>* textField() {
    if (key_ == "id") return &entry_.id;
    if (key_ == "saga_id") return &entry_.saga_id;
    if (key_ == "action") return &entry_.action;
    if (key_ == "step") return &entry_.step;
    return nullptr;
  }

  // A value that is not a container.
  template <class T>
  bool scalar(const T& v) {
    if (frames_.empty()) return true;  // a root that is not an object
    switch (frames_.back()) {
      case Frame::kRoot:
        if (key_ == "compensations") list_found_ = false;
        break;
      case Frame::kList:
        reject([&] { return where(std::nullopt) + ": not a JSON object"; });
        break;
      case Frame::kEntry:
        if (key_ == "payload") {
          countPayloadValue(v);
          if (!oversize_) entry_.payload = json(v);
        } else if (auto* field = textField()) {
          *field = text(v);
          if (*field) countBytes((*field)->size());
        }
        break;
      case Frame::kPayload:
        countPayloadValue(v);
        addToPayload(json(v));
        break;
      case Frame::kSkip:
        break;
    }
    return true;
  }

  bool open(json::value_t type) {
    const bool object = type == json::value_t::object;
    Frame frame = Frame::kSkip;
    if (frames_.empty()) {
      root_is_object_ = object;
      if (object) frame = Frame::kRoot;
    } else {
      switch (frames_.back()) {
        case Frame::kRoot:
          if (key_ == "compensations" && stream_ && lists_seen_++ < stream_->skip_lists) {
            break;  // a later "compensations" member counts, not this one
          }
          if (key_ == "compensations") {  // the last such key is the one that counts
            batch_ = {};
            index_ = 0;
            list_found_ = !object;
            if (!object) frame = Frame::kList;
          }
          break;
        case Frame::kList:
          if (object) {
            entry_ = {};
            entry_bytes_ = 0;
            payload_values_ = 0;
            oversize_ = false;
            frame = Frame::kEntry;
          } else {
            reject([&] { return where(std::nullopt) + ": not a JSON object"; });
          }
          break;
        case Frame::kEntry:
          if (key_ == "payload") {
            countPayloadValue(nullptr);
            if (!oversize_) entry_.payload = json(type);
            payload_stack_.assign(1, oversize_ ? nullptr : &*entry_.payload);
            frame = Frame::kPayload;
          } else if (auto* field = textField()) {
            *field = std::nullopt;  // a container where text belongs
          }
          break;
        case Frame::kPayload:
          countPayloadValue(nullptr);
          payload_stack_.push_back(addToPayload(json(type)));
          frame = Frame::kPayload;
          break;
        case Frame::kSkip:
          break;
      }
    }
    frames_.push_back(frame);
    return true;
  }

  bool close() {
    const Frame done = frames_.back();
    frames_.pop_back();
    if (done == Frame::kEntry) finishEntry();
    if (done == Frame::kPayload) payload_stack_.pop_back();
    if (stream_ && stream_->chunk > 0 && batch_.valid.size() >= stream_->chunk) flush();
    return true;
  }

 public:
  // Hands the valid entries read so far to the stream's sink, if any.
  void flush() {
    if (!stream_ || batch_.valid.empty()) return;
    (*stream_->sink)(batch_.valid);
    batch_.valid.clear();
  }

 private:
  // Counts the entry's text as it is read, and drops its payload document
  // as soon as a bound is passed: the entry will be refused.
  void countBytes(size_t n) {
    entry_bytes_ += n;
    if (entry_bytes_ > kMaxCompensationBytes) drop();
  }
  template <class T>
  void countPayloadValue(const T& v) {
    if (++payload_values_ > kMaxPayloadValues) drop();
    if constexpr (std::is_same_v<T, std::string>) {
      countBytes(v.size() + 2);
    } else {
      countBytes(8);  // a number or literal; the exact size is checked once encoded
    }
  }
  void drop() {
    if (oversize_) return;
    oversize_ = true;
    entry_.payload.reset();  // payload_stack_ is not read again for this entry
  }

  // Adds `v` to the payload container being read; returns where it went
  // (null once the entry is over a bound).
  json* addToPayload(json v) {
    if (oversize_) return nullptr;
    json& parent = *payload_stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    json& slot = parent[payload_key_];
    slot = std::move(v);
    return &slot;
  }

  std::string where(const std::optional<std::string>& id) const {
    std::string w = "entry " + std::to_string(index_);
    // An id is cut short here: a message must not grow with what the app sent.
    if (id) w += " (id " + id->substr(0, 100) + (id->size() > 100 ? "...)" : ")");
    return w;
  }

  // `why` makes the reason; it is only called for the entries listed.
  template <class Why>
  void reject(Why why) {
    if (batch_.rejected.size() < kMaxRejectedListed) {
      batch_.rejected.push_back(why());
    } else {
      ++batch_.rejected_unlisted;
    }
    ++index_;
  }

  void finishEntry() {
    std::string missing;
    for (auto [key, value] :
         {std::pair{"id", &entry_.id}, {"saga_id", &entry_.saga_id}, {"action", &entry_.action}}) {
      if (!*value || (*value)->empty()) missing += (missing.empty() ? "" : ", ") + std::string(key);
    }
    if (!missing.empty()) {
      reject([&] { return where(entry_.id) + ": missing or empty " + missing; });
      return;
    }
    if (payload_values_ > kMaxPayloadValues) {
      reject([&] {
        return where(entry_.id) + ": payload has more than " + std::to_string(kMaxPayloadValues) +
               " JSON values";
      });
      return;
    }
    Compensation c;
    c.id = std::move(*entry_.id);
    c.saga_id = std::move(*entry_.saga_id);
    c.action = std::move(*entry_.action);
    c.step = std::move(entry_.step).value_or("");
    if (!oversize_) {
      c.payload_json =
          (!entry_.payload || entry_.payload->is_null()) ? "{}" : entry_.payload->dump();
      entry_.payload.reset();
    }
    const size_t bytes =
        c.id.size() + c.saga_id.size() + c.step.size() + c.action.size() + c.payload_json.size();
    if (oversize_ || bytes > kMaxCompensationBytes) {
      reject([&] {
        return where(c.id) + ": more than " + std::to_string(kMaxCompensationBytes) +
               " bytes (id, saga_id, step, action and payload together)";
      });
      return;
    }
    batch_.valid.push_back(std::move(c));
    ++index_;
  }

  std::vector<Frame> frames_;
  std::string key_;          // the last key read in the root or an entry
  std::string payload_key_;  // the last key read inside a payload
  std::vector<json*> payload_stack_;
  bool root_is_object_ = false;
  bool list_found_ = false;
  size_t index_ = 0;  // of the list element being read
  Entry entry_;
  size_t entry_bytes_ = 0;     // text of the entry being read, as counted so far
  size_t payload_values_ = 0;  // values in its payload so far
  bool oversize_ = false;      // over a bound: its payload is no longer kept
  EntryStream* stream_ = nullptr;
  size_t lists_seen_ = 0;  // "compensations" members of the root so far
  CompensationBatch batch_;
  NumberTokens numbers_;  // the text's numbers, moved on with each one read
};

}  // namespace

Result<CompensationBatch> readCompensations(std::string_view body, size_t max_bytes,
                                            EntryStream* stream) {
  // The entries are read without a document (payloads one at a time, each
  // bounded), so the number of values is not bounded here.
  if (auto ok = checkJsonBounds(body, {max_bytes, kMaxAnswerDepth, SIZE_MAX},
                                "compensations hook answer");
      !ok) {
    return std::unexpected(ok.error());
  }
  CompensationsReader reader(stream, body);
  const bool read = json::sax_parse(body.begin(), body.end(), &reader);
  if (read && reader.listFound()) reader.flush();
  if (!read) {
    return makeError(ErrorCode::kBadResponse,
                     "compensations hook answer is not valid JSON: " + quote(body));
  }
  if (!reader.listFound()) {
    return makeError(
        ErrorCode::kBadResponse,
        "compensations hook answer must be {\"compensations\": [...]}, got " + quote(body));
  }
  return reader.take();
}

Result<CompensationBatch> parseCompensations(std::string_view body, size_t max_bytes) {
  return readCompensations(body, max_bytes, nullptr);
}

HttpAppClient::HttpAppClient(const config::AppConfig& config, Clock& clock, HookObserver observer)
    : base_path_(config.base_url ? config.base_url->path : ""),
      hooks_(config.hooks),
      max_response_bytes_(static_cast<size_t>(config.max_response_bytes)),
      client_(*config.base_url, clock),
      observer_(std::move(observer)) {}

Result<http::ClientResponse> HttpAppClient::send(std::string_view hook, const std::string& method,
                                                 const std::string& path, const std::string& body,
                                                 const Call& call, bool last_call) {
  http::Headers headers;
  // After the last hook the connection is closed rather than kept idle: an
  // idle keep-alive connection would hold one of the app's workers and delay
  // its own shutdown.
  if (last_call) headers.emplace("Connection", "close");
  if (!call.traceparent.empty()) headers.emplace("traceparent", call.traceparent);
  headers.emplace("User-Agent", "lameduck");
  auto res = client_.send(method, base_path_ + path, body, "application/json", headers,
                          call.timeout, max_response_bytes_);
  if (!res) {
    if (observer_) {
      observer_(hook, res.error().code == ErrorCode::kDeadlineExceeded ? "timeout" : "unreachable");
    }
    std::string message = std::string(hook) + " hook: " + res.error().message;
    // The HTTP client names the bound; only here is it known which setting
    // it comes from.
    if (res.error().message.find(kOverBound) != std::string::npos) {
      message += " (app.max_response_bytes";
      message += hook == "compensations"
                     ? "; an app with more pending compensations should page its answer: "
                       "docs/compensation.md, \"Paged hand-off\")"
                     : ")";
    }
    return std::unexpected(Error{res.error().code, std::move(message)});
  }
  if (observer_) observer_(hook, std::to_string(res->status));
  if (call.http_status) *call.http_status = res->status;
  if (res->status < 200 || res->status > 299) {
    return makeError(ErrorCode::kBadResponse,
                     std::string(hook) + " hook: " + method + " " + client_.origin() + base_path_ +
                         path + " answered HTTP " + std::to_string(res->status) +
                         (res->body.empty() ? "" : ": " + quote(res->body)));
  }
  return res;
}

Status HttpAppClient::drain(const Call& call) {
  auto res = send("drain", "POST", hooks_.drain, "{}", call);
  if (!res) return std::unexpected(res.error());
  return {};
}

Result<Figures> HttpAppClient::status(const Call& call) {
  auto res = send("status", "GET", hooks_.status, "", call);
  if (!res) return std::unexpected(res.error());
  return parseStatus(res->body, max_response_bytes_);
}

Result<CompensationBatch> HttpAppClient::compensations(const Call& call) {
  auto res = send("compensations", "GET", hooks_.compensations, "", call);
  if (!res) return std::unexpected(res.error());
  return parseCompensations(res->body, max_response_bytes_);
}

Status HttpAppClient::ack(const std::vector<std::string>& ids, const Call& call) {
  json body = {{"ids", ids}};
  auto res = send("ack", "POST", hooks_.ack, body.dump(), call);
  if (!res) return std::unexpected(res.error());
  return {};
}

Status HttpAppClient::terminate(const Call& call) {
  auto res = send("terminate", "POST", hooks_.terminate, "{}", call, /*last_call=*/true);
  if (!res) return std::unexpected(res.error());
  return {};
}

}  // namespace lameduck::app
