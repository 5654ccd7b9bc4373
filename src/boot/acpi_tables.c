/*
 * ACPI table builder (acpi_tables.h). Table formats: acpi_format.h
 * (ACPI 6.4 §5.2). The tables are laid out in a host buffer the size of
 * the BIOS area, checksummed, and written to guest memory in one go:
 *
 *   0xE0000  RSDP (16-byte aligned, so the legacy scan of 0xE0000-0xFFFFF finds it)
 *   0xE0040  FACS (64-byte aligned, §5.2.10)
 *   then     FADT, MADT, DSDT, XSDT, each 16-byte aligned
 *
 * Why a FACS: without the hardware-reduced flag ACPICA looks for one
 * (drivers/acpi/acpica/tbfadt.c, acpi_tb_parse_fadt / tbutils.c
 * acpi_tb_initialize_facs) and the global lock and waking vector live in
 * it. Only the 32-bit FIRMWARE_CTRL points to it (X_FIRMWARE_CTRL = 0:
 * the spec lets one be set, and a mismatch between both is an error).
 */
#include "boot/acpi_tables.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi_format.h"
#include "boot/boot_layout.h"
#include "vid/pc_layout.h"

#define OEM_ID		 "PARVIS"
#define OEM_TABLE_ID	 "PARVISVM"
#define OEM_REVISION	 1
#define CREATOR_ID	 "PRVS"
#define CREATOR_REVISION 1
#define DSDT_REVISION	 2 /* >= 2: AML integers are 64-bit */
#define TABLE_ALIGN	 16
#define AREA_SIZE	 (BOOT_ACPI_END - BOOT_ACPI_START)
#define XSDT_ENTRIES	 2 /* FADT, MADT; the FADT points to the FACS and DSDT */

/* The area being filled: offsets in buf are offsets from base (BOOT_ACPI_START by default). */
struct area {
	uint8_t *buf;
	size_t used;
	uint64_t base;
};

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)-sum;
}

static int area_alloc(struct area *a, size_t len, size_t align, uint64_t *ret_gpa)
{
	size_t off = ALIGN_UP(a->used, align);

	if (off > AREA_SIZE || len > AREA_SIZE - off)
		return -ENOSPC;
	a->used = off + len;
	*ret_gpa = a->base + off;
	return 0;
}

static void *area_at(struct area *a, uint64_t gpa)
{
	return a->buf + (gpa - a->base);
}

static void fill_header(struct acpi_table_header *h, const char *sig, size_t len, uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->length = (uint32_t)len;
	h->revision = revision;
	h->checksum = 0;
	memcpy(h->oem_id, OEM_ID, 6);
	memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
	h->oem_revision = OEM_REVISION;
	memcpy(h->creator_id, CREATOR_ID, 4);
	h->creator_revision = CREATOR_REVISION;
}

/* Sets the checksum byte of the table at gpa (its header says how long it is). */
static void seal(struct area *a, uint64_t gpa)
{
	struct acpi_table_header *h = area_at(a, gpa);

	h->checksum = acpi_checksum(h, h->length);
}

static struct acpi_gas io_gas(uint16_t port, unsigned bytes, uint8_t access)
{
	return (struct acpi_gas){
		.address_space_id = ACPI_GAS_SYSTEM_IO,
		.register_bit_width = (uint8_t)(bytes * 8),
		.access_size = access,
		.address = port,
	};
}

/*
 * §5.2.9. Full (not hardware-reduced) ACPI fixed hardware at the ports of
 * pc_layout.h. SMI_CMD = 0: there is no SMM, the platform is always in
 * ACPI mode, and the PM1 control emulator reports SCI_EN = 1.
 */
static void build_fadt(struct area *a, uint64_t gpa, uint64_t facs, uint64_t dsdt)
{
	struct acpi_fadt *f = area_at(a, gpa);

	fill_header(&f->header, "FACP", sizeof(*f), ACPI_FADT_REVISION);
	f->firmware_ctrl = (uint32_t)facs;
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->preferred_pm_profile = 0; /* unspecified */
	f->sci_int = PC_IRQ_SCI;
	f->pm1a_evt_blk = PC_PORT_PM1A_EVT;
	f->pm1a_cnt_blk = PC_PORT_PM1A_CNT;
	f->pm_tmr_blk = PC_PORT_PM_TMR;
	f->pm1_evt_len = 4;
	f->pm1_cnt_len = 2;
	f->pm_tmr_len = 4;
	f->x_pm1a_evt_blk = io_gas(PC_PORT_PM1A_EVT, 4,
				   ACPI_GAS_ACCESS_WORD); /* PM1_STS, PM1_EN: 16 bits each */
	f->x_pm1a_cnt_blk = io_gas(PC_PORT_PM1A_CNT, 2, ACPI_GAS_ACCESS_WORD);
	f->x_pm_tmr_blk = io_gas(PC_PORT_PM_TMR, 4, ACPI_GAS_ACCESS_DWORD);
	f->p_lvl2_lat = 101;  /* > 100: no C2 */
	f->p_lvl3_lat = 1001; /* > 1000: no C3 */
	/* The CMOS RAM byte that holds the century, so the guest reads four-digit years. */
	f->century = PC_CMOS_CENTURY;
	/* An i8042 and other ISA devices; no VGA, so the kernel need not probe for one. */
	f->iapc_boot_arch = ACPI_FADT_LEGACY_DEVICES | ACPI_FADT_8042 | ACPI_FADT_VGA_NOT_PRESENT;
	/*
	 * PWR_BUTTON = 0: the power button is the fixed one (PWRBTN_STS in
	 * PM1). SLP_BUTTON = 1: there is no sleep button. FIX_RTC = 1: no
	 * RTC_STS wake bit in PM1. TMR_VAL_EXT: the PM timer is 32 bits.
	 */
	f->flags = ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_SLP_BUTTON | ACPI_FADT_FIX_RTC |
		   ACPI_FADT_TMR_VAL_EXT | ACPI_FADT_RESET_REG_SUP;
	f->reset_reg = io_gas(PC_PORT_ACPI_RESET, 1, ACPI_GAS_ACCESS_BYTE);
	f->reset_value = PC_ACPI_RESET_VALUE;
	f->fadt_minor_version = ACPI_FADT_MINOR_REVISION;
	seal(a, gpa);
}

static void build_facs(struct area *a, uint64_t gpa)
{
	struct acpi_facs *f = area_at(a, gpa);

	memcpy(f->signature, "FACS", 4);
	f->length = sizeof(*f);
	f->version = ACPI_FACS_VERSION;
}

static size_t madt_size(unsigned vcpus)
{
	return sizeof(struct acpi_madt) + vcpus * sizeof(struct acpi_madt_local_apic) +
	       sizeof(struct acpi_madt_io_apic) + sizeof(struct acpi_madt_interrupt_override);
}

/*
 * §5.2.12. One enabled local APIC per vCPU (APIC ID = ACPI processor UID =
 * index), the IOAPIC with GSIs from 0, and one Interrupt Source Override:
 * the SCI (ISA IRQ 9 -> GSI 9) is level-triggered, active-high, where ISA
 * defaults are edge/high.
 *
 * No override for IRQ 0: a PC with the PIT on IOAPIC pin 2 needs "IRQ 0 ->
 * GSI 2", but the partition keeps KVM's default GSI routing, where ISA
 * IRQ n (the in-kernel PIT included, on GSI 0) reaches IOAPIC pin n.
 * Identity is what Linux assumes for every ISA IRQ without an override.
 */
static void build_madt(struct area *a, uint64_t gpa, unsigned vcpus)
{
	uint8_t *p = area_at(a, gpa);
	struct acpi_madt m = {.local_apic_address = (uint32_t)PC_LAPIC_BASE,
			      .flags = ACPI_MADT_PCAT_COMPAT};
	struct acpi_madt_io_apic io = {
		.type = ACPI_MADT_TYPE_IO_APIC,
		.length = sizeof(io),
		.io_apic_id = PC_IOAPIC_ID,
		.io_apic_address = (uint32_t)PC_IOAPIC_BASE,
		.global_system_interrupt_base = 0,
	};
	struct acpi_madt_interrupt_override sci = {
		.type = ACPI_MADT_TYPE_INTERRUPT_OVERRIDE,
		.length = sizeof(sci),
		.bus = 0,
		.source = PC_IRQ_SCI,
		.global_system_interrupt = PC_IRQ_SCI,
		.flags = ACPI_MPS_INTI_POLARITY_HIGH | ACPI_MPS_INTI_TRIGGER_LEVEL,
	};
	size_t off = sizeof(m);
	unsigned i;

	fill_header(&m.header, "APIC", madt_size(vcpus), ACPI_MADT_REVISION);
	memcpy(p, &m, sizeof(m));
	for (i = 0; i < vcpus; i++) {
		struct acpi_madt_local_apic l = {
			.type = ACPI_MADT_TYPE_LOCAL_APIC,
			.length = sizeof(l),
			.acpi_processor_uid = (uint8_t)i,
			.apic_id = (uint8_t)i,
			.flags = ACPI_MADT_LAPIC_ENABLED,
		};

		memcpy(p + off, &l, sizeof(l));
		off += sizeof(l);
	}
	memcpy(p + off, &io, sizeof(io));
	off += sizeof(io);
	memcpy(p + off, &sci, sizeof(sci));
	seal(a, gpa);
}

static void build_dsdt(struct area *a, uint64_t gpa, const uint8_t *aml, size_t len)
{
	struct acpi_table_header h;

	fill_header(&h, "DSDT", sizeof(h) + len, DSDT_REVISION);
	memcpy(area_at(a, gpa), &h, sizeof(h));
	memcpy((uint8_t *)area_at(a, gpa) + sizeof(h), aml, len);
	seal(a, gpa);
}

static void build_xsdt(struct area *a, uint64_t gpa, const uint64_t *tables, unsigned n)
{
	struct acpi_table_header h;

	fill_header(&h, "XSDT", sizeof(h) + n * sizeof(uint64_t), ACPI_XSDT_REVISION);
	memcpy(area_at(a, gpa), &h, sizeof(h));
	memcpy((uint8_t *)area_at(a, gpa) + sizeof(h), tables, n * sizeof(uint64_t));
	seal(a, gpa);
}

/* §5.2.5.3: revision 2, no RSDT (the XSDT is enough for any ACPI 2.0+ OS). */
static void build_rsdp(struct area *a, uint64_t gpa, uint64_t xsdt)
{
	struct acpi_rsdp r = {.revision = 2, .length = sizeof(r), .xsdt_address = xsdt};

	memcpy(r.signature, ACPI_RSDP_SIGNATURE, 8);
	memcpy(r.oem_id, OEM_ID, 6);
	r.checksum = acpi_checksum(&r, ACPI_RSDP_V1_LEN);
	r.extended_checksum = acpi_checksum(&r, sizeof(r));
	memcpy(area_at(a, gpa), &r, sizeof(r));
}

/* Lays out and fills every table; the DSDT's AML is already built. */
static int layout(struct area *a, const struct acpi_config *cfg, const uint8_t *aml, size_t aml_len,
		  struct boot_error *err)
{
	uint64_t rsdp, facs, fadt, madt, dsdt, xsdt, entries[XSDT_ENTRIES];
	size_t dsdt_len = sizeof(struct acpi_table_header) + aml_len;
	size_t xsdt_len = sizeof(struct acpi_table_header) + sizeof(entries);
	int r;

	r = area_alloc(a, sizeof(struct acpi_rsdp), TABLE_ALIGN, &rsdp);
	if (r >= 0)
		r = area_alloc(a, sizeof(struct acpi_facs), ACPI_FACS_ALIGN, &facs);
	if (r >= 0)
		r = area_alloc(a, sizeof(struct acpi_fadt), TABLE_ALIGN, &fadt);
	if (r >= 0)
		r = area_alloc(a, madt_size(cfg->vcpus), TABLE_ALIGN, &madt);
	if (r >= 0)
		r = area_alloc(a, dsdt_len, TABLE_ALIGN, &dsdt);
	if (r >= 0)
		r = area_alloc(a, xsdt_len, TABLE_ALIGN, &xsdt);
	if (r < 0)
		return boot_error_set(
			err, r,
			"ACPI tables (DSDT of %zu bytes, %u vCPUs) do not fit in the %" PRIu64
			" KiB BIOS area at %#" PRIx64,
			dsdt_len, cfg->vcpus, (uint64_t)AREA_SIZE / KiB, a->base);
	if (rsdp != a->base)
		return boot_error_set(err, -EINVAL, "RSDP not at %#" PRIx64, a->base);

	build_facs(a, facs);
	build_dsdt(a, dsdt, aml, aml_len);
	build_fadt(a, fadt, facs, dsdt);
	build_madt(a, madt, cfg->vcpus);
	entries[0] = fadt;
	entries[1] = madt;
	build_xsdt(a, xsdt, entries, XSDT_ENTRIES);
	build_rsdp(a, rsdp, xsdt);
	return 0;
}

int acpi_tables_render(const struct acpi_config *cfg, uint8_t *buf, struct boot_error *err)
{
	struct area a = {.base = cfg->area_gpa ? cfg->area_gpa : BOOT_ACPI_START, .buf = buf};
	struct aml *aml = NULL;
	const uint8_t *code;
	size_t code_len;
	int r;

	if (cfg->vcpus == 0 || cfg->vcpus > ACPI_MAX_VCPUS)
		return boot_error_set(err, -EINVAL, "%u vCPUs: ACPI tables describe 1 to %u",
				      cfg->vcpus, ACPI_MAX_VCPUS);
	r = aml_new(&aml);
	if (r < 0)
		return boot_error_set(err, r, "out of memory for the DSDT");
	r = acpi_dsdt_build(aml, cfg, err);
	if (r >= 0) {
		r = aml_finish(aml, &code, &code_len);
		if (r < 0)
			boot_error_set(err, r, "DSDT: AML left unfinished (%d)", r);
	}
	/* The whole area: stale tables from an earlier boot of this memory are wiped too. */
	memset(buf, 0, AREA_SIZE);
	if (r >= 0)
		r = layout(&a, cfg, code, code_len, err);
	aml_free(aml);
	return r < 0 ? r : 0;
}

int acpi_tables_build(struct guest_memory *mem, const struct acpi_config *cfg,
		      uint64_t *ret_rsdp_gpa, struct boot_error *err)
{
	uint64_t base = cfg->area_gpa ? cfg->area_gpa : BOOT_ACPI_START;
	uint8_t *buf;
	int r;

	if (cfg->vcpus == 0 || cfg->vcpus > ACPI_MAX_VCPUS)
		return boot_error_set(err, -EINVAL, "%u vCPUs: ACPI tables describe 1 to %u",
				      cfg->vcpus, ACPI_MAX_VCPUS);
	if (!guest_memory_is_ram(mem, base, AREA_SIZE))
		return boot_error_set(err, -EFAULT,
				      "guest RAM of %" PRIu64
				      " KiB does not reach the ACPI area at %#" PRIx64 "-%#" PRIx64,
				      guest_memory_ram_size(mem) / KiB, base, base + AREA_SIZE - 1);
	buf = malloc(AREA_SIZE);
	if (!buf)
		return boot_error_set(err, -ENOMEM, "out of memory for the ACPI tables");
	r = acpi_tables_render(cfg, buf, err);
	if (r == 0) {
		r = guest_memory_write(mem, base, buf, AREA_SIZE);
		if (r < 0)
			boot_error_set(err, r, "writing the ACPI tables failed");
	}
	if (r == 0)
		*ret_rsdp_gpa = base;
	free(buf);
	return r;
}
