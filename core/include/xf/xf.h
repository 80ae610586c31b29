/* xfutures — the umbrella header: futures, executors and an event loop
 * behind a stable C ABI. Include this, or the one module header you need. */
#ifndef XF_XF_H
#define XF_XF_H

#include "common.h"
#include "value.h"
#include "error.h"
#include "future.h"
#include "executor.h"
#include "loop.h"
#include "closure.h"
#include "codec.h"
#include "process.h"
#include "cancel.h"
#include "scope.h"
#include "group.h"

#endif /* XF_XF_H */
