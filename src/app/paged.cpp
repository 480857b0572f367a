// The paged compensations fetch (docs/compensation.md, "Paged hand-off"):
// GET <hook>?limit=N[&after=<cursor>] answered with
// {"compensations": [...], "next": "<cursor>"}. Kept apart from
// http_app_client.cpp so the paging extension stays one file.

#include <cstdint>

#include <nlohmann/json.hpp>

#include "app/http_app_client.h"
#include "common/json_in.h"
#include "common/parse.h"

namespace lameduck::app {
namespace {

using json = nlohmann::json;

// Finds the top-level "next" member without building a document: the
// entries themselves are read by parseCompensations. nlohmann's SAX parser
// is iterative, so depth costs no stack here.
class NextReader final : public nlohmann::json_sax<json> {
 public:
  std::optional<std::string> next;
  bool bad_type = false;
  bool root_is_object = false;
  // "compensations" members of the root whose value is an object or array,
  // and whether the last such member (of any type) is an array.
  size_t lists = 0;
  bool last_is_list = false;

  bool null() override {
    return value([] {}, true);
  }
  bool boolean(bool) override {
    return value([] {}, false);
  }
  bool number_integer(number_integer_t) override {
    return value([] {}, false);
  }
  bool number_unsigned(number_unsigned_t) override {
    return value([] {}, false);
  }
  bool number_float(number_float_t, const string_t&) override {
    return value([] {}, false);
  }
  bool string(string_t& s) override {
    return value([&] { next = s; }, true);
  }
  bool binary(binary_t&) override {
    return value([] {}, false);
  }
  bool start_object(std::size_t) override {
    if (depth_ == 0) root_is_object = true;
    list(false);
    container();
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    at_next_ = depth_ == 1 && k == "next";
    at_list_ = depth_ == 1 && k == "compensations";
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    list(true);
    container();
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  // A scalar value: taken when it is the value of the top-level "next".
  template <typename Take>
  bool value(Take take, bool acceptable) {
    if (depth_ == 1 && at_list_) last_is_list = false;
    at_list_ = false;
    if (depth_ == 1 && at_next_) {
      if (acceptable) {
        take();
      } else {
        bad_type = true;
      }
      at_next_ = false;
    }
    return true;
  }
  // A container starts: the value of a root "compensations" member?
  void list(bool array) {
    if (depth_ == 1 && at_list_) {
      ++lists;
      last_is_list = array;
    }
    at_list_ = false;
  }
  void container() {
    if (depth_ == 1 && at_next_) bad_type = true;
    at_next_ = false;
  }

  int depth_ = 0;
  bool at_next_ = false;
  bool at_list_ = false;
};

// The hook's path with the page's query parameters.
std::string pagePath(const std::string& hook, const PageRequest& page) {
  std::string path = hook;
  if (page.limit > 0) {
    path += path.find('?') == std::string::npos ? '?' : '&';
    path += "limit=" + std::to_string(page.limit);
    if (page.after) path += "&after=" + urlEncode(*page.after);
  }
  return path;
}

constexpr std::string_view kBadNext =
    "compensations hook answer: \"next\" must be a string (the cursor of the next page) or null";
// As parseCompensations' bound.
constexpr size_t kMaxPageDepth = 64;

}  // namespace

Result<CompensationPage> parseCompensationsPage(std::string_view body, size_t max_bytes) {
  // The bounds (size, depth) and types are checked here first; the cursor
  // is read after that, without recursion.
  auto batch = parseCompensations(body, max_bytes);
  if (!batch) return std::unexpected(batch.error());
  NextReader reader;
  json::sax_parse(body.begin(), body.end(), &reader, json::input_format_t::json, false);
  if (reader.bad_type) return makeError(ErrorCode::kBadResponse, std::string(kBadNext));
  CompensationPage page{std::move(*batch), std::move(reader.next)};
  if (page.next && page.next->empty()) page.next.reset();
  return page;
}

Result<CompensationPage> streamCompensationsAnswer(std::string_view body, size_t max_bytes,
                                                   size_t chunk, const EntryChunkSink& sink) {
  constexpr std::string_view kWhat = "compensations hook answer";
  if (auto ok = checkJsonBounds(body, {max_bytes, kMaxPageDepth, SIZE_MAX}, kWhat); !ok) {
    return std::unexpected(ok.error());
  }
  // First pass: the whole answer is valid, has the list, and a usable
  // "next"; nothing is kept but the cursor.
  NextReader shape;
  if (!json::sax_parse(body.begin(), body.end(), &shape)) {
    return makeError(ErrorCode::kBadResponse,
                     std::string(kWhat) + " is not valid JSON: " + quoteExcerpt(body));
  }
  if (!shape.root_is_object || !shape.last_is_list) {
    return makeError(ErrorCode::kBadResponse, std::string(kWhat) +
                                                  " must be {\"compensations\": [...]}, got " +
                                                  quoteExcerpt(body));
  }
  if (shape.bad_type) return makeError(ErrorCode::kBadResponse, std::string(kBadNext));
  // Second pass: the entries, handed over a chunk at a time.
  EntryStream stream{chunk, &sink, shape.lists - 1};
  auto batch = readCompensations(body, max_bytes, &stream);
  if (!batch) return std::unexpected(batch.error());
  CompensationPage page{std::move(*batch), std::move(shape.next)};
  if (page.next && page.next->empty()) page.next.reset();
  return page;
}

Result<CompensationPage> HttpAppClient::streamCompensationsPage(const PageRequest& page,
                                                                const Call& call, size_t chunk,
                                                                const EntryChunkSink& sink) {
  auto res = send("compensations", "GET", pagePath(hooks_.compensations, page), "", call);
  if (!res) return std::unexpected(res.error());
  return streamCompensationsAnswer(res->body, max_response_bytes_, chunk, sink);
}

Result<CompensationPage> HttpAppClient::compensationsPage(const PageRequest& page,
                                                          const Call& call) {
  auto res = send("compensations", "GET", pagePath(hooks_.compensations, page), "", call);
  if (!res) return std::unexpected(res.error());
  return parseCompensationsPage(res->body, max_response_bytes_);
}

}  // namespace lameduck::app
