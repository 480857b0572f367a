#include "app/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>


namespace lameduck::app {

struct Metrics::Impl {
  explicit Impl(prometheus::Registry& registry)
      : hooks(prometheus::BuildCounter()
                  .Name("lameduck_hook_requests_total")
                  .Help("Requests to the app's drain-protocol hooks, by hook and HTTP code "
                        "(or timeout / unreachable)")
                  .Register(registry)) {}

  prometheus::Family<prometheus::Counter>& hooks;
};

Metrics::Metrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {}

Metrics::~Metrics() = default;

void Metrics::hookRequest(std::string_view hook, std::string_view code) {
  impl_->hooks.Add({{"hook", std::string(hook)}, {"code", std::string(code)}}).Increment();
}

HookObserver Metrics::observer() {
  return [this](std::string_view hook, std::string_view code) { hookRequest(hook, code); };
}

}  // namespace lameduck::app
