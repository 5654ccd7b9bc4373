/*
 * The inside of a machine, for the files of src/vmwp/ that walk its
 * devices (machine.c builds it, machine_state.c saves and restores it).
 */
#pragma once

#include <stdbool.h>

#include "vmwp/machine.h"

struct machine {
	struct partition *partition;
	struct hv *hv;
	struct vmbus_host *vmbus; /* VMBus and the integration services */
	struct storage *storage;  /* synthetic SCSI controllers and their disks */
	struct network *network;  /* synthetic network adapters */
	struct console *com1_console, *com2_console;
	struct uart16550 *com1, *com2;
	struct i8042 *kbc;
	struct cmos_rtc *rtc;
	struct pci_host *pci;
	struct acpi_pm *pm;
	struct post_port *post;
	struct vmconnect *vmconnect; /* screen, keyboard, mouse; NULL with --no-video */
	struct piix4 *piix4;	     /* generation 1: the IDE controller; NULL for generation 2 */
	/* References on the IDE drives, at channel * 2 + unit (disks and CD-ROMs' media). */
	struct disk *ide_disks[4];
	bool ide_cdrom[4];
	struct firmware *firmware; /* generation 1 without a kernel: the BIOS; else NULL */
	struct rfb_server *screen; /* the console server showing this machine's VGA, or NULL */
};

/*
 * machine_new, and with boot false the same machine without ACPI tables,
 * kernel and boot registers: what a restore loads its saved state into.
 */
int machine_build(const struct vm_config *cfg, struct boot_files *files, bool boot,
		  struct console *com1, struct console *com2, struct rfb_server *screen,
		  struct machine **ret, bool *config_error, char *err, size_t errlen) must_check;

/*
 * Shows m's VGA (if it has one) on screen (may be NULL). A booted machine's at once
 * (machine_build); a restored one's after its sections are loaded: the console server reads the
 * VGA's window in guest RAM, and a page read before a lazy restore's userfaultfd is registered
 * would be made present (zero) in the memfd, where the restore's prefetch never replaces it.
 */
void machine_attach_vga(struct machine *m, struct rfb_server *screen);
