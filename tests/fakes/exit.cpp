#include "fakes/exit.h"

namespace lameduck::fakes {

const StepReport* findStep(const Summary& s, std::string_view name) {
  for (const StepReport& r : s.steps) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string sectionText(const Summary& s, std::string_view name) {
  const std::string* text = s.section(name);
  return text ? *text : std::string();
}

}  // namespace lameduck::fakes
