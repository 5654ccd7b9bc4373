/*
 * Builds a machine from a configuration: the partition (vid/), made a
 * Hyper-V child partition (hv/), the legacy devices (emu/) wired to its
 * buses and interrupt lines, the ACPI tables and the kernel (boot/).
 * Its parts are made in one explicit order, the table build_steps[] (each
 * step for the generations it names), and freed in reverse (machine_free).
 */
#include "vmwp/machine.h"
#include "vmwp/machine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/compiler.h"
#include "boot/smbios.h"
#include "boot/acpi_tables.h"
#include "boot/bios_boot.h"
#include "boot/kernel_image.h"
#include "boot/linux_boot.h"
#include "emu/acpi_pm.h"
#include "emu/cmos_rtc.h"
#include "emu/i8042.h"
#include "emu/ide/piix4.h"
#include "emu/ide/ide.h"
#include "emu/pci_host.h"
#include "emu/post_port.h"
#include "emu/uart16550.h"
#include "hv/hv.h"
#include "vid/pc_layout.h"
#include "vmwp/firmware.h"
#include "vmwp/sandbox.h"
#include "vmwp/storage.h"
#include "vmwp/vmbus_host.h"
#include "vmwp/vmconnect.h"

/* Boot files larger than this are not boot files (a guest gets at most its RAM). */
#define BOOT_FILE_MAX (4 * GiB)

/*
 * The boot file: given_fd when the service opened it (inherited: it becomes ours, and
 * close-on-exec), else path opened here. A regular file open for reading either way.
 */
static int open_file(const char *what, const char *path, int given_fd, int *ret_fd, char *err,
		     size_t errlen)
{
	struct stat st;
	int fd = given_fd, r;

	if (given_fd >= 0) {
		int fl = fcntl(given_fd, F_GETFL);

		if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY ||
		    fcntl(given_fd, F_SETFD, FD_CLOEXEC) < 0) {
			snprintf(err, errlen, "%s %s: descriptor %d is not open for reading", what,
				 path, given_fd);
			return -EBADF;
		}
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * Maps a whole boot file read-only for the length of one boot's loading.
 * The bytes are copied into guest memory with write(2) (guest_memory.c),
 * so a file truncated meanwhile by another process makes the copy fail
 * cleanly; only the parsing of the headers reads the mapping directly.
 * Mapping instead of reading costs no copy and leaves nothing resident.
 */
static int read_file(const char *what, const char *path, int fd, void **ret, size_t *ret_size,
		     char *err, size_t errlen)
{
	struct stat st;
	void *buf;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0) {
		snprintf(err, errlen, "%s %s: the file is empty", what, path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > BOOT_FILE_MAX) {
		snprintf(err, errlen, "%s %s: larger than 4 GiB", what, path);
		return -EFBIG;
	}
	buf = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (buf == MAP_FAILED) {
		r = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return r;
	}
	*ret = buf;
	*ret_size = (size_t)st.st_size;
	return 0;
}

static void free_file(void *buf, size_t size)
{
	if (buf)
		munmap(buf, size);
}

/*
 * A BIOS image, read whole once before the jail (it is small, and every boot maps a fresh
 * copy of it: firmware.c).
 */
static int read_whole(const char *what, const char *path, void **ret, size_t *ret_size, char *err,
		      size_t errlen)
{
	void *map = NULL;
	size_t size = 0;
	int fd, r;

	r = open_file(what, path, -1, &fd, err, errlen);
	if (r < 0)
		return r;
	r = read_file(what, path, fd, &map, &size, err, errlen);
	close(fd);
	if (r < 0)
		return r;
	*ret = malloc(size);
	if (*ret)
		memcpy(*ret, map, size);
	*ret_size = size;
	free_file(map, size);
	return *ret ? 0 : -ENOMEM;
}

static int load_bios(const struct vm_config *cfg, struct boot_files *files, char *err,
		     size_t errlen)
{
	const char *path = cfg->bios ? cfg->bios : VM_CONFIG_DEFAULT_BIOS;
	struct boot_error berr = {{0}};
	int r = read_whole("BIOS", path, &files->bios, &files->bios_size, err, errlen);

	if (r == 0 && bios_image_check(files->bios_size, &berr) < 0) {
		snprintf(err, errlen, "BIOS %s: %s", path, berr.msg);
		r = -EINVAL;
	}
	/* The VGA BIOS (SeaBIOS's, for emu/vga.c), unless the VM has no screen. */
	if (r == 0 && !cfg->no_video)
		r = read_whole("VGA BIOS", VM_CONFIG_DEFAULT_VGA_BIOS, &files->vga_rom,
			       &files->vga_rom_size, err, errlen);
	if (r < 0)
		boot_files_release(files);
	return r;
}

int boot_files_load(const struct vm_config *cfg, struct boot_files *files, char *err, size_t errlen)
{
	struct kernel_image image;
	struct boot_error berr = {{0}};
	int r;

	*files = (struct boot_files){.kernel_path = cfg->kernel,
				     .initrd_path = cfg->initrd,
				     .kernel_fd = -1,
				     .initrd_fd = -1};
	if (!cfg->kernel)
		return load_bios(cfg, files, err, errlen);
	r = open_file("kernel", cfg->kernel, cfg->kernel_fd, &files->kernel_fd, err, errlen);
	if (r == 0 && cfg->initrd)
		r = open_file("initrd", cfg->initrd, cfg->initrd_fd, &files->initrd_fd, err,
			      errlen);
	if (r == 0)
		r = read_file("kernel", cfg->kernel, files->kernel_fd, &files->kernel,
			      &files->kernel_size, err, errlen);
	if (r < 0) {
		boot_files_release(files);
		return r;
	}
	/* Checked now, so that a file that is not a kernel is a configuration error. */
	r = kernel_image_parse(files->kernel, files->kernel_size, &image, &berr);
	if (r < 0) {
		snprintf(err, errlen, "kernel %s: %s", cfg->kernel, berr.msg);
		boot_files_release(files);
	}
	return r;
}

void boot_files_release(struct boot_files *files)
{
	free(files->bios);
	free(files->vga_rom);
	files->bios = files->vga_rom = NULL;
	free_file(files->kernel, files->kernel_size);
	files->kernel = NULL;
	if (files->kernel_fd >= 0)
		close(files->kernel_fd);
	if (files->initrd_fd >= 0)
		close(files->initrd_fd);
	files->kernel_fd = files->initrd_fd = -1;
}

static int add_uart(struct machine *m, const char *name, uint16_t port, unsigned irq,
		    struct console *console, struct uart16550 **ret)
{
	struct uart16550_config cfg = {
		.name = name,
		.port = port,
		.irq = partition_irq_line(m->partition, irq),
		.tx = console ? console_uart_tx : NULL,
		.rx_ready = console ? console_uart_rx_ready : NULL,
		.opaque = console,
	};
	int r = uart16550_new(partition_pio_bus(m->partition), &cfg, ret);

	if (r == 0 && console)
		console_attach(console, *ret);
	return r;
}

static int add_devices(struct machine *m, unsigned generation, char *err, size_t errlen)
{
	struct partition *p = m->partition;
	struct io_bus *pio = partition_pio_bus(p);
	const char *what;
	int r;

	what = "COM1";
	r = add_uart(m, "COM1", PC_PORT_COM1, PC_IRQ_COM1, m->com1_console, &m->com1);
	if (r == 0) {
		what = "COM2";
		r = add_uart(m, "COM2", PC_PORT_COM2, PC_IRQ_COM2, m->com2_console, &m->com2);
	}
	if (r == 0) {
		what = "i8042";
		r = i8042_new(pio, partition_irq_line(p, PC_IRQ_KEYBOARD),
			      partition_irq_line(p, PC_IRQ_MOUSE), partition_power_control(p),
			      &m->kbc);
	}
	if (r == 0) {
		what = "CMOS RTC";
		r = cmos_rtc_new(pio, partition_irq_line(p, PC_IRQ_RTC), (struct clock_source){0},
				 &m->rtc);
	}
	if (r == 0) {
		what = "PCI host bridge";
		/* Generation 1 is a PC with the i440FX, the host bridge SeaBIOS knows. */
		r = generation == 1 ? pci_host_new_i440fx(pio, &m->pci)
				    : pci_host_new(pio, &m->pci);
	}
	if (r == 0) {
		what = "ACPI PM";
		r = acpi_pm_new(pio, partition_irq_line(p, PC_IRQ_SCI), partition_power_control(p),
				(struct clock_source){0}, &m->pm);
	}
	if (r == 0) {
		what = "POST port";
		r = post_port_new(pio, &m->post);
	}
	if (r < 0)
		snprintf(err, errlen, "cannot create device %s: %s", what, strerror(-r));
	return r;
}

/*
 * Generation 1 (docs/generation1.md): whether disk i of cfg is on IDE, and where (channel * 2
 * + unit). Disks marked "ide" are; when none is, the first disk is on IDE 0:0 (as Hyper-V puts
 * a generation 1 boot disk).
 */
static int disk_ide_index(const struct vm_config *cfg, unsigned i)
{
	unsigned k;

	if (cfg->generation != 1)
		return -1;
	if (cfg->disks[i].ide)
		return disk_config_ide_index(&cfg->disks[i]);
	for (k = 0; k < cfg->ndisks; k++)
		if (cfg->disks[k].ide)
			return -1;
	for (k = 0; k < cfg->ndvds; k++)
		if (disk_config_ide_index(&cfg->dvds[k]) == 0)
			return -1;
	return i == 0 ? 0 : -1;
}

/* The PIIX4 at 00:01 with its drives, each a reference to what the worker opened before its
 * jail. */
static int add_ide(struct machine *m, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct partition *p = m->partition;
	unsigned i;
	int r, k;

	r = piix4_new(m->pci, partition_pio_bus(p), partition_irq_line(p, PIIX4_IRQ_PRIMARY),
		      partition_irq_line(p, PIIX4_IRQ_SECONDARY), partition_memory(p), &m->piix4);
	if (r < 0) {
		snprintf(err, errlen, "cannot create device PIIX4 IDE: %s", strerror(-r));
		return r;
	}
	for (i = 0; i < cfg->ndisks; i++) {
		k = disk_ide_index(cfg, i);
		if (k < 0 || !cfg->disks[i].opened)
			continue;
		m->ide_disks[k] = disk_ref(cfg->disks[i].opened);
		r = ide_channel_attach_disk(piix4_channel(m->piix4, (unsigned)k / 2),
					    (unsigned)k % 2, m->ide_disks[k]);
		if (r < 0) {
			snprintf(err, errlen, "--disk %s on IDE %d:%d: %s", cfg->disks[i].path,
				 k / 2, k % 2,
				 r == -EINVAL ? "IDE disks need 512-byte sectors" : strerror(-r));
			return r;
		}
		/*
		 * As Hyper-V: the same disk over VMBus too (storvsp, IDE device class), which a
		 * guest's hv_storvsc takes over while ata_piix leaves it to it (the SMBIOS of
		 * gen1_smbios). CD-ROMs stay on IDE only.
		 */
		r = storage_add_ide(m->storage, (unsigned)k / 2, (unsigned)k % 2,
				    disk_ref(cfg->disks[i].opened), cfg->disks[i].read_only, err,
				    errlen);
		if (r < 0)
			return r;
	}
	for (i = 0; i < cfg->ndvds; i++) {
		k = disk_config_ide_index(&cfg->dvds[i]);
		if (k < 0)
			continue;
		m->ide_cdrom[k] = true;
		m->ide_disks[k] = cfg->dvds[i].opened ? disk_ref(cfg->dvds[i].opened) : NULL;
		r = ide_channel_attach_cdrom(piix4_channel(m->piix4, (unsigned)k / 2),
					     (unsigned)k % 2, m->ide_disks[k]);
		if (r < 0) {
			snprintf(err, errlen, "--dvd %s on IDE %d:%d: %s",
				 cfg->dvds[i].path ? cfg->dvds[i].path : "(empty drive)", k / 2,
				 k % 2, strerror(-r));
			return r;
		}
	}
	return 0;
}

int machine_ide_change_media(struct machine *m, unsigned channel, unsigned unit, struct disk *iso,
			     bool force)
{
	unsigned k = channel * 2 + unit;
	struct disk *old = NULL, *ref;
	int r;

	if (!m->piix4 || channel >= 2 || unit >= 2 || !m->ide_cdrom[k])
		return -ENODEV;
	ref = iso ? disk_ref(iso) : NULL;
	r = ide_channel_change_media(piix4_channel(m->piix4, channel), unit, ref, force, &old);
	if (r < 0) {
		disk_close(ref);
		return r;
	}
	/* old is the reference this machine held (m->ide_disks[k]). */
	disk_close(old);
	m->ide_disks[k] = ref;
	return 0;
}

static int load_kernel(struct guest_memory *mem, struct boot_files *files, const char *cmdline,
		       uint64_t rsdp, struct x86_boot_regs *regs, bool *config_error, char *err,
		       size_t errlen)
{
	struct boot_error berr = {{0}};
	struct kernel_image image;
	void *kernel = NULL, *initrd = NULL;
	size_t kernel_size = 0, initrd_size = 0;
	int r;

	if (files->kernel) {
		/* The first boot uses the copy boot_files_load() checked; later boots read again.
		 */
		kernel = files->kernel;
		kernel_size = files->kernel_size;
		files->kernel = NULL;
		r = 0;
	} else {
		r = read_file("kernel", files->kernel_path, files->kernel_fd, &kernel, &kernel_size,
			      err, errlen);
	}
	if (r == 0 && files->initrd_fd >= 0)
		r = read_file("initrd", files->initrd_path, files->initrd_fd, &initrd, &initrd_size,
			      err, errlen);
	if (r < 0) {
		*config_error = true;
		goto out;
	}
	r = kernel_image_parse(kernel, kernel_size, &image, &berr);
	if (r == 0) {
		const struct linux_boot_config boot = {
			.kernel = &image,
			.initrd = initrd,
			.initrd_size = initrd_size,
			.cmdline = cmdline,
			.rsdp_gpa = rsdp,
		};

		r = linux_boot_setup(mem, &boot, regs, NULL, &berr);
	}
	if (r < 0) {
		/* Too little memory for kernel and initrd, a command line too long: the user's to
		 * fix. */
		*config_error = true;
		snprintf(err, errlen, "%s", berr.msg);
	}
out:
	free_file(kernel, kernel_size);
	free_file(initrd, initrd_size);
	return r;
}

/*
 * A generation 1 VM's SMBIOS (boot/smbios.h): the system Hyper-V's generation 1 guests see, so
 * that Linux's ata_piix leaves the IDE disks to hv_storvsc (they are offered over VMBus too)
 * and keeps the CD-ROMs. The version is not Virtual PC 2007's "VS2005R2", which ata_piix
 * keeps its disks for.
 */
#define GEN1_SMBIOS_GPA UINT64_C(0xFF000) /* in the F segment, where a guest scans for "_SM_" */

static int gen1_smbios(uint64_t table_gpa, uint8_t ep[SMBIOS_ENTRY_POINT_LEN], uint8_t *tables)
{
	static const struct smbios_config sc = {
		.bios_vendor = "Parvis",
		.bios_version = "Parvis generation 1",
		.bios_date = "12/01/2026",
		.manufacturer = "Microsoft Corporation",
		.product = "Virtual Machine",
		.version = "7.0",
		.serial = "Parvis",
	};

	return smbios_build(&sc, table_gpa, ep, tables, SMBIOS_TABLES_MAX);
}

static int load_guest(struct machine *m, const struct vm_config *cfg, struct boot_files *files,
		      bool boot, bool *config_error, char *err, size_t errlen)
{
	uint8_t smbios_ep[SMBIOS_ENTRY_POINT_LEN], smbios_tables[SMBIOS_TABLES_MAX];
	int smbios_len = 0;
	struct guest_memory *mem = partition_memory(m->partition);
	struct acpi_dsdt_contributor dsdt[] = {vmbus_host_dsdt(m->vmbus),
					       {network_legacy_dsdt, m->network}};
	struct acpi_config acpi = {.vcpus = partition_vcpu_count(m->partition),
				   .contributors = dsdt,
				   .ncontributors = ARRAY_SIZE(dsdt)};
	struct boot_error berr = {{0}};
	struct x86_boot_regs regs;
	uint64_t rsdp;
	int r;

	if (cfg->generation == 1) {
		smbios_len = gen1_smbios(GEN1_SMBIOS_GPA + SMBIOS_ENTRY_POINT_LEN + 1, smbios_ep,
					 smbios_tables);
		if (smbios_len < 0) {
			snprintf(err, errlen, "SMBIOS tables: %s", strerror(-smbios_len));
			return smbios_len;
		}
	}
	if (files->bios) {
		struct firmware_config fc = {
			.image = files->bios,
			.size = files->bios_size,
			.vga_rom = files->vga_rom,
			.vga_rom_size = files->vga_rom_size,
			.acpi = &acpi,
			.order = startup_order_effective(&cfg->startup_order),
			.ide_disk = -1,
			.cd = -1,
			.smbios_anchor = smbios_len > 0 ? smbios_ep : NULL,
			.smbios_tables = smbios_tables,
			.smbios_tables_len = (size_t)smbios_len,
			.restore = !boot,
		};

		for (int k = 3; k >= 0; k--) /* the first of each kind, in IDE order */
			if (m->ide_cdrom[k])
				fc.cd = k;
			else if (m->ide_disks[k])
				fc.ide_disk = k;

		*config_error = false;
		return firmware_new(m->partition, &fc, &m->firmware, err, errlen);
	}
	r = acpi_tables_build(mem, &acpi, &rsdp, &berr);
	if (r < 0) {
		snprintf(err, errlen, "ACPI tables: %s", berr.msg);
		return r;
	}
	/* Direct boot: the tables where a BIOS would have put them (e820 reserves the F segment).
	 */
	if (smbios_len > 0 &&
	    (guest_memory_write(mem, GEN1_SMBIOS_GPA, smbios_ep, sizeof(smbios_ep)) < 0 ||
	     guest_memory_write(mem, GEN1_SMBIOS_GPA + SMBIOS_ENTRY_POINT_LEN + 1, smbios_tables,
				(size_t)smbios_len) < 0)) {
		snprintf(err, errlen, "SMBIOS tables: cannot write guest memory");
		return -EIO;
	}
	r = load_kernel(mem, files, cfg->cmdline, rsdp, &regs, config_error, err, errlen);
	if (r < 0)
		return r;
	r = partition_set_boot_regs(m->partition, &regs);
	if (r < 0)
		snprintf(err, errlen, "boot registers: %s", strerror(-r));
	return r;
}

void machine_attach_vga(struct machine *m, struct rfb_server *screen)
{
	/* The BIOS's VGA on the console server until the synthetic video has a mode. */
	if (screen && firmware_vga(m->firmware)) {
		m->screen = screen;
		rfb_server_attach_vga(screen, firmware_vga(m->firmware), m->kbc);
	}
}

/* What machine_build's steps are given. */
struct build_args {
	const struct vm_config *cfg;
	struct boot_files *files;
	bool boot; /* false: a restored machine, its RAM and registers from the saved state */
	struct rfb_server *screen;
	bool *config_error; /* set when the configuration is at fault (exit 1), not the host */
};

static int build_partition(struct machine *m, const struct build_args *a, char *err, size_t errlen)
{
	struct partition_config pcfg = {
		.memory_bytes = a->cfg->memory_bytes,
		.vcpus = a->cfg->cpus,
		.cpu_model = a->cfg->cpu_model,
		.vcpu_thread_init = a->cfg->jail ? sandbox_vcpu_thread_init : NULL,
	};
	int r = partition_new(&pcfg, &m->partition, err, errlen);

	if (r < 0)
		*a->config_error = r == -EINVAL;
	return r;
}

static int build_hv(struct machine *m, const struct build_args *a, char *err, size_t errlen)
{
	int r = hv_new(m->partition, &(struct hv_config){0}, &m->hv);

	(void)a;
	if (r < 0)
		snprintf(err, errlen, "Hyper-V interface: %s", strerror(-r));
	return r;
}

static int build_vmbus(struct machine *m, const struct build_args *a, char *err, size_t errlen)
{
	int r = vmbus_host_new(m->hv, partition_memory(m->partition),
			       partition_vcpu_count(m->partition), &m->vmbus);

	(void)a;
	if (r < 0)
		snprintf(err, errlen, "VMBus: %s", strerror(-r));
	return r;
}

/* The synthetic SCSI disks; generation 1's IDE disks are the PIIX4's (add_ide). */
static int build_storage(struct machine *m, const struct build_args *a, char *err, size_t errlen)
{
	/* The SCSI disks' settings (shallow copies: cfg keeps the strings and references). */
	static __thread struct disk_config scsi[VM_CONFIG_MAX_DISKS];
	const struct vm_config *cfg = a->cfg;
	unsigned i, nscsi = 0;

	for (i = 0; i < cfg->ndisks; i++)
		if (disk_ide_index(cfg, i) < 0)
			scsi[nscsi++] = cfg->disks[i];
	return storage_new(vmbus_host_server(m->vmbus), partition_memory(m->partition),
			   partition_vcpu_count(m->partition), scsi, nscsi,
			   (const char *const *)cfg->storage_dirs, &m->storage, a->config_error,
			   err, errlen);
}

static int build_network(struct machine *m, const struct build_args *a, char *err, size_t errlen)
{
	return network_new(vmbus_host_server(m->vmbus), partition_memory(m->partition),
			   partition_vcpu_count(m->partition), a->cfg->nics, a->cfg->nnics,
			   &m->network, err, errlen);
}

static int build_legacy_devices(struct machine *m, const struct build_args *a, char *err,
				size_t errlen)
{
	return add_devices(m, a->cfg->generation, err, errlen);
}

static int build_ide(struct machine *m, const struct build_args *a, char *err, size_t errlen)
{
	return add_ide(m, a->cfg, err, errlen);
}

/*
 * Generation 1's legacy network adapters: PCI devices on the same TAPs (network.h). For a
 * restore (!boot) quiesced until the partition runs with their state (machine_state.c).
 */
static int build_legacy_nics(struct machine *m, const struct build_args *a, char *err,
			     size_t errlen)
{
	return network_attach_legacy(m->network, m->pci, m->partition, a->cfg->nics, a->cfg->nnics,
				     !a->boot, err, errlen);
}

static int build_console(struct machine *m, const struct build_args *a, char *err, size_t errlen)
{
	int r = vmconnect_new(m->partition, m->pci, m->vmbus, a->screen, &m->vmconnect);

	if (r < 0)
		snprintf(err, errlen, "console devices (video, keyboard, mouse): %s", strerror(-r));
	return r;
}

/*
 * The guest's boot: firmware, ACPI tables and kernel. A restored machine gets RAM and
 * registers from the saved state (machine_state.c); one started from its BIOS gets its
 * firmware's devices again, which write nothing into RAM.
 */
static int build_guest(struct machine *m, const struct build_args *a, char *err, size_t errlen)
{
	if (!a->boot && !a->files->bios)
		return 0;
	return load_guest(m, a->cfg, a->files, a->boot, a->config_error, err, errlen);
}

enum {
	FOR_GEN1 = 1u << 1,
	FOR_GEN2 = 1u << 2,
	FOR_ALL = FOR_GEN1 | FOR_GEN2,
	WITH_VIDEO = 1u << 3, /* unless --no-video */
};

/* A machine's parts, in the order they are made (machine_free undoes them in reverse). */
static const struct build_step {
	const char *name;
	unsigned when;
	int (*build)(struct machine *m, const struct build_args *a, char *err, size_t errlen);
} build_steps[] = {
	{"partition", FOR_ALL, build_partition},
	{"Hyper-V interface", FOR_ALL, build_hv},
	{"VMBus", FOR_ALL, build_vmbus},
	{"storage", FOR_ALL, build_storage},
	{"network", FOR_ALL, build_network},
	{"legacy devices", FOR_ALL, build_legacy_devices},
	{"IDE", FOR_GEN1, build_ide},
	{"legacy network adapters", FOR_GEN1, build_legacy_nics},
	{"console devices", FOR_ALL | WITH_VIDEO, build_console},
	{"guest", FOR_ALL, build_guest},
};

static bool step_applies(const struct build_step *st, const struct vm_config *cfg)
{
	if (!(st->when & (cfg->generation == 1 ? FOR_GEN1 : FOR_GEN2)))
		return false;
	return !(st->when & WITH_VIDEO) || !cfg->no_video;
}

int machine_build(const struct vm_config *cfg, struct boot_files *files, bool boot,
		  struct console *com1, struct console *com2, struct rfb_server *screen,
		  struct machine **ret, bool *config_error, char *err, size_t errlen)
{
	const struct build_args a = {cfg, files, boot, screen, config_error};
	struct machine *m;
	size_t i;
	int r = 0;

	*config_error = false;
	if (errlen)
		err[0] = '\0';
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->com1_console = com1;
	m->com2_console = com2;
	for (i = 0; r == 0 && i < ARRAY_SIZE(build_steps); i++)
		if (step_applies(&build_steps[i], cfg))
			r = build_steps[i].build(m, &a, err, errlen);
	if (r < 0) {
		if (errlen && !err[0]) /* a step that said nothing: name it */
			snprintf(err, errlen, "%s: %s", build_steps[i - 1].name, strerror(-r));
		machine_free(m);
		return r;
	}
	/* A restored machine's VGA is shown once its state is loaded (machine_attach_vga). */
	if (boot)
		machine_attach_vga(m, screen);
	*ret = m;
	return 0;
}

int machine_new(const struct vm_config *cfg, struct boot_files *files, struct console *com1,
		struct console *com2, struct rfb_server *screen, struct machine **ret,
		bool *config_error, char *err, size_t errlen)
{
	return machine_build(cfg, files, true, com1, com2, screen, ret, config_error, err, errlen);
}

struct machine *machine_free(struct machine *m)
{
	if (!m)
		return NULL;
	/* vCPUs first, so no device callback runs while devices go away. */
	if (m->partition)
		partition_request_stop(m->partition, PARTITION_STOP_REQUESTED);
	if (m->com1_console)
		console_attach(m->com1_console, NULL);
	if (m->com2_console)
		console_attach(m->com2_console, NULL);
	if (m->partition)
		partition_stop_and_join(m->partition);
	if (m->screen)
		rfb_server_attach_vga(m->screen, NULL, NULL); /* before the VGA and the i8042 go */
	vmconnect_free(m->vmconnect);
	network_detach_legacy(m->network); /* PCI devices: before the PCI host */
	firmware_free(m->firmware);
	piix4_free(m->piix4);
	for (unsigned k = 0; k < 4; k++)
		disk_close(m->ide_disks[k]);
	post_port_free(m->post);
	acpi_pm_free(m->pm);
	pci_host_free(m->pci);
	cmos_rtc_free(m->rtc);
	i8042_free(m->kbc);
	uart16550_free(m->com2);
	uart16550_free(m->com1);
	network_free(m->network);
	storage_free(m->storage);
	vmbus_host_free(m->vmbus);
	hv_free(m->hv);
	partition_free(m->partition);
	free(m);
	return NULL;
}

struct partition *machine_partition(struct machine *m)
{
	return m->partition;
}

struct hv *machine_hv(struct machine *m)
{
	return m->hv;
}

struct vmbus_host *machine_vmbus(struct machine *m)
{
	return m->vmbus;
}

struct storage *machine_storage(struct machine *m)
{
	return m->storage;
}

struct network *machine_network(struct machine *m)
{
	return m->network;
}

struct vmconnect *machine_vmconnect(struct machine *m)
{
	return m->vmconnect;
}

struct json_object *machine_ide_status_json(struct machine *m)
{
	struct json_object *a;

	if (!m->piix4)
		return NULL;
	a = json_object_new_array();
	for (unsigned i = 0; a && i < 2; i++) {
		struct json_object *o = json_object_new_object();
		struct ide_stats st;

		if (!o)
			break;
		ide_channel_get_stats(piix4_channel(m->piix4, i), &st);
#define ADD(name) json_object_object_add(o, #name, json_object_new_int64((int64_t)st.name))
		ADD(commands);
		ADD(aborted);
		ADD(sectors_read);
		ADD(sectors_written);
		ADD(dma_transfers);
		ADD(dma_errors);
		ADD(io_errors);
		ADD(guest_errors);
#undef ADD
		json_object_array_add(a, o);
	}
	return a;
}

struct vga *machine_vga(struct machine *m)
{
	return firmware_vga(m->firmware);
}

void machine_press_power_button(struct machine *m)
{
	acpi_pm_power_button(m->pm);
}
