#include "support/webhook.h"

namespace lameduck::testing {

WebhookReceiver::WebhookReceiver(std::vector<int> statuses) : statuses_(std::move(statuses)) {
  server_.route("POST", "/weights", [this](const http::Request& req) {
    std::lock_guard lock(mu_);
    bodies_.push_back(nlohmann::json::parse(req.body, nullptr, false));
    auth_.push_back(req.header("Authorization"));
    const int status = statuses_.empty() ? 200 : statuses_.front();
    if (statuses_.size() > 1) statuses_.erase(statuses_.begin());
    return http::Response{status, "{}", "application/json"};
  });
  port_ = server_.bind(HostPort{"127.0.0.1", 0}).value_or(0);
  if (port_ != 0 && !server_.start()) port_ = 0;
}

std::vector<nlohmann::json> WebhookReceiver::received() const {
  std::lock_guard lock(mu_);
  return bodies_;
}

std::vector<std::string> WebhookReceiver::authorizations() const {
  std::lock_guard lock(mu_);
  return auth_;
}

}  // namespace lameduck::testing
