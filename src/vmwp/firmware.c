/*
 * The Generation 1 BIOS: SeaBIOS (Debian's seabios package) and the
 * configuration it reads from QEMU's fw_cfg interface (emu/fw_cfg.c), as
 * SeaBIOS's src/fw/paravirt.c, src/boot.c and src/fw/romfile_loader.c
 * read them:
 *
 *   FW_CFG_RAM_SIZE, FW_CFG_NB_CPUS, FW_CFG_MAX_CPUS  RAM and processors
 *   FW_CFG_BOOT_MENU = 0      no "Press ESC for boot menu" wait
 *   "etc/e820"                the RAM map, with the ACPI area reserved
 *   "bootorder"               the startup order as SeaBIOS device paths
 *   "etc/acpi/rsdp" and       the worker's own ACPI tables (boot/acpi_tables.c,
 *   "etc/table-loader"        FADT with the PM block of emu/acpi_pm.c): built at
 *                             the top of low RAM; the loader's one command puts
 *                             the RSDP in the BIOS segment, where Linux finds it
 *   "etc/sercon-port" = COM1  the BIOS's screen output on COM1 too (beside the VGA,
 *                             or alone without one)
 *   "vgaroms/vgabios-stdvga.bin"  SeaBIOS's VGA BIOS for emu/vga.c (Bochs VBE)
 *
 * SeaBIOS's own debug log (port 0x402, emu/debug_port.c) goes to the
 * worker's log, prefixed "bios:", rate-limited.
 *
 * A restored machine (firmware_config.restore) is built the same way but
 * writes nothing into guest RAM and sets no registers: the saved RAM has
 * the BIOS's own copy below 1 MiB, its data and the ACPI tables, the
 * saved vCPUs their registers. Its fw_cfg items come from the
 * configuration again (the RSDP from tables rendered apart, equal to
 * those in the saved RAM); the saved state holds only fw_cfg's cursor,
 * the debug port's line, the VGA's registers and framebuffer, and the
 * image's copy, which the guest can write (sections "bios.rom.N").
 *
 * Threads: built on the worker's main thread before the vCPUs start; the
 * devices then run on vCPU threads (their own locks).
 */
#include "vmwp/firmware.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <json-c/json.h>

#include "base/byteorder.h"
#include "base/log.h"
#include "boot/smbios.h"
#include "boot/bios_boot.h"
#include "emu/debug_port.h"
#include "emu/fw_cfg.h"
#include "emu/fw_cfg_format.h"
#include "emu/ide/piix4.h"
#include "state/state.h"
#include "vid/pc_layout.h"
#include "vmwp/firmware_state.h"

/* The partition's device-memory slot for the BIOS image (vmconnect's VRAM is slot 0). */
#define BIOS_SLOT     3
#define VGA_LFB_SLOT  2 /* the VGA framebuffer */
#define E820_MAX      8
#define BOOTORDER_MAX 512
#define RSDP_V2_LEN   36

struct firmware {
	struct fw_cfg *fw_cfg;
	struct debug_port *debug;
	struct vga *vga; /* NULL without a VGA ROM */
	void *rom;	 /* the image's private copy, mapped at bios_image_gpa() */
	size_t rom_size;
	uint64_t acpi_area;	 /* where the ACPI tables are in RAM */
	struct ratelimit log_rl; /* the BIOS's debug lines: a boot prints about a hundred */
};

static void debug_line(void *opaque, const char *line)
{
	struct firmware *fw = opaque;

	pv_log_ratelimited(&fw->log_rl, LOG_INFO, "bios: %s", line);
}

/* SeaBIOS's device paths (src/boot.c, build_pci_path and bootprio_find_*). */
static size_t boot_path(const struct firmware_config *cfg, enum startup_device d, char *p,
			size_t max)
{
	unsigned ide = PIIX4_DEVFN_IDE, isa = PIIX4_DEVFN_ISA;

	switch (d) {
	case STARTUP_IDE:
	case STARTUP_CD: {
		/* drive@N is the channel, disk@M the unit (SeaBIOS's bootprio_find_ata_device). */
		int at = d == STARTUP_IDE ? cfg->ide_disk : cfg->cd;

		if (at < 0)
			return 0;
		return (size_t)snprintf(p, max, "/pci@i0cf8/ide@%x,%x/drive@%d/disk@%d", ide >> 3,
					ide & 7, at / 2, at % 2);
	}
	case STARTUP_FLOPPY:
		return (size_t)snprintf(p, max, "/pci@i0cf8/isa@%x/fdc@03f0/floppy@0", isa >> 3);
	case STARTUP_LEGACY_NETWORK_ADAPTER:
	case STARTUP_DEVICE_COUNT:
		/* The legacy adapter has no boot ROM (no PXE): nothing to name. */
		return 0;
	}
	return 0;
}

/* One path a line, NUL-terminated, no newline after the last (as QEMU's). */
static int add_bootorder(struct fw_cfg *f, const struct firmware_config *cfg)
{
	char buf[BOOTORDER_MAX];
	size_t len = 0;

	for (unsigned i = 0; i < cfg->order.n; i++) {
		size_t room, n;

		if (len)
			buf[len++] = '\n';
		room = sizeof(buf) - len - 1; /* the NUL's byte kept */
		n = boot_path(cfg, cfg->order.order[i], buf + len, room);
		if (n >= room)
			return -ENOSPC;
		if (n == 0 && len)
			len--; /* nothing to name: no line */
		len += n;
	}
	buf[len] = '\0';
	return fw_cfg_add_file(f, "bootorder", buf, len + 1);
}

/* One ALLOCATE of "etc/acpi/rsdp" in the F segment; the tables are in RAM (rsdp_bytes first). */
static int add_acpi(struct fw_cfg *f, const uint8_t *rsdp_bytes)
{
	struct fw_cfg_loader_entry cmd = {0};
	int r;

	put_le32((uint8_t *)&cmd.command, FW_CFG_LOADER_ALLOCATE);
	snprintf(cmd.alloc.file, sizeof(cmd.alloc.file), "etc/acpi/rsdp");
	put_le32((uint8_t *)&cmd.alloc.align, 16);
	cmd.alloc.zone = FW_CFG_LOADER_ZONE_FSEG;
	r = fw_cfg_add_file(f, "etc/acpi/rsdp", rsdp_bytes, RSDP_V2_LEN);
	if (r == 0)
		r = fw_cfg_add_file(f, "etc/table-loader", &cmd, sizeof(cmd));
	return r;
}

static int add_u16(struct fw_cfg *f, uint16_t selector, unsigned v)
{
	uint8_t b[2];

	put_le16(b, v);
	return fw_cfg_add_item(f, selector, b, sizeof(b));
}

static int add_items(struct firmware *fw, struct partition *p, const struct firmware_config *cfg,
		     uint64_t acpi_area, const uint8_t *tables)
{
	struct guest_memory *mem = partition_memory(p);
	struct boot_e820_entry e820[E820_MAX];
	uint8_t ram[8], sercon[2];
	int n, r;

	put_le32(ram, (uint32_t)guest_memory_ram_size(mem));
	put_le32(ram + 4, (uint32_t)(guest_memory_ram_size(mem) >> 32));
	put_le16(sercon, PC_PORT_COM1);
	n = bios_e820_build(mem, acpi_area, e820, E820_MAX);
	if (n < 0)
		return n;
	r = fw_cfg_add_item(fw->fw_cfg, FW_CFG_RAM_SIZE, ram, sizeof(ram));
	if (r == 0)
		r = add_u16(fw->fw_cfg, FW_CFG_NB_CPUS, partition_vcpu_count(p));
	if (r == 0)
		r = add_u16(fw->fw_cfg, FW_CFG_MAX_CPUS, partition_vcpu_count(p));
	if (r == 0)
		r = add_u16(fw->fw_cfg, FW_CFG_BOOT_MENU, 0);
	if (r == 0)
		r = fw_cfg_add_file(fw->fw_cfg, "etc/e820", e820,
				    (size_t)n * sizeof(struct boot_e820_entry));
	if (r == 0)
		r = add_bootorder(fw->fw_cfg, cfg);
	if (r == 0)
		r = add_acpi(fw->fw_cfg, tables);
	if (r == 0)
		r = fw_cfg_add_file(fw->fw_cfg, "etc/sercon-port", sercon, sizeof(sercon));
	if (r == 0 && cfg->smbios_anchor)
		r = fw_cfg_add_file(fw->fw_cfg, "etc/smbios/smbios-anchor", cfg->smbios_anchor,
				    SMBIOS_ENTRY_POINT_LEN);
	if (r == 0 && cfg->smbios_anchor)
		r = fw_cfg_add_file(fw->fw_cfg, "etc/smbios/smbios-tables", cfg->smbios_tables,
				    cfg->smbios_tables_len);
	if (r == 0 && cfg->vga_rom)
		r = fw_cfg_add_file(fw->fw_cfg, "vgaroms/vgabios-stdvga.bin", cfg->vga_rom,
				    cfg->vga_rom_size);
	return r;
}

/* The image, copied into memory of its own, seen below 4 GiB. */
static int map_rom(struct firmware *fw, struct partition *p, const struct firmware_config *cfg)
{
	fw->rom = mmap(NULL, cfg->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fw->rom == MAP_FAILED) {
		fw->rom = NULL;
		return -errno;
	}
	fw->rom_size = cfg->size;
	memcpy(fw->rom, cfg->image, cfg->size);
	return partition_set_device_memory(p, BIOS_SLOT, bios_image_gpa(cfg->size), fw->rom,
					   cfg->size);
}

/* The ACPI tables into tables (ACPI_AREA_SIZE bytes) and, unless restoring, into RAM. */
static int build_acpi(struct firmware *fw, struct guest_memory *mem,
		      const struct firmware_config *cfg, uint8_t *tables, char *err, size_t errlen)
{
	struct acpi_config acpi = *cfg->acpi;
	struct boot_error berr = {{0}};
	int r;

	acpi.area_gpa = fw->acpi_area = bios_acpi_area(mem);
	if (!acpi.area_gpa) {
		snprintf(err, errlen, "BIOS boot: too little RAM below 4 GiB for the ACPI tables");
		return -EINVAL;
	}
	r = acpi_tables_render(&acpi, tables, &berr);
	if (r == 0 && !cfg->restore &&
	    guest_memory_write(mem, acpi.area_gpa, tables, ACPI_AREA_SIZE) < 0)
		r = boot_error_set(&berr, -EFAULT, "the ACPI area at %#llx is not RAM",
				   (unsigned long long)acpi.area_gpa);
	if (r < 0)
		snprintf(err, errlen, "ACPI tables: %s", berr.msg);
	return r;
}

static int build(struct firmware *fw, struct partition *p, const struct firmware_config *cfg,
		 uint8_t *tables, char *err, size_t errlen)
{
	struct guest_memory *mem = partition_memory(p);
	struct boot_error berr = {{0}};
	struct x86_boot_regs regs;
	int r;

	r = build_acpi(fw, mem, cfg, tables, err, errlen);
	if (r < 0)
		return r;
	/* The copy below 1 MiB and the reset state: a restored machine has its saved ones. */
	r = cfg->restore ? 0 : bios_boot_setup(mem, cfg->image, cfg->size, &regs, &berr);
	if (r < 0) {
		snprintf(err, errlen, "BIOS: %s", berr.msg);
		return r;
	}
	r = fw_cfg_new(partition_pio_bus(p), mem, &fw->fw_cfg);
	if (r == 0)
		r = debug_port_new(partition_pio_bus(p), debug_line, fw, &fw->debug);
	if (r == 0)
		r = add_items(fw, p, cfg, fw->acpi_area, tables);
	if (r < 0) {
		snprintf(err, errlen, "BIOS configuration (fw_cfg): %s", strerror(-r));
		return r;
	}
	if (cfg->vga_rom) {
		r = vga_new(partition_pio_bus(p), mem, &fw->vga);
		if (r == 0)
			r = partition_set_device_memory(p, VGA_LFB_SLOT, VGA_LFB_GPA,
							vga_framebuffer(fw->vga), VGA_LFB_SIZE);
		if (r < 0) {
			snprintf(err, errlen, "VGA: %s", strerror(-r));
			return r;
		}
	}
	r = map_rom(fw, p, cfg);
	if (r == 0 && !cfg->restore)
		r = partition_set_boot_regs(p, &regs);
	if (r < 0)
		snprintf(err, errlen, "BIOS image at %#llx: %s",
			 (unsigned long long)bios_image_gpa(cfg->size), strerror(-r));
	return r;
}

int firmware_new(struct partition *p, const struct firmware_config *cfg, struct firmware **ret,
		 char *err, size_t errlen)
{
	struct firmware *fw = calloc(1, sizeof(*fw));
	uint8_t *tables;
	int r;

	if (!fw)
		return -ENOMEM;
	fw->log_rl = (struct ratelimit)RATELIMIT_INIT(10000, 300);
	tables = malloc(ACPI_AREA_SIZE);
	r = tables ? build(fw, p, cfg, tables, err, errlen) : -ENOMEM;
	free(tables);
	if (r < 0) {
		firmware_free(fw);
		return r;
	}
	*ret = fw;
	return 0;
}

struct vga *firmware_vga(struct firmware *fw)
{
	return fw ? fw->vga : NULL;
}

struct fw_cfg *firmware_fw_cfg(struct firmware *fw)
{
	return fw->fw_cfg;
}

struct debug_port *firmware_debug_port(struct firmware *fw)
{
	return fw->debug;
}

uint8_t *firmware_rom(struct firmware *fw, uint64_t *ret_size)
{
	*ret_size = fw->rom_size;
	return fw->rom;
}

static struct firmware_state our_state(const struct firmware *fw)
{
	return (struct firmware_state){
		.rom_size = fw->rom_size, .acpi_area = fw->acpi_area, .vga = fw->vga != NULL};
}

int firmware_save(struct firmware *fw, struct state_out *out)
{
	struct firmware_state fs = our_state(fw);

	return firmware_state_save(&fs, out);
}

int firmware_load(struct firmware *fw, uint32_t version, struct state_in *in, char *errbuf,
		  size_t errlen)
{
	struct firmware_state fs = our_state(fw);

	return firmware_state_load(&fs, version, in, errbuf, errlen);
}

void vga_text_json(struct vga *vga, struct json_object *resp)
{
	char(*rows)[VGA_TEXT_MAX_COLS + 1] = calloc(VGA_TEXT_MAX_ROWS, sizeof(*rows));
	unsigned ncols = 0, nrows = 0;
	struct json_object *lines;
	int r = !vga ? -ENODEV : !rows ? -ENOMEM : vga_text_read(vga, rows, &ncols, &nrows);

	json_object_object_add(resp, "ok", json_object_new_boolean(r == 0));
	if (r < 0) {
		json_object_object_add(
			resp, "error",
			json_object_new_string(r == -ENODEV    ? "this VM has no VGA (generation 1 "
								 "booted by its BIOS, with video)"
					       : r == -ENOTSUP ? "the VGA is in a graphics mode"
							       : strerror(-r)));
		free(rows);
		return;
	}
	lines = json_object_new_array();
	for (unsigned i = 0; i < nrows; i++)
		json_object_array_add(lines, json_object_new_string(rows[i]));
	json_object_object_add(resp, "columns", json_object_new_int((int)ncols));
	json_object_object_add(resp, "rows", lines);
	free(rows);
}

struct firmware *firmware_free(struct firmware *fw)
{
	if (!fw)
		return NULL;
	vga_free(fw->vga);
	debug_port_free(fw->debug);
	fw_cfg_free(fw->fw_cfg);
	/* The slot goes with the partition, which is freed after the devices (machine.c). */
	if (fw->rom)
		munmap(fw->rom, fw->rom_size);
	free(fw);
	return NULL;
}
