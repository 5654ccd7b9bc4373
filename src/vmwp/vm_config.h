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
};

struct vm_config {
	char *kernel;
	char *initrd;
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
	/* "jail" / --jail UID[:GID]: run jailed as that uid and gid (docs/security.md). */
	bool jail;
	uint32_t jail_uid, jail_gid;
	/* Report modes: print JSON and exit without running a VM. */
	bool print_host_cpu; /* --host-cpu: what this host offers (get-vmhostprocessor) */
	bool print_cpu;	     /* --print-cpu: the processor --cpus/--cpu-model would give */
};

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
