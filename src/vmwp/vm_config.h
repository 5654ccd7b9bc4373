/*
 * A worker's VM configuration: from the command line, from a JSON file
 * (--config), or both (command-line settings override the file's). The
 * JSON keys are the long option names; see docs/vmwp.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/compiler.h"
#include "vmwp/disk_config.h"
#include "vmwp/nic_config.h"
#include "vmwp/startup_order.h"

enum serial_backend {
	SERIAL_NONE,
	SERIAL_STDIO,  /* output to stdout, input from stdin */
	SERIAL_FILE,   /* output appended to a file, no input */
	SERIAL_SOCKET, /* a Unix socket one client at a time attaches to; output also logged */
};

struct serial_config {
	enum serial_backend backend;
	char *path;	/* SERIAL_FILE, SERIAL_SOCKET */
	char *log_path; /* SERIAL_SOCKET: everything the guest writes is appended here, or NULL */
	/*
	 * SERIAL_FILE's file and SERIAL_SOCKET's log: past this many bytes the file is renamed
	 * to "<path>.1" (replacing the previous one) and started again, so that a guest
	 * writing for ever uses at most twice this on the host. 0: SERIAL_LOG_MAX_DEFAULT.
	 */
	uint64_t log_max_bytes;
};
#define SERIAL_LOG_MAX_DEFAULT (UINT64_C(16) << 20)

#define VM_CONFIG_MAX_STORAGE_DIRS 16

struct vm_config {
	char *kernel;
	char *initrd;
	/*
	 * "kernel-fd", "initrd-fd": the files opened by parvis-vmms and inherited at start
	 * (the worker then opens neither path; kernel and initrd only name them in messages).
	 * -1: open the paths. The worker owns them (main.c), not the parser.
	 */
	int kernel_fd, initrd_fd;
	char *cmdline;
	uint64_t memory_bytes;
	unsigned cpus;
	char *cpu_model; /* "cpu-model": a name of cpu_model_names, NULL for "host" (docs/cpu.md) */
	struct serial_config com1;
	struct serial_config com2;
	bool no_reboot;
	unsigned shutdown_timeout_s; /* after SIGTERM, before turning off */
	char *exit_stats_path;	     /* write exit counters as JSON here at exit (benchmarks) */
	char *control_path;	/* Unix socket of the control protocol (docs/control.md), or NULL */
	char *exit_status_path; /* the exit status is written here before exiting, or NULL */
	struct disk_config disks[VM_CONFIG_MAX_DISKS]; /* "disks", then each --disk */
	unsigned ndisks;
	struct nic_config nics[VM_CONFIG_MAX_NICS]; /* "nics", then each --nic */
	unsigned nnics;
	/*
	 * "storage-dirs" / --storage-dir DIR (repeatable): where a differencing disk's parents
	 * may be besides the child's own directory (docs/disks.md). NULL-terminated.
	 */
	char *storage_dirs[VM_CONFIG_MAX_STORAGE_DIRS + 1];
	unsigned nstorage_dirs;
	/* "jail" / --jail UID[:GID]: run jailed as that uid and gid (docs/security.md). */
	bool jail;
	uint32_t jail_uid, jail_gid;
	/* "jail-mntns-fd": parvis-vmms's mount namespace template (sandbox.h); -1: none. */
	int jail_mntns_fd;
	/*
	 * The VM's screen, keyboard and mouse (docs/console.md): the synthetic video, keyboard
	 * and mouse, on unless "video": false / --no-video; their console server's RFB
	 * listeners: "vnc" / --vnc PATH, a Unix socket (no password: its permissions are the
	 * access control), and "vnc-tcp" / --vnc-tcp [HOST:]PORT, TCP with VNC authentication
	 * by the password in "vnc-password-file" / --vnc-password-file FILE (read at start).
	 * "vnc-tcp-fd" / --vnc-tcp-fd N: an inherited listening socket instead (the service
	 * makes it in the host's network namespace for a jailed worker).
	 */
	bool no_video;
	char *vnc_path;
	char *vnc_tcp;
	int vnc_tcp_fd; /* -1: none */
	char *vnc_password_file;
	/*
	 * "generation" / --generation 1|2 (docs/generation1.md): 2 (the default) is the
	 * synthetic-only machine; 1 adds the PIIX4 IDE controller. IDE disks are those with
	 * "ide" (disk_config.h); when no disk says so, the first disk goes on IDE 0:0 instead
	 * of SCSI (as Hyper-V puts a boot disk). The CD-ROM drives: "dvd" / --dvd FILE (an ISO
	 * image, read-only) on IDE 1:0, and "dvds" [{"path", "fd", "controller", "lun"}], each
	 * at channel "controller", unit "lun", without "path" an empty drive (the control
	 * command "dvd-set" changes its media, docs/control.md).
	 */
	unsigned generation;
	struct disk_config dvds[IDE_CHANNELS * IDE_UNITS]; /* path NULL: no media */
	unsigned ndvds;
	/*
	 * "restore" / --restore FILE: resume the guest from this saved state instead of booting
	 * it (docs/saved-state.md); the file must match this configuration. "state-dir" /
	 * --state-dir DIR: where the control command "save" may write (opened at start, so that
	 * a jailed worker, which reaches no path, can save into it).
	 */
	char *restore_path;
	char *state_dir;
	/*
	 * "restore-ram" / --restore-ram lazy|eager: lazy (the default) runs the guest before its
	 * RAM is read, serving first touches through userfaultfd (src/state/state_lazy.h); eager
	 * reads all of RAM first. Lazy falls back to eager, saying why, where the host has no
	 * userfaultfd for it.
	 */
	bool restore_ram_eager;
	/*
	 * "incoming" / --incoming FD|PATH: the destination of a live migration
	 * (docs/migration.md): the guest comes from the migration stream on that
	 * inherited socket, or on the first connection to the Unix socket PATH.
	 */
	char *incoming;
	/*
	 * Generation 1 without a kernel boots through a BIOS (docs/generation1.md): "bios" /
	 * --bios FILE, default VM_CONFIG_DEFAULT_BIOS; "startup-order" / --startup-order
	 * IDE,CD,LegacyNetworkAdapter,Floppy (set-vmbios), the devices it tries in order.
	 */
	char *bios;
	struct startup_order startup_order;
	/* Report modes: print JSON and exit without running a VM. */
	bool print_host_cpu;	/* --host-cpu: what this host offers (get-vmhostprocessor) */
	bool print_cpu;		/* --print-cpu: the processor --cpus/--cpu-model would give */
	bool print_disk_parent; /* --disk-parent: the parent locator of the disk on stdin */
};

#define VM_CONFIG_DEFAULT_BIOS		     "/usr/share/seabios/bios-256k.bin"
#define VM_CONFIG_DEFAULT_VGA_BIOS	     "/usr/share/seabios/vgabios-stdvga.bin"
#define VM_CONFIG_DEFAULT_MEMORY	     (256 * MiB)
#define VM_CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_S 30

void vm_config_init(struct vm_config *cfg);
void vm_config_fini(struct vm_config *cfg);

/*
 * Parses argv. On a usage error, returns -EINVAL with a message naming the
 * option in err. Returns 1 if --help or --version was handled (exit 0).
 */
int vm_config_parse_args(struct vm_config *cfg, int argc, char **argv, char *err,
			 size_t errlen) must_check;
/* Loads a JSON config file over cfg. -errno with a message in err. */
int vm_config_load_json(struct vm_config *cfg, const char *path, char *err,
			size_t errlen) must_check;
/* Parses JSON text (the file's contents); used by the loader and the fuzzer. */
int vm_config_parse_json(struct vm_config *cfg, const char *text, size_t len, char *err,
			 size_t errlen) must_check;
/* Checks the whole configuration (kernel set, sizes sane). */
int vm_config_validate(const struct vm_config *cfg, char *err, size_t errlen) must_check;
/* Parses "stdio", "none", "file:PATH", "socket:PATH[,log=FILE]". */
int serial_config_parse(struct serial_config *sc, const char *s) must_check;
/* Parses "UID[:GID]" (GID defaults to UID), both in 1..2^32-2. */
int vm_config_parse_jail(struct vm_config *cfg, const char *s) must_check;

void vm_config_usage(FILE *out);
