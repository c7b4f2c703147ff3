/* The static ebtrace has no debuginfod client, for two reasons: libdebuginfod needs
 * libcurl, whose static closure (TLS, Kerberos, IDN) Debian does not ship; and
 * libdw's own client loader dlopen()s libdebuginfod.so, which in a static glibc
 * program needs the host's glibc to be the very version linked in.
 *
 * So this file replaces both, at link time: the three libdebuginfod functions
 * symbolize/ calls, and the four global functions of libdw.a's debuginfod-client.o
 * (elfutils 0.188), which therefore is never pulled from the archive and no dlopen
 * is linked in (tests/dist/static_test.cpp checks the symbol table). Both fail the
 * way the real ones do when no server is configured. The static CLI refuses
 * --debuginfod and says that DEBUGINFOD_URLS is ignored (cli/report_cmd.cpp). */
#include <errno.h>
#include <stddef.h>

typedef struct debuginfod_client debuginfod_client;
typedef struct Dwfl Dwfl;

/* libdebuginfod (elfutils/debuginfod.h) */
debuginfod_client* debuginfod_begin(void) {
  errno = ENOSYS;
  return NULL;
}

int debuginfod_find_debuginfo(debuginfod_client* client, const unsigned char* build_id, int build_id_len,
                              char** path) {
  (void)client, (void)build_id, (void)build_id_len;
  if (path) *path = NULL;
  return -ENOSYS;
}

void debuginfod_end(debuginfod_client* client) { (void)client; }

/* libdw's libdwfl/debuginfod-client.c: "no client", "not found" (-1, as without
 * DEBUGINFOD_URLS). */
debuginfod_client* dwfl_get_debuginfod_client(Dwfl* dwfl) {
  (void)dwfl;
  return NULL;
}

int __libdwfl_debuginfod_find_executable(Dwfl* dwfl, const unsigned char* build_id, size_t build_id_len) {
  (void)dwfl, (void)build_id, (void)build_id_len;
  return -1;
}

int __libdwfl_debuginfod_find_debuginfo(Dwfl* dwfl, const unsigned char* build_id, size_t build_id_len) {
  (void)dwfl, (void)build_id, (void)build_id_len;
  return -1;
}

void __libdwfl_debuginfod_end(debuginfod_client* client) { (void)client; }
