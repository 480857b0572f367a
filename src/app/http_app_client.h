#pragma once

// The drain protocol over HTTP: AppClient (app/app_client.h) as configured
// in `app` (base_url, hooks, max_response_bytes), and the parsers of the
// hook answers. Each hook is one request on a keep-alive connection to the
// app, bounded by the call's timeout; the terminate hook closes the
// connection afterwards.

#include <functional>
#include <memory>
#include <string_view>

#include "app/app_client.h"
#include "config/config.h"
#include "http/http.h"

namespace lameduck::app {

// Called once per hook request with the hook name ("drain", "status", ...)
// and the HTTP status code, or "timeout" / "unreachable" when none came back.
using HookObserver = std::function<void(std::string_view hook, std::string_view code)>;

// AppClient over HTTP, as configured in `app`. Thread-safe (calls are
// serialised on one keep-alive connection); the observer is called on the
// calling thread, once per request.
//
// Failure: every call fails as AppClient says (kUnavailable, kDeadlineExceeded,
// kBadResponse; the message names the hook, and for an HTTP error status
// the URL, the status and the answer), never throws.
class HttpAppClient final : public AppClient {
 public:
  // `config.base_url` must be set. `clock` must outlive the client; the
  // client keeps a copy of `observer` (may be empty), so whatever it refers
  // to must outlive the client too. The config is copied.
  HttpAppClient(const config::AppConfig& config, Clock& clock, HookObserver observer);

  Status drain(const Call& call) override;
  Result<Figures> status(const Call& call) override;
  Result<CompensationBatch> compensations(const Call& call) override;
  Status ack(const std::vector<std::string>& ids, const Call& call) override;
  Status terminate(const Call& call) override;
  // GET <compensations>?limit=N[&after=<cursor>] (src/app/paged.cpp).
  Result<CompensationPage> compensationsPage(const PageRequest& page, const Call& call) override;
  Result<CompensationPage> streamCompensationsPage(const PageRequest& page, const Call& call,
                                                   size_t chunk,
                                                   const EntryChunkSink& sink) override;

 private:
  Result<http::ClientResponse> send(std::string_view hook, const std::string& method,
                                    const std::string& path, const std::string& body,
                                    const Call& call, bool last_call = false);

  std::string base_path_;
  config::HooksConfig hooks_;
  size_t max_response_bytes_;
  http::Client client_;
  HookObserver observer_;
};

// Parsers for hook answers; exposed for tests and fuzzing. Never throw, for
// any input: an answer longer than `max_bytes`, nested deeper than 64 levels,
// not JSON, or with a wrong type fails with kBadResponse naming the field.
// Compensation ids (and saga_id, step, action) may be strings or numbers; a
// number keeps its exact text.
Result<Figures> parseStatus(std::string_view body, size_t max_bytes = 16 * 1024 * 1024);
Result<CompensationBatch> parseCompensations(std::string_view body,
                                             size_t max_bytes = 16 * 1024 * 1024);
// A compensations answer with an optional top-level "next" cursor (string or
// null; src/app/paged.cpp). Bounded and checked like parseCompensations.
Result<CompensationPage> parseCompensationsPage(std::string_view body,
                                                size_t max_bytes = 16 * 1024 * 1024);
// The same answer, its valid entries handed to `sink` `chunk` at a time as
// they are read (AppClient::streamCompensationsPage): two passes, the first
// checks the whole answer and finds `next`, so a refused answer hands over
// nothing.
Result<CompensationPage> streamCompensationsAnswer(std::string_view body, size_t max_bytes,
                                                   size_t chunk, const EntryChunkSink& sink);

// Internal to src/app: the entries pass. With a stream, valid entries go to
// its sink `chunk` (0: all) at a time and the first `skip_lists`
// "compensations" members of the root that are containers are skipped (the
// last one counts, as in a document).
struct EntryStream {
  size_t chunk = 0;
  const EntryChunkSink* sink = nullptr;
  size_t skip_lists = 0;
};
Result<CompensationBatch> readCompensations(std::string_view body, size_t max_bytes,
                                            EntryStream* stream);

}  // namespace lameduck::app
