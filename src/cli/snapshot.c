/*
 * parvis save-vm, checkpoint-vm, get-vmsnapshot, restore-vmsnapshot, remove-vmsnapshot, export-vm,
 * import-vm (docs/checkpoints.md). Long calls (a merge, a copy) ask the service for progress
 * lines, shown on a terminal (or with --progress); ^C closes the connection, which cancels the
 * work in the service and leaves the VM as it was.
 * Exit status: 0, 1 when the service refused or the call failed, 2 on bad usage, 3 without a
 * service, 130 when cancelled.
 */
#include "base/compiler.h"
#include "cli/verb_table.h"
#include "cli/snapshot.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "cli/net.h"
#include "ipc/api.h"
#include "ipc/jsonline.h"

static const struct cli_verb verbs[] = {
	{"save-vm", 1, "progress,json", "save-vm NAME [--progress] [--json]",
	 "Saves a running VM's memory and devices and ends its worker: the VM is Saved; start-vm "
	 "resumes it, stop-vm --turn-off discards the saved state. ^C while it saves cancels: the "
	 "VM goes on running."},
	{"checkpoint-vm", 1, "snapshot-name,json",
	 "checkpoint-vm NAME [--snapshot-name N] [--json]",
	 "A standard checkpoint: the VM's configuration, a differencing child for every read-write "
	 "disk (which must be VHDX), and, when it runs (or is Saved), its saved state; the VM goes "
	 "on with the children (a running VM is saved and resumed at once)."},
	{"get-vmsnapshot", 1, "json", "get-vmsnapshot NAME [--json]",
	 "The VM's checkpoints as a tree: names, ids, parents, creation times, the current one."},
	{"restore-vmsnapshot", 2, "json", "restore-vmsnapshot NAME CHECKPOINT [--json]",
	 "Takes the VM (Off) back to a checkpoint: its configuration, and new differencing "
	 "children of the checkpoint's disks. The current state is discarded."},
	{"remove-vmsnapshot", 2, "include-all-child-snapshots,progress,json",
	 "remove-vmsnapshot NAME CHECKPOINT [--include-all-child-snapshots] [--progress] [--json]",
	 "Removes a checkpoint of a VM that is Off, merging its disks into the disks that depend "
	 "on them; with --include-all-child-snapshots, every checkpoint below it too."},
	{"export-vm", 2, "progress,json", "export-vm NAME DIR [--progress] [--json]",
	 "Copies a VM that is Off or Saved into DIR/NAME: its configuration, checkpoints, disks "
	 "with their chains, kernel and initrd, and a Saved VM's saved state (the import is "
	 "Saved too), for import-vm on this host or another."},
	{"import-vm", 1, "copy,generate-new-id,progress,json",
	 "import-vm DIR [--copy] [--generate-new-id] [--progress] [--json]",
	 "Registers the VM an export-vm left in DIR (its files used in place, or with --copy "
	 "copied into the service's storage); --generate-new-id gives it a new id."},
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

bool cli_snapshot_is_verb(const char *verb)
{
	return cli_verb_find(verbs, ARRAY_SIZE(verbs), verb) != NULL;
}

void cli_snapshot_usage(void)
{
	cli_verb_print_usage(verbs, ARRAY_SIZE(verbs));
}

bool cli_snapshot_help(const char *verb)
{
	return cli_verb_print_help(verbs, ARRAY_SIZE(verbs), verb);
}

static void show_progress(struct json_object *p)
{
	struct json_object *v;
	const char *what = "working";
	int64_t done = 0, total = 0;

	if (json_object_object_get_ex(p, "operation", &v))
		what = json_object_get_string(v);
	if (json_object_object_get_ex(p, "done", &v))
		done = json_object_get_int64(v);
	if (json_object_object_get_ex(p, "total", &v))
		total = json_object_get_int64(v);
	fprintf(stderr, "\r%s: %3d%% (%lld of %lld MiB)", what,
		total > 0 ? (int)(done * 100 / total) : 100, (long long)(done >> 20),
		(long long)(total >> 20));
	fflush(stderr);
}

/* One call whose progress lines come first, cancelled by ^C; 0 with *result, or an exit status. */
static int long_call(const char *name, struct json_object *params, bool json,
		     struct json_object **result)
{
	struct sigaction sa = {.sa_handler = on_sigint};
	const struct cli_wait w = {.progress = show_progress, .interrupted = &interrupted};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	cli_json_out = json;
	return cli_request_wait(name, params, &w, result);
}

/* Children under their parent, indented, as Get-VMSnapshot's tree. */
static void print_tree(struct json_object *list, const char *parent, int depth)
{
	size_t i, n = json_object_array_length(list);

	for (i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(list, i), *p;
		bool root = !json_object_object_get_ex(s, "parent_id", &p) || !p;

		if (parent ? root || strcmp(json_object_get_string(p), parent) : !root)
			continue;
		printf("%*s%s%s  %s  %s%s%s\n", depth * 2, "", depth ? "└ " : "",
		       cli_json_str(s, "name"), cli_json_str(s, "created"), cli_json_str(s, "id"),
		       cli_json_bool(s, "current") ? "  (current)" : "",
		       cli_json_bool(s, "merge_pending") ? "  (merge pending)" : "");
		print_tree(list, cli_json_str(s, "id"), depth + 1);
	}
}

static int print_result(const char *verb, struct json_object *res, bool json)
{
	struct json_object *list;

	if (json) {
		printf("%s\n",
		       json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (!strcmp(verb, "get-vmsnapshot")) {
		if (json_object_object_get_ex(res, "snapshots", &list) &&
		    json_object_array_length(list))
			print_tree(list, NULL, 0);
		else
			printf("VM '%s' has no checkpoints\n", cli_json_str(res, "name"));
	} else if (!strcmp(verb, "checkpoint-vm")) {
		printf("checkpoint '%s' (%s)\n", cli_json_str(res, "name"),
		       cli_json_str(res, "id"));
	} else if (!strcmp(verb, "remove-vmsnapshot")) {
		printf("checkpoint '%s' of VM '%s' removed\n", cli_json_str(res, "removed"),
		       cli_json_str(res, "name"));
	} else if (!strcmp(verb, "export-vm")) {
		printf("VM '%s' exported to %s\n", cli_json_str(res, "name"),
		       cli_json_str(res, "path"));
	} else {
		printf("VM '%s' is %s\n", cli_json_str(res, "name"), cli_json_str(res, "state"));
	}
	json_object_put(res);
	return 0;
}

int cli_snapshot_main(int argc, char **argv)
{
	static const struct option options[] = {
		{"snapshot-name", required_argument, NULL, 'n'},
		{"include-all-child-snapshots", no_argument, NULL, 'a'},
		{"copy", no_argument, NULL, 'c'},
		{"generate-new-id", no_argument, NULL, 'g'},
		{"progress", no_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct cli_verb *v = cli_verb_find(verbs, ARRAY_SIZE(verbs), argv[0]);
	struct json_object *params = json_object_new_object(), *res = NULL;
	bool json = false, progress = isatty(STDERR_FILENO);
	char *dir = NULL;
	const char *pos[2] = {NULL, NULL};
	int c, npos = 0, r;

	optind = 0;
	opterr = 0;
	while ((c = cli_verb_getopt(v, argc, argv, options)) >= 0) {
		switch (c) {
		case 'n':
			json_object_object_add(params, "snapshot_name",
					       json_object_new_string(optarg));
			break;
		case 'a':
			json_object_object_add(params, "include_children",
					       json_object_new_boolean(1));
			break;
		case 'c': json_object_object_add(params, "copy", json_object_new_boolean(1)); break;
		case 'g':
			json_object_object_add(params, "generate_new_id",
					       json_object_new_boolean(1));
			break;
		case 'p': progress = true; break;
		case 'j': json = true; break;
		}
	}
	if (c != CLI_VERB_END) {
		json_object_put(params);
		return c == CLI_VERB_HELP ? 0 : EXIT_USAGE;
	}
	for (; optind < argc; optind++) {
		if (npos == v->npos) {
			fprintf(stderr, "parvis %s: unexpected argument '%s'\nusage: parvis %s\n",
				v->name, argv[optind], v->usage);
			json_object_put(params);
			return EXIT_USAGE;
		}
		pos[npos++] = argv[optind];
	}
	if (npos != v->npos) {
		fprintf(stderr, "parvis %s: missing arguments\nusage: parvis %s\n", v->name,
			v->usage);
		json_object_put(params);
		return EXIT_USAGE;
	}
	if (!strcmp(v->name, "import-vm")) {
		dir = cli_abs_path(pos[0]);
		json_object_object_add(params, "path", json_object_new_string(dir));
	} else {
		json_object_object_add(params, "name", json_object_new_string(pos[0]));
		if (!strcmp(v->name, "export-vm")) {
			dir = cli_abs_path(pos[1]);
			json_object_object_add(params, "path", json_object_new_string(dir));
		} else if (pos[1]) {
			json_object_object_add(params, "snapshot", json_object_new_string(pos[1]));
		}
	}
	if (cli_verb_takes(v, "progress") && progress)
		json_object_object_add(params, "progress", json_object_new_boolean(1));
	free(dir);
	r = long_call(v->name, params, json, &res);
	return r ? r : print_result(v->name, res, json);
}
