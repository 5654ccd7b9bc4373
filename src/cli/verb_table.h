/*
 * The verbs a CLI module owns, described once as a table: name, positional arguments, the
 * long options it accepts, its usage line and its help text. snapshot.c and migration.c
 * (and any later group of verbs) look verbs up, list and explain them through these instead
 * of each writing the same lookups; the JSON readers are those modules' answers' accessors.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <getopt.h>
#include <json-c/json.h>

struct cli_verb {
	const char *name;
	int npos;	  /* positional arguments */
	const char *opts; /* the long options it takes, comma-separated */
	const char *usage;
	const char *help;
};

const struct cli_verb *cli_verb_find(const struct cli_verb *t, size_t n, const char *name);
/* One "  parvis USAGE" line per verb. */
void cli_verb_print_usage(const struct cli_verb *t, size_t n);
/* The verb's usage and help; false if name is not in the table. */
bool cli_verb_print_help(const struct cli_verb *t, size_t n, const char *name);
/* Whether the verb accepts the long option opt. */
bool cli_verb_takes(const struct cli_verb *v, const char *opt);

/*
 * The next option of the verb's command line (getopt_long over options; the caller sets
 * optind = 0 and opterr = 0 first): its value, or CLI_VERB_END after the last; --help prints
 * the verb's help and gives CLI_VERB_HELP; an option the verb does not take, or one without
 * its value, is named on stderr with the usage and gives CLI_VERB_BAD.
 */
enum { CLI_VERB_END = -1, CLI_VERB_HELP = -2, CLI_VERB_BAD = -3 };
int cli_verb_getopt(const struct cli_verb *v, int argc, char **argv, const struct option *options);

/* A member of an answer, or the empty value when it is absent. */
const char *cli_json_str(struct json_object *o, const char *key);
int64_t cli_json_int(struct json_object *o, const char *key);
bool cli_json_bool(struct json_object *o, const char *key);
/* The absolute form of a path the service will open (it has another working directory); the
 * path itself if it does not resolve (the service names what is wrong). NULL: no memory. */
char *cli_abs_path(const char *p);
