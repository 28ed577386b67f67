/*
 * ncblast: paced netconsole load generator for `npm run bench` (loopback only).
 *
 * Sends fixed-size extended-format messages ("<prio>,<seq>,<ts>,-;text") from S sources, each a
 * UDP socket bound to its own loopback address 127.0.0.(i+1) (or ::1 with its own port for -6), so a
 * receiver sees S hosts with independent, gapless sequence numbers. Each send() carries B messages
 * of one source as one UDP GSO super-datagram (UDP_SEGMENT, Linux >= 4.18), which the kernel splits
 * into B datagrams: the cheapest way to reach ~1M msgs/s from one core; without -G, sendmmsg.
 *
 * Usage: ncblast -H host -p port -r rate -d seconds [-s sources] [-l bytes] [-b batch] [-a octet] [-G] [-6]
 *   -a: third octet of the source addresses (127.0.A.i+1), so a warm-up can use other hosts.
 *   -r 0 = as fast as possible. Prints one JSON line: {"sent":N,"seconds":T,"rate":R}.
 *   Pacing: batches are due at start + k*B/rate; it sleeps when ahead by more than 100 us and
 *   spins otherwise (a sleeping sender cannot hit 1M/s with 16-message batches).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define MAX_SOURCES 250
#define MAX_BATCH 64

static double now_s (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Writes one message of exactly len bytes: header, filler text, '\n'. */
static void fill_msg (char *p, int len, unsigned src, uint64_t seq) {
  char head[96];
  int h = snprintf(head, sizeof head, "6,%llu,%llu,-;host %u msg %llu ", (unsigned long long)seq,
                   (unsigned long long)(seq * 1000), src, (unsigned long long)seq);
  if (h > len - 1) h = len - 1;
  memcpy(p, head, (size_t)h);
  for (int i = h; i < len - 1; i++) p[i] = 'a' + (char)(i % 26);
  p[len - 1] = '\n';
}

int main (int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 1514, sources = 16, len = 100, batch = 16, gso = 0, v6 = 0, octet = 0;
  double rate = 100000, secs = 2;
  int opt;
  while ((opt = getopt(argc, argv, "H:p:r:d:s:l:b:a:G6")) != -1) {
    switch (opt) {
      case 'H': host = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'r': rate = atof(optarg); break;
      case 'd': secs = atof(optarg); break;
      case 's': sources = atoi(optarg); break;
      case 'l': len = atoi(optarg); break;
      case 'b': batch = atoi(optarg); break;
      case 'a': octet = atoi(optarg) & 0xff; break;
      case 'G': gso = 1; break;
      case '6': v6 = 1; break;
      default:
        fprintf(stderr, "usage: ncblast -H host -p port -r rate -d seconds [-s sources] [-l bytes] [-b batch] [-G] [-6]\n");
        return 2;
    }
  }
  if (sources < 1 || sources > MAX_SOURCES || len < 40 || len > 1400 || batch < 1 || batch > MAX_BATCH) {
    fprintf(stderr, "ncblast: bad -s/-l/-b\n");
    return 2;
  }
  int fds[MAX_SOURCES];
  struct sockaddr_storage dst;
  socklen_t dlen;
  memset(&dst, 0, sizeof dst);
  if (v6) {
    struct sockaddr_in6 *d = (struct sockaddr_in6 *)&dst;
    d->sin6_family = AF_INET6;
    d->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &d->sin6_addr) != 1) { fprintf(stderr, "ncblast: bad -H\n"); return 2; }
    dlen = sizeof *d;
  } else {
    struct sockaddr_in *d = (struct sockaddr_in *)&dst;
    d->sin_family = AF_INET;
    d->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &d->sin_addr) != 1) { fprintf(stderr, "ncblast: bad -H\n"); return 2; }
    dlen = sizeof *d;
  }
  for (int i = 0; i < sources; i++) {
    fds[i] = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    if (fds[i] < 0) { perror("socket"); return 1; }
    int sndbuf = 4 << 20;
    setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (!v6) {
      struct sockaddr_in a;
      memset(&a, 0, sizeof a);
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(0x7f000001u + ((uint32_t)octet << 8) + (uint32_t)i); /* 127.0.A.(i+1): one host each */
      if (bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
    }
    if (connect(fds[i], (struct sockaddr *)&dst, dlen) != 0) { perror("connect"); return 1; }
    if (gso) {
      int seg = len;
      if (setsockopt(fds[i], SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) != 0) { perror("UDP_SEGMENT"); return 1; }
    }
  }
  uint64_t *seq = calloc((size_t)sources, sizeof(uint64_t));
  char *buf = malloc((size_t)len * MAX_BATCH);
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int k = 0; k < MAX_BATCH; k++) {
    iov[k].iov_base = buf + (size_t)k * len;
    iov[k].iov_len = (size_t)len;
    msgs[k].msg_hdr.msg_iov = &iov[k];
    msgs[k].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0, errors = 0;
  double t0 = now_s(), end = t0 + secs;
  int src = 0;
  for (;;) {
    double t = now_s();
    if (t >= end) break;
    if (rate > 0) {
      double due = t0 + (double)sent / rate;
      if (due > t) {
        if (due - t > 100e-6) {
          struct timespec ts = { 0, (long)((due - t - 50e-6) * 1e9) };
          nanosleep(&ts, NULL);
        }
        continue;
      }
    }
    for (int k = 0; k < batch; k++) fill_msg(buf + (size_t)k * len, len, (unsigned)src, seq[src] + (uint64_t)k);
    int n;
    if (gso) {
      ssize_t r = send(fds[src], buf, (size_t)len * batch, 0);
      n = r < 0 ? -1 : (int)(r / len);
    } else {
      n = sendmmsg(fds[src], msgs, (unsigned)batch, 0);
    }
    if (n <= 0) {
      /* ENOBUFS/EAGAIN under overload: count and retry the same seqs, so every source stays gapless. */
      errors++;
      continue;
    }
    seq[src] += (uint64_t)n;
    sent += (uint64_t)n;
    src = (src + 1) % sources;
  }
  double took = now_s() - t0;
  printf("{\"sent\":%llu,\"seconds\":%.3f,\"rate\":%.0f,\"sendErrors\":%llu}\n", (unsigned long long)sent, took,
         (double)sent / took, (unsigned long long)errors);
  return 0;
}
