// A C program embedding LuaJIT (libluajit-5.1.so, linked dynamically), for the
// Lua end-to-end tests. Every mode runs until it has used SECONDS of CPU, so
// sample counts do not depend on how loaded the machine is.
//
//   embed_host alternate SCRIPT SECONDS [interp]
//       C -> Lua -> C -> Lua: embed_host_call() lua_pcall()s the script's
//       outer(), which calls the C function bridge() (embed_bridge), which
//       lua_call()s inner(), which burns CPU.
//   embed_host idle SCRIPT SECONDS [interp]
//       The same for SECONDS/4, then burns CPU in plain C (embed_c_spin) while
//       the VM sits idle with a stale current coroutine: no Lua frames there.
//   embed_host twovms SCRIPT_A SCRIPT_B SECONDS [interp]
//       Two VMs, one per thread (named vm_a, vm_b), each running its own
//       script's outer() over and over.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#define NOINLINE __attribute__((noinline))

static double cpu_seconds(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Lua -> C -> Lua: called from outer(), calls inner() back.
NOINLINE int embed_bridge(lua_State* L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  lua_getglobal(L, "inner");
  lua_pushinteger(L, n);
  lua_call(L, 1, 1);
  return 1;
}

// C -> Lua: the script's outer(n).
NOINLINE long embed_host_call(lua_State* L, long n) {
  lua_getglobal(L, "outer");
  lua_pushinteger(L, n);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    fprintf(stderr, "embed_host: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  long r = (long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return r;
}

// Plain C work, no Lua anywhere on the stack.
NOINLINE unsigned long embed_c_spin(double seconds) {
  volatile unsigned long s = 0;
  double stop = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) + seconds;
  while (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) < stop)
    for (int i = 0; i < 100000; i++) s = s * 31 + (unsigned long)i;
  return s;
}

static lua_State* new_vm(const char* script, int interp) {
  lua_State* L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "embed_host: luaL_newstate failed\n");
    exit(1);
  }
  luaL_openlibs(L);
  if (interp) luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  lua_pushcfunction(L, embed_bridge);
  lua_setglobal(L, "bridge");
  if (luaL_dofile(L, script) != 0) {
    fprintf(stderr, "embed_host: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  return L;
}

NOINLINE static long run_lua_for(lua_State* L, double seconds) {
  long sink = 0;
  double stop = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) + seconds;
  while (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) < stop) sink += embed_host_call(L, 20000);
  return sink;
}

struct vm_thread {
  const char* name;
  const char* script;
  double seconds;
  int interp;
};

static void* vm_thread_main(void* p) {
  struct vm_thread* t = p;
  pthread_setname_np(pthread_self(), t->name);
  lua_State* L = new_vm(t->script, t->interp);
  long sink = run_lua_for(L, t->seconds);
  printf("%s: sink %ld\n", t->name, sink % 10);
  lua_close(L);
  return NULL;
}

static int usage(void) {
  fprintf(stderr,
          "usage: embed_host alternate|idle SCRIPT SECONDS [interp]\n"
          "       embed_host twovms SCRIPT_A SCRIPT_B SECONDS [interp]\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const char* mode = argv[1];
  if (strcmp(mode, "twovms") == 0) {
    if (argc < 5) return usage();
    int interp = argc > 5 && strcmp(argv[5], "interp") == 0;
    struct vm_thread a = {"vm_a", argv[2], atof(argv[4]), interp};
    struct vm_thread b = {"vm_b", argv[3], atof(argv[4]), interp};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, vm_thread_main, &a);
    pthread_create(&tb, NULL, vm_thread_main, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    return 0;
  }
  double seconds = atof(argv[3]);
  int interp = argc > 4 && strcmp(argv[4], "interp") == 0;
  lua_State* L = new_vm(argv[2], interp);
  if (strcmp(mode, "alternate") == 0) {
    printf("alternate: sink %ld\n", run_lua_for(L, seconds) % 10);
  } else if (strcmp(mode, "idle") == 0) {
    long sink = run_lua_for(L, seconds / 4);
    printf("idle: sink %ld spin %lu\n", sink % 10, embed_c_spin(seconds) % 10);
  } else {
    return usage();
  }
  lua_close(L);
  return 0;
}
