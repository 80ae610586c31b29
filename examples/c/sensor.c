/* A "sensor library" with a callback API and a thread of its own, driven
 * through closures whose handlers run on the main loop.
 *
 * The library knows nothing of xfutures: it takes plain C function pointers
 * and calls them from its own thread. Handing it closures makes those calls
 * land on the thread running the main loop, which is what a Python, Lua or
 * JavaScript callback needs. Each line says on which thread the library
 * called and on which the handler ran:
 *
 *   sensor thread "sensor" calls on_reading(1, 20.5)
 *   handler on_reading ran on thread "main": reading 1 = 20.5
 *
 * The threshold callback returns a value, so the library's thread waits for
 * the main loop's answer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <xf/xf.h>

/* ---- The third-party library ------------------------------------------ */

typedef void (*sensor_reading_cb)(int32_t seq, double value);
typedef int32_t (*sensor_threshold_cb)(double value);

typedef struct sensor {
  sensor_reading_cb on_reading;
  sensor_threshold_cb too_hot;
  int readings;
  pthread_t thread;
} sensor_t;

static const char *thread_name(char *buf, size_t len) {
  if (pthread_getname_np(pthread_self(), buf, len) != 0)
    snprintf(buf, len, "?");
  return buf;
}

static void *sensor_main(void *arg) {
  sensor_t *s = arg;
  pthread_setname_np(pthread_self(), "sensor");
  char name[16];
  for (int32_t i = 1; i <= s->readings; i++) {
    double value = 20.0 + 0.5 * i;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    printf("sensor thread \"%s\" calls on_reading(%d, %.1f)\n",
           thread_name(name, sizeof name), i, value);
    fflush(stdout);
    s->on_reading(i, value);
    if (s->too_hot(value)) {
      printf("sensor thread \"%s\" was told to stop at %.1f\n",
             thread_name(name, sizeof name), value);
      fflush(stdout);
      break;
    }
  }
  return NULL;
}

static int sensor_start(sensor_t *s, sensor_reading_cb on_reading,
                        sensor_threshold_cb too_hot, int readings) {
  s->on_reading = on_reading;
  s->too_hot = too_hot;
  s->readings = readings;
  return pthread_create(&s->thread, NULL, sensor_main, s);
}

static void sensor_join(sensor_t *s) {
  pthread_join(s->thread, NULL);
}

/* ---- The application: handlers on the main loop ------------------------ */

static int on_reading(void *data, xf_value_t *const *args, size_t nargs,
                      xf_value_t **result) {
  (void) data;
  (void) nargs;
  (void) result;
  int64_t seq = 0;
  double value = 0;
  xf_value_get_int(args[0], &seq);
  xf_value_get_double(args[1], &value);
  char name[16];
  printf("handler on_reading ran on thread \"%s\": reading %lld = %.1f\n",
         thread_name(name, sizeof name), (long long) seq, value);
  fflush(stdout);
  return XF_OK;
}

static int too_hot(void *data, xf_value_t *const *args, size_t nargs,
                   xf_value_t **result) {
  (void) nargs;
  double limit = *(double *) data, value = 0;
  xf_value_get_double(args[0], &value);
  char name[16];
  printf("handler too_hot ran on thread \"%s\": %.1f %s %.1f\n",
         thread_name(name, sizeof name), value, value >= limit ? ">=" : "<", limit);
  fflush(stdout);
  return xf_value_new_int(value >= limit, result);
}

static void stop_loop(void *data) {
  xf_loop_stop(data);
}

static void *watch(void *arg) {
  void **pair = arg;
  sensor_join(pair[0]);
  /* Tell the main loop the sensor is done. */
  xf_loop_call_soon_threadsafe(pair[1], stop_loop, pair[1], NULL);
  return NULL;
}

int main(void) {
  pthread_setname_np(pthread_self(), "main");
  xf_loop_t *loop;
  if (xf_loop_new(&loop) != XF_OK)
    return 1;

  char err[128];
  xf_signature_t *sig;
  if (xf_signature_parse("void(int32, double", err, sizeof err, &sig) != XF_OK)
    printf("a bad signature is refused: %s\n", err);

  double limit = 22.0;
  xf_closure_t *reading, *threshold;
  int rc = xf_closure_new("void(int32, double)", on_reading, NULL, NULL, loop, &reading);
  if (rc == XF_OK)
    rc = xf_closure_new("int32(double)", too_hot, &limit, NULL, loop, &threshold);
  if (rc != XF_OK) {
    fprintf(stderr, "xf_closure_new: %s\n", xf_strerror(rc));
    return 1;
  }

  sensor_t sensor;
  if (sensor_start(&sensor, (sensor_reading_cb) xf_closure_code(reading),
                   (sensor_threshold_cb) xf_closure_code(threshold), 10) != 0)
    return 1;
  void *pair[2] = {&sensor, loop};
  pthread_t watcher;
  pthread_create(&watcher, NULL, watch, pair);

  xf_loop_run(loop, XF_RUN_DEFAULT);
  pthread_join(watcher, NULL);

  xf_closure_unref(reading);
  xf_closure_unref(threshold);
  xf_loop_unref(loop);
  return 0;
}
