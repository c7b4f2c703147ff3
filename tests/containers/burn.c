/* Workloads of known cost for the container tests, independent of machine load:
 *   burn cpu MS        spin until this process has used MS ms of CPU time
 *   burn io N          N x (read 1 byte of /dev/zero, write it to /dev/null)
 *   burn sleep N MS    N sleeps of MS ms (off-CPU intervals)
 *   burn wait PATH     until PATH exists (10 ms polls, no CPU to speak of)
 *   burn pin CPU       run the following words on CPU only
 *   burn serve DIR/PORT N
 *                      an HTTP/1.1 server on 127.0.0.1:PORT: N connections, one
 *                      request each (Connection: close), answered with 200 and
 *                      2 bytes; the client closes first. It creates
 *                      DIR/PORT.ready once it listens.
 *   burn get DIR/PORT N PATH
 *                      N connections to that server (once DIR/PORT.ready
 *                      exists), each: GET PATH, read the whole answer, close
 * Several words run one after the other: burn cpu 200 io 1000 sleep 5 10. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/* Reads until the buffer ends with the 4 bytes "\r\n\r\n" plus `tail` more bytes. */
static int read_message(int fd, size_t tail) {
  char buf[512];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r <= 0) return -1;
    n += (size_t)r;
    buf[n] = 0;
    char* end = strstr(buf, "\r\n\r\n");
    if (end && n >= (size_t)(end - buf) + 4 + tail) return 0;
    if (n >= sizeof buf - 1) return -1;
  }
}

static int write_all(int fd, const char* s, size_t n) {
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

/* DIR/PORT: the port, and the file saying the server listens. */
static unsigned port_of(const char* arg, char* ready, size_t size) {
  const char* base = strrchr(arg, '/');
  snprintf(ready, size, "%s.ready", arg);
  return (unsigned)atoi(base ? base + 1 : arg);
}

static int serve(const char* arg, long n) {
  char ready[4096];
  unsigned port = port_of(arg, ready, sizeof ready);
  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(ls, (struct sockaddr*)&a, sizeof a) || listen(ls, 64))
    return 1;
  FILE* f = fopen(ready, "w");
  if (!f) return 1;
  fclose(f);
  for (long k = 0; k < n; k++) {
    int c = accept(ls, NULL, NULL);
    char eof;
    if (c < 0 || read_message(c, 0) || write_all(c, kAnswer, sizeof kAnswer - 1)) return 1;
    if (read(c, &eof, 1) != 0) return 1; /* the client closes first */
    close(c);
  }
  close(ls);
  return 0;
}

static int get(const char* arg, long n, const char* path) {
  struct timespec ts = {0, 10000000L};
  char ready[4096];
  unsigned port = port_of(arg, ready, sizeof ready);
  while (access(ready, F_OK) != 0) nanosleep(&ts, NULL);
  char req[512];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", path);
  for (long k = 0; k < n; k++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || connect(s, (struct sockaddr*)&a, sizeof a) || write_all(s, req, (size_t)len) || read_message(s, 2))
      return 1;
    close(s);
  }
  return 0;
}

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static volatile unsigned long sink;

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "cpu") && i + 1 < argc) {
      double until = cpu_ms() + atof(argv[++i]);
      while (cpu_ms() < until)
        for (int k = 0; k < 100000; k++) sink += k;
    } else if (!strcmp(argv[i], "io") && i + 1 < argc) {
      long n = atol(argv[++i]);
      int in = open("/dev/zero", O_RDONLY), out = open("/dev/null", O_WRONLY);
      char c;
      for (long k = 0; k < n; k++)
        if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1) return 1;
    } else if (!strcmp(argv[i], "sleep") && i + 2 < argc) {
      long n = atol(argv[++i]);
      long ms = atol(argv[++i]);
      struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
      for (long k = 0; k < n; k++) nanosleep(&ts, NULL);
    } else if (!strcmp(argv[i], "wait") && i + 1 < argc) {
      const char* path = argv[++i];
      struct timespec ts = {0, 10000000L};
      while (access(path, F_OK) != 0) nanosleep(&ts, NULL);
    } else if (!strcmp(argv[i], "pin") && i + 1 < argc) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(atoi(argv[++i]), &set);
      if (sched_setaffinity(0, sizeof set, &set)) {
        perror("burn pin");
        return 1;
      }
    } else if (!strcmp(argv[i], "serve") && i + 2 < argc) {
      const char* arg = argv[++i];
      if (serve(arg, atol(argv[++i]))) {
        perror("burn serve");
        return 1;
      }
    } else if (!strcmp(argv[i], "get") && i + 3 < argc) {
      const char* arg = argv[++i];
      long n = atol(argv[++i]);
      if (get(arg, n, argv[++i])) {
        perror("burn get");
        return 1;
      }
    } else {
      fprintf(stderr, "usage: burn [cpu MS] [io N] [sleep N MS] [wait PATH] [pin CPU] [serve DIR/PORT N] [get DIR/PORT N PATH]...\n");
      return 2;
    }
  }
  return 0;
}
