/* The verb tables of the CLI's modules (verb_table.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/verb_table.h"

const struct cli_verb *cli_verb_find(const struct cli_verb *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	return NULL;
}

void cli_verb_print_usage(const struct cli_verb *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("  parvis %s\n", t[i].usage);
}

bool cli_verb_print_help(const struct cli_verb *t, size_t n, const char *name)
{
	const struct cli_verb *v = cli_verb_find(t, n, name);

	if (!v)
		return false;
	printf("usage: parvis %s\n\n%s\n", v->usage, v->help);
	return true;
}

bool cli_verb_takes(const struct cli_verb *v, const char *opt)
{
	size_t n = strlen(opt);
	const char *p = v->opts;

	while (p && *p) {
		if (!strncmp(p, opt, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return false;
}

int cli_verb_getopt(const struct cli_verb *v, int argc, char **argv, const struct option *options)
{
	int c = getopt_long(argc, argv, ":", options, NULL);
	const char *opt = c == '?' || c == ':' ? argv[optind - 1] : options[0].name;

	if (c == -1)
		return CLI_VERB_END;
	for (size_t k = 0; options[k].name; k++)
		if (options[k].val == c)
			opt = options[k].name;
	if (c == 'h') {
		printf("usage: parvis %s\n\n%s\n", v->usage, v->help);
		return CLI_VERB_HELP;
	}
	if (c == '?' || c == ':' || !cli_verb_takes(v, opt)) {
		fprintf(stderr, "parvis %s: %s %s\nusage: parvis %s\n", v->name, opt,
			c == ':' ? "needs a value" : "is not an option of this verb", v->usage);
		return CLI_VERB_BAD;
	}
	return c;
}

const char *cli_json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) && json_object_get_string(v)
		       ? json_object_get_string(v)
		       : "";
}

int64_t cli_json_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

bool cli_json_bool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

char *cli_abs_path(const char *p)
{
	char buf[PATH_MAX];

	return realpath(p, buf) ? strdup(buf) : strdup(p);
}
