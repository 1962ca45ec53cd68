/* SPDX-License-Identifier: MIT */
/* Macros shared by every file of the library. */
#ifndef PV_INTERNAL_H
#define PV_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define PV_HIDDEN __attribute__((visibility("hidden")))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
        ((type *)((char *)(ptr) - offsetof(type, member)))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* systemd's assert_return(): public entry points check arguments and return
 * an error; internal code uses assert(). */
#define return_if_invalid(expr, err) \
        do { if (unlikely(!(expr))) return (err); } while (0)

/* Intrusive doubly linked list, as libuv's queue.h and the kernel's list.h. */
struct pv_list {
        struct pv_list *next, *prev;
};

static inline void pv_list_init(struct pv_list *l) { l->next = l->prev = l; }
static inline int pv_list_empty(const struct pv_list *l) { return l->next == l; }

static inline void pv_list_add(struct pv_list *head, struct pv_list *n)
{
        n->next = head->next;
        n->prev = head;
        head->next->prev = n;
        head->next = n;
}

static inline void pv_list_del(struct pv_list *n)
{
        n->prev->next = n->next;
        n->next->prev = n->prev;
        pv_list_init(n);
}

/* The sizes of the options structs as first released: a caller built
 * against them must keep working when fields are added at the end, so the
 * minimum accepted size is frozen here, not sizeof(). */
#define PV__LOOP_OPTS_SIZE_VER0 16
#define PV__SPAWN_OPTS_SIZE_VER0 176
#define PV__FEATURES_SIZE_VER0 72

/* Copy a caller's size-tagged options struct into a zeroed local copy, as
 * clone3() and openat2() do: a smaller size than the first version is
 * -EINVAL, a larger one is fine only if the tail we do not know is zero. */
int pv__copy_opts(void *dst, size_t dst_size, size_t min_size,
                  const void *src, size_t src_size) PV_HIDDEN;

/* Monotonic clock in nanoseconds. */
uint64_t pv__now_ns(void) PV_HIDDEN;

#endif
