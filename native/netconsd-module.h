/*
 * The ABI of netconsd's C output modules, as netconsd's own headers lay it out
 * (include/msgbuf-struct.h and ncrx/ncrx-struct.h of facebook/netconsd), for x86-64 / LP64.
 *
 * A module is a shared object exporting
 *
 *   void netconsd_output_handler(int thread, struct in6_addr *src,
 *                                struct msg_buf *buf, struct ncrx_msg *msg);   (required)
 *   int  netconsd_output_init(int nr_workers);                                 (optional)
 *   void netconsd_output_exit(void);                                           (optional)
 *
 * Exactly one of buf (a legacy datagram) and msg (an extended message) is non-NULL. Memory behind
 * every pointer is valid only during the call. Modules written for netconsd compile against this
 * header unchanged (it declares the same structures and names); the offsets are checked below,
 * so a compiler or ABI that would lay them out differently fails to build instead of handing a
 * module garbage.
 */
#ifndef NETCONSD_MODULE_H
#define NETCONSD_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ncrx_list {
  struct ncrx_list *next;
  struct ncrx_list *prev;
};

#define NCRX_KVERSION_MAX_LEN 64

/* A legacy (non-extended) datagram: the payload as received, NUL-terminated at rcv_bytes. */
struct msg_buf {
  struct msg_buf *next;
  struct iovec iovec;
  struct sockaddr_in6 src;    /* sender address and port (network order) */
  uint64_t rcv_time;          /* CLOCK_REALTIME, ms */
  int rcv_flags;              /* recvmsg() msg_flags */
  int rcv_bytes;
  char buf[];
};

/* An extended message, as libncrx's ncrx_next_msg() hands it out. */
struct ncrx_msg {
  uint64_t seq;
  uint64_t ts_usec;
  char *text;                 /* the kernel's \xNN-escaped text, NUL-terminated */
  char *dict;                 /* raw block after the first \n ("" when none, NULL without a \n) */
  int text_len;
  int dict_len;
  uint8_t facility;
  uint8_t level;
  unsigned cont_start:1;
  unsigned cont:1;
  unsigned oos:1;
  unsigned seq_reset:1;
  struct ncrx_list node;
  uint64_t rx_at_mono;        /* ms */
  uint64_t rx_at_real;        /* ms */
  int ncfrag_off;
  int ncfrag_len;
  int ncfrag_left;
  char version[NCRX_KVERSION_MAX_LEN];
  unsigned emg:1;
  char buf[];
};

int netconsd_output_init(int nr_workers);
void netconsd_output_exit(void);
void netconsd_output_handler(int t, struct in6_addr *src, struct msg_buf *b, struct ncrx_msg *m);

#if defined(__x86_64__) || defined(__aarch64__)
/* Offsets measured on netconsd's own build (x86-64, LP64); aarch64 LP64 lays them out the same. */
_Static_assert(offsetof(struct msg_buf, next) == 0, "msg_buf.next");
_Static_assert(offsetof(struct msg_buf, iovec) == 8, "msg_buf.iovec");
_Static_assert(offsetof(struct msg_buf, src) == 24, "msg_buf.src");
_Static_assert(offsetof(struct msg_buf, rcv_time) == 56, "msg_buf.rcv_time");
_Static_assert(offsetof(struct msg_buf, rcv_flags) == 64, "msg_buf.rcv_flags");
_Static_assert(offsetof(struct msg_buf, rcv_bytes) == 68, "msg_buf.rcv_bytes");
_Static_assert(offsetof(struct msg_buf, buf) == 72, "msg_buf.buf");
_Static_assert(sizeof(struct msg_buf) == 72, "sizeof msg_buf");
_Static_assert(sizeof(struct sockaddr_in6) == 28, "sizeof sockaddr_in6");
_Static_assert(offsetof(struct ncrx_msg, seq) == 0, "ncrx_msg.seq");
_Static_assert(offsetof(struct ncrx_msg, ts_usec) == 8, "ncrx_msg.ts_usec");
_Static_assert(offsetof(struct ncrx_msg, text) == 16, "ncrx_msg.text");
_Static_assert(offsetof(struct ncrx_msg, dict) == 24, "ncrx_msg.dict");
_Static_assert(offsetof(struct ncrx_msg, text_len) == 32, "ncrx_msg.text_len");
_Static_assert(offsetof(struct ncrx_msg, dict_len) == 36, "ncrx_msg.dict_len");
_Static_assert(offsetof(struct ncrx_msg, facility) == 40, "ncrx_msg.facility");
_Static_assert(offsetof(struct ncrx_msg, level) == 41, "ncrx_msg.level");
_Static_assert(offsetof(struct ncrx_msg, node) == 48, "ncrx_msg.node");
_Static_assert(offsetof(struct ncrx_msg, rx_at_mono) == 64, "ncrx_msg.rx_at_mono");
_Static_assert(offsetof(struct ncrx_msg, rx_at_real) == 72, "ncrx_msg.rx_at_real");
_Static_assert(offsetof(struct ncrx_msg, ncfrag_off) == 80, "ncrx_msg.ncfrag_off");
_Static_assert(offsetof(struct ncrx_msg, ncfrag_len) == 84, "ncrx_msg.ncfrag_len");
_Static_assert(offsetof(struct ncrx_msg, ncfrag_left) == 88, "ncrx_msg.ncfrag_left");
_Static_assert(offsetof(struct ncrx_msg, version) == 92, "ncrx_msg.version");
_Static_assert(offsetof(struct ncrx_msg, buf) == 157, "ncrx_msg.buf");
_Static_assert(sizeof(struct ncrx_msg) == 160, "sizeof ncrx_msg");
/* The bit fields (cont_start..seq_reset in byte 42, emg in byte 156) cannot be offsetof()ed: the
 * addon checks them once at load (native/cmod.c, abi_selfcheck). */
#endif

#ifdef __cplusplus
}
#endif

#endif /* NETCONSD_MODULE_H */
