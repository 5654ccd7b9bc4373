/*
 * Kernel file recognition (kernel_image.h).
 * ELF vmlinux: "ELF-64 Object File Format" v1.5, file header and program
 * header table (elf_format.h). bzImage: Linux Documentation/x86/boot.rst,
 * "The Real-Mode Kernel Header", "Loading The Rest of The Kernel" and
 * "64-bit Boot Protocol" (bootparam_format.h).
 *
 * Every number read from the file is untrusted: ranges are checked with
 * range_in() / __builtin_add_overflow, never with a bare a + b.
 */
#include "boot/kernel_image.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "boot/bootparam_format.h"
#include "boot/elf_format.h"

#define BZ_MIN_PROTOCOL 0x020C	  /* 2.12: xloadflags, hence XLF_KERNEL_64 */
#define LOW_LIMIT	(1 * MiB) /* below: real-mode area, boot structures, BIOS and ACPI area */

/* True if [off, off + len) lies within a buffer of size bytes. Overflow-proof. */
static bool range_in(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static bool is_power_of_two(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* Checks one PT_LOAD program header (index i) and turns it into a segment. */
static int elf_segment(const struct elf64_phdr *ph, unsigned i, size_t size,
		       struct kernel_segment *ret, struct boot_error *err)
{
	uint64_t end;

	if (ph->p_filesz > ph->p_memsz)
		return boot_error_set(err, -EINVAL,
				      "segment %u: file size %#" PRIx64
				      " larger than memory size %#" PRIx64,
				      i, ph->p_filesz, ph->p_memsz);
	if (__builtin_add_overflow(ph->p_offset, ph->p_filesz, &end))
		return boot_error_set(err, -EINVAL,
				      "segment %u: offset %#" PRIx64 " + size %#" PRIx64
				      " overflows",
				      i, ph->p_offset, ph->p_filesz);
	if (end > size)
		return boot_error_set(err, -EINVAL,
				      "truncated: segment %u ends at %#" PRIx64
				      " beyond file size %#zx",
				      i, end, size);
	if (ph->p_paddr < LOW_LIMIT)
		return boot_error_set(err, -EINVAL, "segment %u at %#" PRIx64 " is below 1 MiB", i,
				      ph->p_paddr);
	if (!range_in(ph->p_paddr, ph->p_memsz, KERNEL_IMAGE_ADDR_LIMIT))
		return boot_error_set(err, -EINVAL,
				      "segment %u at %#" PRIx64 " of %#" PRIx64
				      " bytes reaches beyond 4 GiB",
				      i, ph->p_paddr, ph->p_memsz);
	*ret = (struct kernel_segment){
		.file_offset = ph->p_offset,
		.file_size = ph->p_filesz,
		.gpa = ph->p_paddr,
		.mem_size = ph->p_memsz,
		.phdr_index = i,
	};
	return 0;
}

/* Sorts by gpa (at most KERNEL_IMAGE_MAX_SEGMENTS, so insertion sort), then rejects overlaps. */
static int elf_sort_segments(struct kernel_image *k, struct boot_error *err)
{
	unsigned i, j;

	for (i = 1; i < k->nsegments; i++) {
		struct kernel_segment s = k->segments[i];

		for (j = i; j > 0 && k->segments[j - 1].gpa > s.gpa; j--)
			k->segments[j] = k->segments[j - 1];
		k->segments[j] = s;
	}
	for (i = 1; i < k->nsegments; i++) {
		const struct kernel_segment *a = &k->segments[i - 1], *b = &k->segments[i];

		/* Both end below 4 GiB (checked), so a->gpa + a->mem_size cannot overflow. */
		if (a->gpa + a->mem_size > b->gpa)
			return boot_error_set(err, -EINVAL,
					      "segments %u and %u overlap at %#" PRIx64,
					      a->phdr_index, b->phdr_index, b->gpa);
	}
	return 0;
}

static int parse_elf(const uint8_t *data, size_t size, struct kernel_image *k,
		     struct boot_error *err)
{
	struct elf64_ehdr eh;
	uint64_t table_len, table_end;
	unsigned i;
	int r;

	if (size < sizeof(eh))
		return boot_error_set(err, -EINVAL,
				      "truncated: ELF header needs %zu bytes, file has %zu",
				      sizeof(eh), size);
	memcpy(&eh, data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return boot_error_set(err, -ENOEXEC, "ELF class %u is not ELF64 (a 32-bit kernel?)",
				      eh.e_ident[EI_CLASS]);
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return boot_error_set(err, -ENOEXEC, "ELF data encoding %u is not little-endian",
				      eh.e_ident[EI_DATA]);
	if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
		return boot_error_set(err, -ENOEXEC, "ELF version %u is not 1", eh.e_version);
	if (eh.e_machine != EM_X86_64)
		return boot_error_set(err, -ENOEXEC, "ELF machine %u is not x86-64 (%u)",
				      eh.e_machine, EM_X86_64);
	if (eh.e_type != ET_EXEC)
		return boot_error_set(err, -ENOEXEC, "ELF type %u is not an executable (ET_EXEC)",
				      eh.e_type);
	if (eh.e_phentsize != sizeof(struct elf64_phdr))
		return boot_error_set(err, -EINVAL, "ELF program header size %u, expected %zu",
				      eh.e_phentsize, sizeof(struct elf64_phdr));
	if (eh.e_phnum == 0)
		return boot_error_set(err, -EINVAL, "ELF file has no program headers");
	if (eh.e_phnum > KERNEL_IMAGE_MAX_PHDRS)
		return boot_error_set(err, -EINVAL, "%u ELF program headers, at most %u supported",
				      eh.e_phnum, KERNEL_IMAGE_MAX_PHDRS);
	table_len = (uint64_t)eh.e_phnum * sizeof(struct elf64_phdr);
	if (__builtin_add_overflow(eh.e_phoff, table_len, &table_end) || table_end > size)
		return boot_error_set(err, -EINVAL,
				      "truncated: program headers at %#" PRIx64 " (%" PRIu64
				      " bytes) beyond file size %#zx",
				      eh.e_phoff, table_len, size);

	for (i = 0; i < eh.e_phnum; i++) {
		struct elf64_phdr ph;

		memcpy(&ph, data + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (k->nsegments == KERNEL_IMAGE_MAX_SEGMENTS)
			return boot_error_set(err, -EINVAL, "more than %u loadable segments",
					      KERNEL_IMAGE_MAX_SEGMENTS);
		r = elf_segment(&ph, i, size, &k->segments[k->nsegments], err);
		if (r < 0)
			return r;
		k->nsegments++;
	}
	if (k->nsegments == 0)
		return boot_error_set(err, -EINVAL, "ELF file has no loadable segments");
	r = elf_sort_segments(k, err);
	if (r < 0)
		return r;

	/* The entry must be code that comes from the file, not zero-filled memory. */
	for (i = 0; i < k->nsegments; i++)
		if (eh.e_entry >= k->segments[i].gpa &&
		    eh.e_entry - k->segments[i].gpa < k->segments[i].file_size)
			break;
	if (i == k->nsegments)
		return boot_error_set(err, -EINVAL,
				      "entry point %#" PRIx64 " is outside the loaded segments",
				      eh.e_entry);

	k->format = KERNEL_IMAGE_ELF;
	k->entry = eh.e_entry;
	k->initrd_addr_max = BZ_INITRD_ADDR_MAX_DEFAULT;
	k->cmdline_max = LINUX_COMMAND_LINE_SIZE - 1;
	return 0;
}

static bool has_boot_flag(const uint8_t *data, size_t size)
{
	return size >= BZ_SETUP_HEADER_OFFSET + offsetof(struct setup_header, jump) &&
	       data[0x1FE] == (BZ_BOOT_FLAG & 0xFF) && data[0x1FF] == (BZ_BOOT_FLAG >> 8);
}

static bool has_hdrs_magic(const uint8_t *data, size_t size)
{
	uint32_t magic;

	if (size < 0x202 + sizeof(magic))
		return false;
	memcpy(&magic, data + 0x202, sizeof(magic));
	return magic == BZ_HEADER_MAGIC;
}

static int parse_bzimage(const uint8_t *data, size_t size, struct kernel_image *k,
			 struct boot_error *err)
{
	struct setup_header h;
	size_t hdr_end;
	uint64_t setup_sects, payload_offset, payload_size;

	/* boot.rst: the header ends at 0x0202 + the byte at 0x0201 (the short jump's displacement).
	 */
	hdr_end = BZ_JUMP_OFFSET + 2 + data[BZ_JUMP_OFFSET + 1];
	if (hdr_end > size)
		return boot_error_set(err, -EINVAL,
				      "truncated: setup header ends at %#zx beyond file size %#zx",
				      hdr_end, size);
	memset(&h, 0, sizeof(h));
	memcpy(&h, data + BZ_SETUP_HEADER_OFFSET, MIN(sizeof(h), hdr_end - BZ_SETUP_HEADER_OFFSET));
	if (h.version < BZ_MIN_PROTOCOL)
		return boot_error_set(err, -ENOEXEC,
				      "bzImage boot protocol %u.%02u too old, need 2.12+",
				      h.version >> 8, h.version & 0xFF);
	if (hdr_end < BZ_SETUP_HEADER_OFFSET + offsetof(struct setup_header, handover_offset))
		return boot_error_set(
			err, -EINVAL, "setup header ends at %#zx, protocol 2.12 needs %#zx",
			hdr_end,
			BZ_SETUP_HEADER_OFFSET + offsetof(struct setup_header, handover_offset));
	if (hdr_end > BZ_SETUP_HEADER_END_MAX)
		return boot_error_set(err, -EINVAL, "setup header ends at %#zx, past %#x", hdr_end,
				      BZ_SETUP_HEADER_END_MAX);
	if (!(h.loadflags & BZ_LOADED_HIGH))
		return boot_error_set(err, -ENOEXEC,
				      "zImage (not LOADED_HIGH) is not supported, need a bzImage");
	if (!(h.xloadflags & BZ_XLF_KERNEL_64))
		return boot_error_set(err, -ENOEXEC,
				      "bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)");

	setup_sects = h.setup_sects ? h.setup_sects : BZ_DEFAULT_SETUP_SECTS;
	payload_offset = (setup_sects + 1) * BZ_SECTOR_SIZE;
	if (payload_offset >= size || size - payload_offset <= BZ_ENTRY64_OFFSET)
		return boot_error_set(err, -EINVAL,
				      "truncated: protected-mode kernel at %#" PRIx64
				      " needs more than %#x bytes, file size %#zx",
				      payload_offset, BZ_ENTRY64_OFFSET, size);
	payload_size = size - payload_offset;
	if ((uint64_t)h.syssize * 16 > payload_size)
		return boot_error_set(
			err, -EINVAL,
			"truncated: header says the protected-mode kernel is %#" PRIx64
			" bytes, file holds %#" PRIx64,
			(uint64_t)h.syssize * 16, payload_size);
	if (h.relocatable_kernel &&
	    (!is_power_of_two(h.kernel_alignment) || h.kernel_alignment < 4096))
		return boot_error_set(err, -EINVAL,
				      "kernel_alignment %#x is not a power of two >= 4 KiB",
				      h.kernel_alignment);
	if (h.pref_address >= KERNEL_IMAGE_ADDR_LIMIT)
		return boot_error_set(err, -EINVAL,
				      "preferred load address %#" PRIx64 " is beyond 4 GiB",
				      h.pref_address);
	if (!h.relocatable_kernel && h.pref_address < LOW_LIMIT)
		return boot_error_set(err, -EINVAL,
				      "non-relocatable kernel wants to run at %#" PRIx64
				      ", below 1 MiB",
				      h.pref_address);

	k->format = KERNEL_IMAGE_BZIMAGE;
	k->entry = BZ_ENTRY64_OFFSET;
	k->protocol = h.version;
	k->payload_offset = payload_offset;
	k->payload_size = payload_size;
	k->setup_header_len = (uint32_t)(hdr_end - BZ_SETUP_HEADER_OFFSET);
	k->pref_address = h.pref_address;
	k->kernel_alignment = h.kernel_alignment;
	k->init_size = h.init_size;
	k->xloadflags = h.xloadflags;
	k->relocatable = h.relocatable_kernel != 0;
	k->initrd_addr_max = h.initrd_addr_max ? h.initrd_addr_max : BZ_INITRD_ADDR_MAX_DEFAULT;
	k->cmdline_max = h.cmdline_size;
	return 0;
}

int kernel_image_parse(const void *data, size_t size, struct kernel_image *ret,
		       struct boot_error *err)
{
	struct kernel_image k;
	const uint8_t *p = data;
	int r;

	memset(&k, 0, sizeof(k));
	if (size >= ELF_MAGIC_LEN && memcmp(p, ELF_MAGIC, ELF_MAGIC_LEN) == 0)
		r = parse_elf(p, size, &k, err);
	else if (has_boot_flag(p, size) && has_hdrs_magic(p, size))
		r = parse_bzimage(p, size, &k, err);
	else if (has_boot_flag(p, size))
		r = boot_error_set(err, -ENOEXEC,
				   "boot sector without a Linux setup header (no HdrS magic)");
	else if (size < BZ_SETUP_HEADER_OFFSET + sizeof(struct setup_header))
		r = boot_error_set(err, -ENOEXEC,
				   "neither an ELF vmlinux nor a bzImage (%zu bytes is too short)",
				   size);
	else
		r = boot_error_set(err, -ENOEXEC,
				   "neither an ELF vmlinux nor a bzImage (bad magic)");
	if (r < 0)
		return r;
	k.data = p;
	k.size = size;
	*ret = k;
	return 0;
}

const char *kernel_image_format_name(enum kernel_image_format format)
{
	switch (format) {
	case KERNEL_IMAGE_ELF: return "ELF vmlinux";
	case KERNEL_IMAGE_BZIMAGE: return "bzImage";
	}
	return "unknown";
}
