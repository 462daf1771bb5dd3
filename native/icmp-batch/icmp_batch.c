/*
 * A raw IPv4 ICMP socket that sends and receives in batches (sendmmsg, recvmmsg): the monitor's
 * transport at thousands of hosts. raw-socket's path is one system call, one JS callback, one
 * persistent handle and one address string per packet each way; here a wake of the monitor's
 * scheduler is one sendmmsg and one call into C, and a readable socket is one call into JS, which
 * then reads up to a slot buffer's worth of datagrams per recvmmsg.
 *
 * open(onReadable, receiveBufferBytes) -> handle     onReadable(status) when the socket polls readable
 * send(handle, records, count, recordSize, status) -> how many records were dealt with; a record is a
 *     4-byte IPv4 address (network order) then the ICMP message; status[i] is 0 or the errno of record
 *     i; it stops early only when the socket would block (EAGAIN): the caller sends the rest later
 * recv(handle, slots, meta) -> datagrams read (0: none waits; -errno on error); datagram i is in
 *     slots[i * SLOT ...], meta (an Int32Array) [2i] its source address (host order, as a signed 32-bit
 *     number: a small integer to V8), [2i + 1] its length, 0 when
 *     it did not fit its slot (not an echo reply to a probe of ours)
 * close(handle)                                       idempotent
 *
 * Linux only (sendmmsg and recvmmsg); the monitor falls back to raw-socket when this is not built.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define SLOT 256
#define BATCH 256

typedef struct {
  int fd;
  int closed;        /* close() or the finalizer ran: no more sends, receives or callbacks */
  int handle_closed; /* libuv has closed the poll handle, and then the socket */
  int finalized;     /* the JS handle is gone: the struct goes once the poll handle has closed too */
  uv_poll_t poll;
  napi_env env;
  napi_ref on_readable;
  napi_async_context context;
} icmp_socket;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char code[32];
  char message[256];
  snprintf(code, sizeof code, "%s", err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : "EIO");
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, message);
  return NULL;
}

#define CHECK(call)                                                                     \
  do {                                                                                  \
    if ((call) != napi_ok) {                                                            \
      const napi_extended_error_info *info = NULL;                                      \
      napi_get_last_error_info(env, &info);                                             \
      napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "napi call failed"); \
      return NULL;                                                                      \
    }                                                                                   \
  } while (0)

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  icmp_socket *s = handle->data;
  if (s->closed) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argument;
  if (napi_get_reference_value(env, s->on_readable, &callback) == napi_ok && callback != NULL &&
      napi_get_global(env, &receiver) == napi_ok && napi_create_int32(env, status, &argument) == napi_ok) {
    /* make_callback runs the microtasks after it and reports a throw as an uncaught exception. */
    napi_make_callback(env, s->context, receiver, callback, 1, &argument, NULL);
  }
  napi_close_handle_scope(env, scope);
}

/*
 * The socket is closed only once libuv has closed the poll handle: closing the poll handle takes the
 * descriptor's number out of the loop's epoll set, and were the socket closed first, that number could
 * already belong to another socket (a connection of the harness), which would then stop being polled.
 */
static void on_closed(uv_handle_t *handle) {
  icmp_socket *s = handle->data;
  close(s->fd);
  s->fd = -1;
  s->handle_closed = 1;
  if (s->finalized) free(s);
}

/* Stops calling back at once; the socket closes with the poll handle (on_closed). */
static void shut(icmp_socket *s) {
  if (s->closed) return;
  s->closed = 1;
  if (s->on_readable) napi_delete_reference(s->env, s->on_readable);
  s->on_readable = NULL;
  if (s->context) napi_async_destroy(s->env, s->context);
  s->context = NULL;
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  icmp_socket *s = data;
  s->finalized = 1;
  shut(s);
  if (s->handle_closed) free(s);
}

static icmp_socket *unwrap(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "not an ICMP socket handle");
    return NULL;
  }
  return data;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype type;
  CHECK(napi_typeof(env, argv[0], &type));
  if (argc < 2 || type != napi_function) {
    napi_throw_type_error(env, NULL, "open(onReadable, receiveBufferBytes)");
    return NULL;
  }
  int32_t rcvbuf = 0;
  CHECK(napi_get_value_int32(env, argv[1], &rcvbuf));
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return throw_errno(env, "cannot open a raw ICMP socket", errno);
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf); /* not root: as much as rmem_max allows */
  /* Don't fragment: a probe is 36 bytes. With it the kernel skips choosing an IP ID per packet. */
  int pmtu = IP_PMTUDISC_DO;
  setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  icmp_socket *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return throw_errno(env, "cannot open a raw ICMP socket", ENOMEM);
  }
  s->fd = fd;
  s->env = env;
  uv_loop_t *loop = NULL;
  napi_value name, handle;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    free(s);
    return throw_errno(env, "cannot poll the ICMP socket", EIO);
  }
  s->poll.data = s;
  if (napi_create_reference(env, argv[0], 1, &s->on_readable) != napi_ok ||
      napi_create_string_utf8(env, "IcmpBatchSocket", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &s->context) != napi_ok ||
      napi_create_external(env, s, finalize, NULL, &handle) != napi_ok) {
    s->finalized = 1; /* no JS handle will ever own it: it goes once the poll handle has closed */
    shut(s);
    napi_throw_error(env, NULL, "cannot set up the ICMP socket's handle");
    return NULL;
  }
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  return handle;
}

/* The call's `want` arguments into argv, the socket's handle first: the socket, or NULL (thrown). */
static icmp_socket *socket_call(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return unwrap(env, argv[0]);
}

/* An Int32Array's data and length, or NULL (thrown) for anything else. */
static int32_t *int32_array(napi_env env, napi_value value, size_t *length, const char *what) {
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &data, NULL, NULL) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  return data;
}

/* One datagram of `length` bytes at `base`, to or from `address`. */
static void message_at(struct mmsghdr *message, struct iovec *vector, struct sockaddr_in *address, uint8_t *base, size_t length) {
  memset(message, 0, sizeof *message);
  vector->iov_base = base;
  vector->iov_len = length;
  message->msg_hdr.msg_name = address;
  message->msg_hdr.msg_namelen = sizeof *address;
  message->msg_hdr.msg_iov = vector;
  message->msg_hdr.msg_iovlen = 1;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  icmp_socket *s = socket_call(env, info, 5, argv, "send(handle, records, count, recordSize, status)");
  if (s == NULL) return NULL;
  uint8_t *records = NULL;
  size_t length = 0, status_length = 0;
  CHECK(napi_get_buffer_info(env, argv[1], (void **)&records, &length));
  uint32_t count = 0, size = 0;
  CHECK(napi_get_value_uint32(env, argv[2], &count));
  CHECK(napi_get_value_uint32(env, argv[3], &size));
  int32_t *status = int32_array(env, argv[4], &status_length, "send: status must be an Int32Array");
  if (status == NULL) return NULL;
  if (size <= 4 || (size_t)count * size > length || status_length < count) {
    napi_throw_range_error(env, NULL, "send: records, count, recordSize and status do not agree");
    return NULL;
  }
  if (s->closed) {
    for (uint32_t i = 0; i < count; i++) status[i] = EBADF;
    napi_value done;
    CHECK(napi_create_uint32(env, count, &done));
    return done;
  }
  struct mmsghdr messages[BATCH];
  struct iovec vectors[BATCH];
  struct sockaddr_in addresses[BATCH];
  uint32_t done = 0;
  while (done < count) {
    uint32_t n = count - done < BATCH ? count - done : BATCH;
    for (uint32_t i = 0; i < n; i++) {
      uint8_t *record = records + (size_t)(done + i) * size;
      memset(&addresses[i], 0, sizeof addresses[i]);
      addresses[i].sin_family = AF_INET;
      memcpy(&addresses[i].sin_addr.s_addr, record, 4);
      message_at(&messages[i], &vectors[i], &addresses[i], record + 4, size - 4);
    }
    int sent = sendmmsg(s->fd, messages, n, 0);
    if (sent > 0) {
      for (int i = 0; i < sent; i++) status[done + i] = 0;
      done += (uint32_t)sent;
      continue;
    }
    /* The first message failed: EAGAIN stops here (the rest is sent later); any other error is that
       message's (an unreachable network, say), and the next ones are tried. */
    int err = sent < 0 ? errno : EIO;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    status[done++] = err;
  }
  napi_value result;
  CHECK(napi_create_uint32(env, done, &result));
  return result;
}

static napi_value js_recv(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  icmp_socket *s = socket_call(env, info, 3, argv, "recv(handle, slots, meta)");
  if (s == NULL) return NULL;
  uint8_t *slots = NULL;
  size_t length = 0, meta_length = 0;
  CHECK(napi_get_buffer_info(env, argv[1], (void **)&slots, &length));
  int32_t *meta = int32_array(env, argv[2], &meta_length, "recv: meta must be an Int32Array");
  if (meta == NULL) return NULL;
  size_t n = length / SLOT;
  if (n > meta_length / 2) n = meta_length / 2;
  if (n > BATCH) n = BATCH;
  int got = 0;
  if (s->closed) got = -EBADF;
  else if (n > 0) {
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    struct sockaddr_in addresses[BATCH];
    for (size_t i = 0; i < n; i++) message_at(&messages[i], &vectors[i], &addresses[i], slots + i * SLOT, SLOT);
    do got = recvmmsg(s->fd, messages, (unsigned)n, MSG_DONTWAIT, NULL);
    while (got < 0 && errno == EINTR);
    if (got < 0) got = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    for (int i = 0; i < got; i++) {
      meta[2 * i] = (int32_t)ntohl(addresses[i].sin_addr.s_addr);
      meta[2 * i + 1] = messages[i].msg_hdr.msg_flags & MSG_TRUNC ? 0 : (int32_t)messages[i].msg_len;
    }
  }
  napi_value result;
  CHECK(napi_create_int32(env, got, &result));
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  icmp_socket *s = socket_call(env, info, 1, argv, "close(handle)");
  if (s == NULL) return NULL;
  shut(s); /* the struct itself goes with the External's finalizer */
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"recv", NULL, js_recv, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value slot;
  if (napi_define_properties(env, exports, 4, properties) != napi_ok || napi_create_uint32(env, SLOT, &slot) != napi_ok ||
      napi_set_named_property(env, exports, "SLOT", slot) != napi_ok)
    return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
