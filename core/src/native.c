/* Native calls: a C function of any signature run on an executor through
 * ffi_call.
 *
 * The arguments are checked and converted in the submitting thread, so that
 * a wrong count or kind fails before anything is queued, and land in one
 * allocation with the task: the signature reference, the C argument slots,
 * libffi's array of pointers to them, and copies of the string arguments.
 * The worker only calls the function and turns its return value into the
 * future's value; it holds no lock while the function runs.
 */
#include "closure_internal.h"

typedef struct xf__native {
  xf_signature_t *sig; /* a reference */
  void *fn;
  void **avalues; /* sig->nargs pointers into slots, inside this allocation */
  xf__cslot_t slots[];
  /* then: void *avalues[nargs]; then the copied strings */
} xf__native_t;

static int xf__native_run(void *data, xf_future_t *fut) {
  xf__native_t *t = data;
  const xf_signature_t *sig = t->sig;
  xf__cret_t ret;
  memset(&ret, 0, sizeof ret);
  ffi_call((ffi_cif *) &sig->cif, FFI_FN(t->fn), &ret, sig->nargs ? t->avalues : NULL);
  xf__cslot_t slot;
  xf__cret_load(sig->ret, &ret, &slot);
  xf_value_t *v;
  int rc = xf__cvalue_to(sig->ret, &slot, &v);
  if (rc != XF_OK)
    return rc;
  return xf_future_set_result(fut, v);
}

static void xf__native_free(void *data) {
  xf__native_t *t = data;
  xf_signature_unref(t->sig);
  xf__free(t);
}

int xf_executor_submit_native_sig(xf_executor_t *ex, void *fn, xf_signature_t *sig,
                                  xf_value_t *const *args, size_t nargs,
                                  xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!ex || !fn || !sig || (nargs > 0 && !args))
    return XF_EINVAL;
  if (nargs != sig->nargs)
    return XF_EINVAL;

  /* Check every argument first and measure the strings to copy. */
  size_t strings = 0;
  for (size_t i = 0; i < nargs; i++) {
    xf__cslot_t slot;
    int rc = xf__cvalue_from(sig->args[i], args[i], &slot);
    if (rc != XF_OK)
      return rc;
    if (sig->args[i] == XF_C_STRING && slot.s)
      strings += strlen(slot.s) + 1;
  }

  size_t size = sizeof(xf__native_t) + nargs * sizeof(xf__cslot_t) +
                nargs * sizeof(void *) + strings;
  xf__native_t *t = xf__malloc(size);
  if (!t)
    return XF_ENOMEM;
  t->sig = sig;
  t->fn = fn;
  t->avalues = (void **) (void *) (t->slots + nargs);
  char *copy = (char *) (t->avalues + nargs);
  for (size_t i = 0; i < nargs; i++) {
    xf__cvalue_from(sig->args[i], args[i], &t->slots[i]);
    if (sig->args[i] == XF_C_STRING && t->slots[i].s) {
      size_t len = strlen(t->slots[i].s) + 1;
      memcpy(copy, t->slots[i].s, len);
      t->slots[i].s = copy;
      copy += len;
    }
    t->avalues[i] = &t->slots[i];
  }
  xf_signature_ref(sig);
  int rc = xf_executor_submit(ex, xf__native_run, t, xf__native_free, out);
  if (rc != XF_OK)
    xf__native_free(t);
  return rc;
}

int xf_executor_submit_native(xf_executor_t *ex, void *fn, const char *signature,
                              xf_value_t *const *args, size_t nargs, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!ex || !fn)
    return XF_EINVAL;
  xf_signature_t *sig;
  int rc = xf_signature_parse(signature, NULL, 0, &sig);
  if (rc != XF_OK)
    return rc;
  rc = xf_executor_submit_native_sig(ex, fn, sig, args, nargs, out);
  xf_signature_unref(sig);
  return rc;
}
