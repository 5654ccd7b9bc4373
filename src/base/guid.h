/*
 * GUIDs as Hyper-V puts them on the wire: 16 bytes in the Windows
 * "mixed-endian" layout (Data1 u32, Data2 u16 and Data3 u16 little-endian,
 * then Data4's eight bytes in order), which is also the in-memory layout
 * of a Windows GUID and of Linux's guid_t (GUID_INIT). No VM knowledge.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct guid {
	uint8_t bytes[16];
};

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case, no braces) plus NUL. */
#define GUID_STRING_LEN 37

/* Parses the canonical text form into wire order. 0 or -EINVAL. */
int guid_parse(const char *text, struct guid *ret) must_check;
/* Formats into buf (at least GUID_STRING_LEN bytes), lower case. Returns buf. */
char *guid_format(const struct guid *g, char *buf);
bool guid_equal(const struct guid *a, const struct guid *b);
bool guid_is_null(const struct guid *g);

/* A GUID from its fields, for constants: GUID_INIT(0x0e0b6031, 0x5213, 0x4934, 0x81, 0x8b, ...). */
#define GUID_INIT(d1, d2, d3, b0, b1, b2, b3, b4, b5, b6, b7)                                      \
	{                                                                                          \
		{                                                                                  \
			(uint8_t)(d1), (uint8_t)((d1) >> 8), (uint8_t)((d1) >> 16),                \
				(uint8_t)((d1) >> 24), (uint8_t)(d2), (uint8_t)((d2) >> 8),        \
				(uint8_t)(d3), (uint8_t)((d3) >> 8), (b0), (b1), (b2), (b3), (b4), \
				(b5), (b6), (b7)                                                   \
		}                                                                                  \
	}
