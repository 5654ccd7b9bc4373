/*
 * A machine: one partition with its devices, its ACPI tables and a loaded
 * kernel, ready to run. The worker builds a new machine for every (re)boot,
 * so a reset is exactly a fresh power-on.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "hv/hv.h"
#include "vid/partition.h"
#include "vmwp/console.h"
#include "vmwp/network.h"
#include "vmwp/storage.h"
#include "vmwp/vm_config.h"
#include "vmwp/rfb_server.h"
#include "vmwp/vmbus_host.h"

struct disk;
struct machine;

/*
 * The boot files, opened once per worker run and read again at every boot
 * (a reboot of a PC reads its boot files again too). Keeping the files
 * open, not mapped, means a file truncated or replaced while the VM runs
 * is at worst a clean error at the next boot, never a SIGBUS, and their
 * bytes are not resident in the worker between boots.
 */
struct boot_files {
	const char *kernel_path, *initrd_path;
	int kernel_fd, initrd_fd; /* -1 if none */
	void *kernel;		  /* the kernel as checked at start, until the first boot uses it */
	size_t kernel_size;
	void *bios; /* no kernel (generation 1): the BIOS image, read at start; else NULL */
	size_t bios_size;
	void *vga_rom; /* with the BIOS and video: the VGA BIOS (NULL if none) */
	size_t vga_rom_size;
};

/*
 * Opens the kernel (and initrd) and checks the kernel, or without a kernel reads the BIOS
 * image: -errno with a message naming the file.
 */
int boot_files_load(const struct vm_config *cfg, struct boot_files *files, char *err,
		    size_t errlen) must_check;
void boot_files_release(struct boot_files *files);

/*
 * Builds the partition and its devices and loads the kernel. On failure
 * *config_error tells whether it was the configuration's fault (exit 1)
 * or the host's (exit 2); err names the problem.
 */
int machine_new(const struct vm_config *cfg, struct boot_files *files, struct console *com1,
		struct console *com2, struct rfb_server *screen, struct machine **ret,
		bool *config_error, char *err, size_t errlen) must_check;
struct machine *machine_free(struct machine *m);

struct partition *machine_partition(struct machine *m);
/* The partition's Hyper-V interface (every machine is a Hyper-V child partition). */
struct hv *machine_hv(struct machine *m);
/* VMBus and the integration services. */
struct vmbus_host *machine_vmbus(struct machine *m);
/* Presses the ACPI power button (the guest decides what to do). */
struct storage *machine_storage(struct machine *m);
/*
 * Generation 1: the media of the CD-ROM at IDE channel, unit (iso NULL ejects; the machine
 * takes its own reference). The guest sees UNIT ATTENTION. -ENODEV: no CD-ROM there;
 * -EBUSY: the guest locked the tray and force is false.
 */
int machine_ide_change_media(struct machine *m, unsigned channel, unsigned unit, struct disk *iso,
			     bool force) must_check;
/* The synthetic network adapters. */
struct network *machine_network(struct machine *m);
/* The console devices (NULL with --no-video). */
struct vmconnect *machine_vmconnect(struct machine *m);

void machine_press_power_button(struct machine *m);
/* A BIOS-booted generation 1 VM's VGA, or NULL. */
struct json_object;
/* Generation 1: the IDE channels' counters (commands, sectors, DMA runs, errors); else NULL. */
struct json_object *machine_ide_status_json(struct machine *m);
struct vga *machine_vga(struct machine *m);
