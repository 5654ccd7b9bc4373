/*
 * 64-bit entry state (x86_entry.h). Descriptor formats: Intel SDM vol. 3A
 * §3.4.5 (segment descriptors), §7.2.3 (64-bit TSS descriptor), §4.5
 * (4-level paging: PML4E, PDPTE, PDE mapping a 2 MiB page). Register
 * values: boot.rst "64-bit Boot Protocol".
 *
 * The page tables use 2 MiB pages only: PVM, the KVM these hosts have,
 * faults on the first instruction under a 1 GiB page (PVM-GROUND.md).
 * The GDT descriptors are encoded from the same struct x86_segment values
 * the vCPU's hidden segment state is loaded from, so they cannot disagree.
 */
#include "boot/x86_entry.h"

#include <errno.h>
#include <string.h>

#include "boot/boot_layout.h"

#define CR0_PE		  (1u << 0)
#define CR0_ET		  (1u << 4)
#define CR0_NE		  (1u << 5)
#define CR0_PG		  (1u << 31)
#define CR4_PAE		  (1u << 5)
#define EFER_LME	  (1u << 8)
#define EFER_LMA	  (1u << 10)
#define RFLAGS_RESERVED_1 (1u << 1)

#define PTE_P  (1u << 0)
#define PTE_RW (1u << 1)
#define PTE_PS (1u << 7) /* in a PDE: maps a 2 MiB page */

#define SEG_TYPE_CODE_XR_A  0xB /* execute/read, accessed */
#define SEG_TYPE_DATA_RW_A  0x3 /* read/write, accessed */
#define SEG_TYPE_TSS64_BUSY 0xB
#define SEG_TYPE_LDT	    0x2

#define GDT_ENTRIES 6 /* null, null, code, data, TSS (two slots) */

static const struct x86_segment boot_cs = {
	.base = 0,
	.limit = 0xFFFFFFFF,
	.selector = X86_BOOT_CS,
	.type = SEG_TYPE_CODE_XR_A,
	.present = 1,
	.dpl = 0,
	.db = 0,
	.s = 1,
	.l = 1,
	.g = 1,
};
static const struct x86_segment boot_ds = {
	.base = 0,
	.limit = 0xFFFFFFFF,
	.selector = X86_BOOT_DS,
	.type = SEG_TYPE_DATA_RW_A,
	.present = 1,
	.dpl = 0,
	.db = 1,
	.s = 1,
	.l = 0,
	.g = 1,
};
/* KVM wants a usable TR: a busy 64-bit TSS. The kernel loads its own before it needs one. */
static const struct x86_segment boot_tr = {
	.base = BOOT_TSS_GPA,
	.limit = BOOT_TSS_LIMIT,
	.selector = X86_BOOT_TSS,
	.type = SEG_TYPE_TSS64_BUSY,
	.present = 1,
	.dpl = 0,
	.db = 0,
	.s = 0,
	.l = 0,
	.g = 0,
};
/* No LDT: present = 0 is what the partition turns into "unusable". */
static const struct x86_segment boot_ldt = {.type = SEG_TYPE_LDT};

/* The low 8 bytes of a descriptor (SDM §3.4.5, Figure 3-8). */
static uint64_t gdt_encode(const struct x86_segment *s)
{
	uint32_t limit = s->g ? s->limit >> 12 : s->limit;
	uint64_t access = (uint64_t)(s->type & 0xF) | (uint64_t)(s->s & 1) << 4 |
			  (uint64_t)(s->dpl & 3) << 5 | (uint64_t)(s->present & 1) << 7;
	uint64_t flags =
		(uint64_t)(s->l & 1) << 1 | (uint64_t)(s->db & 1) << 2 | (uint64_t)(s->g & 1) << 3;

	return (limit & 0xFFFFu) | (s->base & 0xFFFFFFu) << 16 | access << 40 |
	       (uint64_t)((limit >> 16) & 0xF) << 48 | flags << 52 | ((s->base >> 24) & 0xFF) << 56;
}

static int write_gdt(struct guest_memory *mem)
{
	uint64_t gdt[GDT_ENTRIES] = {0};
	uint8_t tss[BOOT_TSS_LIMIT + 1] = {0};
	int r;

	gdt[X86_BOOT_CS / 8] = gdt_encode(&boot_cs);
	gdt[X86_BOOT_DS / 8] = gdt_encode(&boot_ds);
	gdt[X86_BOOT_TSS / 8] = gdt_encode(&boot_tr);
	gdt[X86_BOOT_TSS / 8 + 1] = boot_tr.base >> 32; /* SDM §7.2.3: base bits 63:32 */
	r = guest_memory_fill(mem, BOOT_GDT_GPA, 0, 0x1000);
	if (r < 0)
		return r;
	r = guest_memory_write(mem, BOOT_GDT_GPA, gdt, sizeof(gdt));
	if (r < 0)
		return r;
	return guest_memory_write(mem, BOOT_TSS_GPA, tss, sizeof(tss));
}

/* PML4[0] -> PDPT, PDPT[0..3] -> PD 0..3, each PD: 512 2 MiB pages. */
static int write_page_tables(struct guest_memory *mem)
{
	uint64_t table[512];
	unsigned i, j;
	int r;

	memset(table, 0, sizeof(table));
	table[0] = BOOT_PDPT_GPA | PTE_P | PTE_RW;
	r = guest_memory_write(mem, BOOT_PML4_GPA, table, sizeof(table));
	if (r < 0)
		return r;
	memset(table, 0, sizeof(table));
	for (i = 0; i < BOOT_PD_COUNT; i++)
		table[i] = (BOOT_PD_GPA + i * UINT64_C(0x1000)) | PTE_P | PTE_RW;
	r = guest_memory_write(mem, BOOT_PDPT_GPA, table, sizeof(table));
	if (r < 0)
		return r;
	for (i = 0; i < BOOT_PD_COUNT; i++) {
		for (j = 0; j < 512; j++)
			table[j] = ((uint64_t)i * GiB + (uint64_t)j * 2 * MiB) | PTE_P | PTE_RW |
				   PTE_PS;
		r = guest_memory_write(mem, BOOT_PD_GPA + i * UINT64_C(0x1000), table,
				       sizeof(table));
		if (r < 0)
			return r;
	}
	return 0;
}

int x86_entry_setup(struct guest_memory *mem, uint64_t entry, uint64_t boot_params_gpa,
		    struct x86_boot_regs *ret, struct boot_error *err)
{
	int r;

	r = write_gdt(mem);
	if (r >= 0)
		r = write_page_tables(mem);
	if (r < 0)
		return boot_error_set(
			err, r, "GDT and page tables at %#llx-%#llx are not RAM",
			(unsigned long long)BOOT_GDT_GPA,
			(unsigned long long)(BOOT_PD_GPA + BOOT_PD_COUNT * 0x1000 - 1));

	*ret = (struct x86_boot_regs){
		.rip = entry,
		.rsp = BOOT_STACK_TOP,
		.rsi = boot_params_gpa,
		.rflags = RFLAGS_RESERVED_1, /* IF = 0 */
		.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG,
		.cr3 = BOOT_PML4_GPA,
		.cr4 = CR4_PAE,
		.efer = EFER_LME | EFER_LMA,
		.gdt_base = BOOT_GDT_GPA,
		.gdt_limit = GDT_ENTRIES * 8 - 1,
		.idt_base = 0,
		.idt_limit = 0,
		.cs = boot_cs,
		.ds = boot_ds,
		.es = boot_ds,
		.fs = boot_ds,
		.gs = boot_ds,
		.ss = boot_ds,
		.tr = boot_tr,
		.ldt = boot_ldt,
	};
	return 0;
}
