/* An intrusive binary min-heap, header-only, after libuv's heap-inl.h.
 *
 * Nodes live inside the objects they order (the loop's timers) and are
 * linked by pointers, so insertion and removal of any node cost O(log n)
 * with no allocation and no array to grow. The order is given by a "less"
 * function; the loop orders timers by (deadline, sequence), so timers with
 * equal deadlines come out in the order they went in.
 *
 * The shape is a complete binary tree: the path from the root to slot n
 * (1-based) is the binary digits of n after the leading one, 0 for left and 1
 * for right. Not thread-safe: the loop's thread owns its heap.
 */
#ifndef XF_HEAP_H
#define XF_HEAP_H

#include <stddef.h>

typedef struct xf__heap_node {
  struct xf__heap_node *left;
  struct xf__heap_node *right;
  struct xf__heap_node *parent;
} xf__heap_node_t;

typedef struct xf__heap {
  xf__heap_node_t *min;
  size_t nelts;
} xf__heap_t;

/* True when a must come out before b. */
typedef int (*xf__heap_less_fn)(const xf__heap_node_t *a, const xf__heap_node_t *b);

static inline void xf__heap_init(xf__heap_t *heap) {
  heap->min = NULL;
  heap->nelts = 0;
}

static inline xf__heap_node_t *xf__heap_min(const xf__heap_t *heap) {
  return heap->min;
}

/* Swap a node with its child: they trade places, and their neighbours'
 * links follow. */
static inline void xf__heap_swap(xf__heap_t *heap, xf__heap_node_t *parent,
                                 xf__heap_node_t *child) {
  xf__heap_node_t *sibling;
  xf__heap_node_t t = *parent;
  *parent = *child;
  *child = t;
  parent->parent = child;
  if (child->left == child) {
    child->left = parent;
    sibling = child->right;
  } else {
    child->right = parent;
    sibling = child->left;
  }
  if (sibling)
    sibling->parent = child;
  if (parent->left)
    parent->left->parent = parent;
  if (parent->right)
    parent->right->parent = parent;
  if (!child->parent)
    heap->min = child;
  else if (child->parent->left == parent)
    child->parent->left = child;
  else
    child->parent->right = child;
}

static inline void xf__heap_insert(xf__heap_t *heap, xf__heap_node_t *node,
                                   xf__heap_less_fn less) {
  node->left = node->right = node->parent = NULL;
  /* The path from the root to the new last slot. */
  size_t path = 0, k = 0;
  for (size_t n = 1 + heap->nelts; n >= 2; k++, n /= 2)
    path = (path << 1) | (n & 1);
  xf__heap_node_t **parent = &heap->min, **child = &heap->min;
  while (k > 0) {
    parent = child;
    child = (path & 1) ? &(*child)->right : &(*child)->left;
    path >>= 1;
    k--;
  }
  node->parent = *parent;
  *child = node;
  heap->nelts++;
  while (node->parent && less(node, node->parent))
    xf__heap_swap(heap, node->parent, node);
}

static inline void xf__heap_remove(xf__heap_t *heap, xf__heap_node_t *node,
                                   xf__heap_less_fn less) {
  if (heap->nelts == 0)
    return;
  /* Detach the last node; it takes the removed node's place. */
  size_t path = 0, k = 0;
  for (size_t n = heap->nelts; n >= 2; k++, n /= 2)
    path = (path << 1) | (n & 1);
  xf__heap_node_t **last = &heap->min;
  while (k > 0) {
    last = (path & 1) ? &(*last)->right : &(*last)->left;
    path >>= 1;
    k--;
  }
  heap->nelts--;
  xf__heap_node_t *child = *last;
  *last = NULL;
  if (child == node) {
    if (child == heap->min)
      heap->min = NULL;
    return;
  }
  child->left = node->left;
  child->right = node->right;
  child->parent = node->parent;
  if (child->left)
    child->left->parent = child;
  if (child->right)
    child->right->parent = child;
  if (!node->parent)
    heap->min = child;
  else if (node->parent->left == node)
    node->parent->left = child;
  else
    node->parent->right = child;
  /* Restore the order: down, then up (only one of them moves it). */
  for (;;) {
    xf__heap_node_t *smallest = child;
    if (child->left && less(child->left, smallest))
      smallest = child->left;
    if (child->right && less(child->right, smallest))
      smallest = child->right;
    if (smallest == child)
      break;
    xf__heap_swap(heap, child, smallest);
  }
  while (child->parent && less(child, child->parent))
    xf__heap_swap(heap, child->parent, child);
}

static inline void xf__heap_dequeue(xf__heap_t *heap, xf__heap_less_fn less) {
  xf__heap_remove(heap, heap->min, less);
}

#endif /* XF_HEAP_H */
