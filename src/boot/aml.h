/*
 * A small emitter of ACPI Machine Language, enough to describe a virtual
 * PC's devices in a DSDT at run time: names, integers, strings, EISA IDs,
 * buffers, packages, scopes, devices, Name, simple methods, and resource
 * templates. Encoding: ACPI 6.4 chapter 20 ("AML Specification"),
 * resource descriptors: §6.4.
 *
 * Usage: blocks are opened with a _begin call and closed with aml_end();
 * their PkgLength (and a package's element count, a buffer's size) is
 * filled in when they close. Errors are sticky: an invalid name, a misuse
 * or a failed allocation makes every later call a no-op and aml_finish()
 * return the error, so callers (and DSDT contributors) need not check
 * each call.
 *
 *   aml_device_begin(aml, "COM1");
 *     aml_name(aml, "_HID"); aml_eisaid(aml, "PNP0501");
 *     aml_name(aml, "_CRS"); aml_resource_template_begin(aml);
 *       aml_rt_io(aml, 0x3F8, 0x3F8, 1, 8); aml_rt_irq_noflags(aml, 1u << 4);
 *     aml_end(aml);
 *   aml_end(aml);
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct aml;

/* Past this many bytes of AML the emitter fails with -E2BIG. */
#define AML_MAX_SIZE (1u << 20)
/* Deepest nesting of open blocks. */
#define AML_MAX_DEPTH 32

int aml_new(struct aml **ret) must_check;
struct aml *aml_free(struct aml *aml);

/*
 * Checks that every block is closed and no error happened, then returns
 * the bytes (valid until the next call on aml). Returns 0, -EINVAL
 * (misuse, bad name), -ENOMEM or -E2BIG.
 */
int aml_finish(struct aml *aml, const uint8_t **ret_data, size_t *ret_len) must_check;
/* The sticky error so far (0 if none). */
int aml_error(const struct aml *aml);
/* Blocks open now; a contributor must leave it as it found it. */
unsigned aml_depth(const struct aml *aml);

/* Data objects. Inside a package each counts as one element. */
/* A NameString: "\\_SB.PCI0", "^FOO", "_HID"; segments of 1-4 of [A-Z0-9_] (not starting with a
 * digit), padded with '_'. */
void aml_name_string(struct aml *aml, const char *path);
/* The shortest encoding: ZeroOp, OneOp, BytePrefix, WordPrefix, DWordPrefix or QWordPrefix. */
void aml_integer(struct aml *aml, uint64_t value);
/* A String of ASCII characters 0x01-0x7F. */
void aml_string(struct aml *aml, const char *s);
/* EISAID("PNP0A03"): three letters A-Z and four hex digits, compressed to a DWord. */
void aml_eisaid(struct aml *aml, const char *id);
/* A Buffer holding len bytes. */
void aml_buffer(struct aml *aml, const void *data, size_t len);

/* Blocks, each closed by aml_end(). */
void aml_package_begin(struct aml *aml); /* Package () { ... }, at most 255 elements */
void aml_scope_begin(struct aml *aml, const char *path); /* Scope (path) { ... } */
void aml_device_begin(struct aml *aml, const char *name);
/* Method (name, nargs, Serialized|NotSerialized) { ... }, nargs 0-7. */
void aml_method_begin(struct aml *aml, const char *name, unsigned nargs, bool serialized);
/* ResourceTemplate () { ... }: a Buffer of resource descriptors; aml_end() appends the EndTag. */
void aml_resource_template_begin(struct aml *aml);
void aml_end(struct aml *aml);

/* Name (name, <the next data object>) */
void aml_name(struct aml *aml, const char *name);
/* Return (<the next data object>), inside a method. */
void aml_return(struct aml *aml);

/*
 * Resource descriptors, only inside a resource template (§6.4.2, §6.4.3).
 * The address-space ones describe windows a bridge decodes: ResourceProducer,
 * PosDecode, MinFixed, MaxFixed, granularity 0, no translation,
 * length = max - min + 1.
 */
enum aml_mem_cache {
	AML_MEM_NON_CACHEABLE = 0,
	AML_MEM_CACHEABLE = 1,
	AML_MEM_WRITE_COMBINING = 2,
	AML_MEM_PREFETCHABLE = 3,
};

/* IO (Decode16, min, max, align, len) */
void aml_rt_io(struct aml *aml, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags () {...}: edge, active-high, exclusive; bit n of mask is IRQ n. */
void aml_rt_irq_noflags(struct aml *aml, uint16_t mask);
/* IRQ (Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared) {...} */
void aml_rt_irq(struct aml *aml, uint16_t mask, bool level, bool active_low, bool shared);
/* Interrupt (ResourceConsumer, Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared) {irqs} */
void aml_rt_interrupt(struct aml *aml, const uint32_t *irqs, unsigned count, bool level,
		      bool active_low, bool shared);
void aml_rt_word_bus_number(struct aml *aml, uint16_t min, uint16_t max);
void aml_rt_word_io(struct aml *aml, uint16_t min, uint16_t max);
void aml_rt_dword_memory(struct aml *aml, uint32_t min, uint32_t max, enum aml_mem_cache cache,
			 bool writable);
void aml_rt_qword_memory(struct aml *aml, uint64_t min, uint64_t max, enum aml_mem_cache cache,
			 bool writable);

/* Exposed for tests: the PkgLength encoding of a package whose contents (after PkgLength) are len
 * bytes. Writes 1-4 bytes to out and returns how many, or 0 if len is too large (2^28 - 4 or more).
 */
unsigned aml_pkglength_encode(size_t len, uint8_t out[4]);
