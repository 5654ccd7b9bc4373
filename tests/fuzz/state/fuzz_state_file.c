/*
 * Fuzz target: the saved-state reader (src/state/) on a file whose bytes
 * the fuzzer controls, read from a memory file exactly as a restore reads
 * its file: header, section table, every section, the RAM index, and the
 * RAM itself when the file claims a small enough guest; every section
 * this build restores goes through its device's load: KVM's state
 * (src/vid/kvm_state.c), the emulated devices (src/emu/, with a legacy
 * network adapter whose I/O thread runs over the fake RAM) and the Hyper-V
 * interface (src/hv/hv_state.c), built once over fake buses and a fake
 * platform, with a BIOS machine's firmware devices (fw_cfg with items, the
 * debug port, the VGA) and its bookkeeping (src/vmwp/firmware_state.c), the
 * VGA framebuffer's and BIOS image's chunks (vram_state.c); "config" (the hardware text) is
 * compared with a VM's as the worker's restore does (src/vmwp/config_digest.c). Section names as in
 * docs/saved-state.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu/acpi_pm.h"
#include "emu/cmos_rtc.h"
#include "emu/debug_port.h"
#include "emu/fw_cfg.h"
#include "emu/fw_cfg_format.h"
#include "emu/i8042.h"
#include "emu/pci_host.h"
#include "emu/pci_video.h"
#include "emu/post_port.h"
#include "emu/uart16550.h"
#include "emu/vga.h"
#include "emu/ide/piix4.h"
#include "emu/dec21140/dec21140.h"
#include "vmwp/vram_state.h"
#include "disk/disk.h"
#include "hv/hv.h"
#include "state/state.h"
#include "vid/guest_memory.h"
#include "vid/kvm_state.h"
#include "vid/pc_layout.h"
#include "vmwp/config_digest.h"
#include "vmwp/firmware_state.h"

#define RAM_LIMIT (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load_ram(struct state_reader *r)
{
	uint64_t bytes = state_reader_info(r)->memory_bytes;
	char err[256];
	void *ram;

	if (bytes == 0 || bytes > RAM_LIMIT) {
		if (state_reader_check_ram(r, NULL, err, sizeof(err)) < 0)
			err[0] = 0;
		return;
	}
	ram = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (ram == MAP_FAILED)
		return;
	if (state_reader_load_ram(r, ram, err, sizeof(err)) < 0)
		err[0] = 0;
	munmap(ram, bytes);
}

static int fake_msi(void *opaque, uint64_t address, uint32_t data)
{
	return 0;
}

static int fake_tsc(void *opaque, unsigned vp, uint64_t *tsc)
{
	*tsc = UINT64_C(1) << 40;
	return 0;
}

static uint64_t fake_runtime(void *opaque, unsigned vp)
{
	return 0;
}

static const struct hv_platform_ops fake_platform_ops = {
	.signal_msi = fake_msi, .read_tsc = fake_tsc, .vp_runtime_ns = fake_runtime};

/* The devices the sections load into, made once (the RTC has a thread). */
struct devices {
	struct io_bus *bus;
	struct guest_memory *mem;
	struct uart16550 *uart;
	struct pci_host *pci;
	struct pci_video *video;
	struct post_port *post;
	struct acpi_pm *pm;
	struct i8042 *kbc;
	struct cmos_rtc *rtc;
	struct hv *hv;
	struct io_bus *gen1_bus;
	struct pci_host *gen1_pci;
	struct piix4 *piix4; /* generation 1: an ATA disk on the primary channel */
	struct disk *disk;
	/* A BIOS machine's (vmwp/firmware.c), on the generation 1 bus. */
	struct fw_cfg *fw_cfg;
	struct debug_port *debug;
	struct vga *vga;
	struct io_bus *gen1_mmio;
	struct dec21140 *dec; /* generation 1's legacy adapter 0 (MAC as make_state_corpus.py) */
};

/* fw_cfg items as make_state_corpus.py's seeds select them (their hash is in the seeds). */
static const uint8_t fuzz_ram_size[8] = {0, 0, 0, 8};
static const char fuzz_e820[] = "0123456789";

/* This machine's "bios" bookkeeping: a 256 KiB image, 128 MiB of RAM, a VGA. */
static const struct firmware_state fuzz_firmware = {
	.rom_size = 256u << 10, .acpi_area = (128u << 20) - (128u << 10), .vga = true};

static struct devices *devices(void)
{
	static struct devices d;
	static bool made;
	struct uart16550_config uart = {.name = "COM1", .port = PC_PORT_COM1};
	struct hv_platform platform = {
		.ops = &fake_platform_ops, .vp_count = 2, .tsc_hz = UINT64_C(2500000000)};
	struct irq_line none = {0};
	struct power_control off = {0};

	if (made)
		return &d;
	made = true;
	if (io_bus_new("fuzz", &d.bus) < 0 || guest_memory_new(16u << 20, &d.mem) < 0 ||
	    uart16550_new(d.bus, &uart, &d.uart) < 0 || pci_host_new(d.bus, &d.pci) < 0 ||
	    pci_video_new(d.pci, 8, &d.video) < 0 || post_port_new(d.bus, &d.post) < 0 ||
	    acpi_pm_new(d.bus, none, off, (struct clock_source){0}, &d.pm) < 0 ||
	    i8042_new(d.bus, none, none, off, &d.kbc) < 0 ||
	    cmos_rtc_new(d.bus, none, (struct clock_source){0}, &d.rtc) < 0)
		__builtin_trap();
	platform.mem = d.mem;
	if (hv_create(&platform, &(struct hv_config){0}, &d.hv) < 0)
		__builtin_trap();
	/* A bus of its own: the video sits in slot 1 of the other, where the PIIX4 goes. */
	if (io_bus_new("fuzz-gen1", &d.gen1_bus) < 0 || pci_host_new(d.gen1_bus, &d.gen1_pci) < 0 ||
	    piix4_new(d.gen1_pci, d.gen1_bus, none, none, d.mem, &d.piix4) < 0)
		__builtin_trap();
	{
		char path[] = "/tmp/parvis-fuzz-ide-XXXXXX", err[128];
		int fd = mkstemp(path);

		if (fd < 0 || ftruncate(fd, 1 << 20) < 0 ||
		    disk_open(path, 0, &d.disk, err, sizeof(err)) < 0 ||
		    ide_channel_attach_disk(piix4_channel(d.piix4, 0), 0, d.disk) < 0)
			__builtin_trap();
		close(fd);
		unlink(path);
	}
	if (fw_cfg_new(d.gen1_bus, d.mem, &d.fw_cfg) < 0 ||
	    fw_cfg_add_item(d.fw_cfg, FW_CFG_RAM_SIZE, fuzz_ram_size, sizeof(fuzz_ram_size)) < 0 ||
	    fw_cfg_add_file(d.fw_cfg, "etc/e820", fuzz_e820, strlen(fuzz_e820)) < 0 ||
	    debug_port_new(d.gen1_bus, NULL, NULL, &d.debug) < 0 ||
	    vga_new(d.gen1_bus, d.mem, &d.vga) < 0)
		__builtin_trap();
	{
		/* The back end: a socket pair whose other end nobody reads (sends fail, counted).
		 */
		struct dec21140_config c = {.name = "fuzz",
					    .devfn = PCI_DEVFN(DEC21140_FIRST_SLOT, 0),
					    .io_base = DEC21140_IO_BASE,
					    .mmio_base = DEC21140_MMIO_BASE,
					    .mem = d.mem,
					    .mac = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x21},
					    .connected = true};
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
		    io_bus_new("fuzz-gen1-mmio", &d.gen1_mmio) < 0)
			__builtin_trap();
		c.backend_fd = sv[0];
		if (dec21140_new(d.gen1_pci, d.gen1_bus, d.gen1_mmio, &c, &d.dec) < 0)
			__builtin_trap();
	}
	return &d;
}

/* The loaders of every section this build restores, by name. */
static void decode(const char *name, uint32_t version, const void *buf, size_t len)
{
	static struct vcpu_state vcpu;
	static struct kvm_vm_state vm;
	struct devices *d = devices();
	struct state_in in;
	char err[256];
	int r = 0;

	state_in_init(&in, buf, len);
	if (strncmp(name, "vcpu.", 5) == 0)
		r = vcpu_state_decode(&in, &vcpu, err, sizeof(err));
	else if (strcmp(name, "kvm.irqchip") == 0)
		r = kvm_vm_state_decode_irqchip(&in, &vm, err, sizeof(err));
	else if (strcmp(name, "kvm.pit") == 0)
		r = kvm_vm_state_decode_pit(&in, &vm, err, sizeof(err));
	else if (strcmp(name, "kvm.clock") == 0)
		r = kvm_vm_state_decode_clock(&in, &vm, err, sizeof(err));
	else if (strncmp(name, "uart.", 5) == 0)
		r = uart16550_load(d->uart, version, &in, err, sizeof(err));
	else if (strcmp(name, "pci.host") == 0)
		r = pci_host_load(d->pci, version, &in, err, sizeof(err));
	else if (strcmp(name, "pci.video") == 0)
		r = pci_video_load(d->video, version, &in, err, sizeof(err));
	else if (strcmp(name, "post") == 0)
		r = post_port_load(d->post, version, &in, err, sizeof(err));
	else if (strcmp(name, "acpi.pm") == 0)
		r = acpi_pm_load(d->pm, version, &in, err, sizeof(err));
	else if (strcmp(name, "i8042") == 0)
		r = i8042_load(d->kbc, version, &in, err, sizeof(err));
	else if (strcmp(name, "cmos.rtc") == 0)
		r = cmos_rtc_load(d->rtc, version, &in, err, sizeof(err));
	else if (strcmp(name, "hv") == 0)
		r = hv_load(d->hv, version, &in, err, sizeof(err));
	else if (strcmp(name, "ide.piix4") == 0)
		r = piix4_load(d->piix4, version, &in, err, sizeof(err));
	else if (strncmp(name, "dec21140.", 9) == 0)
		r = dec21140_load(d->dec, version, &in, err, sizeof(err));
	else if (strncmp(name, VRAM_STATE_PREFIX, strlen(VRAM_STATE_PREFIX)) == 0) {
		/* A 6 MiB VRAM: the chunk number from the name, as the worker takes it. */
		static uint8_t vram[6u << 20];
		unsigned long n = strtoul(name + strlen(VRAM_STATE_PREFIX), NULL, 10);

		r = n < 4 ? vram_state_load(vram, sizeof(vram), (unsigned)n, version, &in, err,
					    sizeof(err))
			  : -1;
	} else if (strcmp(name, "fw_cfg") == 0) {
		r = fw_cfg_load(d->fw_cfg, version, &in, err, sizeof(err));
	} else if (strcmp(name, "debugcon") == 0) {
		r = debug_port_load(d->debug, version, &in, err, sizeof(err));
	} else if (strcmp(name, "vga") == 0) {
		r = vga_load(d->vga, version, &in, err, sizeof(err));
	} else if (strcmp(name, FIRMWARE_STATE_SECTION) == 0) {
		r = firmware_state_load(&fuzz_firmware, version, &in, err, sizeof(err));
	} else if (strncmp(name, VGA_LFB_PREFIX, strlen(VGA_LFB_PREFIX)) == 0) {
		unsigned long n = strtoul(name + strlen(VGA_LFB_PREFIX), NULL, 10);

		r = n < 4 ? vram_state_load(vga_framebuffer(d->vga), VGA_LFB_SIZE, (unsigned)n,
					    version, &in, err, sizeof(err))
			  : -1;
	} else if (strncmp(name, FIRMWARE_ROM_PREFIX, strlen(FIRMWARE_ROM_PREFIX)) == 0) {
		static uint8_t rom[256u << 10];
		unsigned long n = strtoul(name + strlen(FIRMWARE_ROM_PREFIX), NULL, 10);

		r = n < 1 ? vram_state_load(rom, sizeof(rom), (unsigned)n, version, &in, err,
					    sizeof(err))
			  : -1;
	} else if (strcmp(name, "config") == 0) {
		static const char ours[] = "parvis-hardware 1\nmemory=268435456\ncpus=2\n"
					   "cpu-model=host\nvideo=1\ndisk0=controller 0 lun 0\n";

		r = config_text_difference(buf, len, ours, sizeof(ours) - 1, err, sizeof(err)) ? -1
											       : 0;
	}
	if (r == 0 && vcpu.nmsrs > VCPU_STATE_MAX_MSRS)
		__builtin_trap();
	/* For checking a seed corpus by hand: which sections load. */
	if (getenv("STATE_FUZZ_VERBOSE"))
		fprintf(stderr, "%s: %s\n", name, r == 0 ? "loaded" : err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct state_reader *r;
	uint32_t version;
	char err[256];
	const char *name;
	size_t len;
	void *buf;
	unsigned i;

	if (fd < 0)
		fd = memfd_create("fuzz-state", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	if (state_reader_new(fd, &r, err, sizeof(err)) < 0)
		return 0;
	for (i = 0; (name = state_reader_section_name(r, i, NULL, NULL)); i++) {
		if (state_reader_section(r, name, &version, &buf, &len, err, sizeof(err)) < 0)
			continue;
		decode(name, version, buf, len);
		free(buf);
	}
	load_ram(r);
	state_reader_free(r);
	return 0;
}
