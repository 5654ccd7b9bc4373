/*
 * Unit tests of linux_boot_setup() on real guest memory (no /dev/kvm):
 * kernel placement, zero page, command line, initrd, e820, page tables,
 * GDT and the entry registers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot/boot_layout.h"
#include "boot/bootparam_format.h"
#include "boot/linux_boot.h"
#include "fake_kernel.h"

#define MB (UINT64_C(1) << 20)

struct fixture {
	struct guest_memory *mem;
	uint8_t *file;
	size_t size;
	struct kernel_image k;
	struct linux_boot_config cfg;
	struct x86_boot_regs regs;
	struct linux_boot_info info;
	struct boot_error err;
};

static void setup_mem(struct fixture *f, uint64_t ram)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(guest_memory_new(ram, &f->mem), 0);
}

static void use_file(struct fixture *f, uint8_t *file, size_t size)
{
	f->file = file;
	f->size = size;
	assert_int_equal(kernel_image_parse(file, size, &f->k, &f->err), 0);
	f->cfg.kernel = &f->k;
	f->cfg.cmdline = "console=ttyS0 panic=-1";
	f->cfg.rsdp_gpa = 0xE0000;
}

static void use_elf(struct fixture *f)
{
	static const struct fake_segment segs[] = {
		{.paddr = 16 * MB, .filesz = 0x3000, .memsz = 0x3000},
		{.paddr = 20 * MB, .filesz = 0x1000, .memsz = 0x5000},
	};
	size_t size;
	uint8_t *file = fake_elf_new(16 * MB + 0x40, segs, 2, &size);

	use_file(f, file, size);
}

static void use_bz(struct fixture *f, const struct fake_bz *bz)
{
	size_t size;
	uint8_t *file = fake_bzimage_new(bz, &size);

	use_file(f, file, size);
}

static void teardown(struct fixture *f)
{
	guest_memory_free(f->mem);
	free(f->file);
}

static int run(struct fixture *f)
{
	f->err.msg[0] = 0;
	return linux_boot_setup(f->mem, &f->cfg, &f->regs, &f->info, &f->err);
}

static struct boot_params read_params(struct fixture *f)
{
	struct boot_params bp;

	assert_int_equal(guest_memory_read(f->mem, BOOT_PARAMS_GPA, &bp, sizeof(bp)), 0);
	return bp;
}

static void expect_msg(struct fixture *f, const char *want)
{
	if (!strstr(f->err.msg, want))
		fail_msg("error \"%s\" does not contain \"%s\"", f->err.msg, want);
}

static void expect_pattern(struct fixture *f, uint64_t gpa, unsigned n, uint64_t len)
{
	uint8_t *p = guest_memory_ptr(f->mem, gpa, len);
	uint64_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		if (p[i] != fake_pattern(n, i))
			fail_msg("byte %#llx of piece %u at %#llx differs", (unsigned long long)i,
				 n, (unsigned long long)gpa);
}

static void expect_zero(struct fixture *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_memory_ptr(f->mem, gpa, len);
	uint64_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		assert_int_equal(p[i], 0);
}

static void test_elf(void **state)
{
	struct fixture f;
	struct boot_params bp;
	char cmdline[64];

	setup_mem(&f, 256 * MB);
	/* Dirty memory, as after a reboot: set-up must not rely on zeroed RAM. */
	assert_int_equal(guest_memory_fill(f.mem, 0, 0xCC, 64 * MB), 0);
	use_elf(&f);
	assert_int_equal(run(&f), 0);

	expect_pattern(&f, 16 * MB, 0, 0x3000);
	expect_pattern(&f, 20 * MB, 1, 0x1000);
	expect_zero(&f, 20 * MB + 0x1000, 0x4000); /* bss */
	assert_int_equal(f.info.kernel_start, 16 * MB);
	assert_int_equal(f.info.kernel_end, 20 * MB + 0x5000);
	assert_int_equal(f.regs.rip, 16 * MB + 0x40);
	assert_int_equal(f.regs.rsi, BOOT_PARAMS_GPA);

	bp = read_params(&f);
	assert_int_equal(bp.hdr.boot_flag, 0xAA55);
	assert_int_equal(bp.hdr.header, 0x53726448);
	assert_int_equal(bp.hdr.type_of_loader, 0xFF);
	assert_true(bp.hdr.loadflags & BZ_CAN_USE_HEAP);
	assert_int_equal(bp.hdr.heap_end_ptr, 0xDE00);
	assert_int_equal(bp.hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	assert_int_equal(bp.hdr.cmdline_size, 2047);
	assert_int_equal(bp.ext_cmd_line_ptr, 0);
	assert_int_equal(bp.hdr.ramdisk_image, 0);
	assert_int_equal(bp.hdr.ramdisk_size, 0);
	assert_int_equal(bp.acpi_rsdp_addr, 0xE0000);
	assert_int_equal(bp.sentinel, 0);
	assert_int_equal(bp.e820_entries, 3);
	assert_int_equal(bp.e820_table[2].addr, 1 * MB);
	assert_int_equal(bp.e820_table[2].addr + bp.e820_table[2].size, 256 * MB);
	assert_int_equal(f.info.e820_entries, 3);

	assert_int_equal(guest_memory_read(f.mem, BOOT_CMDLINE_GPA, cmdline, sizeof(cmdline)), 0);
	assert_string_equal(cmdline, "console=ttyS0 panic=-1");
	/* The kernel copies COMMAND_LINE_SIZE bytes: all after the string is zero. */
	expect_zero(&f, BOOT_CMDLINE_GPA + strlen(cmdline), 2048 - strlen(cmdline));
	teardown(&f);
}

static void test_bzimage(void **state)
{
	struct fake_bz bz = fake_bz_default();
	struct fixture f;
	struct boot_params bp;

	setup_mem(&f, 256 * MB);
	use_bz(&f, &bz);
	fake_put(f.file + 0x250, 0x12345678, 8); /* setup_data in the image: not passed on */
	assert_int_equal(run(&f), 0);
	/* At pref_address; the entry is 0x200 into the payload. */
	assert_int_equal(f.info.kernel_start, 16 * MB);
	assert_int_equal(f.info.kernel_end,
			 16 * MB + 8 * MB); /* init_size from the runtime start */
	assert_int_equal(f.regs.rip, 16 * MB + 0x200);
	expect_pattern(&f, 16 * MB, 7, 0x3000);

	bp = read_params(&f);
	/* The image's header, copied... */
	assert_int_equal(bp.hdr.version, 0x020F);
	assert_int_equal(bp.hdr.vid_mode, 0xFFFF);
	assert_int_equal(bp.hdr.kernel_alignment, 2 * MB);
	assert_int_equal(bp.hdr.init_size, 8 * MB);
	assert_int_equal(bp.hdr.pref_address, 16 * MB);
	assert_int_equal(bp.hdr.xloadflags, 3);
	/* ...and the loader's fields. */
	assert_int_equal(bp.hdr.loadflags, BZ_LOADED_HIGH | BZ_CAN_USE_HEAP);
	assert_int_equal(bp.hdr.type_of_loader, 0xFF);
	assert_int_equal(bp.hdr.code32_start, 16 * MB);
	assert_int_equal(bp.hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	assert_int_equal(bp.hdr.setup_data, 0);
	assert_int_equal(bp.acpi_rsdp_addr, 0xE0000);
	assert_int_equal(bp.sentinel, 0);
	teardown(&f);
}

/* The payload does not fit at pref_address, but the kernel can start from 1 MiB and relocate. */
static void test_bzimage_low_load(void **state)
{
	struct fake_bz bz = fake_bz_default();
	struct fixture f;

	bz.pref_address = 56 * MB;
	bz.payload_size = 12 * MB;
	bz.init_size = 4 * MB;
	setup_mem(&f, 64 * MB);
	use_bz(&f, &bz);
	assert_int_equal(run(&f), 0);
	assert_int_equal(f.info.kernel_start, 1 * MB);
	assert_int_equal(f.info.kernel_end, 60 * MB);
	assert_int_equal(f.regs.rip, 1 * MB + 0x200);
	expect_pattern(&f, 1 * MB, 7, 12 * MB);
	teardown(&f);
}

static void test_cmdline_limits(void **state)
{
	struct fake_bz bz = fake_bz_default();
	struct fixture f;
	char *line = malloc(4096);

	setup_mem(&f, 256 * MB);
	use_elf(&f);
	memset(line, 'a', 4096);
	line[2047] = 0;
	f.cfg.cmdline = line;
	assert_int_equal(run(&f), 0);
	line[2047] = 'a';
	line[2048] = 0;
	assert_int_equal(run(&f), -E2BIG);
	expect_msg(&f, "command line is 2048 bytes, the kernel accepts at most 2047");
	/* No command line: an empty string, still pointed to (boot.rst: never leave cmd_line_ptr
	 * 0). */
	f.cfg.cmdline = NULL;
	assert_int_equal(run(&f), 0);
	expect_zero(&f, BOOT_CMDLINE_GPA, 2048);
	assert_int_equal(read_params(&f).hdr.cmd_line_ptr, BOOT_CMDLINE_GPA);
	teardown(&f);

	bz.cmdline_size = 255;
	setup_mem(&f, 256 * MB);
	use_bz(&f, &bz);
	memset(line, 'b', 256);
	line[256] = 0;
	f.cfg.cmdline = line;
	assert_int_equal(run(&f), -E2BIG);
	expect_msg(&f, "command line is 256 bytes, the kernel accepts at most 255");
	line[255] = 0;
	assert_int_equal(run(&f), 0);
	teardown(&f);
	free(line);
}

static void test_initrd(void **state)
{
	struct fake_bz bz = fake_bz_default();
	struct fixture f;
	struct boot_params bp;
	size_t size = 1 * MB + 5, i;
	uint8_t *initrd = malloc(size);

	for (i = 0; i < size; i++)
		initrd[i] = fake_pattern(9, i);
	setup_mem(&f, 256 * MB);
	use_elf(&f);
	f.cfg.initrd = initrd;
	f.cfg.initrd_size = size;
	assert_int_equal(run(&f), 0);
	/* Page-aligned, as high as possible in RAM. */
	assert_int_equal(f.info.initrd_gpa, (256 * MB - size) & ~UINT64_C(0xFFF));
	expect_pattern(&f, f.info.initrd_gpa, 9, size);
	bp = read_params(&f);
	assert_int_equal(bp.hdr.ramdisk_image, f.info.initrd_gpa);
	assert_int_equal(bp.hdr.ramdisk_size, size);
	teardown(&f);

	/* initrd_addr_max (the highest byte) caps it below the top of RAM. */
	bz.initrd_addr_max = 128 * MB - 1;
	setup_mem(&f, 256 * MB);
	use_bz(&f, &bz);
	f.cfg.initrd = initrd;
	f.cfg.initrd_size = size;
	assert_int_equal(run(&f), 0);
	assert_int_equal(f.info.initrd_gpa, (128 * MB - size) & ~UINT64_C(0xFFF));
	teardown(&f);

	/* An ELF kernel's default cap, 0x37FFFFFF, with 2 GiB of RAM. */
	setup_mem(&f, 2048 * MB);
	use_elf(&f);
	f.cfg.initrd = initrd;
	f.cfg.initrd_size = size;
	assert_int_equal(run(&f), 0);
	assert_int_equal(f.info.initrd_gpa, (0x38000000 - size) & ~UINT64_C(0xFFF));
	teardown(&f);
	free(initrd);
}

static void test_initrd_does_not_fit(void **state)
{
	struct fixture f;
	uint8_t *initrd = calloc(1, 16 * MB);

	/* 32 MiB of RAM, the kernel ends at 20 MiB + 20 KiB: 16 MiB of initrd cannot go above it.
	 */
	setup_mem(&f, 32 * MB);
	use_elf(&f);
	f.cfg.initrd = initrd;
	f.cfg.initrd_size = 16 * MB;
	assert_int_equal(run(&f), -ENOMEM);
	expect_msg(&f, "initrd of 16777216 bytes does not fit between the kernel's end 0x1405000 "
		       "and 0x2000000");
	f.cfg.initrd_size = 64 * MB;
	assert_int_equal(run(&f), -ENOMEM);
	expect_msg(&f, "initrd of 67108864 bytes does not fit");
	teardown(&f);
	free(initrd);
}

static void test_ram_too_small(void **state)
{
	struct fake_bz bz = fake_bz_default();
	struct fixture f;

	setup_mem(&f, 512 * KiB);
	use_elf(&f);
	assert_int_equal(run(&f), -ENOMEM);
	expect_msg(&f, "guest RAM of 512 KiB is too small");
	teardown(&f);

	/* The ELF kernel wants 16-20 MiB. */
	setup_mem(&f, 8 * MB);
	use_elf(&f);
	assert_int_equal(run(&f), -ENOMEM);
	expect_msg(&f, "kernel needs RAM up to 0x1003000 but RAM below the MMIO hole ends at "
		       "0x800000 (8 MiB)");
	teardown(&f);

	/* A bzImage needs init_size from pref_address even when loaded at 1 MiB. */
	setup_mem(&f, 20 * MB);
	use_bz(&f, &bz);
	assert_int_equal(run(&f), -ENOMEM);
	expect_msg(&f, "kernel needs RAM up to 0x1800000");
	teardown(&f);
}

/* Walks 4-level paging from cr3 as the CPU would; insists on 2 MiB leaves. */
static uint64_t translate(struct guest_memory *mem, uint64_t cr3, uint64_t va)
{
	const uint64_t addr_mask = UINT64_C(0x000FFFFFFFFFF000);
	uint64_t pml4e, pdpte, pde;

	assert_int_equal(
		guest_memory_read(mem, (cr3 & addr_mask) + ((va >> 39) & 511) * 8, &pml4e, 8), 0);
	assert_true(pml4e & 1);
	assert_int_equal(
		guest_memory_read(mem, (pml4e & addr_mask) + ((va >> 30) & 511) * 8, &pdpte, 8), 0);
	assert_true(pdpte & 1);
	assert_false(pdpte & 0x80); /* no 1 GiB pages: PVM faults on them */
	assert_int_equal(
		guest_memory_read(mem, (pdpte & addr_mask) + ((va >> 21) & 511) * 8, &pde, 8), 0);
	assert_true(pde & 1);
	assert_true(pde & 2);
	assert_true(pde & 0x80); /* a 2 MiB leaf */
	return (pde & UINT64_C(0x000FFFFFFFE00000)) | (va & (2 * MB - 1));
}

static void test_page_tables(void **state)
{
	static const uint64_t probes[] = {
		0, 0x7000, 1 * GiB + 5, 3 * GiB - 1, 3 * GiB + 0x12345, 4 * GiB - 1};
	struct fixture f;
	uint64_t pml4[512];
	unsigned i;

	setup_mem(&f, 256 * MB);
	assert_int_equal(guest_memory_fill(f.mem, 0, 0xEE, 1 * MB), 0);
	use_elf(&f);
	assert_int_equal(run(&f), 0);
	assert_int_equal(f.regs.cr3, BOOT_PML4_GPA);
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_int_equal(translate(f.mem, f.regs.cr3, probes[i]), probes[i]);
	/* Nothing mapped beyond 512 GiB: the rest of the PML4 is clear even over dirty memory. */
	assert_int_equal(guest_memory_read(f.mem, BOOT_PML4_GPA, pml4, sizeof(pml4)), 0);
	for (i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0);
	teardown(&f);
}

static void expect_same_segment(const struct x86_segment *a, const struct x86_segment *b)
{
	assert_int_equal(a->base, b->base);
	assert_int_equal(a->limit, b->limit);
	assert_int_equal(a->selector, b->selector);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->present, b->present);
	assert_int_equal(a->dpl, b->dpl);
	assert_int_equal(a->db, b->db);
	assert_int_equal(a->s, b->s);
	assert_int_equal(a->l, b->l);
	assert_int_equal(a->g, b->g);
}

static void test_registers_and_gdt(void **state)
{
	struct fixture f;
	uint64_t gdt[6];
	const struct x86_boot_regs *r = &f.regs;

	setup_mem(&f, 256 * MB);
	use_elf(&f);
	assert_int_equal(run(&f), 0);
	assert_int_equal(r->rflags, 2);
	assert_int_equal(r->cr0, 0x80000031); /* PG | NE | ET | PE */
	assert_int_equal(r->cr4, 0x20);	      /* PAE */
	assert_int_equal(r->efer, 0x500);     /* LMA | LME */
	assert_int_equal(r->rsp, BOOT_STACK_TOP);
	assert_int_equal(r->gdt_base, BOOT_GDT_GPA);
	assert_int_equal(r->gdt_limit, sizeof(gdt) - 1);

	assert_int_equal(guest_memory_read(f.mem, r->gdt_base, gdt, sizeof(gdt)), 0);
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[1], 0);
	assert_int_equal(gdt[2],
			 UINT64_C(0x00AF9B000000FFFF)); /* __BOOT_CS: 64-bit code, L=1, D=0 */
	assert_int_equal(gdt[3], UINT64_C(0x00CF93000000FFFF)); /* __BOOT_DS: flat data */
	/* __BOOT_TSS: busy 64-bit TSS (type 0xB), present, base 0x1080, limit 0x67. */
	assert_int_equal(gdt[4], UINT64_C(0x00008B0010800067));
	assert_int_equal(gdt[5], 0);

	assert_int_equal(r->cs.selector, 0x10);
	assert_int_equal(r->cs.type, 0xB);
	assert_int_equal(r->cs.l, 1);
	assert_int_equal(r->cs.db, 0);
	assert_int_equal(r->cs.s, 1);
	assert_int_equal(r->cs.present, 1);
	assert_int_equal(r->cs.limit, 0xFFFFFFFF);
	assert_int_equal(r->cs.g, 1);
	assert_int_equal(r->ds.selector, 0x18);
	assert_int_equal(r->ds.type, 0x3);
	assert_int_equal(r->ds.db, 1);
	assert_int_equal(r->ds.l, 0);
	expect_same_segment(&r->es, &r->ds);
	expect_same_segment(&r->ss, &r->ds);
	expect_same_segment(&r->fs, &r->ds);
	expect_same_segment(&r->gs, &r->ds);
	assert_int_equal(r->tr.selector, 0x20);
	assert_int_equal(r->tr.type, 11);
	assert_int_equal(r->tr.present, 1);
	assert_int_equal(r->tr.s, 0);
	assert_int_equal(r->tr.base, BOOT_TSS_GPA);
	assert_int_equal(r->tr.limit, 0x67);
	assert_int_equal(r->ldt.present, 0);
	teardown(&f);
}

/* Real kernels, if this machine has any: parse and set up in 512 MiB. */
static void test_real_kernel(void **state)
{
	struct fixture f;
	size_t i, n;
	glob_t g;

	if (real_kernels(&g) == 0) {
		globfree(&g);
		print_message("# no real kernel: skipped\n");
		skip();
	}
	for (i = 0; i < g.gl_pathc; i++) {
		uint8_t *file = read_file(g.gl_pathv[i], &n);

		if (!file)
			continue;
		setup_mem(&f, 512 * MB);
		use_file(&f, file, n);
		if (run(&f) < 0)
			fail_msg("%s: %s", g.gl_pathv[i], f.err.msg);
		assert_true(f.info.kernel_start >= 1 * MB);
		assert_int_equal(translate(f.mem, f.regs.cr3, f.regs.rip), f.regs.rip);
		teardown(&f);
	}
	globfree(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_bzimage),
		cmocka_unit_test(test_bzimage_low_load),
		cmocka_unit_test(test_cmdline_limits),
		cmocka_unit_test(test_initrd),
		cmocka_unit_test(test_initrd_does_not_fit),
		cmocka_unit_test(test_ram_too_small),
		cmocka_unit_test(test_page_tables),
		cmocka_unit_test(test_registers_and_gdt),
		cmocka_unit_test(test_real_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
