/* Every verb's options, parsed into its call's parameters (docs/cli.md). */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include <getopt.h>
#include <strings.h>

#include "base/size.h"

/* --- arguments ------------------------------------------------------------------------------ */

/* A path for the service, which has another working directory: made absolute. */
char *cli_abs_path_cwd(const char *p)
{
	char cwd[PATH_MAX], *r;

	if (p[0] == '/')
		return strdup(p);
	r = realpath(p, NULL);
	if (r)
		return r;
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&r, "%s/%s", cwd, p) < 0)
		return strdup(p);
	return r;
}

int cli_usage_error(const char *verb, const char *fmt, ...) printf_like(2, 3);
int cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "parvis %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see parvis help %s)\n", verb);
	return EXIT_USAGE;
}

int cli_parse_size(const char *verb, const char *s, uint64_t *ret)
{
	if (size_parse(s, 1ull << 20, ret) < 0)
		return cli_usage_error(verb, "--memory: '%s' is not a size (examples: 512M, 2G)",
				       s);
	return 0;
}

int cli_parse_uint(const char *verb, const char *opt, const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-') {
		fprintf(stderr, "parvis %s: %s: '%s' is not a number (see parvis help %s)\n", verb,
			opt, s, verb);
		return EXIT_USAGE;
	}
	return 0;
}

/* Options shared by all verbs' parsers. */
enum {
	O_MEMORY = 0x100,
	O_CPUS,
	O_KERNEL,
	O_INITRD,
	O_CMDLINE,
	O_BOOT_DISK,
	O_DISK,
	O_NOTES,
	O_JSON,
	O_FORCE,
	O_TURN_OFF,
	O_TIMEOUT,
	O_NAME,
	O_PATH,
	O_READONLY,
	O_LUN,
	O_COMPAT,
	O_NO_VIDEO,
	O_VIDEO,
	O_WEB,
	O_VIEWER,
	O_TCP,
	O_CONSOLE_TCP,
	O_MAXIMUM,
	O_RESERVE,
	O_WEIGHT,
	O_GENERATION,
	O_CONTROLLER_TYPE,
	O_CONTROLLER_NUMBER,
	O_CONTROLLER_LOCATION,
	O_NO_MEDIA,
	O_STARTUP_ORDER,
	O_HELP,
};

static const struct option all_options[] = {
	{"memory", required_argument, NULL, O_MEMORY},
	{"cpus", required_argument, NULL, O_CPUS},
	{"kernel", required_argument, NULL, O_KERNEL},
	{"initrd", required_argument, NULL, O_INITRD},
	{"cmdline", required_argument, NULL, O_CMDLINE},
	{"boot-disk", required_argument, NULL, O_BOOT_DISK},
	{"disk", required_argument, NULL, O_DISK},
	{"notes", required_argument, NULL, O_NOTES},
	{"json", no_argument, NULL, O_JSON},
	{"force", no_argument, NULL, O_FORCE},
	{"turn-off", no_argument, NULL, O_TURN_OFF},
	{"timeout", required_argument, NULL, O_TIMEOUT},
	{"name", required_argument, NULL, O_NAME},
	{"path", required_argument, NULL, O_PATH},
	{"readonly", no_argument, NULL, O_READONLY},
	{"lun", required_argument, NULL, O_LUN},
	{"compatibility-for-migration", required_argument, NULL, O_COMPAT},
	{"no-video", no_argument, NULL, O_NO_VIDEO},
	{"video", required_argument, NULL, O_VIDEO},
	{"web", no_argument, NULL, O_WEB},
	{"viewer", no_argument, NULL, O_VIEWER},
	{"tcp", no_argument, NULL, O_TCP},
	{"console-tcp", required_argument, NULL, O_CONSOLE_TCP},
	{"maximum", required_argument, NULL, O_MAXIMUM},
	{"reserve", required_argument, NULL, O_RESERVE},
	{"relative-weight", required_argument, NULL, O_WEIGHT},
	{"generation", required_argument, NULL, O_GENERATION},
	{"controller-type", required_argument, NULL, O_CONTROLLER_TYPE},
	{"controller-number", required_argument, NULL, O_CONTROLLER_NUMBER},
	{"controller-location", required_argument, NULL, O_CONTROLLER_LOCATION},
	{"no-media", no_argument, NULL, O_NO_MEDIA},
	{"startup-order", required_argument, NULL, O_STARTUP_ORDER},
	{"help", no_argument, NULL, O_HELP},
	{0},
};

static bool verb_takes(const struct verb *v, const char *opt)
{
	const char *p = v->options;
	size_t n = strlen(opt);

	while (p && *p) {
		if (!strncmp(p, opt, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return !strcmp(opt, "help");
}

void cli_add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* How an option's value goes into the call's parameters. */
enum opt_kind {
	OPT_UINT,     /* a decimal number */
	OPT_SIZE,     /* a size with a unit (512M, 2G) */
	OPT_PATH,     /* a file, made absolute: the service runs elsewhere */
	OPT_STRING,   /* as given */
	OPT_TRUE,     /* a flag: true */
	OPT_FALSE,    /* a flag: false */
	OPT_ON_OFF,   /* "on" or "off": a boolean */
	OPT_CHOICE,   /* one of two words, case-insensitive: as given */
	OPT_CHOICE_N, /* one of two digits: a number */
};

struct opt_param {
	int opt;
	const char *key; /* the call's parameter */
	enum opt_kind kind;
	const char *choice[2]; /* OPT_CHOICE and OPT_CHOICE_N */
};

/* The options that only set one parameter of the call (docs/api.md names them). */
static const struct opt_param opt_params[] = {
	{O_MEMORY, "memory_bytes", OPT_SIZE, {0}},
	{O_CPUS, "cpus", OPT_UINT, {0}},
	{O_TIMEOUT, "timeout_s", OPT_UINT, {0}},
	{O_LUN, "lun", OPT_UINT, {0}},
	{O_CONTROLLER_NUMBER, "controller", OPT_UINT, {0}},
	{O_CONTROLLER_LOCATION, "lun", OPT_UINT, {0}},
	{O_RESERVE, "reserve", OPT_UINT, {0}},
	{O_WEIGHT, "relative_weight", OPT_UINT, {0}},
	{O_KERNEL, "kernel", OPT_PATH, {0}},
	{O_INITRD, "initrd", OPT_PATH, {0}},
	{O_PATH, "path", OPT_PATH, {0}},
	{O_BOOT_DISK, "boot_disk", OPT_PATH, {0}},
	{O_STARTUP_ORDER, "startup_order", OPT_STRING, {0}},
	{O_CMDLINE, "cmdline", OPT_STRING, {0}},
	{O_NOTES, "notes", OPT_STRING, {0}},
	{O_NAME, "new_name", OPT_STRING, {0}},
	{O_NO_MEDIA, "no_media", OPT_TRUE, {0}},
	{O_READONLY, "readonly", OPT_TRUE, {0}},
	{O_FORCE, "force", OPT_TRUE, {0}},
	{O_TURN_OFF, "turn_off", OPT_TRUE, {0}},
	{O_NO_VIDEO, "video", OPT_FALSE, {0}},
	{O_VIDEO, "video", OPT_ON_OFF, {"on", "off"}},
	{O_CONSOLE_TCP, "console_tcp", OPT_ON_OFF, {"on", "off"}},
	{O_COMPAT, "compatibility_for_migration", OPT_ON_OFF, {"on", "off"}},
	{O_GENERATION, "generation", OPT_CHOICE_N, {"1", "2"}},
	{O_CONTROLLER_TYPE, "controller_type", OPT_CHOICE, {"ide", "scsi"}},
};

static const struct opt_param *opt_param_find(int opt)
{
	for (size_t i = 0; i < ARRAY_SIZE(opt_params); i++)
		if (opt_params[i].opt == opt)
			return &opt_params[i];
	return NULL;
}

/* Which of the two choices val is: 0 or 1, or -1. */
static int choice_index(const struct opt_param *op, const char *val)
{
	bool fold = op->kind == OPT_CHOICE;

	for (int i = 0; i < 2; i++)
		if (fold ? !strcasecmp(val, op->choice[i]) : !strcmp(val, op->choice[i]))
			return i;
	return -1;
}

/* One option of the table into a->params. 0, or an exit status. */
static int put_opt_param(struct args *a, const struct opt_param *op, const char *name,
			 const char *val)
{
	const char *verb = a->verb->name;
	char flag[64];
	uint64_t n;
	int r, k;
	char *p;

	snprintf(flag, sizeof(flag), "--%s", name);
	switch (op->kind) {
	case OPT_UINT:
	case OPT_SIZE:
		r = op->kind == OPT_SIZE ? cli_parse_size(verb, val, &n)
					 : cli_parse_uint(verb, flag, val, &n);
		if (r)
			return r;
		json_object_object_add(a->params, op->key, json_object_new_int64((int64_t)n));
		return 0;
	case OPT_PATH:
		p = cli_abs_path_cwd(val);
		cli_add_str(a->params, op->key, p);
		free(p);
		return 0;
	case OPT_STRING: cli_add_str(a->params, op->key, val); return 0;
	case OPT_TRUE:
	case OPT_FALSE:
		json_object_object_add(a->params, op->key,
				       json_object_new_boolean(op->kind == OPT_TRUE));
		return 0;
	case OPT_ON_OFF:
	case OPT_CHOICE:
	case OPT_CHOICE_N: break;
	}
	k = choice_index(op, val);
	if (k < 0)
		return cli_usage_error(verb, "%s: '%s' is not %s or %s", flag, val, op->choice[0],
				       op->choice[1]);
	json_object_object_add(a->params, op->key,
			       op->kind == OPT_ON_OFF	? json_object_new_boolean(k == 0)
			       : op->kind == OPT_CHOICE ? json_object_new_string(val)
							: json_object_new_int(atoi(op->choice[k])));
	return 0;
}

/* The options that do more than set one parameter. 0, or an exit status (-1: help shown). */
static int put_other_opt(struct args *a, int c, const char *val)
{
	struct json_object *disks;
	char *p;

	switch (c) {
	case O_HELP: return cli_print_help(a->verb->name) ? EXIT_USAGE : -1;
	case O_DISK: /* repeatable: a list */
		if (!json_object_object_get_ex(a->params, "disks", &disks)) {
			disks = json_object_new_array();
			json_object_object_add(a->params, "disks", disks);
		}
		p = cli_abs_path_cwd(val);
		json_object_array_add(disks, json_object_new_string(p));
		free(p);
		break;
	case O_JSON: cli_json_out = true; break;
	case O_MAXIMUM: a->maximum = val; break; /* a percentage or a size: the verb says */
	case O_WEB: a->web = true; break;
	case O_VIEWER: a->viewer = true; break;
	case O_TCP: a->tcp = true; break;
	}
	if (c == O_FORCE)
		a->force = true;
	if (c == O_TURN_OFF)
		a->turn_off = true;
	return 0;
}

/* The positional arguments after the options: the VM's name and one more. */
static int parse_positionals(struct args *a, int argc, char **argv)
{
	const struct verb *v = a->verb;

	if (optind < argc)
		a->name = argv[optind++];
	if (optind < argc)
		a->extra_positional = argv[optind++];
	if (optind < argc)
		return cli_usage_error(v->name, "unexpected argument '%s'", argv[optind]);
	if (v->needs_name && !a->name)
		return cli_usage_error(v->name, "which VM? give its name");
	if (a->name)
		cli_add_str(a->params, "name", a->name);
	return 0;
}

/* Parses a verb's command line into a->params. 0, or an exit status. */
int cli_parse_verb_args(struct args *a, int argc, char **argv)
{
	const struct verb *v = a->verb;
	int c, idx, r;

	optind = 0; /* getopt restarts (glibc) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", all_options, &idx)) != -1) {
		const struct opt_param *op;
		const char *opt;

		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];

			if (c == ':')
				return cli_usage_error(v->name, "%s needs a value", bad);
			return cli_usage_error(v->name, "unknown option '%s'", bad);
		}
		opt = all_options[idx].name;
		if (!verb_takes(v, opt))
			return cli_usage_error(v->name, "--%s does not apply to this verb", opt);
		op = opt_param_find(c);
		r = op ? put_opt_param(a, op, opt, optarg) : 0;
		if (r == 0)
			r = put_other_opt(a, c, optarg);
		if (r)
			return r;
	}
	return parse_positionals(a, argc, argv);
}
