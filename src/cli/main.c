/*
 * parvis: the command that drives parvis-vmms, with verbs named after the
 * Hyper-V cmdlets (new-vm, get-vm, start-vm, ...) and Unix-style flags.
 * Each verb is one API call (docs/api.md) on the service's socket, found
 * from --socket, then $PARVIS_SOCKET, then /run/parvis/vmms.sock for root
 * or $XDG_RUNTIME_DIR/parvis/vmms.sock for other users (docs/cli.md).
 * Errors go to stderr with a non-zero exit status; verbs that print data
 * print JSON with --json.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/rfb_capture.h"
#include "base/compiler.h"
#include "base/size.h"
#include "cli/net.h"
#include "cli/migration.h"
#include "cli/snapshot.h"
#include "cli/vhd.h"
#include "ipc/api.h"
#include "ipc/jsonline.h"

#include "cli/cli_internal.h"
/* --- verbs ---------------------------------------------------------------------------------- */

/* One call on a named VM; prints "VM 'NAME' is STATE" (or the JSON). */
static int simple_call(struct args *a, const char *progress)
{
	struct json_object *res;
	char msg[512], prog[300];
	int r;

	if (progress)
		snprintf(prog, sizeof(prog), "%s %s", progress, a->name);
	r = cli_request(a->verb->name, json_object_get(a->params), progress ? prog : NULL, &res);
	if (r)
		return r;
	snprintf(msg, sizeof(msg), "VM '%s' is %s", a->name, cli_jstr(res, "state"));
	return cli_print_vm_or_json(res, msg);
}

static int verb_new_vm(struct args *a)
{
	struct json_object *res;
	char msg[512];
	int r = cli_request("new-vm", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	snprintf(msg, sizeof(msg), "VM '%s' created (ID %s), Off", cli_jstr(res, "name"),
		 cli_jstr(res, "id"));
	return cli_print_vm_or_json(res, msg);
}

static int verb_get_vm(struct args *a)
{
	struct json_object *res, *vms;
	int r = cli_request("get-vm", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
	} else if (json_object_object_get_ex(res, "vms", &vms)) {
		cli_print_vm_table(vms);
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_start_vm(struct args *a)
{
	return simple_call(a, "starting");
}

static int verb_stop_vm(struct args *a)
{
	return simple_call(a, a->turn_off ? "turning off" : "waiting for the guest to shut down:");
}

static int verb_restart_vm(struct args *a)
{
	return simple_call(a, "restarting");
}

static int verb_suspend_vm(struct args *a)
{
	return simple_call(a, NULL);
}

static int verb_resume_vm(struct args *a)
{
	return simple_call(a, NULL);
}

static int verb_remove_vm(struct args *a)
{
	struct json_object *res;
	int r = cli_request("remove-vm", json_object_get(a->params), "removing", &res);

	if (r)
		return r;
	if (!cli_json_out)
		printf("VM '%s' removed\n", a->name);
	else
		cli_print_json(res);
	json_object_put(res);
	return EXIT_OK;
}

static int verb_set_vm(struct args *a)
{
	return simple_call(a, NULL);
}

static int verb_disk(struct args *a)
{
	struct json_object *res;
	int r;

	if (a->extra_positional && !json_object_object_get_ex(a->params, "path", NULL)) {
		char *p = cli_abs_path_cwd(a->extra_positional);

		cli_add_str(a->params, "path", p);
		free(p);
	}
	r = cli_request(a->verb->name, json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
	} else {
		struct json_object *disks;
		size_t i;

		printf("VM '%s' disks:\n", a->name);
		if (json_object_object_get_ex(res, "disks", &disks))
			for (i = 0; i < json_object_array_length(disks); i++) {
				struct json_object *d = json_object_array_get_idx(disks, i);

				printf("  %-4s controller %.0f %s %.0f  %s%s\n",
				       cli_jstr(d, "controller_type"), cli_jnum(d, "controller"),
				       strcmp(cli_jstr(d, "controller_type"), "IDE") ? "lun"
										     : "location",
				       cli_jnum(d, "lun"), cli_jstr(d, "path"),
				       json_object_get_boolean(
					       json_object_object_get(d, "readonly"))
					       ? " (read-only)"
					       : "");
			}
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_get_ic(struct args *a)
{
	struct json_object *res, *list, *items;
	size_t i;
	int r = cli_request("get-vmintegrationservice", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
		json_object_put(res);
		return EXIT_OK;
	}
	printf("%-12s  %-24s  %-7s  %s\n", "VMName", "Name", "Enabled", "PrimaryStatusDescription");
	printf("%-12s  %-24s  %-7s  %s\n", "------", "----", "-------", "------------------------");
	if (json_object_object_get_ex(res, "services", &list))
		for (i = 0; i < json_object_array_length(list); i++) {
			struct json_object *s = json_object_array_get_idx(list, i);

			printf("%-12s  %-24s  %-7s  %s\n", a->name, cli_jstr(s, "name"), "True",
			       cli_jstr(s, "status"));
		}
	if (json_object_object_get_ex(res, "kvp_items", &items) &&
	    json_object_array_length(items)) {
		printf("\nKVP items from the guest:\n");
		for (i = 0; i < json_object_array_length(items); i++) {
			struct json_object *it = json_object_array_get_idx(items, i);
			char key[800], value[3100];

			printf("  %-14s %-28s %s\n", cli_jstr(it, "pool"),
			       cli_printable(cli_jstr(it, "key"), key, sizeof(key)),
			       cli_printable(cli_jstr(it, "value"), value, sizeof(value)));
		}
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_history(struct args *a)
{
	struct json_object *res, *h;
	size_t i;
	int r = cli_request("get-vmhistory", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
	} else if (json_object_object_get_ex(res, "history", &h)) {
		for (i = 0; i < json_object_array_length(h); i++) {
			struct json_object *e = json_object_array_get_idx(h, i);
			time_t t = (time_t)(cli_jnum(e, "time_ms") / 1000);
			char when[64];

			const char *by = json_object_object_get_ex(e, "user", NULL)
						 ? cli_jstr(e, "user")
						 : "-";

			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
			printf("%s  %-8s -> %-8s  %-12s  %s\n", when, cli_jstr(e, "from"),
			       cli_jstr(e, "to"), by, cli_jstr(e, "reason"));
		}
	}
	json_object_put(res);
	return EXIT_OK;
}

/* Names from a JSON array, folded to the terminal's width after a label. */
static void print_words(const char *label, struct json_object *a)
{
	size_t i, col = 0;

	printf("%-12s: ", label);
	col = 14;
	if (!a || !json_object_array_length(a))
		fputs("-", stdout);
	for (i = 0; a && i < json_object_array_length(a); i++) {
		const char *w = json_object_get_string(json_object_array_get_idx(a, i));

		if (!w)
			continue;
		if (col + strlen(w) + 1 > 100) {
			printf("\n%14s", "");
			col = 14;
		}
		printf("%s ", w);
		col += strlen(w) + 1;
	}
	putchar('\n');
}

static void print_processor(struct json_object *p)
{
	struct json_object *v;

	printf("%-12s: %s\n", "Model", cli_jstr(p, "model"));
	printf("%-12s: %s (%s family %#x model %#x stepping %u)\n", "Processor",
	       cli_jstr(p, "brand"), cli_jstr(p, "vendor"), (unsigned)cli_jnum(p, "family"),
	       (unsigned)cli_jnum(p, "model-number"), (unsigned)cli_jnum(p, "stepping"));
	if (json_object_object_get_ex(p, "count", &v))
		printf("%-12s: %d\n", "Count", json_object_get_int(v));
	json_object_object_get_ex(p, "features", &v);
	print_words("Features", v);
	if (json_object_object_get_ex(p, "host-features", &v) && json_object_array_length(v))
		print_words("Host", v); /* KVM cannot set these here: the guest sees the host's */
	if (json_object_object_get_ex(p, "missing", &v) && json_object_array_length(v))
		print_words("Missing", v);
}

static void print_processor_controls(struct json_object *res)
{
	printf("%-12s: %d%% of a CPU per vCPU\n", "Maximum", (int)cli_jnum(res, "maximum"));
	printf("%-12s: %d%%\n", "Reserve", (int)cli_jnum(res, "reserve"));
	printf("%-12s: %d\n", "RelativeWeight", (int)cli_jnum(res, "relative_weight"));
}

static int verb_set_processor(struct args *a)
{
	struct json_object *res, *p;
	uint64_t n;
	int r;

	if (a->maximum) {
		if ((r = cli_parse_uint(a->verb->name, "--maximum", a->maximum, &n)))
			return r;
		json_object_object_add(a->params, "maximum", json_object_new_int64((int64_t)n));
	}
	if (!json_object_object_get_ex(a->params, "compatibility_for_migration", NULL) &&
	    !a->maximum && !json_object_object_get_ex(a->params, "reserve", NULL) &&
	    !json_object_object_get_ex(a->params, "relative_weight", NULL))
		return cli_usage_error(a->verb->name,
				       "give --compatibility-for-migration on|off, --maximum PCT, "
				       "--reserve PCT or --relative-weight N");
	r = cli_request("set-vmprocessor", json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
	} else if (json_object_object_get_ex(res, "processor", &p)) {
		printf("%s: compatibility for migration %s (CPU model %s)\n", cli_jstr(res, "name"),
		       json_object_get_boolean(
			       json_object_object_get(res, "compatibility_for_migration"))
			       ? "on"
			       : "off",
		       cli_jstr(p, "model"));
		print_processor_controls(res);
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_set_memory(struct args *a)
{
	struct json_object *res;
	uint64_t n;
	int r;

	if (!a->maximum)
		return cli_usage_error(a->verb->name, "give --maximum SIZE");
	if ((r = cli_parse_size(a->verb->name, a->maximum, &n)))
		return r;
	json_object_object_add(a->params, "maximum_bytes", json_object_new_int64((int64_t)n));
	r = cli_request("set-vmmemory", json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (cli_json_out)
		cli_print_json(res);
	else
		printf("%s: memory maximum %llu MiB (the worker, guest RAM included)\n",
		       cli_jstr(res, "name"), (unsigned long long)(n >> 20));
	json_object_put(res);
	return EXIT_OK;
}

static int verb_measure(struct args *a)
{
	struct json_object *res;
	int r = cli_request("measure-vm", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
	} else {
		double peak = cli_jnum(res, "memory_peak_bytes"),
		       max = cli_jnum(res, "memory_maximum_bytes");

		printf("%-16s: %s\n", "VMName", cli_jstr(res, "name"));
		printf("%-16s: %.3f s\n", "CPUTime", cli_jnum(res, "cpu_time_ns") / 1e9);
		if (cli_jnum(res, "cpu_quota_us") > 0)
			printf("%-16s: %.0f of %.0f periods (%.3f s)\n", "CPUThrottled",
			       cli_jnum(res, "cpu_throttled_periods"), cli_jnum(res, "cpu_periods"),
			       cli_jnum(res, "cpu_throttled_ns") / 1e9);
		printf("%-16s: %.1f MiB\n", "Memory", cli_jnum(res, "memory_bytes") / 1048576.0);
		if (peak > 0)
			printf("%-16s: %.1f MiB\n", "MemoryPeak", peak / 1048576.0);
		if (max > 0)
			printf("%-16s: %.1f MiB (reached %.0f times)\n", "MemoryMaximum",
			       max / 1048576.0, cli_jnum(res, "memory_limit_hits"));
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_get_processor(struct args *a)
{
	struct json_object *res, *p;
	int r = cli_request("get-vmprocessor", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
	} else if (json_object_object_get_ex(res, "processor", &p)) {
		printf("%-12s: %s\n", "VMName", cli_jstr(res, "name"));
		printf("%-12s: %s\n", "Compatible",
		       json_object_get_boolean(
			       json_object_object_get(res, "compatibility_for_migration"))
			       ? "on (for migration)"
			       : "off");
		print_processor(p);
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_get_host_processor(struct args *a)
{
	struct json_object *res, *models, *v;
	int r = cli_request("get-vmhostprocessor", NULL, NULL, &res);

	(void)a;
	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
	} else {
		printf("%-12s: %s (%s family %#x model %#x stepping %u)%s\n", "Processor",
		       cli_jstr(res, "brand"), cli_jstr(res, "vendor"),
		       (unsigned)cli_jnum(res, "family"), (unsigned)cli_jnum(res, "model-number"),
		       (unsigned)cli_jnum(res, "stepping"),
		       json_object_get_boolean(json_object_object_get(res, "pvm")) ? " on PVM"
										   : "");
		json_object_object_get_ex(res, "kvm-features", &v);
		print_words("KVM offers", v);
		if (json_object_object_get_ex(res, "models", &models)) {
			json_object_object_foreach(models, name, m)
			{
				bool ok = json_object_get_boolean(
					json_object_object_get(m, "available"));
				struct json_object *missing = json_object_object_get(m, "missing");

				printf("%-12s: %s\n", name,
				       !ok ? cli_jstr(m, "reason")
				       : missing && json_object_array_length(missing)
					       ? "available, with features missing "
						 "(get-vmprocessor)"
					       : "available");
			}
		}
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_events(struct args *a)
{
	struct json_object *req = api_request_new(1, "subscribe", NULL);
	struct jsonline_reader rd;
	char *line;
	size_t len;
	int fd = cli_connect(), r;

	(void)a;
	if (fd < 0) {
		json_object_put(req);
		return EXIT_NO_SERVICE;
	}
	r = jsonline_send(fd, req);
	json_object_put(req);
	if (r < 0 || jsonline_reader_init(&rd, fd, API_ANSWER_MAX) < 0)
		return EXIT_NO_SERVICE;
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = jsonline_read(&rd, -1, &line, &len); /* the subscribe answer */
	while (r > 0 && (r = jsonline_read(&rd, -1, &line, &len)) > 0)
		printf("%s\n", line);
	jsonline_reader_fini(&rd);
	close(fd);
	return EXIT_OK;
}

/* add/get/set/remove-vmdvddrive: the drives as a table, or the JSON. */
static int verb_dvd(struct args *a)
{
	struct json_object *res, *list, *one[1];
	size_t i, n;
	int r;

	if (a->extra_positional && !json_object_object_get_ex(a->params, "path", NULL)) {
		char *p = cli_abs_path_cwd(a->extra_positional);

		cli_add_str(a->params, "path", p);
		free(p);
	}
	r = cli_request(a->verb->name, json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
		json_object_put(res);
		return EXIT_OK;
	}
	one[0] = res;
	list = NULL;
	json_object_object_get_ex(res, "dvd_drives", &list);
	n = list ? json_object_array_length(list) : 1;
	printf("%-10s %-6s %-10s %-8s %s\n", "VM", "Type", "Controller", "Location", "Path");
	for (i = 0; i < n; i++) {
		struct json_object *d = list ? json_object_array_get_idx(list, i) : one[0];
		const char *p = cli_jstr(d, "path");

		printf("%-10s %-6s %-10.0f %-8.0f %s\n", cli_jstr(d, "vm"),
		       cli_jstr(d, "controller_type"), cli_jnum(d, "controller_number"),
		       cli_jnum(d, "controller_location"), p[0] ? p : "(no media)");
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_bios(struct args *a)
{
	struct json_object *res, *order;
	size_t i;
	int r = cli_request(a->verb->name, json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (cli_json_out) {
		cli_print_json(res);
	} else {
		printf("VM '%s' (%s) startup order:", cli_jstr(res, "vm"),
		       cli_jstr(res, "firmware"));
		if (json_object_object_get_ex(res, "startup_order", &order))
			for (i = 0; i < json_object_array_length(order); i++)
				printf("%s%s", i ? ", " : " ",
				       json_object_get_string(json_object_array_get_idx(order, i)));
		printf("\n");
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_help(struct args *a)
{
	return cli_print_help(a->name);
}

/* The verbs, in the order `parvis help` lists them. */
static const struct verb verbs[] = {
	{"new-vm", verb_new_vm,
	 "generation,memory,cpus,kernel,initrd,cmdline,boot-disk,disk,notes,no-video,json", true,
	 "new-vm NAME [--generation 1|2] [--memory SIZE] [--cpus N] (--kernel FILE [--initrd "
	 "FILE]\n"
	 "             [--cmdline STR] | --boot-disk FILE) [--disk FILE]... [--notes TEXT]\n"
	 "             [--no-video] [--json]",
	 "Creates a VM (Off). Memory defaults to 512M, vCPUs to 1. Every VM has a screen,\n"
	 "keyboard and mouse (synthetic video; parvis connect) unless --no-video.\n"
	 "--generation 2 (the default): synthetic devices only, booting --kernel directly.\n"
	 "--generation 1: a PC with IDE, DVD drives, legacy network adapters and SeaBIOS; the\n"
	 "--boot-disk (else the first --disk) goes on IDE 0:0, and without --kernel the BIOS\n"
	 "boots it (docs/generation1.md)."},
	{"get-vm", verb_get_vm, "json", false, "get-vm [NAME] [--json]",
	 "Lists VMs: name, state, CPU usage, memory assigned, uptime, status."},
	{"start-vm", verb_start_vm, "json", true, "start-vm NAME [--json]",
	 "Starts the VM's worker; returns once it is Running."},
	{"stop-vm", verb_stop_vm, "force,turn-off,timeout,json", true,
	 "stop-vm NAME [--force] [--turn-off] [--timeout SECONDS] [--json]",
	 "Shuts the guest down through its shutdown service (else the ACPI power button) and\n"
	 "waits up to --timeout (120 s); --force turns it off if it has not shut down by then;\n"
	 "--turn-off pulls the plug at once. Also acknowledges a Critical VM (--turn-off)."},
	{"restart-vm", verb_restart_vm, "force,json", true, "restart-vm NAME [--force] [--json]",
	 "Asks the guest to restart (shutdown service); --force turns it off and starts it."},
	{"suspend-vm", verb_suspend_vm, "json", true, "suspend-vm NAME [--json]",
	 "Pauses the VM's virtual processors (Paused). Guest time keeps running."},
	{"resume-vm", verb_resume_vm, "json", true, "resume-vm NAME [--json]",
	 "Lets a Paused VM run again."},
	{"remove-vm", verb_remove_vm, "force,json", true, "remove-vm NAME [--force]",
	 "Deletes an Off or Critical VM from the inventory; --force turns a running one off "
	 "first.\n"
	 "Disk files are never deleted."},
	{"set-vm", verb_set_vm, "cpus,memory,cmdline,notes,name,video,console-tcp,json", true,
	 "set-vm NAME [--cpus N] [--memory SIZE] [--cmdline STR] [--name NEW] [--notes TEXT]\n"
	 "             [--video on|off] [--console-tcp on|off]",
	 "Changes a VM's settings; all but --notes only while it is Off. --console-tcp on: the\n"
	 "screen also on a loopback TCP port with a per-VM VNC password (parvis connect --tcp)."},
	{"add-vmharddiskdrive", verb_disk,
	 "path,readonly,lun,controller-type,controller-number,controller-location,json", true,
	 "add-vmharddiskdrive NAME [--path] FILE [--readonly] [--controller-type ide|scsi]\n"
	 "             [--controller-number N] [--controller-location L | --lun N] [--json]",
	 "Attaches a disk: SCSI (the default; to a running VM too, hot add through the worker)\n"
	 "or, in a generation 1 VM that is Off, IDE (controllers 0-1, locations 0-1, shared\n"
	 "with the DVD drives; the first free one unless given)."},
	{"remove-vmharddiskdrive", verb_disk,
	 "path,lun,controller-type,controller-number,controller-location,json", true,
	 "remove-vmharddiskdrive NAME ([--path] FILE | [--controller-type ide|scsi]\n"
	 "             [--controller-number N] (--controller-location L | --lun N)) [--json]",
	 "Detaches a disk (the file is kept). IDE disks only while the VM is Off."},
	{"add-vmdvddrive", verb_dvd, "path,controller-number,controller-location,json", true,
	 "add-vmdvddrive NAME [--path FILE.iso] [--controller-number N] [--controller-location "
	 "L]\n"
	 "             [--json]",
	 "Generation 1, while Off: a DVD drive (ATAPI) on IDE, with an ISO image or empty; the\n"
	 "first free IDE location unless given."},
	{"get-vmdvddrive", verb_dvd, "json", true, "get-vmdvddrive NAME [--json]",
	 "The VM's DVD drives and their media."},
	{"set-vmdvddrive", verb_dvd,
	 "path,no-media,controller-number,controller-location,force,json", true,
	 "set-vmdvddrive NAME (--path FILE.iso | --no-media) [--controller-number N]\n"
	 "             [--controller-location L] [--force] [--json]",
	 "Changes a DVD drive's media, in a running VM too (the guest sees a media change);\n"
	 "--force even when the guest has locked the tray."},
	{"remove-vmdvddrive", verb_dvd, "controller-number,controller-location,json", true,
	 "remove-vmdvddrive NAME [--controller-number N --controller-location L] [--json]",
	 "Removes a DVD drive (while Off)."},
	{"set-vmbios", verb_bios, "startup-order,json", true,
	 "set-vmbios NAME --startup-order IDE,CD,LegacyNetworkAdapter,Floppy [--json]",
	 "Generation 1: the order in which the BIOS tries its boot devices (while Off)."},
	{"get-vmbios", verb_bios, "json", true, "get-vmbios NAME [--json]",
	 "Generation 1: the BIOS (SeaBIOS) and its startup order."},
	{"get-vmintegrationservice", verb_get_ic, "json", true,
	 "get-vmintegrationservice NAME [--json]",
	 "The integration services (heartbeat, shutdown, time sync, KVP) and the guest's KVP "
	 "items."},
	{"set-vmprocessor", verb_set_processor,
	 "compatibility-for-migration,maximum,reserve,relative-weight,json", true,
	 "set-vmprocessor NAME [--compatibility-for-migration on|off] [--maximum PCT]\n"
	 "                     [--reserve PCT] [--relative-weight N] [--json]",
	 "Processor compatibility for migration: on gives the VM the baseline CPU model of its\n"
	 "vendor, the same on every host, so that it can move between them (the VM must be Off).\n"
	 "--maximum: at most PCT percent of one CPU per vCPU (1-100); --reserve: at least PCT\n"
	 "percent (refused if the running VMs' reserves would exceed the host); "
	 "--relative-weight:\n"
	 "its share against other VMs (1-10000, default 100). These apply to a running VM at "
	 "once."},
	{"set-vmmemory", verb_set_memory, "maximum,json", true,
	 "set-vmmemory NAME --maximum SIZE [--json]",
	 "A hard limit on the VM's worker, guest RAM included (its cgroup): beyond it the kernel\n"
	 "reclaims, then kills the worker (the VM becomes Critical). Applies to a running VM at "
	 "once."},
	{"measure-vm", verb_measure, "json", true, "measure-vm NAME [--json]",
	 "The running VM's CPU time, throttling and memory use, from its cgroup."},
	{"get-vmprocessor", verb_get_processor, "json", true, "get-vmprocessor NAME [--json]",
	 "The processor the VM gets: model, signature and features; \"Host\" lists those this\n"
	 "host's KVM cannot set, which the guest sees as the host's own."},
	{"get-vmhostprocessor", verb_get_host_processor, "json", false,
	 "get-vmhostprocessor [--json]",
	 "What this host's processor and KVM offer, and which CPU models it can run: compare\n"
	 "two hosts' --json before a migration."},
	{"get-vmhistory", verb_history, "json", true, "get-vmhistory NAME [--json]",
	 "The VM's state transitions with their time, who caused them (the API caller; \"-\" for\n"
	 "the service or the guest) and the reason."},
	{"connect", verb_connect, "web,viewer,tcp,json", true,
	 "connect NAME [--web | --viewer | --tcp] [--json]",
	 "The VM's screen, keyboard and mouse (Hyper-V's VMConnect): prints the RFB (VNC)\n"
	 "socket's path (for root: its directory is the service's); --web prints a URL that\n"
	 "opens the screen in a browser (the service's --web console; a token, valid 10\n"
	 "minutes); --viewer starts a VNC viewer, if one is installed, on a relay; --tcp prints\n"
	 "the loopback host:port (set-vm --console-tcp on; VNC password: --json, admins only)."},
	{"get-vmscreenshot", verb_screenshot, "json", true,
	 "get-vmscreenshot NAME FILE.png [--json]", "Saves the VM's screen as it is now (PNG)."},
	{"console", verb_console, "", true, "console NAME",
	 "Attaches this terminal to the VM's serial console (COM1). Ctrl-] detaches.\n"
	 "One client at a time; everything the guest writes is also in the console log."},
	{"events", verb_events, "json", false, "events",
	 "Prints the service's events (state changes, heartbeat lost/regained) as JSON lines."},
	/* No fn: the disk tool parses its own arguments (src/cli/vhd.c). */
	{"vhd", NULL, "", false, "vhd new|inspect|resize|convert|merge ... (parvis vhd --help)",
	 "The virtual hard disk tool, like Hyper-V's VHD cmdlets (docs/disks.md). Works on files\n"
	 "directly; needs no service."},
	{"help", verb_help, "", false, "help [VERB]", "Shows this help, or one verb's."},
	{0},
};

int cli_print_help(const char *verb)
{
	const struct verb *v;

	if (verb) {
		if (cli_snapshot_help(verb))
			return 0;
		if (cli_net_help(verb))
			return 0;
		if (cli_migration_help(verb))
			return 0;
		for (v = verbs; v->name; v++)
			if (!strcmp(v->name, verb)) {
				printf("Usage: parvis [--socket PATH] %s\n\n%s\n", v->usage,
				       v->help);
				return 0;
			}
		fprintf(stderr, "parvis help: unknown verb '%s'\n", verb);
		return EXIT_USAGE;
	}
	printf("Usage: parvis [--socket PATH] VERB [ARGS]\n\n"
	       "Manages the VMs of a parvis-vmms service. The socket is --socket PATH, else\n"
	       "$PARVIS_SOCKET, else /run/parvis/vmms.sock (root) or\n"
	       "$XDG_RUNTIME_DIR/parvis/vmms.sock.\n\nVerbs:\n");
	for (v = verbs; v->name; v++)
		printf("  %s\n", v->usage);
	printf("\nCheckpoint, export and import verbs (docs/checkpoints.md):\n");
	cli_snapshot_usage();
	printf("\nNetwork verbs (docs/switches.md):\n");
	cli_net_usage();
	printf("\nLive migration verbs (docs/migration.md):\n");
	cli_migration_usage();
	printf("\nparvis help VERB says more. Exit status: 0 done, 1 the service refused or the\n"
	       "call failed, 2 bad command line, 3 no service.\n");
	return 0;
}

/* The groups of verbs that parse their own command lines (their own verb tables). */
static const struct verb_group {
	bool (*is_verb)(const char *verb);
	int (*run)(int argc, char **argv);
} verb_groups[] = {
	{cli_snapshot_is_verb, cli_snapshot_main},
	{cli_migration_is_verb, cli_migration_main},
	{cli_net_is_verb, cli_net_main},
};

/* The options before the verb. 0 with *i at the verb, or an exit status (-1: exit 0). */
static int parse_global_options(int argc, char **argv, int *i)
{
	while (*i < argc && argv[*i][0] == '-') {
		if (!strcmp(argv[*i], "--socket") && *i + 1 < argc) {
			cli_socket_path = argv[*i + 1];
			*i += 2;
		} else if (!strncmp(argv[*i], "--socket=", 9)) {
			cli_socket_path = argv[(*i)++] + 9;
		} else if (!strcmp(argv[*i], "--help") || !strcmp(argv[*i], "-h")) {
			return cli_print_help(NULL) ? EXIT_USAGE : -1;
		} else if (!strcmp(argv[*i], "--version")) {
			puts("parvis " PARVIS_VERSION);
			return -1;
		} else {
			fprintf(stderr, "parvis: unknown option '%s' (see parvis help)\n",
				argv[*i]);
			return EXIT_USAGE;
		}
	}
	if (*i >= argc) {
		cli_print_help(NULL);
		return EXIT_USAGE;
	}
	return 0;
}

/* One verb of the table above: its command line parsed into its call, then run. */
static int run_verb(const struct verb *v, int argc, char **argv)
{
	struct args a = {.verb = v, .params = json_object_new_object()};
	int r = cli_parse_verb_args(&a, argc, argv);

	if (r == 0)
		r = v->fn(&a);
	else if (r < 0)
		r = 0; /* --help */
	json_object_put(a.params);
	return r;
}

int main(int argc, char **argv)
{
	const struct verb *v;
	char *def = NULL;
	int i = 1, r;

	signal(SIGPIPE, SIG_IGN);
	r = parse_global_options(argc, argv, &i);
	if (r)
		return r < 0 ? 0 : r;
	for (v = verbs; v->name && strcmp(v->name, argv[i]); v++)
		;
	if (v->name && !v->fn) /* the disk verbs work on files: no service */
		return cli_vhd_main(argc - i, argv + i);
	if (!cli_socket_path) {
		def = cli_default_socket();
		cli_socket_path = def ? def : "/run/parvis/vmms.sock";
	}
	r = -1;
	if (v->name)
		r = run_verb(v, argc - i, argv + i);
	for (size_t g = 0; r < 0 && g < ARRAY_SIZE(verb_groups); g++)
		if (verb_groups[g].is_verb(argv[i]))
			r = verb_groups[g].run(argc - i, argv + i);
	if (r < 0) {
		fprintf(stderr, "parvis: unknown verb '%s' (see parvis help)\n", argv[i]);
		r = EXIT_USAGE;
	}
	free(def);
	return r;
}
