#include "coord/steps.h"

#include <algorithm>
#include <deque>
#include <set>

#include "common/log.h"
#include "common/parse.h"

namespace lameduck::coord {
namespace {

constexpr size_t kMaxServicesRead = 32;
constexpr std::string_view kTerminated = "Terminated";
constexpr std::string_view kDraining = "Draining";

std::string joined(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// For span attributes: the registry is outside input, so a list of pods is
// cut after kMaxListed entries (with a count of the rest).
constexpr size_t kMaxListed = 20;
std::string listed(const std::vector<std::string>& items) {
  if (items.size() <= kMaxListed) return joined(items);
  const std::vector<std::string> head(items.begin(), items.begin() + kMaxListed);
  return joined(head) + " and " + std::to_string(items.size() - kMaxListed) + " more";
}

int64_t millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

std::map<std::string, std::vector<std::string>> findCycles(const std::string& self,
                                                           const std::vector<std::string>& wait_for,
                                                           const RegistryView& view) {
  std::map<std::string, std::vector<std::string>> out;
  if (self.empty()) return out;
  // Edges of the other services: what their Draining pods wait for.
  std::map<std::string, std::set<std::string>> edges;
  for (const auto& [service, pods] : view) {
    if (service == self) continue;
    for (const PodRecord& p : pods) {
      if (p.state != kDraining) continue;
      edges[service].insert(p.wait_for.begin(), p.wait_for.end());
    }
  }
  for (const std::string& start : wait_for) {
    if (start == self || out.contains(start)) continue;
    // Breadth first, so the cycle reported is a shortest one.
    std::map<std::string, std::string> parent{{start, ""}};
    std::deque<std::string> queue{start};
    bool found = false;
    while (!queue.empty() && !found) {
      const std::string at = queue.front();
      queue.pop_front();
      auto it = edges.find(at);
      if (it == edges.end()) continue;
      for (const std::string& next : it->second) {
        if (next == self) {
          std::vector<std::string> path{self};
          for (std::string p = at; !p.empty(); p = parent[p]) path.insert(path.begin() + 1, p);
          path.push_back(self);
          out[start] = std::move(path);
          found = true;
          break;
        }
        if (parent.emplace(next, at).second) queue.push_back(next);
      }
    }
  }
  return out;
}

ExitCoordination::ExitCoordination(Backend& backend, const Settings& settings, Observer& observer,
                                   SlotKeeper* keeper)
    : backend_(backend), settings_(settings), observer_(observer), keeper_(keeper) {
  report_.service = settings_.service;
  report_.pod = settings_.pod;
  report_.wait_for = settings_.wait_for;
}

TimePoint ExitCoordination::waitDeadline(const exit::StepContext& ctx) const {
  return ctx.exit_started + (ctx.deadline - ctx.exit_started) * 3 / 4;
}

bool ExitCoordination::keepTrying(const Error& e, TimePoint now, std::string_view during) {
  observer_.onCoordinationError();
  report_.error = e.message;
  if (!outage_since_) {
    outage_since_ = now;
    log::warn("coordination store unreachable; the exit goes on without it after " +
                  formatDuration(settings_.outage_allowance),
              {{"during", during}, {"error", e.message}});
  }
  return now - *outage_since_ < settings_.outage_allowance;
}

void ExitCoordination::reachable() {
  if (outage_since_) log::info("coordination store reachable again");
  outage_since_.reset();
}

std::string ExitCoordination::outageSummary(TimePoint now) const {
  if (!outage_since_) return "";
  return "coordination store unreachable for " + formatDuration(now - *outage_since_) + " (" +
         report_.error + ")";
}

exit::StepResult SlotStep::run(exit::StepContext& ctx) {
  const Settings& s = session_.settings();
  CoordinationReport& report = session_.report();
  const TimePoint started = ctx.clock.now();
  const TimePoint deadline = std::min(ctx.deadline, session_.waitDeadline(ctx));
  report.slot = "waiting";
  ctx.record.attribute("coordination.service", s.service);
  ctx.record.attribute("coordination.waited_for", std::string("exit slot"));
  ctx.record.attribute("coordination.max_concurrent_exits", s.max_concurrent_exits);
  auto finish = [&](std::string status, TimePoint now) {
    report.slot = std::move(status);
    report.slot_wait = now - started;
    session_.waitEnded(ctx, "slot", now - started);
    ctx.record.attribute("coordination.result", report.slot);
    ctx.record.attribute("coordination.waited_ms", millis(now - started));
    if (report.slot_token) ctx.record.attribute("coordination.slot_token", *report.slot_token);
    if (!report.slot_holders.empty()) {
      ctx.record.attribute("coordination.held_by", listed(report.slot_holders));
    }
    if (!report.error.empty()) ctx.record.attribute("coordination.error", report.error);
  };
  std::vector<std::string> last_holders;
  for (;;) {
    auto attempt =
        session_.backend().acquireSlot(s.service, s.pod, s.max_concurrent_exits, s.ttl());
    const TimePoint now = ctx.clock.now();
    report.slot_wait = now - started;
    if (attempt && attempt->acquired) {
      session_.reachable();
      report.slot_token = attempt->token;
      report.slot_holders.clear();
      finish("held", now);
      if (session_.keeper()) session_.keeper()->holdSlot(attempt->token);
      log::audit("coordination_slot_acquired", {{"service", s.service},
                                                {"pod", s.pod},
                                                {"token", attempt->token},
                                                {"waited_ms", toMillis(now - started)}});
      return exit::StepResult::ok("exit slot " + std::to_string(attempt->token) + " of " +
                                  s.service + " taken after " + formatDuration(now - started));
    }
    if (attempt) {
      session_.reachable();
      report.slot_holders = attempt->holders;
      if (attempt->holders != last_holders) {
        log::info("waiting for an exit slot", {{"service", s.service},
                                               {"max_concurrent_exits", s.max_concurrent_exits},
                                               {"held_by", joined(attempt->holders)}});
        last_holders = attempt->holders;
      }
    } else if (!session_.keepTrying(attempt.error(), now, "taking an exit slot")) {
      const std::string why = session_.outageSummary(now);
      finish("skipped", now);
      return exit::StepResult::skipped(why + "; went on without an exit slot");
    }
    session_.publish(ctx);
    if (now >= deadline) {
      finish("deadline", now);
      return exit::StepResult::deadline(
          "no exit slot of " + s.service + " came free (max_concurrent_exits " +
          std::to_string(s.max_concurrent_exits) + ") within " + formatDuration(now - started) +
          (report.slot_holders.empty() ? std::string()
                                       : "; held by " + joined(report.slot_holders)) +
          (report.error.empty() ? std::string() : "; last store error: " + report.error));
    }
    ctx.clock.sleepUntil(std::min(now + s.poll, deadline));
  }
}

Result<RegistryView> WaitForStep::look() {
  const Settings& s = session_.settings();
  RegistryView view;
  std::deque<std::string> queue(s.wait_for.begin(), s.wait_for.end());
  while (!queue.empty() && view.size() < kMaxServicesRead) {
    const std::string service = queue.front();
    queue.pop_front();
    if (view.contains(service) || service == s.service) continue;
    auto pods = session_.backend().pods(service);
    if (!pods) return std::unexpected(pods.error());
    for (const PodRecord& p : *pods) {
      if (p.state != kDraining) continue;
      for (const std::string& next : p.wait_for) {
        if (!view.contains(next)) queue.push_back(next);
      }
    }
    view.emplace(service, std::move(*pods));
  }
  return view;
}

exit::StepResult WaitForStep::run(exit::StepContext& ctx) {
  const Settings& s = session_.settings();
  CoordinationReport& report = session_.report();
  const TimePoint started = ctx.clock.now();
  const TimePoint deadline = std::min(ctx.deadline, session_.waitDeadline(ctx));
  // Services this pod goes ahead of, because of a cycle it sorts first on.
  std::set<std::string> ahead_of;
  std::set<std::string> cycles_seen;
  std::string cycle_note;
  report.wait_for_status = "waiting";
  if (!s.service.empty()) ctx.record.attribute("coordination.service", s.service);
  ctx.record.attribute("coordination.waited_for", listed(s.wait_for));
  auto finish = [&](std::string status, TimePoint now) {
    report.wait_for_status = std::move(status);
    report.wait_for_wait = now - started;
    session_.waitEnded(ctx, "wait_for", now - started);
    ctx.record.attribute("coordination.result", report.wait_for_status);
    ctx.record.attribute("coordination.waited_ms", millis(now - started));
    if (!report.alive.empty()) ctx.record.attribute("coordination.alive", listed(report.alive));
    if (!report.cycle.empty()) ctx.record.attribute("coordination.cycle", report.cycle);
    if (!report.error.empty()) ctx.record.attribute("coordination.error", report.error);
  };
  std::string last_alive;
  for (;;) {
    auto view = look();
    const TimePoint now = ctx.clock.now();
    report.wait_for_wait = now - started;
    if (view) {
      session_.reachable();
      for (auto& [service, path] : findCycles(s.service, s.wait_for, *view)) {
        const std::string text = joined(path, " -> ");
        const std::string& first = *std::min_element(path.begin(), path.end());
        const bool we_go_first = first == s.service;
        if (we_go_first) ahead_of.insert(service);
        if (!cycles_seen.insert(text).second) continue;
        report.cycle = report.cycle.empty() ? text : report.cycle + "; " + text;
        cycle_note += "; dependency cycle " + text + ": " +
                      (we_go_first ? "went ahead of " + service + " (" + s.service +
                                         " sorts first on the cycle)"
                                   : "waited for " + first + " to go first");
        session_.observer().onCoordinationCycle();
        ctx.record.event("dependency_cycle",
                         {{"coordination.cycle", text},
                          {"coordination.goes_first", first}});
        log::warn("dependency cycle between services; the first by name on it goes first",
                  {{"cycle", text}, {"goes_first", first}, {"this_service", s.service}});
        log::audit("coordination_cycle", {{"cycle", text}, {"goes_first", first}});
      }
      report.alive.clear();
      for (const std::string& service : s.wait_for) {
        if (ahead_of.contains(service)) continue;
        auto it = view->find(service);
        if (it == view->end()) continue;
        for (const PodRecord& p : it->second) {
          if (p.state != kTerminated)
            report.alive.push_back(service + "/" + p.pod + " (" + p.state + ")");
        }
      }
      if (report.alive.empty()) {
        finish("done", now);
        return exit::StepResult::ok("every pod of " + joined(s.wait_for) +
                                    " Terminated or gone after " + formatDuration(now - started) +
                                    cycle_note);
      }
      if (const std::string alive = joined(report.alive); alive != last_alive) {
        log::info("waiting for services to exit first", {{"alive", alive}});
        last_alive = alive;
      }
    } else if (!session_.keepTrying(view.error(), now, "reading the registry")) {
      const std::string why = session_.outageSummary(now);
      finish("skipped", now);
      return exit::StepResult::skipped(why + "; went on without waiting for " + joined(s.wait_for) +
                                       cycle_note);
    }
    session_.publish(ctx);
    if (now >= deadline) {
      finish("deadline", now);
      return exit::StepResult::deadline(
          "still alive after waiting " + formatDuration(now - started) + ": " +
          (report.alive.empty() ? "unknown (" + report.error + ")" : joined(report.alive)) +
          cycle_note);
    }
    ctx.clock.sleepUntil(std::min(now + s.poll, deadline));
  }
}

std::vector<std::unique_ptr<exit::Step>> makeSteps(ExitCoordination& session) {
  std::vector<std::unique_ptr<exit::Step>> steps;
  if (session.settings().capsExits()) steps.push_back(std::make_unique<SlotStep>(session));
  if (!session.settings().wait_for.empty()) {
    steps.push_back(std::make_unique<WaitForStep>(session));
  }
  return steps;
}

exit::SectionDefault sectionDefault() { return {kCoordinationSection, "null"}; }

}  // namespace lameduck::coord
