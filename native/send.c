/*
 * netconsd native UDP send path for the syslog sink: one sendmmsg(2) carries up to 1024 datagrams
 * of a batch from one buffer, instead of a dgram send (a JS callback, a libuv request) per record.
 *
 *   JS batch buffer + lengths ──sendmmsg──► connected, non-blocking UDP socket ──► receiver
 *
 * Synchronous and non-blocking: sendBatch() sends what the kernel takes now and returns how many
 * datagrams went. On EAGAIN (send buffer full) it returns the count so far and JS retries the rest
 * later; it never blocks the event loop. The socket is connect()ed, so an ICMP port-unreachable
 * from an earlier datagram comes back as ECONNREFUSED (udp(7)), like the dgram path.
 *
 * The fd belongs to JS (src/sinks/syslog/udp-native.ts), which closes it. Registered from
 * recv.c's module init (nc_register_send), so it ships in the same .node file.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define NC_SEND_MAX 1024 /* UIO_MAXIOV: the kernel caps vlen there */

static napi_value throw_errno (napi_env env, const char *what, int err) {
  napi_value msg, code, e;
  char buf[160];
  snprintf(buf, sizeof buf, "%s: %s", what, strerror(err));
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &msg);
  const char *name = err == ECONNREFUSED ? "ECONNREFUSED" : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : err == ENETUNREACH ? "ENETUNREACH" : err == EMSGSIZE ? "EMSGSIZE" : err == EINVAL ? "EINVAL" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &e);
  napi_set_named_property(env, e, "code", code);
  napi_throw(env, e);
  return NULL;
}

/* udpConnect(address: string, port: number, ipv6: boolean, sndbuf: number) → fd */
static napi_value m_udp_connect (napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char addr[64];
  size_t alen = 0;
  uint32_t port = 0;
  bool v6 = false;
  int32_t sndbuf = 0;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, &alen) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &port) != napi_ok || napi_get_value_bool(env, argv[2], &v6) != napi_ok ||
      napi_get_value_int32(env, argv[3], &sndbuf) != napi_ok || port == 0 || port > 65535) {
    return throw_errno(env, "udpConnect(address, port, ipv6, sndbuf)", EINVAL);
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  if (v6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1) return throw_errno(env, "udpConnect: bad IPv6 address", EINVAL);
    sl = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1) return throw_errno(env, "udpConnect: bad IPv4 address", EINVAL);
    sl = sizeof *s4;
  }
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "connect", err);
  }
  napi_create_int32(env, fd, &ret);
  return ret;
}

/*
 * udpSendBatch(fd, buf: Buffer, lens: Uint32Array, from: number, count: number, maxPerCall: number)
 *   → datagrams sent from index `from` (< count - from only on EAGAIN/ENOBUFS). Throws on other
 *   errors, with the count already sent in err.sent. Datagram i starts where i-1 ended.
 */
static napi_value m_udp_send_batch (napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  uint32_t from = 0, count = 0, max_per_call = NC_SEND_MAX;
  char *data = NULL;
  size_t data_len = 0, lens_len = 0;
  void *lens_raw = NULL;
  napi_typedarray_type tt;
  napi_value ab;
  size_t lens_off = 0;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[1], (void **)&data, &data_len) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &tt, &lens_len, &lens_raw, &ab, &lens_off) != napi_ok || tt != napi_uint32_array ||
      napi_get_value_uint32(env, argv[3], &from) != napi_ok || napi_get_value_uint32(env, argv[4], &count) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &max_per_call) != napi_ok || count > lens_len || from > count) {
    return throw_errno(env, "udpSendBatch(fd, buf, lens, from, count, maxPerCall)", EINVAL);
  }
  if (max_per_call == 0 || max_per_call > NC_SEND_MAX) max_per_call = NC_SEND_MAX;
  const uint32_t *lens = lens_raw;
  size_t off = 0;
  for (uint32_t i = 0; i < from; i++) off += lens[i];
  struct mmsghdr msgs[NC_SEND_MAX];
  struct iovec iov[NC_SEND_MAX];
  uint32_t sent = from;
  while (sent < count) {
    uint32_t n = count - sent < max_per_call ? count - sent : max_per_call;
    size_t o = off;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t l = lens[sent + i];
      if (o + l > data_len) return throw_errno(env, "udpSendBatch: lengths exceed the buffer", EINVAL);
      iov[i].iov_base = data + o;
      iov[i].iov_len = l;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      o += l;
    }
    int r = sendmmsg(fd, msgs, n, MSG_DONTWAIT);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) break;
      napi_value e, s;
      throw_errno(env, "sendmmsg", err);
      /* Tell JS how far the batch got. */
      if (napi_get_and_clear_last_exception(env, &e) == napi_ok) {
        napi_create_uint32(env, sent - from, &s);
        napi_set_named_property(env, e, "sent", s);
        napi_throw(env, e);
      }
      return NULL;
    }
    for (int i = 0; i < r; i++) off += lens[sent + i];
    sent += (uint32_t)r;
  }
  napi_create_uint32(env, sent - from, &ret);
  return ret;
}

static napi_value m_udp_close (napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1 && napi_get_value_int32(env, argv[0], &fd) == napi_ok && fd >= 0) close(fd);
  return NULL;
}

void nc_register_send (napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "udpConnect", NAPI_AUTO_LENGTH, m_udp_connect, NULL, &fn);
  napi_set_named_property(env, exports, "udpConnect", fn);
  napi_create_function(env, "udpSendBatch", NAPI_AUTO_LENGTH, m_udp_send_batch, NULL, &fn);
  napi_set_named_property(env, exports, "udpSendBatch", fn);
  napi_create_function(env, "udpClose", NAPI_AUTO_LENGTH, m_udp_close, NULL, &fn);
  napi_set_named_property(env, exports, "udpClose", fn);
}
