/*
 * parvis enable-vmmigration, disable-vmmigration, get-vmhost and move-vm (docs/migration.md),
 * as Hyper-V's Enable-VMMigration, Disable-VMMigration, Get-VMHost and Move-VM. move-vm asks
 * the service for progress lines (on a terminal, or with --progress) and shows the bytes sent
 * and the rate while the memory moves, then the worker's own numbers: rounds, bytes, the last
 * round's dirty pages, the downtime.
 * Exit status: 0, 1 when the service refused or the call failed, 2 on bad usage, 3 without a
 * service.
 */
#include "base/compiler.h"
#include "cli/verb_table.h"
#include "cli/migration.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "cli/net.h"
#include "cli/snapshot.h"
#include "ipc/api.h"
#include "ipc/jsonline.h"

static const struct cli_verb verbs[] = {
	{"enable-vmmigration", 0, "listen,key-file,certificate,private-key,trusted-ca,json",
	 "enable-vmmigration --listen ADDR:PORT (--key-file FILE | --certificate PEM "
	 "--private-key PEM --trusted-ca PEM) [--json]",
	 "Turns on live migration to and from this host: a listener on ADDR:PORT whose "
	 "connections must prove, in a TLS handshake, that they hold the pre-shared key of FILE "
	 "(one line of hex, at least 32 bytes; the same file on every host that may migrate to "
	 "another), or, with per-host certificates, present a certificate signed by a CA of "
	 "--trusted-ca (this host presents --certificate). The setting survives a restart of the "
	 "service."},
	{"disable-vmmigration", 0, "json", "disable-vmmigration [--json]",
	 "Turns live migration off: the listener closes (moves under way finish)."},
	{"get-vmhost", 0, "json", "get-vmhost [--json]",
	 "This host: processors, memory, and the migration listener and its authentication."},
	{"move-vm", 1, "destination-host,progress,json",
	 "move-vm NAME --destination-host HOST:PORT [--progress] [--json]",
	 "Moves a running VM to another host with live migration: the destination checks first "
	 "(processor, switches, the VM's files reachable at the same paths: shared storage, "
	 "memory); then the memory moves while the guest runs, and the guest goes on there. If "
	 "anything fails before the switch-over the VM keeps running here."},
};

bool cli_migration_is_verb(const char *verb)
{
	return cli_verb_find(verbs, ARRAY_SIZE(verbs), verb) != NULL;
}

void cli_migration_usage(void)
{
	cli_verb_print_usage(verbs, ARRAY_SIZE(verbs));
}

bool cli_migration_help(const char *verb)
{
	return cli_verb_print_help(verbs, ARRAY_SIZE(verbs), verb);
}

static void show_progress(struct json_object *p)
{
	fprintf(stderr, "\rmove-vm: %lld MiB sent (of %lld MiB of memory), %.1f MiB/s, %.1f s",
		(long long)(cli_json_int(p, "bytes_sent") >> 20),
		(long long)(cli_json_int(p, "memory_bytes") >> 20),
		(double)cli_json_int(p, "rate_bytes_per_s") / 1048576.0,
		(double)cli_json_int(p, "elapsed_ms") / 1000.0);
	/* After the first round: the worker's own numbers. */
	if (json_object_object_get_ex(p, "round", NULL))
		fprintf(stderr,
			"; round %lld: %lld pages dirty (%lld/s), expected downtime %lld ms",
			(long long)cli_json_int(p, "round"),
			(long long)cli_json_int(p, "dirty_pages"),
			(long long)cli_json_int(p, "dirty_pages_per_s"),
			(long long)cli_json_int(p, "expected_downtime_ms"));
	fputs("   ", stderr);
	fflush(stderr);
}

/* move-vm: progress lines first, then the answer. 0 with *result, or an exit status. */
static int move_call(struct json_object *params, bool json, struct json_object **result)
{
	const struct cli_wait w = {.progress = json ? NULL : show_progress};

	cli_json_out = json;
	return cli_request_wait("move-vm", params, &w, result);
}

static void print_host(struct json_object *res)
{
	struct json_object *m = NULL, *v;

	json_object_object_get_ex(res, "migration", &m);
	printf("host %s: %lld processors, %lld MiB of memory\n", cli_json_str(res, "name"),
	       (long long)cli_json_int(res, "logical_processors"),
	       (long long)(cli_json_int(res, "memory_bytes") >> 20));
	if (m && json_object_object_get_ex(m, "enabled", &v) && json_object_get_boolean(v))
		printf("live migration: enabled, %s on %s (%s, %s %s)\n",
		       json_object_object_get_ex(m, "listening", &v) && json_object_get_boolean(v)
			       ? "listening"
			       : "NOT listening (see the service's log)",
		       cli_json_str(m, "listen"), cli_json_str(m, "authentication"),
		       json_object_object_get_ex(m, "certificate", NULL) ? "certificate"
									 : "key file",
		       json_object_object_get_ex(m, "certificate", NULL)
			       ? cli_json_str(m, "certificate")
			       : cli_json_str(m, "key_file"));
	else
		printf("live migration: disabled (parvis enable-vmmigration)\n");
}

static int print_result(const char *verb, struct json_object *res, bool json)
{
	if (json) {
		printf("%s\n",
		       json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (!strcmp(verb, "move-vm")) {
		struct json_object *m = NULL;

		json_object_object_get_ex(res, "migration", &m);
		printf("VM '%s' moved to %s (%s there): %lld rounds, %.1f MiB sent, %lld pages in "
		       "the last round, downtime %lld ms, total %lld ms\n",
		       cli_json_str(res, "name"), cli_json_str(res, "destination"),
		       cli_json_str(res, "destination_state"), (long long)cli_json_int(m, "rounds"),
		       (double)cli_json_int(m, "bytes") / 1048576.0,
		       (long long)cli_json_int(m, "last_dirty_pages"),
		       (long long)cli_json_int(m, "downtime_ms"),
		       (long long)cli_json_int(m, "total_ms"));
	} else {
		print_host(res);
	}
	json_object_put(res);
	return 0;
}

int cli_migration_main(int argc, char **argv)
{
	static const struct option options[] = {
		{"listen", required_argument, NULL, 'l'},
		{"key-file", required_argument, NULL, 'k'},
		{"certificate", required_argument, NULL, 'c'},
		{"private-key", required_argument, NULL, 'P'},
		{"trusted-ca", required_argument, NULL, 'C'},
		{"destination-host", required_argument, NULL, 'd'},
		{"progress", no_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct cli_verb *v = cli_verb_find(verbs, ARRAY_SIZE(verbs), argv[0]);
	struct json_object *params = json_object_new_object(), *res = NULL;
	bool json = false, progress = isatty(STDERR_FILENO);
	const char *pos = NULL;
	int c, npos = 0, r;
	char *key;

	optind = 0;
	opterr = 0;
	while ((c = cli_verb_getopt(v, argc, argv, options)) >= 0) {
		switch (c) {
		case 'l':
			json_object_object_add(params, "listen", json_object_new_string(optarg));
			break;
		case 'k':
		case 'c':
		case 'P':
		case 'C':
			key = cli_abs_path(optarg);
			json_object_object_add(params,
					       c == 'k'	  ? "key_file"
					       : c == 'c' ? "certificate"
					       : c == 'P' ? "private_key"
							  : "trusted_ca",
					       json_object_new_string(key));
			free(key);
			break;
		case 'd':
			json_object_object_add(params, "destination_host",
					       json_object_new_string(optarg));
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
		pos = argv[optind];
		npos++;
	}
	if (npos != v->npos) {
		fprintf(stderr, "parvis %s: which VM? give its name\nusage: parvis %s\n", v->name,
			v->usage);
		json_object_put(params);
		return EXIT_USAGE;
	}
	if (!strcmp(v->name, "enable-vmmigration") &&
	    (!json_object_object_get_ex(params, "listen", NULL) ||
	     (!json_object_object_get_ex(params, "key_file", NULL) &&
	      !json_object_object_get_ex(params, "certificate", NULL)))) {
		fprintf(stderr,
			"parvis %s: give --listen and --key-file (or the certificate "
			"options)\nusage: parvis %s\n",
			v->name, v->usage);
		json_object_put(params);
		return EXIT_USAGE;
	}
	if (!strcmp(v->name, "move-vm")) {
		if (!json_object_object_get_ex(params, "destination_host", NULL)) {
			fprintf(stderr, "parvis move-vm: give --destination-host HOST:PORT\n");
			json_object_put(params);
			return EXIT_USAGE;
		}
		json_object_object_add(params, "name", json_object_new_string(pos));
		if (progress)
			json_object_object_add(params, "progress", json_object_new_boolean(1));
		r = move_call(params, json, &res);
	} else {
		r = cli_call(v->name, params, json, &res); /* takes params */
	}
	return r ? r : print_result(v->name, res, json);
}
