/* Small compiler helpers shared by every module. No VM knowledge here. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define MIN(a, b)			((a) < (b) ? (a) : (b))
#define MAX(a, b)			((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a)			(((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a)		((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a)		(((x) & ((__typeof__(x))(a)-1)) == 0)

#define likely(x)	  __builtin_expect(!!(x), 1)
#define unlikely(x)	  __builtin_expect(!!(x), 0)
#define must_check	  __attribute__((warn_unused_result))
#define printf_like(f, a) __attribute__((format(printf, f, a)))
/* The one spelling for ignoring a must_check result on purpose (a best-effort wake-up write,
 * clean-up on a path that has already failed), so that grep finds every such place. */
#define IGNORE_RESULT(x) ((void)!(x))

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
