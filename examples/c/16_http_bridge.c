/* HTTP server with future-based request handling (seed 003). A server
 * thread runs its own loop, with the listening socket and each connection
 * watched by fd readiness (xf_loop_add_reader). GET /request/<id> creates the
 * request's future on the event loop of the main thread, starts a handler
 * there (a task, queued with call_soon_threadsafe: the C form of
 * run_coroutine_threadsafe) and answers 202 at once; the handler awaits the
 * future under a timeout (xf_future_timeout, asyncio's wait_for).
 * GET /response/<id>?text=... resolves that future from the server thread
 * (a loop future may be finished from any thread), or answers 404 for an
 * unknown id; GET /cancel/<id> withdraws a request and GET /shutdown stops
 * the server. The map of waiting requests is guarded by a lock.
 *
 * The server binds 127.0.0.1 on an ephemeral port and prints it; its client
 * is examples/drivers/16_http_bridge.sh. It logs each request it serves, in
 * the order it serves them, and once every handler has ended it prints their
 * outcomes sorted by request id. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xf/xf.h>

#define MS                 1000000LL
#define DEFAULT_TIMEOUT_MS 300000 /* as in the seed */
#define MAX_REQUESTS       64
#define MAX_ID             16

typedef struct request {
  char id[MAX_ID];
  int64_t timeout_ms;
  xf_future_t *response; /* the future the handler awaits */
  xf_future_t *waiter;   /* the response under its timeout; the handler's */
  bool waiting;          /* in the map: an answer may still reach it */
  char outcome[128];     /* written by the handler */
} request_t;

static struct {
  xf_loop_t *loop;        /* the event loop: the handlers run here */
  xf_loop_t *server_loop; /* the server thread's loop */
  int listener;
  bool stopping;        /* server thread only */
  pthread_mutex_t lock; /* guards requests[].waiting and nrequests */
  request_t requests[MAX_REQUESTS];
  int nrequests;
  xf_future_t *handlers[MAX_REQUESTS]; /* event loop only */
  int nhandlers;
  xf_future_t *stopped; /* done once the server thread has stopped */
} app;

/* ---- The handlers, on the event loop ------------------------------------ */

/* async def handle_request(request): the outcome of waiting for its
 * response; on the way out the request leaves the map. */
static int handle_request(xf_future_t *task, void *data, xf_future_t *awaited,
                          int status) {
  request_t *r = data;
  if (!awaited) {
    int rc = xf_future_timeout(app.loop, r->response, r->timeout_ms * MS, &r->waiter);
    if (rc == XF_OK)
      rc = xf_task_await(task, r->waiter);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  xf_value_t *v = NULL;
  xf_error_t *e = NULL;
  const char *text;
  size_t len;
  if (status == XF_OK && xf_future_result(awaited, 0, &v) == XF_OK &&
      xf_value_get_string(v, &text, &len) == XF_OK)
    snprintf(r->outcome, sizeof r->outcome, "completed with: %.*s", (int) len, text);
  else if (status == XF_EFAILED && xf_future_error(awaited, 0, &e) == XF_OK &&
           xf_error_code(e) == XF_ETIMEDOUT)
    snprintf(r->outcome, sizeof r->outcome, "timed out");
  else if (status == XF_ECANCELLED)
    snprintf(r->outcome, sizeof r->outcome, "was cancelled");
  else
    snprintf(r->outcome, sizeof r->outcome, "failed");
  xf_value_unref(v);
  xf_error_unref(e);
  pthread_mutex_lock(&app.lock);
  r->waiting = false;
  pthread_mutex_unlock(&app.lock);
  return XF_OK;
}

/* Queued by the server thread: start the handler of a request. */
static void start_handler(void *data) {
  xf_future_t *task;
  if (xf_task_new(app.loop, handle_request, data, NULL, &task) == XF_OK)
    app.handlers[app.nhandlers++] = task;
}

/* Queued by the server thread after its last start_handler. */
static void server_stopped(void *data) {
  (void) data;
  xf_future_set_result(app.stopped, NULL);
}

/* The main task: wait for the server to stop, then for every handler. */
static int main_task(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  xf_future_t **all = data;
  (void) status;
  if (!awaited) {
    int rc = xf_task_await(task, app.stopped);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (awaited == app.stopped) {
    int rc = xf_future_all(app.handlers, (size_t) app.nhandlers, XF_ALL_COLLECT, all);
    if (rc == XF_OK)
      rc = xf_task_await(task, *all);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  return XF_OK;
}

/* ---- The server thread -------------------------------------------------- */

typedef struct conn {
  int fd;
  size_t len;
  char buf[2048];
} conn_t;

/* The value of name in a query string (a=1&b=2), percent-decoded into out;
 * false when it is absent. */
static bool query_param(const char *query, const char *name, char *out, size_t size) {
  size_t n = strlen(name);
  for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
    if (strncmp(p, name, n) != 0 || p[n] != '=')
      continue;
    size_t k = 0;
    for (p += n + 1; *p && *p != '&' && k + 1 < size; p++) {
      if (*p == '%' && isxdigit((unsigned char) p[1]) && isxdigit((unsigned char) p[2])) {
        char hex[3] = {p[1], p[2], 0};
        out[k++] = (char) strtol(hex, NULL, 16);
        p += 2;
      } else {
        out[k++] = *p == '+' ? ' ' : *p;
      }
    }
    out[k] = 0;
    return true;
  }
  return false;
}

/* The request waiting under id, taken out of the map (so that a second
 * answer finds nothing), with a reference to its response future; NULL if
 * there is none. */
static xf_future_t *take_waiting(const char *id) {
  xf_future_t *f = NULL;
  pthread_mutex_lock(&app.lock);
  for (int i = 0; i < app.nrequests && !f; i++)
    if (app.requests[i].waiting && strcmp(app.requests[i].id, id) == 0) {
      app.requests[i].waiting = false;
      f = xf_future_ref(app.requests[i].response);
    }
  pthread_mutex_unlock(&app.lock);
  return f;
}

/* GET /request/<id>: its future and handler, then 202 at once. */
static int open_request(const char *id, const char *query, const char **text) {
  char ms[32];
  request_t *r = NULL;
  pthread_mutex_lock(&app.lock);
  if (app.nrequests < MAX_REQUESTS && strlen(id) < MAX_ID) {
    r = &app.requests[app.nrequests];
    snprintf(r->id, sizeof r->id, "%s", id);
    r->timeout_ms =
        query_param(query, "timeout_ms", ms, sizeof ms) ? atoll(ms) : DEFAULT_TIMEOUT_MS;
    if (xf_loop_create_future(app.loop, &r->response) == XF_OK) {
      r->waiting = true;
      app.nrequests++;
    } else {
      r = NULL;
    }
  }
  pthread_mutex_unlock(&app.lock);
  if (!r || xf_loop_call_soon_threadsafe(app.loop, start_handler, r, NULL) != XF_OK) {
    *text = "Too many requests";
    return 503;
  }
  *text = "Request accepted";
  return 202;
}

/* Route one request path; the status, and the reply's text in *text. */
static int route(char *path, const char **text) {
  char *query = strchr(path, '?');
  if (query)
    *query++ = 0;
  if (strncmp(path, "/request/", 9) == 0 && path[9])
    return open_request(path + 9, query, text);
  bool response = strncmp(path, "/response/", 10) == 0 && path[10];
  bool cancel = strncmp(path, "/cancel/", 8) == 0 && path[8];
  if (response || cancel) {
    xf_future_t *f = take_waiting(path + (response ? 10 : 8));
    if (!f) {
      *text = "Request not found";
      return 404;
    }
    int status = 200;
    if (response) {
      char answer[256] = "";
      xf_value_t *v;
      query_param(query, "text", answer, sizeof answer);
      if (xf_value_new_cstring(answer, &v) != XF_OK ||
          xf_future_set_result(f, v) != XF_OK)
        status = 409;
      *text = status == 200 ? "Response delivered" : "Request already done";
    } else {
      xf_future_cancel(f);
      *text = "Request cancelled";
    }
    xf_future_unref(f);
    return status;
  }
  if (strcmp(path, "/shutdown") == 0) {
    app.stopping = true;
    *text = "Shutting down";
    return 200;
  }
  *text = "Unknown path";
  return 404;
}

static void reply(int fd, const char *target, int status, const char *text) {
  const char *reason = status == 200   ? "OK"
                       : status == 202 ? "Accepted"
                       : status == 404 ? "Not Found"
                                       : "Error";
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, reason, strlen(text));
  printf("GET %s -> %d %s\n", target, status, text);
  /* The replies are a few dozen bytes: the socket takes them at once. */
  if (send(fd, head, (size_t) n, MSG_NOSIGNAL) == n)
    send(fd, text, strlen(text), MSG_NOSIGNAL);
}

static void close_conn(conn_t *c) {
  int fd = c->fd;
  xf_loop_remove_reader(app.server_loop, fd); /* frees c */
  close(fd);
}

static void on_readable(int fd, void *data) {
  conn_t *c = data;
  ssize_t n = recv(fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
  if (n <= 0) {
    close_conn(c);
    return;
  }
  c->len += (size_t) n;
  c->buf[c->len] = 0;
  if (!strstr(c->buf, "\r\n\r\n")) {
    if (c->len == sizeof c->buf - 1) {
      reply(fd, "(too long)", 400, "Bad request");
      close_conn(c);
    }
    return; /* the rest of the header is still to come */
  }
  char target[1024];
  const char *text;
  if (sscanf(c->buf, "GET %1023s HTTP/", target) != 1) {
    reply(fd, "(not a GET)", 400, "Bad request");
  } else {
    char path[1024];
    memcpy(path, target, sizeof path);
    int status = route(path, &text);
    reply(fd, target, status, text);
  }
  close_conn(c);
  if (app.stopping) {
    xf_loop_remove_reader(app.server_loop, app.listener);
    close(app.listener);
    xf_loop_stop(app.server_loop);
  }
}

static void on_accept(int fd, void *data) {
  (void) data;
  int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
  if (client < 0)
    return;
  conn_t *c = calloc(1, sizeof *c);
  if (!c) {
    close(client);
    return;
  }
  c->fd = client;
  if (xf_loop_add_reader(app.server_loop, client, on_readable, c, free) != XF_OK) {
    free(c);
    close(client);
  }
}

static void *run_server(void *arg) {
  (void) arg;
  xf_loop_run(app.server_loop, XF_RUN_DEFAULT); /* until GET /shutdown */
  xf_loop_call_soon_threadsafe(app.loop, server_stopped, NULL, NULL);
  return NULL;
}

/* ---- Main --------------------------------------------------------------- */

static int by_id(const void *a, const void *b) {
  return strcmp(((const request_t *) a)->id, ((const request_t *) b)->id);
}

static int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  socklen_t len = sizeof addr;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *) &addr, sizeof addr) != 0 ||
      listen(fd, 64) != 0 || getsockname(fd, (struct sockaddr *) &addr, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

int main(void) {
  int port;
  pthread_t thread;
  xf_future_t *task, *all = NULL;
  pthread_mutex_init(&app.lock, NULL);
  if (xf_loop_new(&app.loop) != XF_OK || xf_loop_new(&app.server_loop) != XF_OK ||
      xf_loop_create_future(app.loop, &app.stopped) != XF_OK ||
      (app.listener = listen_loopback(&port)) < 0 ||
      xf_loop_add_reader(app.server_loop, app.listener, on_accept, NULL, NULL) != XF_OK)
    return 1;
  printf("Serving on http://127.0.0.1:%d/\n", port);
  fflush(stdout);
  if (pthread_create(&thread, NULL, run_server, NULL) != 0 ||
      xf_task_new(app.loop, main_task, &all, NULL, &task) != XF_OK)
    return 1;
  int rc = xf_loop_run_until_complete(app.loop, task, NULL);
  pthread_join(thread, NULL);

  int counts[3] = {0, 0, 0};
  qsort(app.requests, (size_t) app.nrequests, sizeof app.requests[0], by_id);
  for (int i = 0; i < app.nrequests; i++) {
    request_t *r = &app.requests[i];
    printf("Request %s %s\n", r->id, r->outcome);
    counts[0] += strncmp(r->outcome, "completed", 9) == 0;
    counts[1] += strcmp(r->outcome, "timed out") == 0;
    counts[2] += strcmp(r->outcome, "was cancelled") == 0;
    xf_future_unref(r->response);
    xf_future_unref(r->waiter);
  }
  printf("Server stopped: %d completed, %d timed out, %d cancelled\n", counts[0],
         counts[1], counts[2]);
  for (int i = 0; i < app.nhandlers; i++)
    xf_future_unref(app.handlers[i]);
  xf_future_unref(all);
  xf_future_unref(task);
  xf_future_unref(app.stopped);
  xf_loop_close(app.server_loop);
  xf_loop_unref(app.server_loop);
  xf_loop_close(app.loop);
  xf_loop_unref(app.loop);
  pthread_mutex_destroy(&app.lock);
  return rc == XF_OK ? 0 : 1;
}
