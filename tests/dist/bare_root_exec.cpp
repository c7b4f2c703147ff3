// bare_root_exec ROOT PROGRAM [ARGS...]: runs PROGRAM (a path inside ROOT) in a
// fresh mount namespace whose root is ROOT, with the host's /proc, /sys and /dev
// bound in and the old root detached (pivot_root, as container runtimes do), and
// an environment of PATH=/ only. For the static binary's test: nothing but what
// ROOT holds is reachable through the file system.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bare_root_exec: %s: %s\n", what.c_str(), std::strerror(errno));
  _exit(125);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bare_root_exec ROOT PROGRAM [ARGS...]\n");
    return 125;
  }
  std::string root = argv[1];
  if (unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("making / private");
  if (mount(root.c_str(), root.c_str(), nullptr, MS_BIND, nullptr) != 0) die("bind " + root);
  for (const char* d : {"proc", "sys", "dev"}) {
    std::string src = std::string("/") + d, dst = root + "/" + d;
    if (mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) die("bind " + src);
  }
  if (chdir(root.c_str()) != 0) die("chdir " + root);
  if (syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root");
  if (umount2(".", MNT_DETACH) != 0) die("detaching the old root");
  if (chdir("/") != 0) die("chdir /");
  char path_env[] = "PATH=/";
  char* envp[] = {path_env, nullptr};
  execve(argv[2], argv + 2, envp);
  die(std::string("exec ") + argv[2]);
}
