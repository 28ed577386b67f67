/*
 * netconsd's C output modules (`.so`), run unchanged: dlopen(RTLD_NOW | RTLD_LOCAL) once per
 * process, netconsd's call semantics, and one crossing from JS per worker batch.
 *
 *   worker k (JS): records of one batch ──► flat entries in one ArrayBuffer ──► call(id, k, ab, n)
 *   here (same thread):  for each entry: build struct msg_buf / struct ncrx_msg in a per-thread
 *                        scratch buffer ──► netconsd_output_handler(k, &src, buf, msg)
 *
 * The flat entry layout is written by src/sinks/module/native.ts (keep the two in step; the
 * version is NC_FLAT_ABI):
 *
 *   off  size  field
 *     0     4  entry bytes (header + payload, padded to 8)
 *     4     1  kind: 0 legacy datagram, 1 extended message
 *     5     1  facility
 *     6     1  level
 *     7     1  flags: 1 cont_start, 2 cont, 4 oos, 8 seq_reset, 16 emg, 32 dict is NULL
 *     8    16  source address (IPv6; IPv4 as ::ffff:a.b.c.d)
 *    24     2  source port (host order)
 *    26     2  reserved
 *    28     4  text bytes (legacy: the datagram payload)
 *    32     4  dict bytes
 *    36     4  version bytes (≤ 63)
 *    40     8  seq (double)
 *    48     8  ts_usec (double)
 *    56     8  rx_at_real, ms (double)
 *    64     8  rx_at_mono, ms (double)
 *    72        text, dict, version bytes
 *
 * Modules, as in netconsd, are trusted code: a module that crashes takes the process down.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <node_api.h>
#include "netconsd-module.h"

#define NC_FLAT_ABI 1
#define FLAT_HEADER 72
#define MAX_MODULES 256

typedef int (*init_fn)(int);
typedef void (*exit_fn)(void);
typedef void (*handler_fn)(int, struct in6_addr *, struct msg_buf *, struct ncrx_msg *);

/* One loaded shared object. Shared by every worker thread of the process (dlopen once). */
struct cmod {
  char *path;
  void *dl;
  handler_fn handler;
  init_fn init;
  exit_fn exit;
  int refs;          /* live sink instances (one per worker that uses it) */
  int init_done;     /* init ran (or there is none) */
  int init_result;
  int registered;    /* init(…) was asked for and succeeded: exit() is owed at the last release */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cmod mods[MAX_MODULES];

/* Per-thread scratch for the structures handed to handlers; grows to the largest entry seen. */
static __thread char *scratch;
static __thread size_t scratch_cap;

static napi_value throw_code (napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static int get_args (napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return -1;
  return 0;
}

static int get_int (napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

static napi_value make_int (napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static void set_prop (napi_env env, napi_value obj, const char *name, napi_value v) {
  napi_set_named_property(env, obj, name, v);
}

static napi_value make_bool (napi_env env, int v) {
  napi_value r;
  napi_get_boolean(env, v != 0, &r);
  return r;
}

/*
 * load(path) → { id, init: bool, exit: bool }. The same path loaded again (another worker, another
 * sink) returns the same id and takes a reference. Errors: code ERR_DLOPEN / ERR_NO_HANDLER with
 * dlerror()'s text.
 */
static napi_value m_load (napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return throw_code(env, "ERR_INVALID_ARG_TYPE", "load(path)");
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) return throw_code(env, "ERR_INVALID_ARG_TYPE", "load(path): path must be a string");
  char *path = malloc(len + 1);
  if (path == NULL) return throw_code(env, "ERR_NOMEM", "out of memory");
  napi_get_value_string_utf8(env, argv[0], path, len + 1, &len);

  pthread_mutex_lock(&lock);
  int id = -1, free_slot = -1;
  for (int i = 0; i < MAX_MODULES; i++) {
    if (mods[i].path != NULL && strcmp(mods[i].path, path) == 0) { id = i; break; }
    if (mods[i].path == NULL && free_slot < 0) free_slot = i;
  }
  if (id < 0) {
    if (free_slot < 0) { pthread_mutex_unlock(&lock); free(path); return throw_code(env, "ERR_TOO_MANY", "too many C output modules"); }
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
      const char *e = dlerror();
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", e != NULL ? e : "dlopen failed");
      pthread_mutex_unlock(&lock);
      free(path);
      return throw_code(env, "ERR_DLOPEN", msg);
    }
    handler_fn h = (handler_fn)dlsym(dl, "netconsd_output_handler");
    if (h == NULL) {
      dlclose(dl);
      pthread_mutex_unlock(&lock);
      free(path);
      return throw_code(env, "ERR_NO_HANDLER", "it does not define netconsd_output_handler(int, struct in6_addr *, struct msg_buf *, struct ncrx_msg *)");
    }
    struct cmod *m = &mods[free_slot];
    memset(m, 0, sizeof *m);
    m->path = path;
    path = NULL;
    m->dl = dl;
    m->handler = h;
    m->init = (init_fn)dlsym(dl, "netconsd_output_init");
    m->exit = (exit_fn)dlsym(dl, "netconsd_output_exit");
    m->init_done = m->init == NULL;
    id = free_slot;
  }
  mods[id].refs++;
  int has_init = mods[id].init != NULL, has_exit = mods[id].exit != NULL;
  pthread_mutex_unlock(&lock);
  free(path);

  napi_value r;
  napi_create_object(env, &r);
  set_prop(env, r, "id", make_int(env, id));
  set_prop(env, r, "init", make_bool(env, has_init));
  set_prop(env, r, "exit", make_bool(env, has_exit));
  return r;
}

/*
 * init(id, nrWorkers) → init's return value. Runs netconsd_output_init once per process: the first
 * worker calls it, the others wait for it under the lock and get the same value.
 */
static napi_value m_init (napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t id, nr;
  if (get_args(env, info, 2, argv) != 0 || get_int(env, argv[0], &id) != 0 || get_int(env, argv[1], &nr) != 0 ||
      id < 0 || id >= MAX_MODULES) return throw_code(env, "ERR_INVALID_ARG_TYPE", "init(id, nrWorkers)");
  pthread_mutex_lock(&lock);
  struct cmod *m = &mods[id];
  if (m->path == NULL) { pthread_mutex_unlock(&lock); return throw_code(env, "ERR_NOT_LOADED", "module not loaded"); }
  if (!m->init_done) {
    m->init_result = m->init(nr);
    m->init_done = 1;
  }
  int r = m->init_result;
  if (r == 0) m->registered = 1;
  pthread_mutex_unlock(&lock);
  return make_int(env, r);
}

/*
 * release(id) → true when this was the last reference: netconsd_output_exit ran (if the module
 * has one and its init succeeded) and the object was dlclose()d.
 */
static napi_value m_release (napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t id;
  if (get_args(env, info, 1, argv) != 0 || get_int(env, argv[0], &id) != 0 || id < 0 || id >= MAX_MODULES) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "release(id)");
  }
  pthread_mutex_lock(&lock);
  struct cmod *m = &mods[id];
  int last = 0;
  if (m->path != NULL && m->refs > 0 && --m->refs == 0) {
    last = 1;
    /* netconsd calls exit only for modules it registered (init returned 0); check-config loads
     * without registering. */
    if (m->exit != NULL && m->registered) m->exit();
    dlclose(m->dl);
    free(m->path);
    memset(m, 0, sizeof *m);
  }
  pthread_mutex_unlock(&lock);
  return make_bool(env, last);
}

static int grow_scratch (size_t need) {
  if (need <= scratch_cap) return 0;
  size_t cap = scratch_cap == 0 ? 4096 : scratch_cap;
  while (cap < need) cap *= 2;
  char *p = realloc(scratch, cap);
  if (p == NULL) return -1;
  scratch = p;
  scratch_cap = cap;
  return 0;
}

static uint32_t rd32 (const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16 (const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static double rdf64 (const uint8_t *p) { double v; memcpy(&v, p, 8); return v; }

static uint64_t to_u64 (double d) { return d <= 0 ? 0 : (uint64_t)d; }

/*
 * call(id, thread, arrayBuffer, byteLength, count) → entries handed to the handler. Loops over the
 * batch in C: one crossing per batch, whatever its size.
 */
static napi_value m_call (napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t id, thread, bytes, count;
  if (get_args(env, info, 5, argv) != 0 || get_int(env, argv[0], &id) != 0 || get_int(env, argv[1], &thread) != 0 ||
      get_int(env, argv[3], &bytes) != 0 || get_int(env, argv[4], &count) != 0 || id < 0 || id >= MAX_MODULES) {
    return throw_code(env, "ERR_INVALID_ARG_TYPE", "call(id, thread, arrayBuffer, byteLength, count)");
  }
  void *data = NULL;
  size_t cap = 0;
  if (napi_get_arraybuffer_info(env, argv[2], &data, &cap) != napi_ok) return throw_code(env, "ERR_INVALID_ARG_TYPE", "call: not an ArrayBuffer");
  if (bytes < 0 || (size_t)bytes > cap) return throw_code(env, "ERR_OUT_OF_RANGE", "call: byteLength exceeds the buffer");
  /* The handler pointer is stable while this worker holds a reference (release() is its own call). */
  handler_fn handler = mods[id].handler;
  if (handler == NULL) return throw_code(env, "ERR_NOT_LOADED", "module not loaded");

  const uint8_t *p = data, *end = p + bytes;
  int done = 0;
  for (; done < count && p + FLAT_HEADER <= end; done++) {
    uint32_t entry = rd32(p);
    uint32_t text_len = rd32(p + 28), dict_len = rd32(p + 32), ver_len = rd32(p + 36);
    if (entry < FLAT_HEADER || p + entry > end || (uint64_t)FLAT_HEADER + text_len + dict_len + ver_len > entry) {
      return throw_code(env, "ERR_BAD_ENTRY", "call: malformed batch entry");
    }
    const uint8_t *text = p + FLAT_HEADER, *dict = text + text_len, *ver = dict + dict_len;
    uint8_t flags = p[7];
    struct in6_addr src;
    memcpy(&src, p + 8, 16);
    if (p[4] == 0) {
      if (grow_scratch(sizeof(struct msg_buf) + text_len + 1) != 0) return throw_code(env, "ERR_NOMEM", "out of memory");
      struct msg_buf *b = (struct msg_buf *)scratch;
      memset(b, 0, sizeof *b);
      b->iovec.iov_base = b->buf;
      b->iovec.iov_len = text_len;
      b->src.sin6_family = AF_INET6;
      b->src.sin6_port = htons(rd16(p + 24));
      memcpy(&b->src.sin6_addr, &src, 16);
      b->rcv_time = to_u64(rdf64(p + 56));
      b->rcv_flags = 0;
      b->rcv_bytes = (int)text_len;
      memcpy(b->buf, text, text_len);
      b->buf[text_len] = '\0';
      handler(thread, &src, b, NULL);
    } else {
      if (grow_scratch(sizeof(struct ncrx_msg) + text_len + dict_len + 2) != 0) return throw_code(env, "ERR_NOMEM", "out of memory");
      struct ncrx_msg *m = (struct ncrx_msg *)scratch;
      memset(m, 0, sizeof *m);
      m->seq = to_u64(rdf64(p + 40));
      m->ts_usec = to_u64(rdf64(p + 48));
      m->rx_at_real = to_u64(rdf64(p + 56));
      m->rx_at_mono = to_u64(rdf64(p + 64));
      m->facility = p[5];
      m->level = p[6];
      m->cont_start = (flags & 1) != 0;
      m->cont = (flags & 2) != 0;
      m->oos = (flags & 4) != 0;
      m->seq_reset = (flags & 8) != 0;
      m->emg = (flags & 16) != 0;
      /* As libncrx: text and dictionary share the storage, the first \n replaced by NUL. */
      memcpy(m->buf, text, text_len);
      m->buf[text_len] = '\0';
      m->text = m->buf;
      m->text_len = (int)text_len;
      if (flags & 32) {
        m->dict = NULL;
        m->dict_len = 0;
      } else {
        m->dict = m->buf + text_len + 1;
        memcpy(m->dict, dict, dict_len);
        m->dict[dict_len] = '\0';
        m->dict_len = (int)dict_len;
      }
      size_t vl = ver_len < NCRX_KVERSION_MAX_LEN ? ver_len : NCRX_KVERSION_MAX_LEN - 1;
      memcpy(m->version, ver, vl);
      m->version[vl] = '\0';
      handler(thread, &src, NULL, m);
    }
    p += entry;
  }
  return make_int(env, done);
}

/* The bit fields' bytes, which _Static_assert cannot reach: netconsd's modules read them there. */
static const char *abi_selfcheck (void) {
  struct ncrx_msg m;
  memset(&m, 0, sizeof m);
  m.cont_start = 1; m.cont = 1; m.oos = 1; m.seq_reset = 1;
  if (((uint8_t *)&m)[42] != 0x0f) return "ncrx_msg flag bits are not in byte 42";
  memset(&m, 0, sizeof m);
  m.emg = 1;
  if (((uint8_t *)&m)[156] != 0x01) return "ncrx_msg.emg is not bit 0 of byte 156";
  return NULL;
}

NAPI_MODULE_INIT () {
  const char *bad = abi_selfcheck();
  if (bad != NULL) {
    napi_throw_error(env, "ERR_ABI", bad);
    return NULL;
  }
  struct { const char *name; napi_callback fn; } methods[] = {
    { "load", m_load }, { "init", m_init }, { "call", m_call }, { "release", m_release }
  };
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    napi_value fn;
    napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH, methods[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, methods[i].name, fn);
  }
  napi_set_named_property(env, exports, "abi", make_int(env, NC_FLAT_ABI));
  napi_set_named_property(env, exports, "headerBytes", make_int(env, FLAT_HEADER));
  return exports;
}
