/* The worker's configuration: command line and JSON file; see vm_config.h. */
#include "vmwp/vm_config.h"

#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/compiler.h"
#include "base/size.h"

/* A config file larger than this is not a config file. */
#define CONFIG_FILE_MAX (1 * MiB)
#define CMDLINE_MAX	4096

void vm_config_init(struct vm_config *cfg)
{
	*cfg = (struct vm_config){
		.memory_bytes = VM_CONFIG_DEFAULT_MEMORY,
		.cpus = 1,
		.com1 = {.backend = SERIAL_STDIO},
		.com2 = {.backend = SERIAL_NONE},
		.shutdown_timeout_s = VM_CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_S,
		.kernel_fd = -1,
		.initrd_fd = -1,
		.jail_mntns_fd = -1,
		.vnc_tcp_fd = -1,
		.generation = 2,
	};
}

void vm_config_fini(struct vm_config *cfg)
{
	free(cfg->kernel);
	free(cfg->bios);
	free(cfg->initrd);
	free(cfg->cmdline);
	free(cfg->cpu_model);
	for (unsigned i = 0; i < cfg->nstorage_dirs; i++)
		free(cfg->storage_dirs[i]);
	free(cfg->com1.path);
	free(cfg->com2.path);
	free(cfg->com1.log_path);
	free(cfg->com2.log_path);
	free(cfg->exit_status_path);
	free(cfg->exit_stats_path);
	free(cfg->control_path);
	free(cfg->vnc_path);
	free(cfg->vnc_tcp);
	free(cfg->vnc_password_file);
	free(cfg->restore_path);
	free(cfg->state_dir);
	free(cfg->incoming);
	for (unsigned i = 0; i < cfg->ndisks; i++)
		disk_config_fini(&cfg->disks[i]);
	for (unsigned i = 0; i < cfg->nnics; i++)
		nic_config_fini(&cfg->nics[i]);
	for (unsigned i = 0; i < cfg->ndvds; i++)
		disk_config_fini(&cfg->dvds[i]);
	vm_config_init(cfg);
}

static int set_string(char **field, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

/*
 * The settings that are one string, kept as given: the same name as an option (--NAME) and
 * as a key of the JSON file (docs/vmwp.md).
 */
static const struct string_setting {
	const char *name;
	size_t offset; /* of the char * in struct vm_config */
} string_settings[] = {
	{"kernel", offsetof(struct vm_config, kernel)},
	{"initrd", offsetof(struct vm_config, initrd)},
	{"cmdline", offsetof(struct vm_config, cmdline)},
	{"cpu-model", offsetof(struct vm_config, cpu_model)},
	{"exit-stats", offsetof(struct vm_config, exit_stats_path)},
	{"restore", offsetof(struct vm_config, restore_path)},
	{"incoming", offsetof(struct vm_config, incoming)},
	{"state-dir", offsetof(struct vm_config, state_dir)},
	{"bios", offsetof(struct vm_config, bios)},
	{"vnc", offsetof(struct vm_config, vnc_path)},
	{"vnc-tcp", offsetof(struct vm_config, vnc_tcp)},
	{"vnc-password-file", offsetof(struct vm_config, vnc_password_file)},
	{"control", offsetof(struct vm_config, control_path)},
	{"exit-status-file", offsetof(struct vm_config, exit_status_path)},
};

/* The string setting called name, or NULL. */
static char **string_setting(struct vm_config *cfg, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(string_settings); i++)
		if (!strcmp(string_settings[i].name, name))
			return (char **)((char *)cfg + string_settings[i].offset);
	return NULL;
}

/* The JSON file's descriptor settings (a service hands them to a jailed worker). */
static const struct fd_setting {
	const char *name;
	size_t offset; /* of the int in struct vm_config */
} fd_settings[] = {
	{"kernel-fd", offsetof(struct vm_config, kernel_fd)},
	{"initrd-fd", offsetof(struct vm_config, initrd_fd)},
	{"jail-mntns-fd", offsetof(struct vm_config, jail_mntns_fd)},
	{"vnc-tcp-fd", offsetof(struct vm_config, vnc_tcp_fd)},
};

static int *fd_setting(struct vm_config *cfg, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fd_settings); i++)
		if (!strcmp(fd_settings[i].name, name))
			return (int *)(void *)((char *)cfg + fd_settings[i].offset);
	return NULL;
}

int serial_config_parse(struct serial_config *sc, const char *s)
{
	if (!strcmp(s, "stdio")) {
		sc->backend = SERIAL_STDIO;
		return 0;
	}
	if (!strcmp(s, "none")) {
		sc->backend = SERIAL_NONE;
		return 0;
	}
	if (!strncmp(s, "file:", 5) && s[5]) {
		sc->backend = SERIAL_FILE;
		return set_string(&sc->path, s + 5);
	}
	if (!strncmp(s, "socket:", 7) && s[7] && s[7] != ',') {
		const char *comma = strchr(s + 7, ',');
		char *path;

		if (comma && (strncmp(comma, ",log=", 5) || !comma[5]))
			return -EINVAL;
		path = strndup(s + 7, comma ? (size_t)(comma - s - 7) : strlen(s + 7));
		if (!path)
			return -ENOMEM;
		free(sc->path);
		sc->path = path;
		sc->backend = SERIAL_SOCKET;
		free(sc->log_path);
		sc->log_path = NULL;
		return comma ? set_string(&sc->log_path, comma + 5) : 0;
	}
	return -EINVAL;
}

static int parse_memory(const char *s, uint64_t *ret)
{
	/* A bare number means MiB, as in other VMMs' --memory. */
	return size_parse(s, MiB, ret);
}

static int parse_cpus(const char *s, unsigned *ret)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || n > 65535 || s[0] == '-')
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

enum {
	OPT_NO_REBOOT = 0x100,
	OPT_COM2,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_EXIT_STATS,
	OPT_CONTROL,
	OPT_EXIT_STATUS_FILE,
	OPT_VERSION,
	OPT_DISK,
	OPT_NIC,
	OPT_CPU_MODEL,
	OPT_HOST_CPU,
	OPT_PRINT_CPU,
	OPT_DISK_PARENT,
	OPT_JAIL,
	OPT_STORAGE_DIR,
	OPT_NO_VIDEO,
	OPT_VNC,
	OPT_VNC_TCP,
	OPT_VNC_TCP_FD,
	OPT_VNC_PASSWORD_FILE,
	OPT_GENERATION,
	OPT_DVD,
	OPT_RESTORE,
	OPT_STATE_DIR,
	OPT_RESTORE_RAM,
	OPT_INCOMING,
	OPT_BIOS,
	OPT_STARTUP_ORDER,
};

static int set_generation(struct vm_config *cfg, long long n, char *err, size_t errlen)
{
	if (n != 1 && n != 2) {
		snprintf(err, errlen, "generation: %lld is not 1 or 2", n);
		return -EINVAL;
	}
	cfg->generation = (unsigned)n;
	return 0;
}

/* --dvd FILE / "dvd": the ISO on IDE 1:0, replacing a drive there. */
static int set_dvd(struct vm_config *cfg, const char *path)
{
	struct disk_config *d = NULL;
	unsigned i;

	for (i = 0; i < cfg->ndvds && !d; i++)
		if (cfg->dvds[i].controller == 1 && cfg->dvds[i].lun == 0)
			d = &cfg->dvds[i];
	if (!d) {
		if (cfg->ndvds == IDE_CHANNELS * IDE_UNITS)
			return -ENOSPC;
		d = &cfg->dvds[cfg->ndvds++];
	}
	disk_config_fini(d);
	*d = (struct disk_config)DISK_CONFIG_INIT;
	d->path = strdup(path);
	d->read_only = d->ide = true;
	d->controller = 1;
	d->lun = 0;
	return d->path ? 0 : -ENOMEM;
}

/* One element of "dvds": {"controller": C, "lun": U[, "path": ISO[, "fd": N]]}. */
static int add_dvd_json(struct vm_config *cfg, struct json_object *o, char *err, size_t errlen)
{
	struct disk_config d = DISK_CONFIG_INIT;

	if (cfg->ndvds == IDE_CHANNELS * IDE_UNITS || !json_object_is_type(o, json_type_object))
		goto bad;
	d.ide = d.read_only = true;
	json_object_object_foreach(o, key, v)
	{
		enum json_type t = json_object_get_type(v);
		int64_t n = json_object_get_int64(v);

		if (!strcmp(key, "path") && t == json_type_string && !d.path) {
			d.path = strdup(json_object_get_string(v));
			if (!d.path)
				return -ENOMEM;
		} else if (!strcmp(key, "controller") && t == json_type_int && n >= 0 &&
			   n < IDE_CHANNELS) {
			d.controller = (unsigned)n;
		} else if (!strcmp(key, "lun") && t == json_type_int && n >= 0 && n < IDE_UNITS) {
			d.lun = (int)n;
		} else if (!strcmp(key, "fd") && t == json_type_int && n >= 0 && n < INT32_MAX) {
			d.fd = (int)n;
		} else {
			goto bad;
		}
	}
	if (d.lun < 0 || (d.fd >= 0 && !d.path))
		goto bad;
	cfg->dvds[cfg->ndvds++] = d;
	return 0;
bad:
	disk_config_fini(&d);
	snprintf(err, errlen,
		 "\"dvds\": each drive is {\"controller\": 0|1, \"lun\": 0|1} with an optional "
		 "\"path\" (and \"fd\"), at most %u",
		 IDE_CHANNELS * IDE_UNITS);
	return -EINVAL;
}

/* One more directory where parents of differencing disks may be; absolute paths only. */
static int add_storage_dir(struct vm_config *cfg, const char *dir, char *err, size_t errlen)
{
	if (dir[0] != '/') {
		snprintf(err, errlen, "storage directory '%s': give an absolute path", dir);
		return -EINVAL;
	}
	if (cfg->nstorage_dirs == VM_CONFIG_MAX_STORAGE_DIRS) {
		snprintf(err, errlen, "more than %u storage directories",
			 VM_CONFIG_MAX_STORAGE_DIRS);
		return -EINVAL;
	}
	cfg->storage_dirs[cfg->nstorage_dirs] = strdup(dir);
	if (!cfg->storage_dirs[cfg->nstorage_dirs]) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cfg->storage_dirs[++cfg->nstorage_dirs] = NULL;
	return 0;
}

static const struct option long_options[] = {
	{"kernel", required_argument, NULL, 'k'},
	{"initrd", required_argument, NULL, 'i'},
	{"cmdline", required_argument, NULL, 'a'},
	{"memory", required_argument, NULL, 'm'},
	{"cpus", required_argument, NULL, 'c'},
	{"cpu-model", required_argument, NULL, OPT_CPU_MODEL},
	{"host-cpu", no_argument, NULL, OPT_HOST_CPU},
	{"print-cpu", no_argument, NULL, OPT_PRINT_CPU},
	{"disk-parent", no_argument, NULL, OPT_DISK_PARENT},
	{"serial", required_argument, NULL, 's'},
	{"com2", required_argument, NULL, OPT_COM2},
	{"config", required_argument, NULL, 'f'},
	{"no-reboot", no_argument, NULL, OPT_NO_REBOOT},
	{"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
	{"exit-stats", required_argument, NULL, OPT_EXIT_STATS},
	{"control", required_argument, NULL, OPT_CONTROL},
	{"disk", required_argument, NULL, OPT_DISK},
	{"generation", required_argument, NULL, OPT_GENERATION},
	{"dvd", required_argument, NULL, OPT_DVD},
	{"restore", required_argument, NULL, OPT_RESTORE},
	{"incoming", required_argument, NULL, OPT_INCOMING},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"restore-ram", required_argument, NULL, OPT_RESTORE_RAM},
	{"bios", required_argument, NULL, OPT_BIOS},
	{"startup-order", required_argument, NULL, OPT_STARTUP_ORDER},
	{"nic", required_argument, NULL, OPT_NIC},
	{"exit-status-file", required_argument, NULL, OPT_EXIT_STATUS_FILE},
	{"jail", required_argument, NULL, OPT_JAIL},
	{"storage-dir", required_argument, NULL, OPT_STORAGE_DIR},
	{"no-video", no_argument, NULL, OPT_NO_VIDEO},
	{"vnc", required_argument, NULL, OPT_VNC},
	{"vnc-tcp", required_argument, NULL, OPT_VNC_TCP},
	{"vnc-tcp-fd", required_argument, NULL, OPT_VNC_TCP_FD},
	{"vnc-password-file", required_argument, NULL, OPT_VNC_PASSWORD_FILE},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{0},
};

static int set_restore_ram(struct vm_config *cfg, const char *s, char *err, size_t errlen)
{
	if (strcmp(s, "lazy") && strcmp(s, "eager")) {
		snprintf(err, errlen, "restore-ram: '%s' is not lazy or eager", s);
		return -EINVAL;
	}
	cfg->restore_ram_eager = s[0] == 'e';
	return 0;
}

static int parse_id(const char *s, char **end, uint32_t *ret)
{
	unsigned long long v;

	if (*s < '1' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, end, 10);
	if (errno || v == 0 || v >= UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int vm_config_parse_jail(struct vm_config *cfg, const char *s)
{
	uint32_t uid, gid;
	char *end;

	if (parse_id(s, &end, &uid) < 0)
		return -EINVAL;
	gid = uid;
	if (*end == ':' && parse_id(end + 1, &end, &gid) < 0)
		return -EINVAL;
	if (*end)
		return -EINVAL;
	cfg->jail = true;
	cfg->jail_uid = uid;
	cfg->jail_gid = gid;
	return 0;
}

void vm_config_usage(FILE *out)
{
	fputs("Usage: parvis-vmwp --kernel FILE [--initrd FILE] [--cmdline STR] [--memory SIZE]\n"
	      "                   [--cpus N] [--serial stdio|file:PATH|socket:PATH|none]\n"
	      "                   [--com2 ...] [--no-reboot] [--shutdown-timeout SECONDS]\n"
	      "                   [--control PATH] [--exit-status-file FILE] [--jail UID[:GID]]\n"
	      "                   [--disk FILE[,readonly][,controller=N][,lun=N]]... [--config "
	      "FILE]\n"
	      "\n"
	      "Runs one VM (a child partition) until it powers off.\n"
	      "\n"
	      "  -k, --kernel FILE     Linux kernel: ELF vmlinux or bzImage\n"
	      "  -i, --initrd FILE     initial ramdisk\n"
	      "  -a, --cmdline STR     kernel command line\n"
	      "  -m, --memory SIZE     guest RAM, e.g. 512M or 2G (bare number: MiB; default "
	      "256M)\n"
	      "  -c, --cpus N          virtual processors (default 1)\n"
	      "      --cpu-model NAME  host (default), baseline, baseline-intel or baseline-amd\n"
	      "                        (baseline: processor compatibility for migration)\n"
	      "      --print-cpu       print the processor the guest would get (JSON) and exit\n"
	      "      --host-cpu        print what this host's KVM offers (JSON) and exit\n"
	      "      --disk-parent     print the parent locator of the disk open on stdin (JSON)\n"
	      "                        and exit (parvis-vmms resolves differencing chains so)\n"
	      "  -s, --serial BACKEND  COM1 (the console): stdio (default), file:PATH, none, or\n"
	      "                        socket:PATH[,log=FILE] (one client at a time attaches)\n"
	      "      --com2 BACKEND    COM2: none (default), stdio or file:PATH\n"
	      "      --no-reboot       exit (status 0) when the guest reboots, instead of "
	      "restarting it\n"
	      "      --shutdown-timeout S  after SIGTERM, seconds to wait for the guest (default "
	      "30)\n"
	      "      --control PATH    Unix socket for status, shutdown, restart, KVP "
	      "(docs/control.md)\n"
	      "      --storage-dir DIR  where differencing disks' parents may be, besides the\n"
	      "                        child's own directory (repeatable)\n"
	      "      --disk FILE[,readonly][,controller=N][,lun=N][,ide=C:U]  a virtual disk (raw\n"
	      "                        or VHDX, detected from the contents) on synthetic SCSI\n"
	      "                        controller N (default 0) at LUN N (default: the next\n"
	      "                        free), or generation 1's IDE channel C, unit U; repeatable\n"
	      "      --nic "
	      "tap=NAME[,mac=MAC][,id=ID][,queues=N][,mac-spoofing=on|off][,legacy=on]\n"
	      "            [,connected=on|off]  a synthetic network adapter on TAP NAME (attached\n"
	      "                        to, or created); or fd=N[:N2...],mac=MAC,id=ID: inherited\n"
	      "                        TAP queue fds (docs/network.md); repeatable\n"
	      "      --exit-status-file FILE  write the exit status there before exiting\n"
	      "      --jail UID[:GID]  run jailed as that uid/gid: own namespaces, empty root,\n"
	      "                        no capabilities, seccomp (docs/security.md; needs root)\n"
	      "      --no-video        no synthetic video, keyboard or mouse (no screen)\n"
	      "      --generation 1|2  1: add the PIIX4 IDE controller; the first --disk goes on\n"
	      "                        IDE 0:0 (default 2: synthetic devices only)\n"
	      "      --dvd FILE        an ISO image as the ATAPI CD-ROM on IDE 1:0 (generation 1)\n"
	      "      --incoming FD|PATH  receive a live migration (docs/migration.md) on that\n"
	      "                        socket descriptor, or listen on Unix socket PATH\n"
	      "      --restore FILE    resume the guest from a saved state (control \"save\")\n"
	      "                        instead of booting it; the configuration must match\n"
	      "      --restore-ram lazy|eager  lazy (default): the restored guest runs at once,\n"
	      "                        its RAM read on first touch and in the background\n"
	      "                        (userfaultfd); eager: read all of RAM first\n"
	      "      --state-dir DIR   where the control command \"save\" may write (a jailed\n"
	      "                        worker saves only there)\n"
	      "      --bios FILE       generation 1 without --kernel boots this BIOS image\n"
	      "                        (default " VM_CONFIG_DEFAULT_BIOS ")\n"
	      "      --startup-order IDE,CD,LegacyNetworkAdapter,Floppy  the BIOS's boot order\n"
	      "      --vnc PATH        the screen over RFB (VNC) on a Unix socket, no password\n"
	      "      --vnc-tcp [HOST:]PORT  RFB on TCP (default host 127.0.0.1), with VNC\n"
	      "                        authentication: needs --vnc-password-file\n"
	      "      --vnc-password-file FILE  the TCP listener's password (first line)\n"
	      "  -f, --config FILE     JSON file with the same settings (options given here "
	      "override it)\n"
	      "\n"
	      "With --serial stdio on a terminal, type Ctrl-A x to turn the VM off.\n"
	      "Exit status: 0 powered off, 1 bad configuration, 2 host error, 3 triple fault,\n"
	      "4 instruction the host cannot emulate, 5 turned off after SIGTERM timeout.\n",
	      out);
}

/* The long name of getopt_long's answer c (idx: the long option's index, if it was one). */
static const char *option_name(int c, int idx)
{
	if (c == '?' || c == ':')
		return "";
	for (size_t i = 0; long_options[i].name; i++)
		if (long_options[i].val == c)
			return long_options[i].name;
	return idx >= 0 ? long_options[idx].name : "";
}

int vm_config_parse_args(struct vm_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	const char *config_file = NULL;
	int c, i, r, idx = -1;

	/* A first pass finds --config, so the file is loaded before the options that override it.
	 */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "-f"))
			config_file = i + 1 < argc ? argv[i + 1] : NULL;
		else if (!strncmp(argv[i], "--config=", 9))
			config_file = argv[i] + 9;
	}
	if (config_file) {
		r = vm_config_load_json(cfg, config_file, err, errlen);
		if (r < 0)
			return r;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:a:m:c:s:f:h", long_options, &idx)) != -1) {
		char **field = string_setting(cfg, option_name(c, idx));

		r = 0;
		if (field)
			c = 0; /* a string setting, below */
		switch (c) {
		case 0: r = set_string(field, optarg); break;
		case 'f': break;
		case 'm':
			if (parse_memory(optarg, &cfg->memory_bytes) < 0) {
				snprintf(err, errlen,
					 "--memory: '%s' is not a size (examples: 512M, 2G)",
					 optarg);
				return -EINVAL;
			}
			break;
		case 'c':
			if (parse_cpus(optarg, &cfg->cpus) < 0) {
				snprintf(err, errlen, "--cpus: '%s' is not a number of processors",
					 optarg);
				return -EINVAL;
			}
			break;
		case 's':
		case OPT_COM2:
			if (serial_config_parse(c == 's' ? &cfg->com1 : &cfg->com2, optarg) < 0) {
				snprintf(err, errlen,
					 "%s: '%s' is not stdio, none, file:PATH or "
					 "socket:PATH[,log=FILE]",
					 c == 's' ? "--serial" : "--com2", optarg);
				return -EINVAL;
			}
			break;
		case OPT_HOST_CPU: cfg->print_host_cpu = true; break;
		case OPT_PRINT_CPU: cfg->print_cpu = true; break;
		case OPT_DISK_PARENT: cfg->print_disk_parent = true; break;
		case OPT_NO_REBOOT: cfg->no_reboot = true; break;
		case OPT_SHUTDOWN_TIMEOUT:
			if (parse_cpus(optarg, &cfg->shutdown_timeout_s) < 0) {
				snprintf(err, errlen,
					 "--shutdown-timeout: '%s' is not a number of seconds",
					 optarg);
				return -EINVAL;
			}
			break;
		case OPT_NO_VIDEO: cfg->no_video = true; break;
		case OPT_GENERATION: {
			unsigned g;

			if (parse_cpus(optarg, &g) < 0) {
				snprintf(err, errlen, "--generation: '%s' is not 1 or 2", optarg);
				return -EINVAL;
			}
			if (set_generation(cfg, g, err, errlen) < 0)
				return -EINVAL;
			break;
		}
		case OPT_DVD: r = set_dvd(cfg, optarg); break;
		case OPT_RESTORE_RAM:
			if (set_restore_ram(cfg, optarg, err, errlen) < 0)
				return -EINVAL;
			break;
		case OPT_STARTUP_ORDER:
			if (startup_order_parse(&cfg->startup_order, optarg, err, errlen) < 0)
				return -EINVAL;
			break;
		case OPT_VNC_TCP_FD: {
			unsigned fd;

			if (parse_cpus(optarg, &fd) < 0 || fd < 3) {
				snprintf(err, errlen, "--vnc-tcp-fd: '%s' is not a descriptor",
					 optarg);
				return -EINVAL;
			}
			cfg->vnc_tcp_fd = (int)fd;
			break;
		}
		case OPT_DISK:
			if (cfg->ndisks == VM_CONFIG_MAX_DISKS) {
				snprintf(err, errlen, "--disk: more than %u disks",
					 VM_CONFIG_MAX_DISKS);
				return -EINVAL;
			}
			r = disk_config_parse(optarg, &cfg->disks[cfg->ndisks], err, errlen);
			if (r == -EINVAL)
				return r;
			if (r == 0)
				cfg->ndisks++;
			break;
		case OPT_NIC:
			if (cfg->nnics == VM_CONFIG_MAX_NICS) {
				snprintf(err, errlen, "--nic: more than %u network adapters",
					 VM_CONFIG_MAX_NICS);
				return -EINVAL;
			}
			r = nic_config_parse(optarg, &cfg->nics[cfg->nnics], err, errlen);
			if (r == -EINVAL)
				return r;
			if (r == 0)
				cfg->nnics++;
			break;
		case OPT_STORAGE_DIR:
			r = add_storage_dir(cfg, optarg, err, errlen);
			if (r == -EINVAL)
				return r;
			break;
		case OPT_JAIL:
			if (vm_config_parse_jail(cfg, optarg) < 0) {
				snprintf(err, errlen,
					 "--jail: '%s' is not UID[:GID] (non-zero numbers)",
					 optarg);
				return -EINVAL;
			}
			break;
		case 'h': vm_config_usage(stdout); return 1;
		case OPT_VERSION: puts("parvis-vmwp " PARVIS_VERSION); return 1;
		case ':':
			snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (r < 0) {
			snprintf(err, errlen, "out of memory");
			return r;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* One JSON member into cfg; the key names the setting in every error. */
static int apply_json_member(struct vm_config *cfg, const char *key, struct json_object *v,
			     char *err, size_t errlen)
{
	enum json_type t = json_object_get_type(v);
	const char *s = t == json_type_string ? json_object_get_string(v) : NULL;
	char **field = string_setting(cfg, key);
	int *fd = fd_setting(cfg, key);
	int64_t n;

	if (field) {
		if (!s)
			goto want_string;
		return set_string(field, s);
	}
	if (fd) {
		n = json_object_get_int64(v);
		if (t != json_type_int || n < 0 || n >= INT32_MAX)
			goto bad_value;
		*fd = (int)n;
		return 0;
	}
	if (!strcmp(key, "generation")) {
		if (t != json_type_int)
			goto bad_value;
		return set_generation(cfg, (long long)json_object_get_int64(v), err, errlen);
	}
	if (!strcmp(key, "dvd")) {
		if (!s)
			goto want_string;
		return set_dvd(cfg, s);
	}
	if (!strcmp(key, "dvds")) {
		if (t != json_type_array)
			goto bad_value;
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			int r = add_dvd_json(cfg, json_object_array_get_idx(v, i), err, errlen);

			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!strcmp(key, "startup-order")) {
		if (!s)
			goto want_string;
		return startup_order_parse(&cfg->startup_order, s, err, errlen);
	}
	if (!strcmp(key, "video")) {
		if (t != json_type_boolean)
			goto bad_value;
		cfg->no_video = !json_object_get_boolean(v);
		return 0;
	}
	if (!strcmp(key, "restore-ram")) {
		if (!s)
			goto want_string;
		return set_restore_ram(cfg, s, err, errlen);
	}
	if (!strcmp(key, "storage-dirs")) {
		size_t i;

		if (t != json_type_array)
			goto bad_value;
		for (i = 0; i < json_object_array_length(v); i++) {
			struct json_object *d = json_object_array_get_idx(v, i);
			int r;

			if (!json_object_is_type(d, json_type_string))
				goto bad_value;
			r = add_storage_dir(cfg, json_object_get_string(d), err, errlen);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!strcmp(key, "jail")) {
		if (!s || vm_config_parse_jail(cfg, s) < 0)
			goto bad_value;
		return 0;
	}
	if (!strcmp(key, "memory")) {
		if (t == json_type_int) {
			n = json_object_get_int64(v);
			if (n <= 0 || (uint64_t)n > UINT64_MAX / MiB)
				goto bad_value;
			cfg->memory_bytes = (uint64_t)n * MiB;
			return 0;
		}
		if (!s || parse_memory(s, &cfg->memory_bytes) < 0)
			goto bad_value;
		return 0;
	}
	if (!strcmp(key, "cpus") || !strcmp(key, "shutdown-timeout")) {
		n = json_object_get_int64(v);
		if (t != json_type_int || n < 0 || n > 65535)
			goto bad_value;
		*(key[0] == 'c' ? &cfg->cpus : &cfg->shutdown_timeout_s) = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "serial") || !strcmp(key, "com2")) {
		if (!s || serial_config_parse(key[0] == 's' ? &cfg->com1 : &cfg->com2, s) < 0)
			goto bad_value;
		return 0;
	}
	if (!strcmp(key, "disks")) {
		size_t i, count;

		if (t != json_type_array)
			goto bad_value;
		count = json_object_array_length(v);
		for (i = 0; i < count; i++) {
			int r;

			if (cfg->ndisks == VM_CONFIG_MAX_DISKS) {
				snprintf(err, errlen, "\"disks\": more than %u disks",
					 VM_CONFIG_MAX_DISKS);
				return -EINVAL;
			}
			r = disk_config_from_json(json_object_array_get_idx(v, i),
						  &cfg->disks[cfg->ndisks], err, errlen);
			if (r < 0)
				return r;
			cfg->ndisks++;
		}
		return 0;
	}
	if (!strcmp(key, "nics")) {
		size_t i, count;

		if (t != json_type_array)
			goto bad_value;
		count = json_object_array_length(v);
		for (i = 0; i < count; i++) {
			int r;

			if (cfg->nnics == VM_CONFIG_MAX_NICS) {
				snprintf(err, errlen, "\"nics\": more than %u network adapters",
					 VM_CONFIG_MAX_NICS);
				return -EINVAL;
			}
			r = nic_config_from_json(json_object_array_get_idx(v, i),
						 &cfg->nics[cfg->nnics], err, errlen);
			if (r < 0)
				return r;
			cfg->nnics++;
		}
		return 0;
	}
	if (!strcmp(key, "no-reboot")) {
		if (t != json_type_boolean)
			goto bad_value;
		cfg->no_reboot = json_object_get_boolean(v);
		return 0;
	}
	snprintf(err, errlen, "unknown setting \"%s\"", key);
	return -EINVAL;
want_string:
	snprintf(err, errlen, "\"%s\" must be a string", key);
	return -EINVAL;
bad_value:
	snprintf(err, errlen, "\"%s\": invalid value %.64s", key, json_object_to_json_string(v));
	return -EINVAL;
}

int vm_config_parse_json(struct vm_config *cfg, const char *text, size_t len, char *err,
			 size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root;
	int r = 0;

	if (len > CONFIG_FILE_MAX || len > INT32_MAX) {
		snprintf(err, errlen, "larger than %llu bytes",
			 (unsigned long long)CONFIG_FILE_MAX);
		return -EFBIG;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset < (int)len) {
		snprintf(err, errlen, "not valid JSON at byte %d: %s", tok->char_offset,
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		r = -EINVAL;
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "must be a JSON object");
		r = -EINVAL;
		goto out;
	}
	json_object_object_foreach(root, key, val)
	{
		r = apply_json_member(cfg, key, val, err, errlen);
		if (r < 0)
			break;
	}
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

int vm_config_load_json(struct vm_config *cfg, const char *path, char *err, size_t errlen)
{
	char inner[256];
	FILE *f;
	char *buf;
	size_t n;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "config %s: %s", path, strerror(errno));
		return r;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r == 0)
		r = vm_config_parse_json(cfg, buf, n, inner, sizeof(inner));
	else
		snprintf(inner, sizeof(inner), "read error");
	if (r < 0)
		snprintf(err, errlen, "config %s: %s", path, inner);
	free(buf);
	return r;
}

/* Generation 1's IDE drives: only there, each place (channel, unit) taken once. */
static int ide_drives_check(const struct vm_config *cfg, char *err, size_t errlen)
{
	const char *at[IDE_CHANNELS * IDE_UNITS] = {0};
	unsigned i, n = cfg->ndisks + cfg->ndvds;

	for (i = 0; i < n; i++) {
		bool dvd = i >= cfg->ndisks;
		const struct disk_config *d = dvd ? &cfg->dvds[i - cfg->ndisks] : &cfg->disks[i];
		const char *name = d->path ? d->path : "(empty CD-ROM drive)";
		int k;

		if (!d->ide)
			continue;
		if (cfg->generation != 1) {
			snprintf(err, errlen,
				 "%s %s: IDE is an emulated controller of generation 1 VMs (add "
				 "--generation 1%s)",
				 dvd ? "dvd" : "disk", name, dvd ? "" : ", or put it on SCSI");
			return -EINVAL;
		}
		k = disk_config_ide_index(d);
		if (k < 0) {
			snprintf(err, errlen, "%s: no IDE place %u:%d (channel 0-1, unit 0-1)",
				 name, d->controller, d->lun);
			return -EINVAL;
		}
		if (at[k]) {
			snprintf(err, errlen, "%s and %s are both on IDE %u:%d", at[k], name,
				 d->controller, d->lun);
			return -EINVAL;
		}
		at[k] = name;
	}
	return 0;
}

int vm_config_validate(const struct vm_config *cfg, char *err, size_t errlen)
{
	uint64_t host_ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);

	if (!cfg->kernel && cfg->generation != 1) {
		snprintf(err, errlen,
			 "no kernel: give --kernel FILE (or \"kernel\" in the config); only "
			 "generation 1 boots without one, through its BIOS");
		return -EINVAL;
	}
	if ((cfg->bios || cfg->startup_order.n) && (cfg->kernel || cfg->generation != 1)) {
		snprintf(err, errlen,
			 "bios, startup-order: only a generation 1 VM without --kernel boots "
			 "through the BIOS");
		return -EINVAL;
	}
	if (cfg->initrd && !cfg->kernel) {
		snprintf(
			err, errlen,
			"initrd: a ramdisk is loaded only with --kernel (a BIOS boot reads its own "
			"from the disk); drop --initrd or give --kernel");
		return -EINVAL;
	}
	if (cfg->initrd_fd >= 0 && !cfg->initrd) {
		snprintf(err, errlen, "\"initrd-fd\" needs \"initrd\" (the file's name)");
		return -EINVAL;
	}
	if (cfg->memory_bytes < 16 * MiB) {
		snprintf(err, errlen, "memory: %llu bytes is too small (16M at least)",
			 (unsigned long long)cfg->memory_bytes);
		return -EINVAL;
	}
	if (cfg->memory_bytes % (4 * KiB)) {
		snprintf(err, errlen, "memory: must be a multiple of 4K");
		return -EINVAL;
	}
	if (cfg->memory_bytes > host_ram) {
		snprintf(err, errlen, "memory: %llu MiB is more than this host has (%llu MiB)",
			 (unsigned long long)(cfg->memory_bytes / MiB),
			 (unsigned long long)(host_ram / MiB));
		return -EINVAL;
	}
	if (cfg->cpus == 0) {
		snprintf(err, errlen, "cpus: 0 is not a number of processors (1 at least)");
		return -EINVAL;
	}
	if (ide_drives_check(cfg, err, errlen) < 0)
		return -EINVAL;
	for (unsigned i = 0, legacy = 0; i < cfg->nnics; i++) {
		if (!cfg->nics[i].legacy)
			continue;
		if (cfg->generation != 1) {
			snprintf(err, errlen,
				 "nic %s: a legacy network adapter (DEC 21140A) is a PCI device of "
				 "generation 1 VMs (add --generation 1, or drop legacy=on for a "
				 "synthetic adapter)",
				 cfg->nics[i].tap ? cfg->nics[i].tap : cfg->nics[i].id);
			return -EINVAL;
		}
		if (++legacy > 4) {
			snprintf(err, errlen, "nic: at most 4 legacy network adapters");
			return -EINVAL;
		}
	}
	if ((cfg->vnc_path || cfg->vnc_tcp || cfg->vnc_tcp_fd >= 0) && cfg->no_video) {
		snprintf(err, errlen, "vnc: the VM has no video (--no-video): nothing to show");
		return -EINVAL;
	}
	if ((cfg->vnc_tcp || cfg->vnc_tcp_fd >= 0) && !cfg->vnc_password_file) {
		snprintf(err, errlen,
			 "vnc-tcp: a TCP listener needs a password: give --vnc-password-file FILE");
		return -EINVAL;
	}
	if (cfg->cmdline && strlen(cfg->cmdline) >= CMDLINE_MAX) {
		snprintf(err, errlen, "cmdline: longer than %d bytes", CMDLINE_MAX - 1);
		return -EINVAL;
	}
	if (cfg->com1.backend == SERIAL_STDIO && cfg->com2.backend == SERIAL_STDIO) {
		snprintf(err, errlen, "serial: only one of COM1 and COM2 can use stdio");
		return -EINVAL;
	}
	return disk_config_check(cfg->disks, cfg->ndisks, err, errlen);
}
