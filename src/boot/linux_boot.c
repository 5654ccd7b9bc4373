/*
 * Linux boot set-up (linux_boot.h), following Linux
 * Documentation/x86/boot.rst: "Loading The Rest of The Kernel" (where the
 * bzImage payload goes), "64-bit Boot Protocol" (zero page, setup header
 * copy, entry state) and the field descriptions of type_of_loader,
 * loadflags, heap_end_ptr, cmd_line_ptr, ramdisk_image, ramdisk_size,
 * initrd_addr_max, cmdline_size and init_size; zero-page.rst for
 * acpi_rsdp_addr and e820_table. Memory layout: boot_layout.h.
 *
 * Everything stays below the MMIO hole, inside RAM region 0: the boot page
 * tables map 4 GiB, and ramdisk_image/cmd_line_ptr are 32-bit fields.
 */
#include "boot/linux_boot.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "boot/boot_layout.h"
#include "boot/bootparam_format.h"
#include "vid/guest_memory.h"
#include "boot/e820.h"
#include "boot/x86_entry.h"

/* boot.rst, "Sample Boot Configuration": heap_end = 0xE000, heap_end_ptr = heap_end - 0x200. */
#define BOOT_HEAP_END_PTR (0xE000 - 0x200)

/* One past the highest byte of RAM from address 0 (the region below the MMIO hole). */
static uint64_t low_ram_end(const struct guest_memory *mem)
{
	const struct guest_memory_region *r = guest_memory_region(mem, 0);

	return r && r->gpa == 0 ? r->size : 0;
}

static int no_room(struct boot_error *err, uint64_t need_end, uint64_t low_end)
{
	return boot_error_set(err, -ENOMEM,
			      "kernel needs RAM up to %#" PRIx64
			      " but RAM below the MMIO hole ends at %#" PRIx64 " (%" PRIu64 " MiB)",
			      need_end, low_end, low_end / MiB);
}

static int load_elf(struct guest_memory *mem, const struct kernel_image *k, uint64_t low_end,
		    struct linux_boot_info *info, struct boot_error *err)
{
	unsigned i;
	int r;

	for (i = 0; i < k->nsegments; i++) {
		const struct kernel_segment *s = &k->segments[i];

		/* kernel_image_parse() keeps gpa + mem_size below 4 GiB. */
		if (s->gpa + s->mem_size > low_end)
			return no_room(err, s->gpa + s->mem_size, low_end);
		r = guest_memory_write(mem, s->gpa, k->data + s->file_offset, s->file_size);
		if (r >= 0)
			r = guest_memory_fill(mem, s->gpa + s->file_size, 0,
					      s->mem_size - s->file_size);
		if (r < 0)
			return boot_error_set(err, r, "segment %u at %#" PRIx64 " is not RAM",
					      s->phdr_index, s->gpa);
	}
	info->kernel_start = k->segments[0].gpa;
	info->kernel_end =
		k->segments[k->nsegments - 1].gpa + k->segments[k->nsegments - 1].mem_size;
	return 0;
}

/*
 * The end of the memory a bzImage loaded at load uses before it reads the
 * e820 map: its payload, and init_size bytes from where it decompresses
 * itself to. The 64-bit entry (arch/x86/boot/compressed/head_64.S,
 * startup_64) runs a relocatable kernel from load aligned up to
 * kernel_alignment, but never below LOAD_PHYSICAL_ADDR (= pref_address);
 * a non-relocatable one from pref_address.
 */
static uint64_t bz_kernel_end(const struct kernel_image *k, uint64_t load)
{
	uint64_t run = k->pref_address;

	if (k->relocatable)
		run = MAX(ALIGN_UP(load, (uint64_t)k->kernel_alignment), k->pref_address);
	return MAX(load + k->payload_size, run + k->init_size);
}

static int load_bzimage(struct guest_memory *mem, const struct kernel_image *k, uint64_t low_end,
			struct linux_boot_info *info, struct boot_error *err)
{
	uint64_t load = k->pref_address;
	int r;

	/* Prefer pref_address (no self-relocation needed); else 1 MiB, as boot.rst says for
	 * bzImage. */
	if (load < BOOT_HIGH_START || bz_kernel_end(k, load) > low_end)
		load = BOOT_HIGH_START;
	if (bz_kernel_end(k, load) > low_end)
		return no_room(err, bz_kernel_end(k, load), low_end);
	r = guest_memory_write(mem, load, k->data + k->payload_offset, k->payload_size);
	if (r < 0)
		return boot_error_set(err, r, "kernel at %#" PRIx64 " is not RAM", load);
	info->kernel_start = load;
	info->kernel_end = bz_kernel_end(k, load);
	return 0;
}

/*
 * The initrd goes page-aligned as high as it can below both the top of
 * low RAM and initrd_addr_max (the highest byte it may occupy), and above
 * the kernel.
 */
static int load_initrd(struct guest_memory *mem, const struct linux_boot_config *cfg,
		       uint64_t low_end, struct linux_boot_info *info, struct boot_error *err)
{
	uint64_t top = MIN(low_end, (uint64_t)cfg->kernel->initrd_addr_max + 1), gpa;
	int r;

	if (!cfg->initrd || cfg->initrd_size == 0)
		return 0;
	if (cfg->initrd_size > top ||
	    ALIGN_DOWN(top - cfg->initrd_size, GUEST_PAGE_SIZE) < info->kernel_end)
		return boot_error_set(
			err, -ENOMEM,
			"initrd of %zu bytes does not fit between the kernel's end %#" PRIx64
			" and %#" PRIx64 " (%" PRIu64 " bytes free)",
			cfg->initrd_size, info->kernel_end, top,
			top > info->kernel_end ? top - info->kernel_end : 0);
	gpa = ALIGN_DOWN(top - cfg->initrd_size, GUEST_PAGE_SIZE);
	r = guest_memory_write(mem, gpa, cfg->initrd, cfg->initrd_size);
	if (r < 0)
		return boot_error_set(err, r, "initrd at %#" PRIx64 " is not RAM", gpa);
	info->initrd_gpa = gpa;
	info->initrd_size = cfg->initrd_size;
	return 0;
}

static int write_cmdline(struct guest_memory *mem, const struct linux_boot_config *cfg, size_t len,
			 struct boot_error *err)
{
	int r;

	/* Linux copies COMMAND_LINE_SIZE bytes from cmd_line_ptr whatever the length: keep them
	 * zero. */
	r = guest_memory_fill(mem, BOOT_CMDLINE_GPA, 0, BOOT_CMDLINE_SIZE);
	if (r >= 0)
		r = guest_memory_write(mem, BOOT_CMDLINE_GPA, cfg->cmdline ? cfg->cmdline : "",
				       len);
	if (r < 0)
		return boot_error_set(err, r, "command line buffer at %#" PRIx64 " is not RAM",
				      (uint64_t)BOOT_CMDLINE_GPA);
	return 0;
}

/* The zero page: the image's setup header (bzImage) or a minimal one (ELF), then the loader's
 * fields. */
static int write_boot_params(struct guest_memory *mem, const struct linux_boot_config *cfg,
			     struct linux_boot_info *info, struct boot_error *err)
{
	const struct kernel_image *k = cfg->kernel;
	struct boot_params bp;
	int n, r;

	memset(&bp, 0, sizeof(bp));
	if (k->format == KERNEL_IMAGE_BZIMAGE) {
		/* boot.rst "64-bit Boot Protocol": load the header from offset 0x1F1 of the image.
		 */
		memcpy((uint8_t *)&bp + BZ_SETUP_HEADER_OFFSET, k->data + BZ_SETUP_HEADER_OFFSET,
		       k->setup_header_len);
		bp.hdr.code32_start = (uint32_t)info->kernel_start;
		/* A loader-written field (a list of setup_data in guest memory): we pass none. */
		bp.hdr.setup_data = 0;
	} else {
		bp.hdr.boot_flag = BZ_BOOT_FLAG;
		bp.hdr.header = BZ_HEADER_MAGIC;
		bp.hdr.loadflags = BZ_LOADED_HIGH;
		bp.hdr.cmdline_size = k->cmdline_max;
	}
	bp.hdr.type_of_loader = BZ_LOADER_UNDEFINED;
	bp.hdr.loadflags |= BZ_CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = BOOT_HEAP_END_PTR;
	bp.hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_GPA;
	bp.hdr.ramdisk_image = (uint32_t)info->initrd_gpa;
	bp.hdr.ramdisk_size = (uint32_t)info->initrd_size;
	bp.acpi_rsdp_addr = cfg->rsdp_gpa;

	n = e820_build_for(mem, bp.e820_table, E820_MAX_ENTRIES_ZEROPAGE);
	if (n < 0)
		return boot_error_set(err, n, "e820 map does not fit in the zero page");
	bp.e820_entries = (uint8_t)n;
	info->e820_entries = (unsigned)n;

	r = guest_memory_write(mem, BOOT_PARAMS_GPA, &bp, sizeof(bp));
	if (r < 0)
		return boot_error_set(err, r, "zero page at %#" PRIx64 " is not RAM",
				      (uint64_t)BOOT_PARAMS_GPA);
	return 0;
}

int linux_boot_setup(struct guest_memory *mem, const struct linux_boot_config *cfg,
		     struct x86_boot_regs *ret_regs, struct linux_boot_info *ret_info,
		     struct boot_error *err)
{
	const struct kernel_image *k = cfg->kernel;
	struct linux_boot_info info = {0};
	struct x86_boot_regs regs;
	uint64_t low_end = low_ram_end(mem);
	size_t len = cfg->cmdline ? strlen(cfg->cmdline) : 0;
	int r;

	if (low_end < BOOT_HIGH_START)
		return boot_error_set(err, -ENOMEM,
				      "guest RAM of %" PRIu64
				      " KiB is too small: need more than 1 MiB",
				      guest_memory_ram_size(mem) / KiB);
	if (len > k->cmdline_max || len >= BOOT_CMDLINE_SIZE)
		return boot_error_set(
			err, -E2BIG,
			"command line is %zu bytes, the kernel accepts at most %" PRIu64, len,
			MIN((uint64_t)k->cmdline_max, BOOT_CMDLINE_SIZE - 1));

	r = k->format == KERNEL_IMAGE_ELF ? load_elf(mem, k, low_end, &info, err)
					  : load_bzimage(mem, k, low_end, &info, err);
	if (r < 0)
		return r;
	r = load_initrd(mem, cfg, low_end, &info, err);
	if (r < 0)
		return r;
	r = write_cmdline(mem, cfg, len + 1, err);
	if (r < 0)
		return r;
	r = write_boot_params(mem, cfg, &info, err);
	if (r < 0)
		return r;
	r = x86_entry_setup(mem,
			    k->format == KERNEL_IMAGE_ELF ? k->entry : info.kernel_start + k->entry,
			    BOOT_PARAMS_GPA, &regs, err);
	if (r < 0)
		return r;

	*ret_regs = regs;
	if (ret_info)
		*ret_info = info;
	return 0;
}
