// The paged compensations fetch (docs/compensation.md, "Paged hand-off"):
// GET <hook>?limit=N[&after=<cursor>] answered with
// {"compensations": [...], "next": "<cursor>"}. Kept apart from
// http_app_client.cpp so the paging extension stays one file.

#include <nlohmann/json.hpp>

#include "app/http_app_client.h"
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
    container();
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    at_next_ = depth_ == 1 && k == "next";
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
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
  void container() {
    if (depth_ == 1 && at_next_) bad_type = true;
    at_next_ = false;
  }

  int depth_ = 0;
  bool at_next_ = false;
};

}  // namespace

Result<CompensationPage> parseCompensationsPage(std::string_view body, size_t max_bytes) {
  // The bounds (size, depth) and types are checked here first; the cursor
  // is read after that, without recursion.
  auto batch = parseCompensations(body, max_bytes);
  if (!batch) return std::unexpected(batch.error());
  NextReader reader;
  json::sax_parse(body.begin(), body.end(), &reader, json::input_format_t::json, false);
  if (reader.bad_type) {
    return makeError(ErrorCode::kBadResponse,
                     "compensations hook answer: \"next\" must be a string (the cursor of the "
                     "next page) or null");
  }
  CompensationPage page{std::move(*batch), std::move(reader.next)};
  if (page.next && page.next->empty()) page.next.reset();
  return page;
}

Result<CompensationPage> HttpAppClient::compensationsPage(const PageRequest& page,
                                                          const Call& call) {
  std::string path = hooks_.compensations;
  if (page.limit > 0) {
    path += path.find('?') == std::string::npos ? '?' : '&';
    path += "limit=" + std::to_string(page.limit);
    if (page.after) path += "&after=" + urlEncode(*page.after);
  }
  auto res = send("compensations", "GET", path, "", call);
  if (!res) return std::unexpected(res.error());
  return parseCompensationsPage(res->body, max_response_bytes_);
}

}  // namespace lameduck::app
