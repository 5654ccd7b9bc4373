/*
 * Unit tests of the ACPI tables in guest memory: checksums, the
 * RSDP -> XSDT -> FADT -> FACS/DSDT chain, MADT entries, FADT fields,
 * DSDT contributors, errors, and iasl's disassembly of every table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot/acpi_format.h"
#include "boot/acpi_tables.h"
#include "boot/boot_layout.h"
#include "iasl_util.h"
#include "vid/pc_layout.h"

/* Everything found by following the pointers from the RSDP. */
struct tables {
	struct acpi_rsdp rsdp;
	uint64_t xsdt, fadt, madt, facs, dsdt;
	struct acpi_fadt f;
};

static struct guest_memory *new_mem(uint64_t size)
{
	struct guest_memory *mem;

	assert_int_equal(guest_memory_new(size, &mem), 0);
	return mem;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static void expect_in_area(uint64_t gpa, uint64_t len)
{
	assert_true(gpa >= BOOT_ACPI_START);
	assert_true(gpa + len <= BOOT_ACPI_END);
}

/* Checks a table's signature, bounds and checksum; returns its length. */
static uint32_t check_table(struct guest_memory *mem, uint64_t gpa, const char *sig)
{
	struct acpi_table_header h;
	const uint8_t *p;

	assert_int_equal(guest_memory_read(mem, gpa, &h, sizeof(h)), 0);
	assert_memory_equal(h.signature, sig, 4);
	expect_in_area(gpa, h.length);
	p = guest_memory_ptr(mem, gpa, h.length);
	assert_non_null(p);
	assert_int_equal(sum(p, h.length), 0);
	assert_memory_equal(h.oem_id, "PARVIS", 6);
	return h.length;
}

static struct tables walk(struct guest_memory *mem, uint64_t rsdp_gpa)
{
	struct tables t = {0};
	uint64_t entries[2];
	struct acpi_table_header x;
	char sig[4];
	unsigned i;

	assert_int_equal(rsdp_gpa, 0xE0000);
	assert_int_equal(guest_memory_read(mem, rsdp_gpa, &t.rsdp, sizeof(t.rsdp)), 0);
	assert_memory_equal(t.rsdp.signature, "RSD PTR ", 8);
	assert_int_equal(t.rsdp.revision, 2);
	assert_int_equal(t.rsdp.length, 36);
	assert_int_equal(sum((const uint8_t *)&t.rsdp, 20), 0);
	assert_int_equal(sum((const uint8_t *)&t.rsdp, 36), 0);

	t.xsdt = t.rsdp.xsdt_address;
	assert_int_equal(check_table(mem, t.xsdt, "XSDT"), 36 + sizeof(entries));
	assert_int_equal(guest_memory_read(mem, t.xsdt, &x, sizeof(x)), 0);
	assert_int_equal(x.revision, 1);
	assert_int_equal(guest_memory_read(mem, t.xsdt + 36, entries, sizeof(entries)), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(guest_memory_read(mem, entries[i], sig, 4), 0);
		if (!memcmp(sig, "FACP", 4))
			t.fadt = entries[i];
		else if (!memcmp(sig, "APIC", 4))
			t.madt = entries[i];
	}
	assert_int_not_equal(t.fadt, 0);
	assert_int_not_equal(t.madt, 0);
	assert_int_equal(check_table(mem, t.fadt, "FACP"), sizeof(struct acpi_fadt));
	assert_int_equal(guest_memory_read(mem, t.fadt, &t.f, sizeof(t.f)), 0);
	check_table(mem, t.madt, "APIC");

	t.dsdt = t.f.x_dsdt;
	assert_int_equal(t.f.dsdt, t.dsdt);
	check_table(mem, t.dsdt, "DSDT");
	t.facs = t.f.firmware_ctrl;
	assert_int_equal(t.f.x_firmware_ctrl, 0);
	assert_int_equal(t.facs % 64, 0);
	assert_int_equal(guest_memory_read(mem, t.facs, sig, 4), 0);
	assert_memory_equal(sig, "FACS", 4);
	expect_in_area(t.facs, 64);
	return t;
}

static struct tables build(struct guest_memory *mem, unsigned vcpus)
{
	struct acpi_config cfg = {.vcpus = vcpus};
	struct boot_error err = {{0}};
	uint64_t rsdp = 0;

	if (acpi_tables_build(mem, &cfg, &rsdp, &err) < 0)
		fail_msg("acpi_tables_build: %s", err.msg);
	return walk(mem, rsdp);
}

static void test_chain_and_checksums(void **state)
{
	struct guest_memory *mem = new_mem(256 * MiB);

	/* Dirty the area first: stale bytes must not leak into the tables. */
	assert_int_equal(
		guest_memory_fill(mem, BOOT_ACPI_START, 0xA5, BOOT_ACPI_END - BOOT_ACPI_START), 0);
	build(mem, 1);
	guest_memory_free(mem);
}

/*
 * acpi_tables_render (a restored BIOS machine's fw_cfg RSDP) gives the bytes acpi_tables_build
 * writes, at a BIOS boot's area too, and touches no guest memory.
 */
static void test_render(void **state)
{
	struct guest_memory *mem = new_mem(128 * MiB);
	struct acpi_config cfg = {.vcpus = 2, .area_gpa = 128 * MiB - ACPI_AREA_SIZE};
	uint8_t *built = malloc(ACPI_AREA_SIZE), *rendered = malloc(ACPI_AREA_SIZE);
	struct boot_error err = {{0}};
	uint64_t rsdp = 0;

	memset(rendered, 0xA5, ACPI_AREA_SIZE);
	assert_int_equal(acpi_tables_render(&cfg, rendered, &err), 0);
	assert_int_equal(guest_memory_read(mem, cfg.area_gpa, built, ACPI_AREA_SIZE), 0);
	for (size_t i = 0; i < ACPI_AREA_SIZE; i++)
		assert_int_equal(built[i], 0); /* nothing written */
	assert_int_equal(acpi_tables_build(mem, &cfg, &rsdp, &err), 0);
	assert_int_equal(rsdp, cfg.area_gpa);
	assert_int_equal(guest_memory_read(mem, cfg.area_gpa, built, ACPI_AREA_SIZE), 0);
	assert_memory_equal(built, rendered, ACPI_AREA_SIZE);
	assert_memory_equal(rendered, ACPI_RSDP_SIGNATURE, 8);
	cfg.vcpus = 0;
	assert_int_equal(acpi_tables_render(&cfg, rendered, &err), -EINVAL);
	free(built);
	free(rendered);
	guest_memory_free(mem);
}

static void test_fadt(void **state)
{
	struct guest_memory *mem = new_mem(256 * MiB);
	struct tables t = build(mem, 2);
	const struct acpi_fadt *f = &t.f;

	assert_int_equal(f->header.revision, 6);
	assert_int_equal(f->sci_int, PC_IRQ_SCI);
	assert_int_equal(f->smi_cmd, 0);
	assert_int_equal(f->pm1a_evt_blk, PC_PORT_PM1A_EVT);
	assert_int_equal(f->pm1a_cnt_blk, PC_PORT_PM1A_CNT);
	assert_int_equal(f->pm_tmr_blk, PC_PORT_PM_TMR);
	assert_int_equal(f->pm1_evt_len, 4);
	assert_int_equal(f->pm1_cnt_len, 2);
	assert_int_equal(f->pm_tmr_len, 4);
	assert_int_equal(f->x_pm1a_evt_blk.address, PC_PORT_PM1A_EVT);
	assert_int_equal(f->x_pm1a_evt_blk.address_space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(f->x_pm1a_evt_blk.register_bit_width, 32);
	assert_int_equal(f->x_pm1a_cnt_blk.register_bit_width, 16);
	assert_int_equal(f->x_pm_tmr_blk.address, PC_PORT_PM_TMR);
	assert_int_equal(f->x_pm_tmr_blk.register_bit_width, 32);
	assert_int_equal(f->reset_reg.address_space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(f->reset_reg.address, PC_PORT_ACPI_RESET);
	assert_int_equal(f->reset_reg.register_bit_width, 8);
	assert_int_equal(f->reset_value, PC_ACPI_RESET_VALUE);
	assert_int_equal(f->century, PC_CMOS_CENTURY);
	assert_true(f->flags & ACPI_FADT_RESET_REG_SUP);
	assert_true(f->flags & ACPI_FADT_TMR_VAL_EXT);
	assert_true(f->flags & ACPI_FADT_SLP_BUTTON);
	assert_false(f->flags & ACPI_FADT_PWR_BUTTON);
	assert_false(f->flags & ACPI_FADT_HW_REDUCED_ACPI);
	assert_true(f->iapc_boot_arch & ACPI_FADT_8042);
	assert_true(f->iapc_boot_arch & ACPI_FADT_LEGACY_DEVICES);
	guest_memory_free(mem);
}

static void check_madt(unsigned vcpus)
{
	struct guest_memory *mem = new_mem(256 * MiB);
	struct tables t = build(mem, vcpus);
	struct acpi_madt m;
	unsigned lapics = 0, ioapics = 0, overrides = 0;
	uint8_t buf[4096];
	size_t off;

	assert_int_equal(guest_memory_read(mem, t.madt, &m, sizeof(m)), 0);
	assert_int_equal(m.local_apic_address, PC_LAPIC_BASE);
	assert_int_equal(m.flags & ACPI_MADT_PCAT_COMPAT, ACPI_MADT_PCAT_COMPAT);
	assert_true(m.header.length <= sizeof(buf));
	assert_int_equal(guest_memory_read(mem, t.madt, buf, m.header.length), 0);
	for (off = sizeof(m); off < m.header.length; off += buf[off + 1]) {
		assert_true(buf[off + 1] >= 2);
		if (buf[off] == ACPI_MADT_TYPE_LOCAL_APIC) {
			struct acpi_madt_local_apic l;

			memcpy(&l, buf + off, sizeof(l));
			assert_int_equal(l.length, 8);
			assert_int_equal(l.apic_id, lapics);
			assert_int_equal(l.acpi_processor_uid, lapics);
			assert_int_equal(l.flags, ACPI_MADT_LAPIC_ENABLED);
			lapics++;
		} else if (buf[off] == ACPI_MADT_TYPE_IO_APIC) {
			struct acpi_madt_io_apic io;

			memcpy(&io, buf + off, sizeof(io));
			assert_int_equal(io.io_apic_id, PC_IOAPIC_ID);
			assert_int_equal(io.io_apic_address, PC_IOAPIC_BASE);
			assert_int_equal(io.global_system_interrupt_base, 0);
			ioapics++;
		} else if (buf[off] == ACPI_MADT_TYPE_INTERRUPT_OVERRIDE) {
			struct acpi_madt_interrupt_override o;

			memcpy(&o, buf + off, sizeof(o));
			/* Only the SCI: IRQ 0 stays identity-mapped (KVM's default routing). */
			assert_int_equal(o.source, PC_IRQ_SCI);
			assert_int_equal(o.global_system_interrupt, PC_IRQ_SCI);
			assert_int_equal(o.flags,
					 ACPI_MPS_INTI_POLARITY_HIGH | ACPI_MPS_INTI_TRIGGER_LEVEL);
			overrides++;
		} else {
			fail_msg("unexpected MADT entry type %u", buf[off]);
		}
	}
	assert_int_equal(off, m.header.length);
	assert_int_equal(lapics, vcpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(overrides, 1);
	guest_memory_free(mem);
}

static void test_madt(void **state)
{
	check_madt(1);
	check_madt(4);
	check_madt(ACPI_MAX_VCPUS);
}

struct vmbus_like {
	uint64_t mmio_low, mmio_high;
};

/* What the VMBus device will add: a _HID string and a _CRS with QWordMemory ranges. */
static void emit_vmbus_like(struct aml *aml, void *opaque)
{
	const struct vmbus_like *v = opaque;

	aml_device_begin(aml, "VMBS");
	aml_name(aml, "_HID");
	aml_string(aml, "VMBus");
	aml_name(aml, "_UID");
	aml_integer(aml, 0);
	aml_name(aml, "_CRS");
	aml_resource_template_begin(aml);
	aml_rt_qword_memory(aml, v->mmio_low, v->mmio_low + 0x7FFFFFF, AML_MEM_NON_CACHEABLE, true);
	aml_rt_qword_memory(aml, v->mmio_high, v->mmio_high + 0x3FFFFFFF, AML_MEM_NON_CACHEABLE,
			    true);
	aml_end(aml);
	aml_method_begin(aml, "_STA", 0, false);
	aml_return(aml);
	aml_integer(aml, 0x0F);
	aml_end(aml);
	aml_end(aml);
}

static void emit_bad_name(struct aml *aml, void *opaque)
{
	aml_device_begin(aml, "lower");
	aml_end(aml);
}

static void emit_unclosed(struct aml *aml, void *opaque)
{
	aml_device_begin(aml, "OPEN");
}

static void emit_closes_sb(struct aml *aml, void *opaque)
{
	aml_end(aml);
}

static void emit_huge(struct aml *aml, void *opaque)
{
	static uint8_t blob[160 * 1024];

	aml_name(aml, "BLOB");
	aml_buffer(aml, blob, sizeof(blob));
}

static void test_errors(void **state)
{
	struct guest_memory *mem = new_mem(256 * MiB), *tiny = new_mem(512 * KiB);
	struct acpi_dsdt_contributor c = {0};
	struct acpi_config cfg = {.vcpus = 0, .contributors = &c, .ncontributors = 1};
	struct boot_error err = {{0}};
	uint64_t rsdp = 42;

	assert_int_equal(acpi_tables_build(mem, &cfg, &rsdp, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "0 vCPUs"));
	cfg.vcpus = ACPI_MAX_VCPUS + 1;
	assert_int_equal(acpi_tables_build(mem, &cfg, &rsdp, &err), -EINVAL);
	cfg.vcpus = 1;
	assert_int_equal(acpi_tables_build(tiny, &cfg, &rsdp, &err), -EFAULT);
	assert_non_null(strstr(err.msg, "guest RAM of 512 KiB does not reach the ACPI area"));

	c.emit = emit_bad_name;
	assert_int_equal(acpi_tables_build(mem, &cfg, &rsdp, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "DSDT contributor 0: invalid AML (bad name or misplaced object)");
	c.emit = emit_unclosed;
	assert_int_equal(acpi_tables_build(mem, &cfg, &rsdp, &err), -EINVAL);
	assert_string_equal(err.msg, "DSDT contributor 0: left a block open");
	c.emit = emit_closes_sb;
	assert_int_equal(acpi_tables_build(mem, &cfg, &rsdp, &err), -EINVAL);
	assert_string_equal(err.msg, "DSDT contributor 0: closed the \\_SB scope");
	c.emit = emit_huge;
	assert_int_equal(acpi_tables_build(mem, &cfg, &rsdp, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "do not fit in the 128 KiB BIOS area"));
	assert_int_equal(rsdp, 42); /* untouched on failure */
	guest_memory_free(mem);
	guest_memory_free(tiny);
}

/* Writes the table at gpa (length from its header, or len) to dir/name. */
static void dump(struct guest_memory *mem, const char *dir, const char *name, uint64_t gpa,
		 size_t len)
{
	struct acpi_table_header h;

	if (!len) {
		assert_int_equal(guest_memory_read(mem, gpa, &h, sizeof(h)), 0);
		len = h.length;
	}
	assert_int_equal(iasl_write(dir, name, guest_memory_ptr(mem, gpa, len), len), 0);
}

static void expect_text(const char *text, const char *what, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("%s lacks \"%s\":\n%s", what, needle, text);
}

#define N_TABLES 5

static void test_iasl_disassembly(void **state)
{
	/*
	 * Not the RSDP: this iasl (20200925) only disassembles files that start
	 * with a 4-character table name, and "RSD " is not one. walk() checks
	 * the RSDP's fields and both checksums instead.
	 */
	static const char *const names[] = {"xsdt", "facp", "facs", "apic", "dsdt"};
	struct guest_memory *mem;
	struct vmbus_like vmbus = {.mmio_low = 0xF8000000, .mmio_high = UINT64_C(0x1000000000)};
	struct acpi_dsdt_contributor c = {.emit = emit_vmbus_like, .opaque = &vmbus};
	struct acpi_config cfg = {.vcpus = 4, .contributors = &c, .ncontributors = 1};
	struct boot_error err = {{0}};
	struct tables t;
	uint64_t rsdp;
	char *dir, *log, *dsl, file[32], dat[N_TABLES][16];
	const char *args[8];
	unsigned i;
	int status;

	if (!iasl_available()) {
		print_message("# iasl not installed (acpica-tools): skipped\n");
		skip();
	}
	mem = new_mem(256 * MiB);
	if (acpi_tables_build(mem, &cfg, &rsdp, &err) < 0)
		fail_msg("%s", err.msg);
	t = walk(mem, rsdp);
	dir = iasl_tmpdir();
	assert_non_null(dir);
	dump(mem, dir, "xsdt.dat", t.xsdt, 0);
	dump(mem, dir, "facp.dat", t.fadt, 0);
	dump(mem, dir, "facs.dat", t.facs, sizeof(struct acpi_facs));
	dump(mem, dir, "apic.dat", t.madt, 0);
	dump(mem, dir, "dsdt.dat", t.dsdt, 0);

	args[0] = "-d";
	for (i = 0; i < N_TABLES; i++) {
		snprintf(dat[i], sizeof(dat[i]), "%s.dat", names[i]);
		args[1 + i] = dat[i];
	}
	args[1 + N_TABLES] = NULL;
	status = iasl_run(dir, args);
	log = iasl_read(dir, "iasl.log", NULL);
	assert_non_null(log);
	if (status != 0)
		fail_msg("iasl -d exited %d:\n%s", status, log);
	if (strstr(log, "Error") || strstr(log, "Warning") || strstr(log, "hecksum") ||
	    strstr(log, "nvalid"))
		fail_msg("iasl -d complained:\n%s", log);
	free(log);

	for (i = 0; i < N_TABLES; i++) {
		snprintf(file, sizeof(file), "%s.dsl", names[i]);
		dsl = iasl_read(dir, file, NULL);
		if (!dsl) {
			fail_msg("iasl wrote no %s", file);
			continue; /* not reached; cmocka's fail is not declared noreturn */
		}
		if (strstr(dsl, "Error") || strstr(dsl, "Incorrect") || strstr(dsl, "Invalid"))
			fail_msg("%s:\n%s", file, dsl);
		if (!strcmp(names[i], "xsdt")) {
			expect_text(dsl, file, "ACPI Table Address   1");
		} else if (!strcmp(names[i], "facp")) {
			expect_text(dsl, file, "SCI Interrupt : 0009");
			expect_text(dsl, file, "8042 Present on ports 60/64 (V2) : 1");
			expect_text(dsl, file, "32-bit PM Timer (V1) : 1");
			expect_text(dsl, file, "Hardware Reduced (V5) : 0");
		} else if (!strcmp(names[i], "apic")) {
			expect_text(dsl, file, "Local Apic Address : FEE00000");
			expect_text(dsl, file, "Local Apic ID : 03");
			expect_text(dsl, file, "Subtable Type : 01 [I/O APIC]");
			expect_text(dsl, file, "Address : FEC00000");
			expect_text(dsl, file, "Subtable Type : 02 [Interrupt Source Override]");
			expect_text(dsl, file, "Trigger Mode : 3");
		} else if (!strcmp(names[i], "dsdt")) {
			expect_text(dsl, file, "Name (\\_S5, Package (0x04)");
			expect_text(dsl, file, "Device (PCI0)");
			expect_text(dsl, file, "EisaId (\"PNP0A03\")");
			expect_text(dsl, file, "EisaId (\"PNP0501\")");
			expect_text(dsl, file, "Device (COM2)");
			expect_text(dsl, file, "EisaId (\"PNP0B00\")");
			expect_text(dsl, file, "EisaId (\"PNP0303\")");
			expect_text(dsl, file, "0xFEBFFFFF");
			expect_text(dsl, file, "Device (VMBS)");
			expect_text(dsl, file, "Name (_HID, \"VMBus\")");
			expect_text(dsl, file, "QWordMemory");
			expect_text(dsl, file, "0x0000001000000000");
		}
		free(dsl);
	}

	/*
	 * The platform's own DSDT (no contributors: iasl's compiler rejects
	 * _HID "VMBus", which Hyper-V and Linux's vmbus driver use) survives a
	 * disassemble / recompile round trip without errors or warnings.
	 */
	cfg.ncontributors = 0;
	if (acpi_tables_build(mem, &cfg, &rsdp, &err) < 0)
		fail_msg("%s", err.msg);
	t = walk(mem, rsdp);
	dump(mem, dir, "plain.dat", t.dsdt, 0);
	args[0] = "-d";
	args[1] = "plain.dat";
	args[2] = NULL;
	assert_int_equal(iasl_run(dir, args), 0);
	args[0] = "plain.dsl";
	args[1] = NULL;
	status = iasl_run(dir, args);
	log = iasl_read(dir, "iasl.log", NULL);
	assert_non_null(log);
	if (status != 0 || !strstr(log, "0 Errors, 0 Warnings"))
		fail_msg("iasl plain.dsl exited %d:\n%s", status, log);
	free(log);
	iasl_rmdir(dir);
	free(dir);
	guest_memory_free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_and_checksums),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_iasl_disassembly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
