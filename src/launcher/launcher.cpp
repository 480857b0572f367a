// The `lameduck` command users start is this launcher: a small statically
// linked program that blocks the signals lameduck handles and then executes
// the real program, `lameduck-main`, from the directory the launcher itself
// lives in, with the same arguments and environment.
//
// Why: a signal mask survives execve(), a signal's default action does not
// wait for main(). The real program links 17 shared libraries; the dynamic
// loader needs several milliseconds (more on a busy node) before any code of
// lameduck can run, and a SIGTERM in that window would end the process with
// no exit (or, as PID 1 of a container, be dropped). A static program has no
// loader: the mask is in place within microseconds of the exec, and the real
// program inherits it, so an early SIGTERM stays pending until lameduck waits
// for it (docs/signals.md).
//
// Fails only when the real program cannot be found or executed: then it
// prints what it tried and exits 127, as a shell does for a missing command.
// It uses no C++ library and no heap, so it adds ~700 KiB to the image.

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/handled_signals.h"

namespace {

constexpr char kRealName[] = "lameduck-main";

void say(const char* text) {
  // When stderr is gone there is nothing more to do: the exit code says it.
  if (write(STDERR_FILENO, text, strlen(text)) < 0) return;
}

}  // namespace

int main(int, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : lameduck::cli::kHandledSignals) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  // The real program's path: this program's own path with its file name
  // replaced. /proc/self/exe resolves symlinks, so a link to the launcher
  // (e.g. in PATH) still finds its sibling. Without /proc (a chroot), a
  // path in argv[0] is used as it is.
  char path[PATH_MAX];
  const size_t room = sizeof path - sizeof kRealName - 1;
  const ssize_t n = readlink("/proc/self/exe", path, room);
  if (n > 0 && static_cast<size_t>(n) < room) {
    path[n] = '\0';
  } else if (argv[0] != nullptr && strchr(argv[0], '/') != nullptr && strlen(argv[0]) < room) {
    memcpy(path, argv[0], strlen(argv[0]) + 1);
  } else {
    say("lameduck: cannot read /proc/self/exe (nor a path in argv[0]) to find lameduck-main\n");
    return 127;
  }
  char* slash = strrchr(path, '/');
  if (slash == nullptr) {
    say("lameduck: cannot tell the directory lameduck-main is in\n");
    return 127;
  }
  memcpy(slash + 1, kRealName, sizeof kRealName);
  execv(path, argv);
  say("lameduck: cannot execute ");
  say(path);
  say(": ");
  say(strerror(errno));
  say("\n");
  return 127;
}
