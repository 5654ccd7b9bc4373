/* Hand-made kernel files (fake_kernel.h). Layouts: src/boot/elf_format.h, bootparam_format.h. */
#include "fake_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fake_put(uint8_t *p, uint64_t v, unsigned bytes)
{
	unsigned i;

	for (i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint8_t *fake_elf_new(uint64_t entry, const struct fake_segment *segs, unsigned n, size_t *ret_size)
{
	size_t size = 0x1000, off;
	uint8_t *f;
	unsigned i;
	uint64_t j;

	for (i = 0; i < n; i++)
		size += 0x1000 + segs[i].filesz;
	f = calloc(1, size);
	if (!f)
		abort();
	memcpy(f,
	       "\x7f"
	       "ELF",
	       4);
	f[4] = 2;		 /* ELFCLASS64 */
	f[5] = 1;		 /* little-endian */
	f[6] = 1;		 /* EV_CURRENT */
	fake_put(f + 16, 2, 2);	 /* ET_EXEC */
	fake_put(f + 18, 62, 2); /* EM_X86_64 */
	fake_put(f + 20, 1, 4);	 /* e_version */
	fake_put(f + 24, entry, 8);
	fake_put(f + 32, FAKE_ELF_PHOFF, 8);
	fake_put(f + 52, 64, 2); /* e_ehsize */
	fake_put(f + 54, 56, 2); /* e_phentsize */
	fake_put(f + 56, n, 2);	 /* e_phnum */
	off = 0x1000;
	for (i = 0; i < n; i++) {
		uint8_t *ph = f + FAKE_ELF_PHDR(i);

		off += 0x1000;
		fake_put(ph + 0, 1, 4); /* PT_LOAD */
		fake_put(ph + 4, 7, 4);
		fake_put(ph + 8, off, 8);
		fake_put(ph + 16, 0xFFFFFFFF80000000ull + segs[i].paddr, 8);
		fake_put(ph + 24, segs[i].paddr, 8);
		fake_put(ph + 32, segs[i].filesz, 8);
		fake_put(ph + 40, segs[i].memsz, 8);
		fake_put(ph + 48, 0x200000, 8);
		for (j = 0; j < segs[i].filesz; j++)
			f[off + j] = fake_pattern(i, j);
		off += segs[i].filesz;
	}
	*ret_size = size;
	return f;
}

struct fake_bz fake_bz_default(void)
{
	return (struct fake_bz){
		.version = 0x020F,
		.setup_sects = 0,
		.payload_size = 0x3000,
		.pref_address = 0x1000000,
		.kernel_alignment = 0x200000,
		.init_size = 0x800000,
		.initrd_addr_max = 0x7FFFFFFF,
		.cmdline_size = 2047,
		.relocatable = 1,
		.xloadflags = 0x3, /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
		.loadflags = 0x1,  /* LOADED_HIGH */
	};
}

uint8_t *fake_bzimage_new(const struct fake_bz *bz, size_t *ret_size)
{
	unsigned sects = bz->setup_sects ? bz->setup_sects : 4;
	size_t setup = (size_t)(sects + 1) * 512, size = setup + bz->payload_size;
	uint8_t *f = calloc(1, size < 0x400 ? 0x400 : size);
	uint64_t j;

	if (!f)
		abort();
	f[0x1F1] = bz->setup_sects;
	fake_put(f + 0x1F4, bz->payload_size / 16, 4); /* syssize */
	fake_put(f + 0x1FA, 0xFFFF, 2);		       /* vid_mode: normal */
	fake_put(f + 0x1FE, 0xAA55, 2);
	f[0x200] = 0xEB; /* jmp short to 0x26C */
	f[0x201] = 0x6A;
	memcpy(f + 0x202, "HdrS", 4);
	fake_put(f + 0x206, bz->version, 2);
	f[0x211] = bz->loadflags;
	fake_put(f + 0x22C, bz->initrd_addr_max, 4);
	fake_put(f + 0x230, bz->kernel_alignment, 4);
	f[0x234] = bz->relocatable;
	f[0x235] = 21; /* min_alignment: 2 MiB */
	fake_put(f + 0x236, bz->xloadflags, 2);
	fake_put(f + 0x238, bz->cmdline_size, 4);
	fake_put(f + 0x258, bz->pref_address, 8);
	fake_put(f + 0x260, bz->init_size, 4);
	for (j = 0; j < bz->payload_size; j++)
		f[setup + j] = fake_pattern(7, j);
	*ret_size = size;
	return f;
}

size_t real_kernels(glob_t *g)
{
	const char *env = getenv("PARVIS_TEST_KERNEL"), *home = getenv("HOME");
	char pattern[4096];
	int flags = 0;

	memset(g, 0, sizeof(*g));
	if (env && *env) {
		glob(env, GLOB_NOCHECK, NULL, g);
		return g->gl_pathc;
	}
	if (glob("/boot/vmlinuz-*", 0, NULL, g) == 0)
		flags = GLOB_APPEND;
	if (home) {
		snprintf(pattern, sizeof(pattern), "%s/.cache/parvis/*/vmlinu[xz]", home);
		glob(pattern, flags, NULL, g);
	}
	return g->gl_pathc;
}

uint8_t *read_file(const char *path, size_t *ret_size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*ret_size = (size_t)n;
	}
	fclose(f);
	return buf;
}
