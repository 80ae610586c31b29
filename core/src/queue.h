/* An intrusive singly linked FIFO, header-only, after libuv's src/queue.h.
 *
 * A node (xf__qnode_t) lives inside the object it queues (a done-callback
 * record, a loop handle, a future carrying a task), so queueing costs no
 * allocation; XF__CONTAINER_OF gets the object back. A queue is its first
 * and last node: appending one node or a whole other queue, and taking the
 * first node or everything, are O(1). An object is in at most one queue at
 * a time through a given node.
 *
 * Not thread-safe: each queue says what guards it (a lock, or the one
 * thread that owns it). */
#ifndef XF_QUEUE_H
#define XF_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct xf__qnode {
  struct xf__qnode *next;
} xf__qnode_t;

typedef struct xf__queue {
  xf__qnode_t *head, *tail;
} xf__queue_t;

static inline void xf__queue_init(xf__queue_t *q) {
  q->head = q->tail = NULL;
}

static inline bool xf__queue_empty(const xf__queue_t *q) {
  return q->head == NULL;
}

/* Append one node at the end. */
static inline void xf__queue_push(xf__queue_t *q, xf__qnode_t *n) {
  n->next = NULL;
  if (q->tail)
    q->tail->next = n;
  else
    q->head = n;
  q->tail = n;
}

/* Take the first node; NULL when the queue is empty. The node's link is
 * left as it was: the caller may follow it only if it knows the rest. */
static inline xf__qnode_t *xf__queue_pop(xf__queue_t *q) {
  xf__qnode_t *n = q->head;
  if (n) {
    q->head = n->next;
    if (!q->head)
      q->tail = NULL;
  }
  return n;
}

/* Move every node of from to the end of q, in order; from is left empty. */
static inline void xf__queue_concat(xf__queue_t *q, xf__queue_t *from) {
  if (!from->head)
    return;
  if (q->tail)
    q->tail->next = from->head;
  else
    q->head = from->head;
  q->tail = from->tail;
  from->head = from->tail = NULL;
}

/* Take everything: the queue's nodes, in order, as a new queue; q is left
 * empty. */
static inline xf__queue_t xf__queue_take(xf__queue_t *q) {
  xf__queue_t all = *q;
  q->head = q->tail = NULL;
  return all;
}

#endif /* XF_QUEUE_H */
