/*
 * netconsd native receive path: one UDP socket, batched recvmmsg(2) driven by libuv, one JS call per
 * batch with zero-copy views of the datagrams and their source addresses.
 *
 *   kernel socket queue ──recvmmsg──► slot memory (JS ArrayBuffers) ──► cb(count, rxMs) ──► worker
 *
 * Why native: libuv (1.46, Node 20) reads one datagram per recvmsg(2) and Node makes a Buffer, an
 * rinfo object and a JS call for each; that caps a core at ~220k msgs/s. Here one recvmmsg fills up
 * to `batch` slots and JS is called once (research/native-recv-spike.md: ~940k count-only).
 *
 * Threading: nothing global. Every socket lives on the event loop of the env (main thread or a
 * worker_thread) that opened it, and an async cleanup hook closes it if that env goes away without
 * close() (worker exit / terminate). All calls into this file happen on that env's thread.
 *
 * Buffer lifetime: the slot memory is reused by the next recvmmsg, so the JS callback must consume a
 * batch before it returns (the worker parses each batch synchronously); anything kept longer must be
 * copied.
 *
 * Plain C against node_api.h (Node-API 8): one binary runs on Node 20, 22 and 24.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#ifndef SO_RCVBUFFORCE
#define SO_RCVBUFFORCE 33
#endif
#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
/* include/uapi/linux/sock_diag.h: the layout SO_MEMINFO fills. */
#define NC_MEMINFO_RMEM_ALLOC 0
#define NC_MEMINFO_RCVBUF 1
#define NC_MEMINFO_DROPS 8
#define NC_MEMINFO_VARS 9

/* Bumped when the JS-visible contract of this file changes; src/ingest/native.ts checks it. */
#define NC_ABI 2

#define NC_MAX_BATCH 4096
#define NC_MAX_SLOT 65536
#define NC_BUF_COUNT 5 /* data, offsets, lengths, addrs, ports */

typedef struct nc_sock nc_sock;

/* The JS handle object wraps a box, not the socket, so either side can go first: the box outlives
 * the socket when JS keeps the handle after close(), and the socket outlives the box when the env
 * finalises the handle during teardown before the poll handle's close callback has run. */
typedef struct {
  nc_sock *s;
} nc_box;

struct nc_sock {
  napi_env env;
  int fd;
  int family;
  uv_poll_t poll;
  int poll_active;
  int paused;         /* pause(): not polled, the kernel queues and then drops (counted) */
  int closed;   /* close() or cleanup happened: no more reads, no more JS calls */
  int in_cb;    /* inside a JS callback: re-entrant drain() is refused */
  int in_poll;  /* inside on_readable: JS references stay until it returns */
  nc_box *box;
  napi_ref cb_ref;
  napi_ref self_ref;
  napi_ref buf_ref[NC_BUF_COUNT];
  napi_async_context actx;
  napi_async_cleanup_hook_handle cleanup;

  uint32_t batch;
  uint32_t slot;    /* bytes the kernel may write per datagram */
  uint32_t stride;  /* distance between slots (slot rounded up, plus a cache-set skew) */
  uint32_t max_iter;
  uint8_t *data;
  uint32_t *offsets;
  uint32_t *lengths;
  uint8_t *addrs;
  uint16_t *ports;
  struct mmsghdr *msgs;
  struct iovec *iov;
  struct sockaddr_in6 *names;

  double datagrams;   /* delivered to JS (the JS thread's) */
  /* Kept by whichever thread reads the socket (the JS thread, or the reader thread while it runs)
   * and read by stats() on the JS thread: relaxed atomics, one writer at a time. */
  _Atomic uint64_t batches;
  _Atomic uint64_t truncated;
  _Atomic uint64_t truncated_max_bytes;
  _Atomic uint64_t slot_trims;  /* madvise(MADV_DONTNEED) calls that gave large datagrams' slot pages back */
  uint32_t prev_r;    /* datagrams the previous recvmmsg wrote (their msg_len is still in msgs) */
  uint32_t page;      /* page size */
  _Atomic uint64_t read_errors;
  _Atomic int last_errno;

  /* Reader thread (ring != NULL): see "reader thread" below. While it runs, msgs/iov/names,
   * prev_r and the reading counters above are the reader's; the JS thread fills
   * data/offsets/lengths/addrs/ports from the ring. */
  uv_async_t async;
  uint8_t *stage;     /* the reader's own slots: stage_batch x stride */
  uint32_t stage_batch;
  /* Told to stop while waiting for ring room: datagrams pend_k..pend_r-1 of the stage are still
   * to be put into the ring (drain() does it, after the join). */
  int pend_k, pend_r;
  double pend_rx;
  uint8_t *ring;
  uint64_t ring_size;
  _Atomic uint64_t ring_head;  /* bytes ever written (reader) */
  _Atomic uint64_t ring_tail;  /* bytes ever consumed (JS thread) */
  _Atomic int reader_stop;
  _Atomic int reader_waiting;  /* the reader waits for ring room: wake it through efd */
  int efd;
  pthread_t reader;
  int reader_running;
  uint32_t out_max_bytes;  /* bytes of datagrams per JS batch (the data area they are packed into) */
  _Atomic uint64_t ring_full_waits, ring_trims;
  uint64_t touched_hi;  /* the ring's highest offset written since its last trim (the writer's) */
  double last_trim_ms;
};

/* ---------- small helpers ---------- */

/* The counters above: one writer at a time, so a relaxed load and store is an increment. */
#define CNT_ADD(x, v) atomic_store_explicit(&(x), atomic_load_explicit(&(x), memory_order_relaxed) + (v), memory_order_relaxed)
#define CNT_GET(x) ((double)atomic_load_explicit(&(x), memory_order_relaxed))

static const char *errno_name (int e) {
  switch (e) {
    case EACCES: return "EACCES";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case ENODEV: return "ENODEV";
    case EPERM: return "EPERM";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EBADF: return "EBADF";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EAGAIN: return "EAGAIN";
    default: return "EIO";
  }
}

/* Throws an Error with `.code` = errno name and `.syscall`, the shape Node's own socket errors have. */
static void throw_sys (napi_env env, const char *syscall, int e) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s failed: %s", syscall, strerror(e));
  napi_value m, c, err, sc, en;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &err);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, err, "syscall", sc);
  napi_create_int32(env, -e, &en);
  napi_set_named_property(env, err, "errno", en);
  napi_throw(env, err);
}

static int get_u32 (napi_env env, napi_value obj, const char *key, uint32_t def, uint32_t *out) {
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok) return -1;
  if (!has) { *out = def; return 0; }
  napi_value v;
  napi_valuetype t;
  napi_get_named_property(env, obj, key, &v);
  napi_typeof(env, v, &t);
  if (t == napi_undefined) { *out = def; return 0; }
  if (t != napi_number) return -1;
  double d;
  napi_get_value_double(env, v, &d);
  if (!(d >= 0 && d <= 4294967295.0)) return -1;
  *out = (uint32_t)d;
  return 0;
}

static double now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* One stamp per batch, CLOCK_REALTIME in ms: what netconsd's listener stores as rcv_time. */
  return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

/* ---------- receive ---------- */

/* Slot pages past this many bytes are given back to the kernel once JS is done with a batch. */
#define NC_TRIM_AT 8192u

/*
 * Resident slot memory stays small whatever senders do: a slot is up to 64 KiB of address space,
 * and a 60 kB datagram makes all of it resident (512 slots: 32 MiB per worker, kept for the
 * process's life). Before the next recvmmsg overwrites the slots (JS has consumed the previous
 * batch: the worker parses synchronously and copies what it keeps), the pages a large datagram
 * touched beyond NC_TRIM_AT are dropped with MADV_DONTNEED; the kernel zero-fills them if a large
 * datagram comes again. Only whole pages inside the slot are dropped, never a page shared with
 * the next slot. One syscall per large datagram (netconsole itself sends <= 1000 bytes), none for
 * normal traffic. What one recvmmsg can touch at once is bounded by the socket's receive buffer.
 */
static void trim_slots (nc_sock *s, uint8_t *slots) {
  uint32_t n = s->prev_r;
  s->prev_r = 0;
  if (s->slot <= NC_TRIM_AT) return;
  uintptr_t mask = (uintptr_t)s->page - 1;
  for (uint32_t k = 0; k < n; k++) {
    uint32_t len = s->msgs[k].msg_len;
    if (len > s->slot) len = s->slot;
    if (len <= NC_TRIM_AT + s->page) continue;
    uintptr_t base = (uintptr_t)(slots + (size_t)k * s->stride);
    uintptr_t from = (base + NC_TRIM_AT + mask) & ~mask;
    uintptr_t to = (base + len) & ~mask;
    if (to > from && madvise((void *)from, to - from, MADV_DONTNEED) == 0) CNT_ADD(s->slot_trims, 1);
  }
}

/* The sender's address as 16 bytes and its port. */
static void put_addr (const struct sockaddr_in6 *sa, uint8_t *a, uint16_t *port) {
  if (sa->sin6_family == AF_INET6) {
    memcpy(a, &sa->sin6_addr, 16);
    *port = ntohs(sa->sin6_port);
  } else if (sa->sin6_family == AF_INET) {
    /* Only on an AF_INET socket (IPv6 disabled on the host): present it as ::ffff:a.b.c.d like
     * the dual-stack socket does, so the address layout is one shape for every consumer. */
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    memset(a, 0, 10);
    a[10] = 0xff; a[11] = 0xff;
    memcpy(a + 12, &s4->sin_addr, 4);
    *port = ntohs(s4->sin_port);
  } else {
    memset(a, 0, 16);
    *port = 0;
  }
}

/* One recvmmsg of up to n datagrams into `slots` (the JS data area, or the reader's stage).
 * Returns what the kernel returned, or -1 with errno kept (an error other than EAGAIN/EINTR is
 * counted). */
static int slots_recv (nc_sock *s, uint8_t *slots, uint32_t n) {
  trim_slots(s, slots);
  for (uint32_t i = 0; i < n; i++) s->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
  /* MSG_TRUNC in flags makes msg_len the datagram's real length (udp_recvmsg), so a truncation can
   * be reported with the size that would have fitted. */
  int r = recvmmsg(s->fd, s->msgs, n, MSG_DONTWAIT | MSG_TRUNC, NULL);
  if (r < 0) {
    int e = errno;
    if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR) {
      CNT_ADD(s->read_errors, 1);
      atomic_store_explicit(&s->last_errno, e, memory_order_relaxed);
    }
    errno = e;
    return -1;
  }
  s->prev_r = (uint32_t)r;
  CNT_ADD(s->batches, 1);
  return r;
}

/* The length of datagram k of the last read, or -1 when it did not fit its slot (counted, with
 * the size that would have fitted). */
static int64_t slot_len (nc_sock *s, int k) {
  uint32_t len = s->msgs[k].msg_len;
  if ((s->msgs[k].msg_hdr.msg_flags & MSG_TRUNC) || len > s->slot) {
    CNT_ADD(s->truncated, 1);
    if (len > atomic_load_explicit(&s->truncated_max_bytes, memory_order_relaxed)) atomic_store_explicit(&s->truncated_max_bytes, len, memory_order_relaxed);
    return -1;
  }
  return len;
}

/* One read into the JS arrays (no reader thread). Returns the datagrams handed over (truncated
 * ones skipped), or -1 when nothing was read; *raw gets what the kernel returned, so the caller
 * can tell a short batch (queue drained) from a full one. */
static int recv_batch (nc_sock *s, int *raw) {
  *raw = 0;
  int r = slots_recv(s, s->data, s->batch);
  if (r < 0) return -1;
  *raw = r;
  uint32_t j = 0;
  for (int k = 0; k < r; k++) {
    int64_t len = slot_len(s, k);
    if (len < 0) continue;
    s->offsets[j] = (uint32_t)k * s->stride;
    s->lengths[j] = (uint32_t)len;
    put_addr(&s->names[k], s->addrs + 16 * j, &s->ports[j]);
    j++;
  }
  s->datagrams += j;
  return (int)j;
}

/* Calls cb(count, rxMs). Returns napi_ok or the status of the call (an exception is left pending). */
static napi_status call_js_at (nc_sock *s, napi_env env, napi_value recv, napi_value cb, int n, double rx_ms) {
  napi_value argv[2];
  napi_create_uint32(env, (uint32_t)n, &argv[0]);
  napi_create_double(env, rx_ms, &argv[1]);
  s->in_cb = 1;
  napi_status st = napi_call_function(env, recv, cb, 2, argv, NULL);
  s->in_cb = 0;
  return st;
}

static napi_status call_js (nc_sock *s, napi_env env, napi_value recv, napi_value cb, int n) {
  return call_js_at(s, env, recv, cb, n, now_ms());
}

static void release_js (nc_sock *s);

typedef void (*nc_deliver_fn) (nc_sock *s, napi_env env, napi_value self, napi_value cb, napi_value *exc);

/* Runs deliver() as a libuv-driven JS callback: in handle and callback scopes (promise jobs and
 * nextTicks queued by the batch callback run when the scope closes, as after any libuv callback;
 * one scope per wakeup, not per batch), with an exception it caught rethrown as uncaught
 * (swallowing it would lose the worker's error silently). */
static void js_wakeup (nc_sock *s, nc_deliver_fn deliver) {
  napi_env env = s->env;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  napi_value self, cb;
  napi_get_reference_value(env, s->self_ref, &self);
  napi_get_reference_value(env, s->cb_ref, &cb);
  napi_callback_scope cs;
  s->in_poll = 1;
  int have_cs = napi_open_callback_scope(env, self, s->actx, &cs) == napi_ok;
  napi_value exc = NULL;
  deliver(s, env, self, cb, &exc);
  if (have_cs) napi_close_callback_scope(env, cs);
  if (exc != NULL) napi_fatal_exception(env, exc);
  s->in_poll = 0;
  if (s->closed) release_js(s); /* close() was called from the callback */
  napi_close_handle_scope(env, hs);
}

static void poll_deliver (nc_sock *s, napi_env env, napi_value self, napi_value cb, napi_value *exc) {
  /* Bounded so one busy socket cannot starve timers (ncrx's 200 ms hold) or other handles;
   * epoll is level-triggered, so whatever is left wakes us again on the next loop turn. */
  for (uint32_t it = 0; it < s->max_iter && !s->closed && !s->paused; it++) {
    int raw;
    int n = recv_batch(s, &raw);
    if (n < 0) break;
    if (n > 0 && call_js(s, env, self, cb, n) != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) napi_get_and_clear_last_exception(env, exc);
      break;
    }
    if ((uint32_t)raw < s->batch) break;
  }
}

static void on_readable (uv_poll_t *h, int status, int events) {
  (void)events;
  nc_sock *s = (nc_sock *)h->data;
  if (s->closed) return;
  if (status < 0) {
    CNT_ADD(s->read_errors, 1);
    atomic_store_explicit(&s->last_errno, -status, memory_order_relaxed);
    return;
  }
  js_wakeup(s, poll_deliver);
}

/* ---------- reader thread ---------- */

/*
 * With ringBytes > 0 the socket is read by a thread of its own, as rsyslog's imudp thread reads
 * for its main queue:
 *
 *   kernel queue ──recvmmsg──► reader thread (stage slots) ──copy──► byte ring ──uv_async──►
 *   JS thread: packed into data/offsets/lengths/addrs/ports ──► cb(count, rxMs)
 *
 * Why: on one thread, every pause of the JS thread (a garbage collection, a sink's write, the
 * scheduler giving the CPU to another process) left the socket unread, and at a few hundred
 * thousand datagrams a second the kernel's receive buffer (~1 KiB of accounting per small
 * datagram) overflowed within ~25 ms while the thread still had CPU to spare. The ring holds the
 * datagrams themselves (32 bytes of header each): 4 MiB is ~30k netconsole messages. The
 * recvmmsg syscalls also leave the JS thread.
 *
 * Nothing is dropped here: when the ring is full the reader stops reading and waits for room, the
 * kernel's buffer fills, and the kernel drops and counts (SO_MEMINFO, netconsd_socket_drops_total).
 * pause() stops the JS side only: the reader fills the ring, then stops. One producer, one
 * consumer: head and tail are byte counters; an entry never wraps (a marker sends the consumer
 * back to the start).
 */
typedef struct {
  uint32_t len;
  uint16_t port;
  uint16_t pad;
  double rx_ms;
  uint8_t addr[16];
} nc_ent;
#define NC_ENT_WRAP 0xffffffffu
#define NC_ENT_BYTES(len) ((uint64_t)sizeof(nc_ent) + (((uint64_t)(len) + 7u) & ~(uint64_t)7u))
/* Datagrams per recvmmsg on the reader thread. Slots are ~64 KiB apart and a datagram makes at
 * least a page of its slot resident: 512 slots kept 2 MiB per worker resident, 64 keep 256 KiB,
 * and the reader loops instead. A read that does not fill the stage sleeps 1 ms before the next,
 * so that one finds a batch (the coalescing src/worker/worker-main.ts does on the JS side). */
#define NC_STAGE_BATCH 64

static void efd_clear (int efd) {
  uint64_t v;
  while (read(efd, &v, sizeof v) == (ssize_t)sizeof v) {}
}

static void efd_wake (int efd) {
  uint64_t one = 1;
  ssize_t r = write(efd, &one, sizeof one);
  (void)r;
}

/*
 * Room for an entry of `need` bytes at *head (the writer's unpublished head), skipping to the
 * ring's start with a marker when the end is too close; *at gets the entry's offset in the ring.
 * wait: 1 blocks until the consumer frees room (returns -1 only when the reader is told to stop);
 * 0 returns -1 at once when full.
 */
static int ring_reserve (nc_sock *s, uint64_t *head, uint64_t need, int wait, int rewind, uint64_t *at) {
  uint64_t h = *head;
  uint64_t pos = h % s->ring_size;
  uint64_t contig = s->ring_size - pos;
  uint64_t skip = need > contig ? contig : 0;
  /* An empty ring starts again at its beginning, so a worker that keeps up uses (and keeps
   * resident) only the first pages; the rest is touched by bursts and trimmed when idle. */
  if (rewind && skip == 0 && pos >= need && h == atomic_load(&s->ring_tail)) skip = contig;
  int counted = 0;
  while (s->ring_size - (h - atomic_load(&s->ring_tail)) < need + skip) {
    if (!wait) return -1;
    /* Publish what is written, so the consumer can free room. */
    atomic_store_explicit(&s->ring_head, h, memory_order_release);
    uv_async_send(&s->async);
    if (!counted) { CNT_ADD(s->ring_full_waits, 1); counted = 1; }
    atomic_store(&s->reader_waiting, 1);
    if (s->ring_size - (h - atomic_load(&s->ring_tail)) >= need + skip) { atomic_store(&s->reader_waiting, 0); break; }
    struct pollfd p = { s->efd, POLLIN, 0 };
    poll(&p, 1, 100);
    efd_clear(s->efd);
    atomic_store(&s->reader_waiting, 0);
    if (atomic_load(&s->reader_stop)) return -1;
  }
  if (skip) {
    ((nc_ent *)(s->ring + pos))->len = NC_ENT_WRAP;
    h += skip;
    pos = 0;
  }
  *head = h;
  *at = pos;
  return 0;
}

static double mono_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Writes an entry at offset `at` (from ring_reserve) and advances *head past it. */
static void ring_put (nc_sock *s, uint64_t at, uint64_t *head, const uint8_t *data, uint32_t len, const struct sockaddr_in6 *sa, double rx) {
  nc_ent *e = (nc_ent *)(s->ring + at);
  e->len = len;
  e->pad = 0;
  e->rx_ms = rx;
  put_addr(sa, e->addr, &e->port);
  memcpy((uint8_t *)(e + 1), data, len);
  uint64_t bytes = NC_ENT_BYTES(len);
  if (at + bytes > s->touched_hi) s->touched_hi = at + bytes;
  *head += bytes;
}



/* What stays resident of an idle ring; the rest is given back after a burst (ring_trim). */
#define NC_RING_KEEP (256u * 1024u)

/* Reader only, with the ring empty (nothing in it for the consumer to read): gives the pages a
 * burst touched beyond NC_RING_KEEP back to the kernel, at most once a second. */
static void ring_trim (nc_sock *s) {
  uint64_t from = ((uint64_t)NC_RING_KEEP + s->page - 1) & ~((uint64_t)s->page - 1);
  uint64_t to = (s->touched_hi + s->page - 1) & ~((uint64_t)s->page - 1);
  if (to > s->ring_size) to = s->ring_size;
  if (to > from && madvise(s->ring + from, to - from, MADV_DONTNEED) == 0) CNT_ADD(s->ring_trims, 1);
  s->touched_hi = NC_RING_KEEP;
  s->last_trim_ms = mono_ms();
}

/* Datagram k of the reader's last read, or NULL when it did not fit (counted). */
static const uint8_t *stage_datagram (nc_sock *s, int k, uint32_t *len) {
  int64_t l = slot_len(s, k);
  if (l < 0) return NULL;
  *len = (uint32_t)l;
  return s->stage + (size_t)k * s->stride;
}

/*
 * The JS thread is woken (uv_async_send) once a JS batch's worth is waiting, or when what waits
 * is 1 ms old, or before the reader blocks: at moderate rates that is one wakeup per ~1 ms with
 * everything that came meanwhile, instead of one per recvmmsg of a few dozen datagrams (each
 * wakeup costs the worker an event-loop turn and a batch's fixed costs).
 */
static void *reader_main (void *arg) {
  nc_sock *s = (nc_sock *)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  uint64_t head = atomic_load(&s->ring_head);
  uint32_t unnotified = 0;
  double first_ms = 0;
  while (!atomic_load(&s->reader_stop)) {
    int r = slots_recv(s, s->stage, s->stage_batch);
    if (r < 0) {
      int e = errno;
      if (unnotified > 0) { uv_async_send(&s->async); unnotified = 0; }
      struct pollfd p[2] = { { s->fd, POLLIN, 0 }, { s->efd, POLLIN, 0 } };
      if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR) {
        /* Idle after a burst: trim the ring once it is empty and a second has passed since the
         * last trim; until then wake up once a second to look. */
        int timeout = -1;
        if (s->touched_hi > NC_RING_KEEP) {
          if (atomic_load(&s->ring_tail) == head && mono_ms() - s->last_trim_ms >= 1000.0) ring_trim(s);
          else timeout = 1000;
        }
        poll(p, 2, timeout);
      } else {
        poll(&p[1], 1, 10); /* counted by slots_recv; not a hot loop on a persistent error */
      }
      if (p[1].revents & POLLIN) efd_clear(s->efd);
      continue;
    }
    double rx = now_ms();
    if (unnotified == 0) first_ms = mono_ms();
    uint32_t pushed = 0;
    for (int k = 0; k < r; k++) {
      uint32_t len = 0;
      uint64_t at;
      const uint8_t *d = stage_datagram(s, k, &len);
      if (d == NULL) continue;
      /* Only the read's first entry may start the ring again (the ring is empty then or never). */
      if (ring_reserve(s, &head, NC_ENT_BYTES(len), 1, pushed == 0, &at) != 0) {
        /* Told to stop: what is left of the stage was read from the kernel and must not vanish. */
        s->pend_k = k;
        s->pend_r = r;
        s->pend_rx = rx;
        break;
      }
      ring_put(s, at, &head, d, len, &s->names[k], rx);
      pushed++;
    }
    unnotified += pushed;
    atomic_store_explicit(&s->ring_head, head, memory_order_release);
    int drained = (uint32_t)r < s->stage_batch;
    if (unnotified > 0 && (unnotified >= s->batch || (drained && mono_ms() - first_ms >= 1.0))) {
      uv_async_send(&s->async);
      unnotified = 0;
    }
    if (drained && !atomic_load(&s->reader_stop)) {
      struct timespec ts = { 0, 1000000 };
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

static int reader_start (nc_sock *s) {
  atomic_store(&s->reader_stop, 0);
  int e = pthread_create(&s->reader, NULL, reader_main, s);
  if (e != 0) return e;
  s->reader_running = 1;
  return 0;
}

static void reader_stop_join (nc_sock *s) {
  if (!s->reader_running) return;
  atomic_store(&s->reader_stop, 1);
  efd_wake(s->efd);
  pthread_join(s->reader, NULL);
  s->reader_running = 0;
}

/* Packs up to `batch` ring entries (and at most out_max_bytes of datagrams) into the JS arrays.
 * Returns the count; *tail is where the consumer stands after them, *rx the first one's time. */
static uint32_t ring_fill (nc_sock *s, uint64_t *tail, double *rx) {
  uint64_t t = atomic_load_explicit(&s->ring_tail, memory_order_relaxed);
  uint64_t h = atomic_load_explicit(&s->ring_head, memory_order_acquire);
  uint32_t j = 0, o = 0;
  uint64_t pos = t % s->ring_size; /* then advanced with t: entries never cross the end */
  while (t < h && j < s->batch) {
    if (pos == s->ring_size) pos = 0;
    const nc_ent *e = (const nc_ent *)(s->ring + pos);
    if (e->len == NC_ENT_WRAP) { t += s->ring_size - pos; pos = 0; continue; }
    if (j > 0 && (uint64_t)o + e->len > s->out_max_bytes) break;
    memcpy(s->data + o, (const uint8_t *)(e + 1), e->len);
    s->offsets[j] = o;
    s->lengths[j] = e->len;
    memcpy(s->addrs + 16 * j, e->addr, 16);
    s->ports[j] = e->port;
    if (j == 0) *rx = e->rx_ms;
    o += (e->len + 7u) & ~7u;
    j++;
    t += NC_ENT_BYTES(e->len);
    pos += NC_ENT_BYTES(e->len);
  }
  *tail = t;
  return j;
}

static void ring_release (nc_sock *s, uint64_t tail) {
  atomic_store(&s->ring_tail, tail);
  if (atomic_load(&s->reader_waiting)) efd_wake(s->efd);
}

static int ring_empty (nc_sock *s) {
  return atomic_load_explicit(&s->ring_tail, memory_order_relaxed) == atomic_load_explicit(&s->ring_head, memory_order_acquire);
}

/* Hands up to max_batches batches of the ring to JS. Returns the datagrams delivered, or -1 when
 * the callback threw (the exception is in *exc, or left pending when exc is NULL). */
static double ring_deliver (nc_sock *s, napi_env env, napi_value self, napi_value cb, uint32_t max_batches, napi_value *exc, int ignore_pause) {
  double total = 0;
  for (uint32_t it = 0; it < max_batches && !s->closed && (ignore_pause || !s->paused); it++) {
    uint64_t tail;
    double rx = 0;
    uint32_t n = ring_fill(s, &tail, &rx);
    if (n == 0) {
      if (tail != atomic_load_explicit(&s->ring_tail, memory_order_relaxed)) ring_release(s, tail); /* a wrap marker */
      break;
    }
    s->datagrams += n;
    total += n;
    napi_status st = call_js_at(s, env, self, cb, (int)n, rx);
    if (!s->closed) ring_release(s, tail);
    if (st != napi_ok) {
      if (exc != NULL) {
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        if (pending) napi_get_and_clear_last_exception(env, exc);
      }
      return -1;
    }
  }
  return total;
}

static void async_deliver (nc_sock *s, napi_env env, napi_value self, napi_value cb, napi_value *exc) {
  ring_deliver(s, env, self, cb, s->max_iter, exc, 0);
  /* More than one wakeup's worth: come back on the next loop turn (timers and messages first). */
  if (*exc == NULL && !s->closed && !s->paused && !ring_empty(s)) uv_async_send(&s->async);
}

static void on_async (uv_async_t *h) {
  nc_sock *s = (nc_sock *)h->data;
  if (s->closed || s->paused) return;
  js_wakeup(s, async_deliver);
}

/* ---------- teardown ---------- */

/* The libuv handle that drives JS: the async handle the reader signals, or the poll handle. */
static uv_handle_t *loop_handle (nc_sock *s) {
  return s->ring != NULL ? (uv_handle_t *)&s->async : (uv_handle_t *)&s->poll;
}

static void free_sock (nc_sock *s) {
  if (s->efd >= 0) close(s->efd);
  free(s->stage);
  if (s->ring != NULL) munmap(s->ring, s->ring_size);
  free(s->msgs);
  free(s->iov);
  free(s->names);
  free(s);
}

static void on_poll_closed (uv_handle_t *h) {
  nc_sock *s = (nc_sock *)h->data;
  if (s->cleanup != NULL) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  free_sock(s);
}

/* Drops every JS reference. Deferred while on_readable is still using them. */
static void release_js (nc_sock *s) {
  napi_env env = s->env;
  if (s->cb_ref) { napi_delete_reference(env, s->cb_ref); s->cb_ref = NULL; }
  if (s->self_ref) { napi_delete_reference(env, s->self_ref); s->self_ref = NULL; }
  for (int i = 0; i < NC_BUF_COUNT; i++) {
    if (s->buf_ref[i]) { napi_delete_reference(env, s->buf_ref[i]); s->buf_ref[i] = NULL; }
  }
  if (s->actx) { napi_async_destroy(env, s->actx); s->actx = NULL; }
}

/* Stops reading and closes the fd now (so the port is free when close() returns); the JS references
 * go when no callback is using them, the C memory once libuv has closed the poll handle. */
static void sock_teardown (nc_sock *s, int from_cleanup_hook) {
  if (s->closed) return;
  s->closed = 1;
  /* The reader goes first (it polls and reads the fd); uv_close stops the poll (epoll_ctl DEL)
   * or the async handle, so closing the fd right after is safe. */
  reader_stop_join(s);
  if (s->poll_active) uv_close(loop_handle(s), on_poll_closed);
  if (s->fd >= 0) { close(s->fd); s->fd = -1; }
  if (s->box != NULL) { s->box->s = NULL; s->box = NULL; }
  s->data = NULL; s->offsets = NULL; s->lengths = NULL; s->addrs = NULL; s->ports = NULL;
  if (!s->in_poll) release_js(s);
  if (!from_cleanup_hook && s->cleanup != NULL) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  if (!s->poll_active) {
    if (s->cleanup != NULL) { napi_remove_async_cleanup_hook(s->cleanup); s->cleanup = NULL; }
    free_sock(s);
  }
}

/* The env (a worker_thread, or the main thread at exit) is going away without close(). */
static void on_env_cleanup (napi_async_cleanup_hook_handle handle, void *arg) {
  nc_sock *s = (nc_sock *)arg;
  s->cleanup = handle; /* removed in on_poll_closed, after libuv is done with the handle */
  sock_teardown(s, 1);
}

static void box_finalize (napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  nc_box *b = (nc_box *)data;
  if (b->s != NULL) b->s->box = NULL;
  free(b);
}

static nc_sock *unwrap (napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  napi_get_cb_info(env, info, argc, argv, &self, NULL);
  nc_box *b = NULL;
  if (napi_unwrap(env, self, (void **)&b) != napi_ok || b == NULL) return NULL;
  return b->s;
}

/* ---------- steering: one sender address -> one socket of the SO_REUSEPORT group ---------- */

/*
 * By default the kernel picks a socket of a SO_REUSEPORT group by hashing the 4-tuple, so a host
 * that sends from two source ports can land on two workers and its ncrx stream splits. This
 * classic BPF program (SO_ATTACH_REUSEPORT_CBPF, Linux >= 4.5) returns the socket index from the
 * source *address* alone, with the hash C netconsd's listener uses to pick a worker: Linux jhash2
 * over the 16 address bytes (IPv4 as ::ffff:a.b.c.d) read as four little-endian words, seed
 * 0xfaceb00c, modulo the group size (src/ingest/hash.ts is the same function). The program runs
 * with the packet's network header reachable at SKF_NET_OFF. An index >= the sockets currently in
 * the group (a worker still starting or restarting) makes the kernel fall back to its own hash.
 *
 * Scratch memory: M[0..2] = a, b, c; M[3..6] = the address words; M[7] = temporary.
 */
#define NC_STEER_MAX_INSNS 512
enum { RA = 0, RB = 1, RC = 2, RW0 = 3, RT = 7 };

typedef struct { struct sock_filter *f; int n; int overflow; } bpfbuf;

static void emit (bpfbuf *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) {
  if (p->n >= NC_STEER_MAX_INSNS) { p->overflow = 1; return; }
  p->f[p->n].code = code; p->f[p->n].jt = jt; p->f[p->n].jf = jf; p->f[p->n].k = k;
  p->n++;
}
#define E(p, code, k) emit((p), (code), 0, 0, (uint32_t)(k))

/* M[dst] = little-endian word from the 4 packet bytes at network offset off. */
static void load_le_word (bpfbuf *p, int dst, int off) {
  E(p, BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + off + 3);
  E(p, BPF_ALU | BPF_LSH | BPF_K, 24);
  E(p, BPF_MISC | BPF_TAX, 0);
  E(p, BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + off + 2);
  E(p, BPF_ALU | BPF_LSH | BPF_K, 16);
  E(p, BPF_ALU | BPF_OR | BPF_X, 0);
  E(p, BPF_MISC | BPF_TAX, 0);
  E(p, BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + off + 1);
  E(p, BPF_ALU | BPF_LSH | BPF_K, 8);
  E(p, BPF_ALU | BPF_OR | BPF_X, 0);
  E(p, BPF_MISC | BPF_TAX, 0);
  E(p, BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + off);
  E(p, BPF_ALU | BPF_OR | BPF_X, 0);
  E(p, BPF_ST, dst);
}

static void set_const (bpfbuf *p, int dst, uint32_t v) {
  E(p, BPF_LD | BPF_IMM, v);
  E(p, BPF_ST, dst);
}

/* M[x] op= M[y] for op in add, sub, xor. */
static void op_rr (bpfbuf *p, uint16_t op, int x, int y) {
  E(p, BPF_LD | BPF_MEM, x);
  E(p, BPF_LDX | BPF_MEM, y);
  E(p, BPF_ALU | op | BPF_X, 0);
  E(p, BPF_ST, x);
}

/* M[x] op= rol32(M[y], k) for op in xor, sub. */
static void op_rol (bpfbuf *p, uint16_t op, int x, int y, int k) {
  E(p, BPF_LD | BPF_MEM, y);
  E(p, BPF_ALU | BPF_LSH | BPF_K, k);
  E(p, BPF_ST, RT);
  E(p, BPF_LD | BPF_MEM, y);
  E(p, BPF_ALU | BPF_RSH | BPF_K, 32 - k);
  E(p, BPF_LDX | BPF_MEM, RT);
  E(p, BPF_ALU | BPF_OR | BPF_X, 0);
  E(p, BPF_MISC | BPF_TAX, 0);
  E(p, BPF_LD | BPF_MEM, x);
  E(p, BPF_ALU | op | BPF_X, 0);
  E(p, BPF_ST, x);
}

/* Builds the program for a group of n sockets; returns its length, or -1. */
static int build_steer_prog (struct sock_filter *f, uint32_t n) {
  bpfbuf p = { f, 0, 0 };
  /* A = skb->protocol (host order). IPv6 -> v6 words; IPv4 -> v4-mapped words; else fall back. */
  E(&p, BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL);
  emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0x86dd);  /* ETH_P_IPV6 */
  emit(&p, BPF_JMP | BPF_JA, 0, 0, 0);                /* patched: to v6 */
  int ja_v6 = p.n - 1;
  emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0x0800);  /* ETH_P_IP */
  E(&p, BPF_RET | BPF_K, 0xffffffffu);                /* neither: kernel's own hash */
  /* IPv4: ::ffff:a.b.c.d -> 0, 0, 0xffff0000, LE(a.b.c.d); source address at offset 12. */
  set_const(&p, RW0 + 0, 0);
  set_const(&p, RW0 + 1, 0);
  set_const(&p, RW0 + 2, 0xffff0000u);
  load_le_word(&p, RW0 + 3, 12);
  emit(&p, BPF_JMP | BPF_JA, 0, 0, 0);                /* patched: to hash */
  int ja_hash = p.n - 1;
  f[ja_v6].k = (uint32_t)(p.n - ja_v6 - 1);
  /* IPv6: source address at offset 8. */
  for (int i = 0; i < 4; i++) load_le_word(&p, RW0 + i, 8 + 4 * i);
  f[ja_hash].k = (uint32_t)(p.n - ja_hash - 1);
  /* jhash2(k, 4, 0xfaceb00c): a = b = c = 0xdeadbeef + (4 << 2) + seed. */
  uint32_t init = 0xdeadbeefu + (4u << 2) + 0xfaceb00cu;
  set_const(&p, RA, init); set_const(&p, RB, init); set_const(&p, RC, init);
  op_rr(&p, BPF_ADD, RA, RW0 + 0); op_rr(&p, BPF_ADD, RB, RW0 + 1); op_rr(&p, BPF_ADD, RC, RW0 + 2);
  /* __jhash_mix(a, b, c) */
  op_rr(&p, BPF_SUB, RA, RC); op_rol(&p, BPF_XOR, RA, RC, 4);  op_rr(&p, BPF_ADD, RC, RB);
  op_rr(&p, BPF_SUB, RB, RA); op_rol(&p, BPF_XOR, RB, RA, 6);  op_rr(&p, BPF_ADD, RA, RC);
  op_rr(&p, BPF_SUB, RC, RB); op_rol(&p, BPF_XOR, RC, RB, 8);  op_rr(&p, BPF_ADD, RB, RA);
  op_rr(&p, BPF_SUB, RA, RC); op_rol(&p, BPF_XOR, RA, RC, 16); op_rr(&p, BPF_ADD, RC, RB);
  op_rr(&p, BPF_SUB, RB, RA); op_rol(&p, BPF_XOR, RB, RA, 19); op_rr(&p, BPF_ADD, RA, RC);
  op_rr(&p, BPF_SUB, RC, RB); op_rol(&p, BPF_XOR, RC, RB, 4);  op_rr(&p, BPF_ADD, RB, RA);
  /* last word, then __jhash_final(a, b, c) */
  op_rr(&p, BPF_ADD, RA, RW0 + 3);
  op_rr(&p, BPF_XOR, RC, RB); op_rol(&p, BPF_SUB, RC, RB, 14);
  op_rr(&p, BPF_XOR, RA, RC); op_rol(&p, BPF_SUB, RA, RC, 11);
  op_rr(&p, BPF_XOR, RB, RA); op_rol(&p, BPF_SUB, RB, RA, 25);
  op_rr(&p, BPF_XOR, RC, RB); op_rol(&p, BPF_SUB, RC, RB, 16);
  op_rr(&p, BPF_XOR, RA, RC); op_rol(&p, BPF_SUB, RA, RC, 4);
  op_rr(&p, BPF_XOR, RB, RA); op_rol(&p, BPF_SUB, RB, RA, 14);
  op_rr(&p, BPF_XOR, RC, RB); op_rol(&p, BPF_SUB, RC, RB, 24);
  E(&p, BPF_LD | BPF_MEM, RC);
  E(&p, BPF_ALU | BPF_MOD | BPF_K, n);
  E(&p, BPF_RET | BPF_A, 0);
  return p.overflow ? -1 : p.n;
}

static int attach_steering (int fd, uint32_t n) {
  struct sock_filter f[NC_STEER_MAX_INSNS];
  int len = build_steer_prog(f, n);
  if (len < 0) { errno = E2BIG; return -1; }
  struct sock_fprog prog = { (unsigned short)len, f };
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

/* ---------- JS methods on the handle ---------- */

static napi_value m_close (napi_env env, napi_callback_info info) {
  size_t argc = 0;
  nc_sock *s = unwrap(env, info, &argc, NULL);
  if (s != NULL) sock_teardown(s, 0);
  return NULL;
}

/* Reads what is queued right now and hands it to the callback, synchronously; for a shutdown that
 * should not lose the datagrams already in the kernel queue. Returns the datagrams delivered. */
/*
 * drain() with a reader thread: stops the reader, then on this thread delivers the ring, what the
 * reader had read but not yet put into a full ring, and the kernel's queue (read through the ring,
 * which is handed over whenever it is full), up to max_batches, whatever the callback does with
 * pause() (as the loop without a reader). Returns 1 when the callback threw (exception pending).
 * The caller starts the reader again.
 */
static int ring_drain (nc_sock *s, napi_env env, napi_value self, napi_value cb, uint32_t max_batches, double *total) {
  reader_stop_join(s);
  int was_paused = s->paused;
  s->paused = 0;
  uint64_t head = atomic_load(&s->ring_head);
  int threw = 0, stuck = 0;
  uint32_t handed = 0;
  while (!threw && !stuck && !s->closed && handed < max_batches) {
    double d = ring_deliver(s, env, self, cb, max_batches - handed, NULL, 1);
    if (d < 0) { threw = 1; break; }
    *total += d;
    if (d > 0) handed++;
    if (s->closed || handed >= max_batches) break;
    int r, k = 0;
    double rx;
    if (s->pend_r > 0) {
      k = s->pend_k; r = s->pend_r; rx = s->pend_rx;
      s->pend_r = 0;
    } else {
      r = slots_recv(s, s->stage, s->stage_batch);
      if (r < 0) break;
      rx = now_ms();
    }
    for (; k < r && !threw && !stuck && !s->closed; k++) {
      uint32_t len = 0;
      uint64_t at = 0;
      const uint8_t *dg = stage_datagram(s, k, &len);
      if (dg == NULL) continue;
      for (int idle = 0; !s->closed && ring_reserve(s, &head, NC_ENT_BYTES(len), 0, 0, &at) != 0;) {
        /* Full: hand the ring over first (a batch at a time, until there is room). */
        atomic_store_explicit(&s->ring_head, head, memory_order_release);
        double m = ring_deliver(s, env, self, cb, 1, NULL, 1);
        if (m < 0) { threw = 1; break; }
        *total += m;
        /* Only a wrap marker was passed; a second empty round would mean no progress at all. */
        if (m == 0 && ++idle > 1) { stuck = 1; break; }
      }
      if (!threw && !stuck && !s->closed) ring_put(s, at, &head, dg, len, &s->names[k], rx);
    }
    atomic_store_explicit(&s->ring_head, head, memory_order_release);
  }
  s->paused = was_paused;
  return threw;
}

static napi_value m_drain (napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  nc_sock *s = unwrap(env, info, &argc, argv);
  double total = 0;
  napi_value out;
  if (s == NULL || s->closed) { napi_create_double(env, 0, &out); return out; }
  if (s->in_cb) {
    napi_throw_error(env, "ERR_NATIVE_REENTRANT", "drain() called from inside the batch callback");
    return NULL;
  }
  uint32_t max_batches = 1024;
  if (argc >= 1) {
    napi_valuetype t;
    napi_typeof(env, argv[0], &t);
    if (t == napi_number) {
      double d; napi_get_value_double(env, argv[0], &d);
      if (d >= 1 && d <= 1e9) max_batches = (uint32_t)d;
    }
  }
  napi_value self, cb;
  napi_get_reference_value(env, s->self_ref, &self);
  napi_get_reference_value(env, s->cb_ref, &cb);
  if (s->ring != NULL) {
    int threw = ring_drain(s, env, self, cb, max_batches, &total);
    if (!s->closed) {
      int e = reader_start(s);
      if (e != 0 && !threw) { throw_sys(env, "pthread_create", e); return NULL; }
      if (!ring_empty(s) && !s->paused) uv_async_send(&s->async);
    }
    if (threw) return NULL; /* the callback's exception propagates */
    napi_create_double(env, total, &out);
    return out;
  }
  for (uint32_t i = 0; i < max_batches && !s->closed; i++) {
    int raw;
    int n = recv_batch(s, &raw);
    if (n < 0) break;
    if (n > 0) {
      total += n;
      if (call_js(s, env, self, cb, n) != napi_ok) return NULL; /* exception propagates */
    }
    if ((uint32_t)raw < s->batch) break;
  }
  napi_create_double(env, total, &out);
  return out;
}

static int meminfo (nc_sock *s, uint32_t mi[NC_MEMINFO_VARS]) {
  if (s == NULL || s->fd < 0) return -1;
  memset(mi, 0, sizeof(uint32_t) * NC_MEMINFO_VARS);
  socklen_t len = sizeof(uint32_t) * NC_MEMINFO_VARS;
  if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) != 0) return -1;
  if (len < sizeof(uint32_t) * (NC_MEMINFO_DROPS + 1)) return -1;
  return 0;
}

/* sk_drops of this very socket (SO_MEMINFO, Linux >= 4.6): datagrams the kernel had for us and
 * threw away, mostly because the receive buffer was full (RcvbufErrors). One getsockopt, no /proc
 * scan, and exact per socket even when several share the port. null when unavailable. */
static napi_value m_kernel_drops (napi_env env, napi_callback_info info) {
  size_t argc = 0;
  nc_sock *s = unwrap(env, info, &argc, NULL);
  uint32_t mi[NC_MEMINFO_VARS];
  napi_value out;
  if (meminfo(s, mi) != 0) { napi_get_null(env, &out); return out; }
  napi_create_double(env, mi[NC_MEMINFO_DROPS], &out);
  return out;
}

static void set_num (napi_env env, napi_value o, const char *k, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

/* Resident bytes of the ring (mincore, a page map at a time), or -1 if unknown. */
static double ring_resident_bytes (nc_sock *s) {
  unsigned char vec[4096];
  size_t pages = s->ring_size / s->page, n = 0;
  for (size_t at = 0; at < pages; at += sizeof vec) {
    size_t k = pages - at < sizeof vec ? pages - at : sizeof vec;
    if (mincore(s->ring + at * s->page, k * s->page, vec) != 0) return -1;
    for (size_t i = 0; i < k; i++) n += vec[i] & 1;
  }
  return (double)n * s->page;
}

static napi_value m_stats (napi_env env, napi_callback_info info) {
  size_t argc = 0;
  nc_sock *s = unwrap(env, info, &argc, NULL);
  napi_value o;
  napi_create_object(env, &o);
  if (s == NULL) return o;
  set_num(env, o, "datagrams", s->datagrams);
  set_num(env, o, "batches", CNT_GET(s->batches));
  set_num(env, o, "truncated", CNT_GET(s->truncated));
  set_num(env, o, "truncatedMaxBytes", CNT_GET(s->truncated_max_bytes));
  set_num(env, o, "slotTrims", CNT_GET(s->slot_trims));
  set_num(env, o, "readErrors", CNT_GET(s->read_errors));
  int last_errno = atomic_load_explicit(&s->last_errno, memory_order_relaxed);
  if (last_errno != 0) {
    napi_value e;
    napi_create_string_utf8(env, errno_name(last_errno), NAPI_AUTO_LENGTH, &e);
    napi_set_named_property(env, o, "lastError", e);
  }
  if (s->ring != NULL) {
    set_num(env, o, "ringBytes", (double)s->ring_size);
    set_num(env, o, "ringUsedBytes", (double)(atomic_load(&s->ring_head) - atomic_load(&s->ring_tail)));
    set_num(env, o, "ringFullWaits", CNT_GET(s->ring_full_waits));
    set_num(env, o, "ringTrims", CNT_GET(s->ring_trims));
    set_num(env, o, "ringResidentBytes", ring_resident_bytes(s));
  }
  uint32_t mi[NC_MEMINFO_VARS];
  if (meminfo(s, mi) == 0) {
    set_num(env, o, "queuedBytes", mi[NC_MEMINFO_RMEM_ALLOC]);
    set_num(env, o, "kernelDrops", mi[NC_MEMINFO_DROPS]);
  }
  return o;
}

static napi_value m_ref (napi_env env, napi_callback_info info) {
  size_t argc = 0;
  nc_sock *s = unwrap(env, info, &argc, NULL);
  if (s != NULL && s->poll_active && !s->closed) uv_ref(loop_handle(s));
  return NULL;
}

/* pause(): stop reading (back-pressure from the worker's sinks). What arrives meanwhile waits in
 * the socket's receive buffer and, once that is full, is dropped by the kernel and counted
 * (/proc/net/udp drops): excess costs this thread nothing. resume() polls again. */
static napi_value m_pause (napi_env env, napi_callback_info info) {
  size_t argc = 0;
  nc_sock *s = unwrap(env, info, &argc, NULL);
  if (s != NULL && s->poll_active && !s->closed && !s->paused) {
    /* With a reader thread it keeps filling the ring, then stops reading when the ring is full. */
    if (s->ring == NULL) uv_poll_stop(&s->poll);
    s->paused = 1;
  }
  return NULL;
}

static napi_value m_resume (napi_env env, napi_callback_info info) {
  size_t argc = 0;
  nc_sock *s = unwrap(env, info, &argc, NULL);
  if (s != NULL && s->poll_active && !s->closed && s->paused) {
    s->paused = 0;
    if (s->ring != NULL) uv_async_send(&s->async);
    else uv_poll_start(&s->poll, UV_READABLE, on_readable);
  }
  return NULL;
}

static napi_value m_unref (napi_env env, napi_callback_info info) {
  size_t argc = 0;
  nc_sock *s = unwrap(env, info, &argc, NULL);
  if (s != NULL && s->poll_active && !s->closed) uv_unref(loop_handle(s));
  return NULL;
}

/* ---------- open ---------- */

static int parse_bind_addr (const char *addr, struct sockaddr_in6 *sa6, struct sockaddr_in *sa4, int *is_v4) {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (strlen(addr) >= sizeof buf) return -1;
  strcpy(buf, addr);
  memset(sa6, 0, sizeof *sa6);
  memset(sa4, 0, sizeof *sa4);
  sa6->sin6_family = AF_INET6;
  sa4->sin_family = AF_INET;
  if (inet_pton(AF_INET, buf, &sa4->sin_addr) == 1) {
    /* netconsd does the same: an IPv4 listen address becomes ::ffff:a.b.c.d on the v6 socket,
     * except 0.0.0.0, which would mean "IPv4 only"; any address is spelt :: here. */
    *is_v4 = 1;
    if (sa4->sin_addr.s_addr == htonl(INADDR_ANY)) {
      sa6->sin6_addr = in6addr_any;
    } else {
      sa6->sin6_addr.s6_addr[10] = 0xff;
      sa6->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&sa6->sin6_addr.s6_addr[12], &sa4->sin_addr, 4);
    }
    return 0;
  }
  *is_v4 = 0;
  char *pct = strchr(buf, '%');
  if (pct != NULL) {
    *pct = '\0';
    unsigned idx = if_nametoindex(pct + 1);
    if (idx == 0) {
      char *end;
      unsigned long v = strtoul(pct + 1, &end, 10);
      if (*end != '\0' || v == 0) return -1;
      idx = (unsigned)v;
    }
    sa6->sin6_scope_id = idx;
  }
  if (inet_pton(AF_INET6, buf, &sa6->sin6_addr) != 1) return -1;
  if (IN6_IS_ADDR_V4MAPPED(&sa6->sin6_addr)) {
    memcpy(&sa4->sin_addr, &sa6->sin6_addr.s6_addr[12], 4);
    *is_v4 = 1;
  } else if (IN6_IS_ADDR_UNSPECIFIED(&sa6->sin6_addr)) {
    sa4->sin_addr.s_addr = htonl(INADDR_ANY);
    *is_v4 = 2; /* usable on an AF_INET socket as a fallback */
  }
  return 0;
}

static napi_value make_ab (napi_env env, size_t bytes, void **ptr, napi_ref *ref) {
  napi_value ab;
  if (napi_create_arraybuffer(env, bytes, ptr, &ab) != napi_ok) return NULL;
  napi_create_reference(env, ab, 1, ref);
  return ab;
}

/*
 * open({ address, port, recvBufferBytes, reusePort, batchSize, slotBytes, maxBatchesPerWakeup,
 *        steerGroupSize }, cb)
 *   -> { handle, data, offsets, lengths, addrs, ports, stride, recvBufferBytes, recvBufferForced,
 *        boundPort, family }
 * cb(count, rxMs) is called once per batch with the first `count` entries of the arrays filled.
 */
static napi_value m_open (napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t0);
  if (argc >= 2) napi_typeof(env, argv[1], &t1);
  if (t0 != napi_object || t1 != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "open(options, callback)");
    return NULL;
  }
  napi_value opts = argv[0];
  char addr[128] = "::";
  {
    bool has = false;
    napi_has_named_property(env, opts, "address", &has);
    if (has) {
      napi_value v; napi_valuetype t; size_t len;
      napi_get_named_property(env, opts, "address", &v);
      napi_typeof(env, v, &t);
      if (t == napi_string) napi_get_value_string_utf8(env, v, addr, sizeof addr, &len);
    }
  }
  uint32_t port, rcvbuf, batch, slot, max_iter, steer, ring_bytes, reuse = 0;
  if (get_u32(env, opts, "port", 0, &port) || port > 65535 ||
      get_u32(env, opts, "recvBufferBytes", 0, &rcvbuf) ||
      get_u32(env, opts, "batchSize", 256, &batch) || batch < 1 || batch > NC_MAX_BATCH ||
      get_u32(env, opts, "slotBytes", 2048, &slot) || slot < 1 || slot > NC_MAX_SLOT ||
      get_u32(env, opts, "maxBatchesPerWakeup", 32, &max_iter) || max_iter < 1 ||
      get_u32(env, opts, "steerGroupSize", 0, &steer) || steer > 65536 ||
      get_u32(env, opts, "ringBytes", 0, &ring_bytes)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "open(): option out of range");
    return NULL;
  }
  {
    napi_value v; bool b = false;
    if (napi_get_named_property(env, opts, "reusePort", &v) == napi_ok &&
        napi_get_value_bool(env, v, &b) == napi_ok && b) reuse = 1;
  }

  struct sockaddr_in6 sa6;
  struct sockaddr_in sa4;
  int is_v4 = 0;
  if (parse_bind_addr(addr, &sa6, &sa4, &is_v4) != 0) {
    napi_throw_error(env, "EINVAL", "open(): address is not an IPv4 or IPv6 address");
    return NULL;
  }
  sa6.sin6_port = htons((uint16_t)port);
  sa4.sin_port = htons((uint16_t)port);

  int family = AF_INET6;
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT) && is_v4) {
    /* Host booted with ipv6.disable=1: an IPv4-only socket still serves IPv4 senders. */
    family = AF_INET;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) { throw_sys(env, "socket", errno); return NULL; }

  int one = 1, zero = 0;
  if (family == AF_INET6 &&
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) {
    /* Set explicitly: the default follows net.ipv6.bindv6only, and IPv4 senders must get through. */
    int e = errno; close(fd); throw_sys(env, "setsockopt(IPV6_V6ONLY)", e); return NULL;
  }
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno; close(fd); throw_sys(env, "setsockopt(SO_REUSEPORT)", e); return NULL;
  }
  int forced = 0;
  if (rcvbuf > 0) {
    int req = rcvbuf > 0x3fffffff ? 0x3fffffff : (int)rcvbuf;
    /* SO_RCVBUFFORCE (CAP_NET_ADMIN) may exceed net.core.rmem_max; SO_RCVBUF is silently capped at
     * it. Either way the kernel doubles the value for its bookkeeping (socket(7)). */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &req, sizeof req) == 0) {
      forced = 1;
    } else if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &req, sizeof req) != 0) {
      int e = errno; close(fd); throw_sys(env, "setsockopt(SO_RCVBUF)", e); return NULL;
    }
  }
  int rc = family == AF_INET6
    ? bind(fd, (struct sockaddr *)&sa6, sizeof sa6)
    : bind(fd, (struct sockaddr *)&sa4, sizeof sa4);
  if (rc != 0) { int e = errno; close(fd); throw_sys(env, "bind", e); return NULL; }
  /* After bind: the socket is in its group now, and the group's program is replaced (every worker
   * attaches the same one). */
  if (reuse && steer > 1 && attach_steering(fd, steer) != 0) {
    int e = errno; close(fd); throw_sys(env, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)", e); return NULL;
  }

  int got = 0;
  socklen_t gl = sizeof got;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
  struct sockaddr_in6 bound;
  socklen_t bl = sizeof bound;
  memset(&bound, 0, sizeof bound);
  getsockname(fd, (struct sockaddr *)&bound, &bl);
  uint16_t bound_port = family == AF_INET6
    ? ntohs(bound.sin6_port) : ntohs(((struct sockaddr_in *)&bound)->sin_port);

  nc_sock *s = calloc(1, sizeof *s);
  nc_box *box = calloc(1, sizeof *box);
  if (s != NULL) {
    s->msgs = calloc(batch, sizeof(struct mmsghdr));
    s->iov = calloc(batch, sizeof(struct iovec));
    s->names = calloc(batch, sizeof(struct sockaddr_in6));
  }
  if (s == NULL || box == NULL || s->msgs == NULL || s->iov == NULL || s->names == NULL) {
    close(fd);
    if (s != NULL) free_sock(s);
    free(box);
    throw_sys(env, "calloc", ENOMEM);
    return NULL;
  }
  s->env = env;
  s->efd = -1;
  s->fd = fd;
  s->family = family;
  s->batch = batch;
  s->slot = slot;
  /* Slots start 64 bytes apart modulo any power of two, so the headers the parser reads first do
   * not all fall into the same few cache sets. */
  s->stride = ((slot + 63u) & ~63u) + 64u;
  s->max_iter = max_iter;
  {
    long pg = sysconf(_SC_PAGESIZE);
    s->page = pg > 0 ? (uint32_t)pg : 4096u;
  }
  if (ring_bytes > 0) {
    /* Room for two of the largest entries at least; a multiple of 8 (entries are 8-aligned). */
    uint64_t rb = ring_bytes;
    if (rb < 2 * NC_ENT_BYTES(slot)) rb = 2 * NC_ENT_BYTES(slot);
    /* Whole pages (ring_trim gives pages back), from mmap so it is page-aligned. */
    rb = (rb + s->page - 1) & ~((uint64_t)s->page - 1);
    s->ring_size = rb;
    void *ring = mmap(NULL, rb, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    s->ring = ring == MAP_FAILED ? NULL : ring;
    s->stage_batch = batch < NC_STAGE_BATCH ? batch : NC_STAGE_BATCH;
    s->stage = malloc((size_t)s->stage_batch * s->stride);
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /* A JS batch packs datagrams densely: 1 MiB of them at most (and always one), so a burst of
     * 60 kB datagrams touches no more of the data area than that. */
    uint64_t area = (uint64_t)batch * s->stride;
    s->out_max_bytes = (uint32_t)(area < (1u << 20) ? area : (1u << 20));
    if (s->ring == NULL || s->stage == NULL || s->efd < 0) {
      int e = s->efd < 0 ? errno : ENOMEM;
      const char *what = s->efd < 0 ? "eventfd" : s->ring == NULL ? "mmap" : "malloc";
      close(fd);
      s->fd = -1;
      free_sock(s);
      free(box);
      throw_sys(env, what, e);
      return NULL;
    }
  }
  s->box = box;
  box->s = s;

  napi_value ret, handle, ab_data, ab_off, ab_len, ab_addr, ab_port, v;
  napi_create_object(env, &ret);
  napi_create_object(env, &handle);
  if ((ab_data = make_ab(env, (size_t)batch * s->stride, (void **)&s->data, &s->buf_ref[0])) == NULL ||
      (ab_off = make_ab(env, (size_t)batch * 4, (void **)&s->offsets, &s->buf_ref[1])) == NULL ||
      (ab_len = make_ab(env, (size_t)batch * 4, (void **)&s->lengths, &s->buf_ref[2])) == NULL ||
      (ab_addr = make_ab(env, (size_t)batch * 16, (void **)&s->addrs, &s->buf_ref[3])) == NULL ||
      (ab_port = make_ab(env, (size_t)batch * 2, (void **)&s->ports, &s->buf_ref[4])) == NULL) {
    box->s = NULL; s->box = NULL; free(box);
    sock_teardown(s, 0);
    napi_throw_error(env, "ENOMEM", "open(): could not allocate receive buffers");
    return NULL;
  }
  for (uint32_t i = 0; i < batch; i++) {
    /* With a reader thread only the first stage_batch are used, on its stage. */
    int used = s->ring == NULL || i < s->stage_batch;
    s->iov[i].iov_base = used ? (s->ring != NULL ? s->stage : s->data) + (size_t)i * s->stride : NULL;
    s->iov[i].iov_len = used ? slot : 0;
    s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
    s->msgs[i].msg_hdr.msg_iovlen = 1;
    s->msgs[i].msg_hdr.msg_name = &s->names[i];
    s->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
  }

  if (napi_wrap(env, handle, box, box_finalize, NULL, NULL) != napi_ok) {
    box->s = NULL; s->box = NULL; free(box);
    sock_teardown(s, 0);
    napi_throw_error(env, "EINVAL", "open(): napi_wrap failed");
    return NULL;
  }
  napi_create_reference(env, argv[1], 1, &s->cb_ref);
  /* Strong while open, so the handle (the async resource of every callback) outlives its socket. */
  napi_create_reference(env, handle, 1, &s->self_ref);
  napi_value res_name;
  napi_create_string_utf8(env, "NetconsdNativeSocket", NAPI_AUTO_LENGTH, &res_name);
  napi_async_init(env, handle, res_name, &s->actx);
  napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup);

  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (s->ring != NULL) {
    s->async.data = s;
    int ue = loop == NULL ? UV_EINVAL : uv_async_init(loop, &s->async, on_async);
    if (ue != 0) {
      sock_teardown(s, 0);
      throw_sys(env, "uv_async_init", -ue);
      return NULL;
    }
    s->poll_active = 1;
    int e = reader_start(s);
    if (e != 0) {
      sock_teardown(s, 0);
      throw_sys(env, "pthread_create", e);
      return NULL;
    }
  } else {
    s->poll.data = s;
    int ue = loop == NULL ? UV_EINVAL : uv_poll_init_socket(loop, &s->poll, fd);
    if (ue == 0) {
      s->poll_active = 1;
      ue = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    }
    if (ue != 0) {
      sock_teardown(s, 0);
      throw_sys(env, "uv_poll_start", -ue);
      return NULL;
    }
  }

  static const struct { const char *name; napi_callback fn; } methods[] = {
    { "close", m_close }, { "drain", m_drain }, { "kernelDrops", m_kernel_drops },
    { "stats", m_stats }, { "ref", m_ref }, { "unref", m_unref }, { "pause", m_pause }, { "resume", m_resume }
  };
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    napi_value fn;
    napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH, methods[i].fn, NULL, &fn);
    napi_set_named_property(env, handle, methods[i].name, fn);
  }
  napi_set_named_property(env, ret, "handle", handle);
  napi_set_named_property(env, ret, "data", ab_data);
  napi_set_named_property(env, ret, "offsets", ab_off);
  napi_set_named_property(env, ret, "lengths", ab_len);
  napi_set_named_property(env, ret, "addrs", ab_addr);
  napi_set_named_property(env, ret, "ports", ab_port);
  set_num(env, ret, "stride", s->stride);
  set_num(env, ret, "recvBufferBytes", got);
  napi_get_boolean(env, forced, &v);
  napi_set_named_property(env, ret, "recvBufferForced", v);
  set_num(env, ret, "boundPort", bound_port);
  napi_create_string_utf8(env, family == AF_INET6 ? "ipv6" : "ipv4", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, ret, "family", v);
  return ret;
}

void nc_register_send (napi_env env, napi_value exports); /* send.c */

NAPI_MODULE_INIT () {
  napi_value fn, abi;
  nc_register_send(env, exports);
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, m_open, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  napi_create_uint32(env, NC_ABI, &abi);
  napi_set_named_property(env, exports, "abi", abi);
  return exports;
}
