/*
 * AML emitter (aml.h). Encodings from ACPI 6.4:
 *   §20.2.2 Name Objects Encoding    NameSeg, NameString, prefixes
 *   §20.2.3 Data Objects Encoding    integers, String
 *   §20.2.4 Package Length Encoding  PkgLength
 *   §20.2.5 Term Objects Encoding    Scope, Device, Name, Method, Buffer, Package, Return
 *   §6.4.2  Small resource data      IO (6.4.2.5), IRQ (6.4.2.1), End Tag (6.4.2.9)
 *   §6.4.3  Large resource data      Word/DWord/QWord Address Space (6.4.3.5),
 *                                    Extended Interrupt (6.4.3.6)
 * Blocks are written with their PkgLength missing; aml_end() inserts it
 * (with a package's NumElements or a buffer's BufferSize) once the
 * contents' length is known, so the shortest encoding is always used.
 */
#include "boot/aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* §20.3 opcode values. */
#define ZERO_OP		   0x00
#define ONE_OP		   0x01
#define NAME_OP		   0x08
#define BYTE_PREFIX	   0x0A
#define WORD_PREFIX	   0x0B
#define DWORD_PREFIX	   0x0C
#define STRING_PREFIX	   0x0D
#define QWORD_PREFIX	   0x0E
#define SCOPE_OP	   0x10
#define BUFFER_OP	   0x11
#define PACKAGE_OP	   0x12
#define METHOD_OP	   0x14
#define DUAL_NAME_PREFIX   0x2E
#define MULTI_NAME_PREFIX  0x2F
#define EXT_OP_PREFIX	   0x5B
#define DEVICE_OP	   0x82 /* after EXT_OP_PREFIX */
#define ROOT_CHAR	   0x5C /* '\' */
#define PARENT_PREFIX_CHAR 0x5E /* '^' */
#define RETURN_OP	   0xA4
#define NULL_NAME	   0x00

/* §6.4 resource descriptor tags. */
#define RT_IRQ_NOFLAGS 0x22 /* small item 0x04, length 2 */
#define RT_IRQ	       0x23 /* small item 0x04, length 3 */
#define RT_IO	       0x47 /* small item 0x08, length 7 */
#define RT_END_TAG     0x79 /* small item 0x0F, length 1 */
#define RT_DWORD_ADDR  0x87
#define RT_WORD_ADDR   0x88
#define RT_EXT_IRQ     0x89
#define RT_QWORD_ADDR  0x8A
#define RT_ADDR_MEMORY 0
#define RT_ADDR_IO     1
#define RT_ADDR_BUS    2
/* General flags: producer (bit 0 = 0), positive decode, _MIF, _MAF. */
#define RT_ADDR_WINDOW	   (1u << 2 | 1u << 3)
#define RT_IO_ENTIRE_RANGE 3

#define PKGLENGTH_MAX 0x0FFFFFFFu /* 28 bits */
#define MAX_PATH_LEN  1024
#define MAX_NAME_SEGS 255

enum frame_kind { FRAME_SCOPE, FRAME_DEVICE, FRAME_METHOD, FRAME_PACKAGE, FRAME_RESOURCES };

struct frame {
	enum frame_kind kind;
	size_t start;	   /* offset where PkgLength goes: right after the opcode */
	unsigned elements; /* FRAME_PACKAGE: data objects so far */
};

struct aml {
	uint8_t *buf; /* the AML so far */
	size_t len, cap;
	int error;	/* sticky: first failure, negative errno; 0 if none */
	unsigned depth; /* open blocks */
	struct frame frames[AML_MAX_DEPTH];
};

int aml_new(struct aml **ret)
{
	struct aml *aml = calloc(1, sizeof(*aml));

	if (!aml)
		return -ENOMEM;
	*ret = aml;
	return 0;
}

struct aml *aml_free(struct aml *aml)
{
	if (aml) {
		free(aml->buf);
		free(aml);
	}
	return NULL;
}

int aml_error(const struct aml *aml)
{
	return aml->error;
}

unsigned aml_depth(const struct aml *aml)
{
	return aml->depth;
}

static void fail(struct aml *aml, int r)
{
	if (!aml->error)
		aml->error = r;
}

static struct frame *top(struct aml *aml)
{
	return aml->depth ? &aml->frames[aml->depth - 1] : NULL;
}

static bool reserve(struct aml *aml, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (aml->error)
		return false;
	if (n > AML_MAX_SIZE - aml->len) {
		fail(aml, -E2BIG);
		return false;
	}
	if (aml->len + n <= aml->cap)
		return true;
	cap = MAX(aml->cap * 2, MAX(aml->len + n, (size_t)256));
	p = realloc(aml->buf, cap);
	if (!p) {
		fail(aml, -ENOMEM);
		return false;
	}
	aml->buf = p;
	aml->cap = cap;
	return true;
}

static void emit(struct aml *aml, const void *p, size_t n)
{
	if (!reserve(aml, n))
		return;
	memcpy(aml->buf + aml->len, p, n);
	aml->len += n;
}

static void emit_byte(struct aml *aml, uint8_t b)
{
	emit(aml, &b, 1);
}

/* Little-endian value of n bytes into out. */
static void put_le(uint8_t *out, uint64_t v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static void insert(struct aml *aml, size_t at, const uint8_t *p, size_t n)
{
	if (!reserve(aml, n))
		return;
	memmove(aml->buf + at + n, aml->buf + at, aml->len - at);
	memcpy(aml->buf + at, p, n);
	aml->len += n;
}

unsigned aml_pkglength_encode(size_t len, uint8_t out[4])
{
	unsigned n;
	size_t total;

	/* The value counts the PkgLength bytes too (§20.2.4). */
	if (len + 1 <= 0x3F) {
		out[0] = (uint8_t)(len + 1);
		return 1;
	}
	for (n = 2; n <= 4; n++) {
		total = len + n;
		if (total < ((size_t)1 << (4 + 8 * (n - 1)))) {
			unsigned i;

			out[0] = (uint8_t)((n - 1) << 6 | (total & 0xF));
			for (i = 1; i < n; i++)
				out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
			return n;
		}
	}
	return 0;
}

/* The shortest integer encoding of v; returns its length (1-9). */
static unsigned encode_integer(uint64_t v, uint8_t out[9])
{
	if (v == 0 || v == 1) {
		out[0] = v ? ONE_OP : ZERO_OP;
		return 1;
	}
	if (v <= UINT8_MAX) {
		out[0] = BYTE_PREFIX;
		put_le(out + 1, v, 1);
		return 2;
	}
	if (v <= UINT16_MAX) {
		out[0] = WORD_PREFIX;
		put_le(out + 1, v, 2);
		return 3;
	}
	if (v <= UINT32_MAX) {
		out[0] = DWORD_PREFIX;
		put_le(out + 1, v, 4);
		return 5;
	}
	out[0] = QWORD_PREFIX;
	put_le(out + 1, v, 8);
	return 9;
}

/* A data object starts: counts as a package element; not allowed among resource descriptors. */
static bool begin_object(struct aml *aml)
{
	struct frame *f = top(aml);

	if (aml->error)
		return false;
	if (f && f->kind == FRAME_RESOURCES) {
		fail(aml, -EINVAL);
		return false;
	}
	if (f && f->kind == FRAME_PACKAGE)
		f->elements++;
	return true;
}

/* A term (Name, Scope, Device, Method, Return) starts: not inside a package or a resource template.
 */
static bool begin_term(struct aml *aml)
{
	struct frame *f = top(aml);

	if (aml->error)
		return false;
	if (f && (f->kind == FRAME_PACKAGE || f->kind == FRAME_RESOURCES)) {
		fail(aml, -EINVAL);
		return false;
	}
	return true;
}

static void push(struct aml *aml, enum frame_kind kind)
{
	if (aml->error)
		return;
	if (aml->depth == AML_MAX_DEPTH) {
		fail(aml, -EINVAL);
		return;
	}
	aml->frames[aml->depth++] = (struct frame){.kind = kind, .start = aml->len};
}

static bool seg_char_ok(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

static void emit_name(struct aml *aml, const char *path)
{
	uint8_t out[MAX_PATH_LEN + 2 + MAX_NAME_SEGS * 4];
	uint8_t segs[MAX_NAME_SEGS * 4];
	size_t n = 0, nsegs = 0, plen;
	const char *p = path;

	if (aml->error)
		return;
	plen = strnlen(path, MAX_PATH_LEN + 1);
	if (plen == 0 || plen > MAX_PATH_LEN)
		goto bad;
	if (*p == '\\')
		out[n++] = ROOT_CHAR, p++;
	else
		while (*p == '^')
			out[n++] = PARENT_PREFIX_CHAR, p++;
	while (*p) {
		size_t seglen = strcspn(p, "."), i;

		if (seglen == 0 || seglen > 4 || nsegs == MAX_NAME_SEGS)
			goto bad;
		for (i = 0; i < 4; i++) {
			if (i < seglen && !seg_char_ok(p[i], i == 0))
				goto bad;
			segs[nsegs * 4 + i] = i < seglen ? (uint8_t)p[i] : '_';
		}
		nsegs++;
		p += seglen;
		if (*p == '.' && !*++p)
			goto bad; /* trailing dot */
	}
	if (nsegs == 0) {
		if (n == 0)
			goto bad;
		out[n++] = NULL_NAME; /* "\" or "^": the prefix alone */
	} else if (nsegs == 2) {
		out[n++] = DUAL_NAME_PREFIX;
	} else if (nsegs > 2) {
		out[n++] = MULTI_NAME_PREFIX;
		out[n++] = (uint8_t)nsegs;
	}
	memcpy(out + n, segs, nsegs * 4);
	n += nsegs * 4;
	emit(aml, out, n);
	return;
bad:
	fail(aml, -EINVAL);
}

void aml_name_string(struct aml *aml, const char *path)
{
	if (begin_object(aml))
		emit_name(aml, path);
}

void aml_integer(struct aml *aml, uint64_t value)
{
	uint8_t out[9];

	if (begin_object(aml))
		emit(aml, out, encode_integer(value, out));
}

void aml_string(struct aml *aml, const char *s)
{
	size_t i, len = strnlen(s, AML_MAX_SIZE);

	if (!begin_object(aml))
		return;
	for (i = 0; i < len; i++)
		if ((uint8_t)s[i] > 0x7F) {
			fail(aml, -EINVAL);
			return;
		}
	emit_byte(aml, STRING_PREFIX);
	emit(aml, s, len + 1);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * EISAID: a PnP ID "LLLHHHH" packed as 3 × 5-bit letters (A = 1) and 4
 * hex digits, stored most significant byte first in a DWord (the ASL
 * compiler's EISAID() macro; ACPI 6.4 §19.6.35).
 */
void aml_eisaid(struct aml *aml, const char *id)
{
	uint32_t v = 0;
	uint8_t out[5];
	unsigned i;

	if (!begin_object(aml))
		return;
	if (strnlen(id, 8) != 7)
		goto bad;
	for (i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			goto bad;
		v = v << 5 | (uint32_t)(id[i] - 'A' + 1);
	}
	for (i = 3; i < 7; i++) {
		if (hex_digit(id[i]) < 0)
			goto bad;
		v = v << 4 | (uint32_t)hex_digit(id[i]);
	}
	out[0] = DWORD_PREFIX;
	out[1] = (uint8_t)(v >> 24);
	out[2] = (uint8_t)(v >> 16);
	out[3] = (uint8_t)(v >> 8);
	out[4] = (uint8_t)v;
	emit(aml, out, sizeof(out));
	return;
bad:
	fail(aml, -EINVAL);
}

/* Inserts PkgLength (plus extra, e.g. BufferSize) at start, covering everything up to the end. */
static void close_pkglength(struct aml *aml, size_t start, const uint8_t *extra, size_t extra_len)
{
	uint8_t head[4 + 9];
	unsigned n;

	if (aml->error)
		return;
	n = aml_pkglength_encode(aml->len - start + extra_len, head);
	if (n == 0) {
		fail(aml, -E2BIG);
		return;
	}
	if (extra_len)
		memcpy(head + n, extra, extra_len); /* extra may be NULL when there is none */
	insert(aml, start, head, n + extra_len);
}

void aml_buffer(struct aml *aml, const void *data, size_t len)
{
	uint8_t size[9];
	size_t start;

	if (!begin_object(aml))
		return;
	emit_byte(aml, BUFFER_OP);
	start = aml->len;
	emit(aml, data, len);
	close_pkglength(aml, start, size, encode_integer(len, size));
}

void aml_package_begin(struct aml *aml)
{
	if (!begin_object(aml))
		return;
	emit_byte(aml, PACKAGE_OP);
	push(aml, FRAME_PACKAGE);
}

void aml_scope_begin(struct aml *aml, const char *path)
{
	if (!begin_term(aml))
		return;
	emit_byte(aml, SCOPE_OP);
	push(aml, FRAME_SCOPE);
	emit_name(aml, path);
}

void aml_device_begin(struct aml *aml, const char *name)
{
	if (!begin_term(aml))
		return;
	emit_byte(aml, EXT_OP_PREFIX);
	emit_byte(aml, DEVICE_OP);
	push(aml, FRAME_DEVICE);
	emit_name(aml, name);
}

void aml_method_begin(struct aml *aml, const char *name, unsigned nargs, bool serialized)
{
	if (!begin_term(aml))
		return;
	if (nargs > 7) {
		fail(aml, -EINVAL);
		return;
	}
	emit_byte(aml, METHOD_OP);
	push(aml, FRAME_METHOD);
	emit_name(aml, name);
	/* MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, bits 4-7 SyncLevel 0. */
	emit_byte(aml, (uint8_t)(nargs | (serialized ? 1u << 3 : 0)));
}

void aml_resource_template_begin(struct aml *aml)
{
	if (!begin_object(aml))
		return;
	emit_byte(aml, BUFFER_OP);
	push(aml, FRAME_RESOURCES);
}

/* §6.4.2.9: the End Tag's checksum makes the descriptors plus the tag sum to 0. */
static void end_resources(struct aml *aml, const struct frame *f)
{
	uint8_t sum = RT_END_TAG, size[9];
	size_t i, len;

	for (i = f->start; i < aml->len; i++)
		sum = (uint8_t)(sum + aml->buf[i]);
	emit_byte(aml, RT_END_TAG);
	emit_byte(aml, (uint8_t)-sum);
	len = aml->len - f->start;
	close_pkglength(aml, f->start, size, encode_integer(len, size));
}

void aml_end(struct aml *aml)
{
	struct frame f;
	uint8_t count;

	if (aml->error)
		return;
	if (aml->depth == 0) {
		fail(aml, -EINVAL);
		return;
	}
	f = aml->frames[--aml->depth];
	switch (f.kind) {
	case FRAME_PACKAGE:
		if (f.elements > UINT8_MAX) {
			fail(aml, -EINVAL); /* would need VarPackageOp */
			return;
		}
		count = (uint8_t)f.elements;
		close_pkglength(aml, f.start, &count, 1);
		break;
	case FRAME_RESOURCES: end_resources(aml, &f); break;
	case FRAME_SCOPE:
	case FRAME_DEVICE:
	case FRAME_METHOD: close_pkglength(aml, f.start, NULL, 0); break;
	}
}

void aml_name(struct aml *aml, const char *name)
{
	if (!begin_term(aml))
		return;
	emit_byte(aml, NAME_OP);
	emit_name(aml, name);
}

void aml_return(struct aml *aml)
{
	const struct frame *f;

	if (!begin_term(aml))
		return;
	f = top(aml);
	if (!f || f->kind != FRAME_METHOD) {
		fail(aml, -EINVAL);
		return;
	}
	emit_byte(aml, RETURN_OP);
}

int aml_finish(struct aml *aml, const uint8_t **ret_data, size_t *ret_len)
{
	if (!aml->error && aml->depth)
		fail(aml, -EINVAL);
	if (aml->error)
		return aml->error;
	*ret_data = aml->buf;
	*ret_len = aml->len;
	return 0;
}

/* Resource descriptors. */

static bool in_resources(struct aml *aml)
{
	const struct frame *f = top(aml);

	if (aml->error)
		return false;
	if (!f || f->kind != FRAME_RESOURCES) {
		fail(aml, -EINVAL);
		return false;
	}
	return true;
}

void aml_rt_io(struct aml *aml, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	uint8_t d[8] = {RT_IO, 1 /* _DEC: 16-bit decode */};

	if (!in_resources(aml))
		return;
	put_le(d + 2, min, 2);
	put_le(d + 4, max, 2);
	d[6] = align;
	d[7] = len;
	emit(aml, d, sizeof(d));
}

void aml_rt_irq_noflags(struct aml *aml, uint16_t mask)
{
	uint8_t d[3] = {RT_IRQ_NOFLAGS};

	if (!in_resources(aml))
		return;
	put_le(d + 1, mask, 2);
	emit(aml, d, sizeof(d));
}

void aml_rt_irq(struct aml *aml, uint16_t mask, bool level, bool active_low, bool shared)
{
	uint8_t d[4] = {RT_IRQ};

	if (!in_resources(aml))
		return;
	put_le(d + 1, mask, 2);
	/* bit 0 _HE (edge), bit 3 _LL (active-low), bit 4 _SHR */
	d[3] = (uint8_t)((level ? 0 : 1u << 0) | (active_low ? 1u << 3 : 0) |
			 (shared ? 1u << 4 : 0));
	emit(aml, d, sizeof(d));
}

void aml_rt_interrupt(struct aml *aml, const uint32_t *irqs, unsigned count, bool level,
		      bool active_low, bool shared)
{
	uint8_t d[5];
	unsigned i;

	if (!in_resources(aml))
		return;
	if (count == 0 || count > UINT8_MAX) {
		fail(aml, -EINVAL);
		return;
	}
	d[0] = RT_EXT_IRQ;
	put_le(d + 1, 2 + 4 * count, 2);
	/* bit 0 consumer, bit 1 _HE (edge), bit 2 _LL (active-low), bit 3 _SHR */
	d[3] = (uint8_t)(1u << 0 | (level ? 0 : 1u << 1) | (active_low ? 1u << 2 : 0) |
			 (shared ? 1u << 3 : 0));
	d[4] = (uint8_t)count;
	emit(aml, d, sizeof(d));
	for (i = 0; i < count; i++) {
		uint8_t v[4];

		put_le(v, irqs[i], 4);
		emit(aml, v, sizeof(v));
	}
}

/*
 * An address space descriptor (§6.4.3.5.1-3) of `width` bytes per field:
 * tag, length, resource type, general flags, type-specific flags, then
 * granularity, minimum, maximum, translation offset, length.
 */
static void addr_space(struct aml *aml, uint8_t tag, unsigned width, uint8_t type,
		       uint8_t type_flags, uint64_t min, uint64_t max)
{
	uint8_t d[3 + 3 + 5 * 8];
	size_t n = 0;

	if (!in_resources(aml))
		return;
	if (max < min) {
		fail(aml, -EINVAL);
		return;
	}
	d[n++] = tag;
	put_le(d + n, 3 + 5 * width, 2);
	n += 2;
	d[n++] = type;
	d[n++] = RT_ADDR_WINDOW;
	d[n++] = type_flags;
	put_le(d + n, 0, width), n += width; /* granularity */
	put_le(d + n, min, width), n += width;
	put_le(d + n, max, width), n += width;
	put_le(d + n, 0, width), n += width; /* translation offset */
	put_le(d + n, max - min + 1, width),
		n += width; /* length (wraps to 0 for a full QWord range) */
	emit(aml, d, n);
}

void aml_rt_word_bus_number(struct aml *aml, uint16_t min, uint16_t max)
{
	addr_space(aml, RT_WORD_ADDR, 2, RT_ADDR_BUS, 0, min, max);
}

void aml_rt_word_io(struct aml *aml, uint16_t min, uint16_t max)
{
	addr_space(aml, RT_WORD_ADDR, 2, RT_ADDR_IO, RT_IO_ENTIRE_RANGE, min, max);
}

/* Memory type-specific flags: bit 0 _RW, bits 1-2 _MEM (cacheability), _MTP = AddressRangeMemory.
 */
static uint8_t mem_flags(enum aml_mem_cache cache, bool writable)
{
	return (uint8_t)((writable ? 1u : 0u) | ((unsigned)cache & 3u) << 1);
}

void aml_rt_dword_memory(struct aml *aml, uint32_t min, uint32_t max, enum aml_mem_cache cache,
			 bool writable)
{
	addr_space(aml, RT_DWORD_ADDR, 4, RT_ADDR_MEMORY, mem_flags(cache, writable), min, max);
}

void aml_rt_qword_memory(struct aml *aml, uint64_t min, uint64_t max, enum aml_mem_cache cache,
			 bool writable)
{
	addr_space(aml, RT_QWORD_ADDR, 8, RT_ADDR_MEMORY, mem_flags(cache, writable), min, max);
}
