/*
 * What the parts of parvis share (private to src/cli/): the parsed command line of a verb,
 * the verb table's entry, the service's calls and the output helpers.
 *   service.c  the socket and the calls (one JSON line each way, a descriptor with some);
 *   args.c     every verb's options, parsed into its call's parameters;
 *   output.c   JSON and tables;
 *   console.c  the serial console and the screen (connect, get-vmscreenshot);
 *   main.c     the verbs, their table and help, main().
 */
#pragma once

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1, /* the service refused or the call failed */
	EXIT_USAGE = 2,	 /* bad command line */
	EXIT_NO_SERVICE = 3,
	EXIT_CANCELLED = 130, /* ^C: the long call was cancelled, the VM left as it was */
};

/* --socket (or its default) and --json, set by main() before the verb runs. */
extern const char *cli_socket_path;
extern bool cli_json_out;

struct verb;

struct args {
	const struct verb *verb;
	const char *name; /* the positional VM name */
	const char *extra_positional;
	struct json_object *params;
	bool force, turn_off;
	bool web, viewer, tcp; /* connect */
	const char
		*maximum; /* --maximum: a percentage (set-vmprocessor) or a size (set-vmmemory) */
};

typedef int (*verb_fn)(struct args *a);

struct verb {
	const char *name;
	verb_fn fn;
	const char *options; /* the options it takes, as "memory,cpus,..." (for checking) */
	bool needs_name;
	const char *usage;
	const char *help;
};

/* service.c */
/* The socket when --socket is not given: $PARVIS_SOCKET, root's, or the user's (malloc'd). */
char *cli_default_socket(void);
/*
 * Makes one call. On success returns 0 with *result (the caller's); on a refused call prints
 * the service's error and returns EXIT_FAILED. progress, if not NULL, is shown on a terminal
 * while the call takes long.
 */
int cli_request(const char *name, struct json_object *params, const char *progress,
		struct json_object **result);
/* How a call's wait is shown and ended. */
struct cli_wait {
	const char *spinner;			  /* on a terminal, "SPINNER... Ns" meanwhile */
	void (*progress)(struct json_object *p);  /* the service's progress lines; NULL: dropped */
	const volatile sig_atomic_t *interrupted; /* set by a signal: EXIT_CANCELLED */
};
/* cli_request() with its wait described by w: progress lines, ^C. */
int cli_request_wait(const char *name, struct json_object *params, const struct cli_wait *w,
		     struct json_object **result);
/* cli_request() for a call whose answer carries a descriptor: *ret_fd, or -1 if none came. */
int cli_request_fd(const char *name, struct json_object *params, struct json_object **result,
		   int *ret_fd);

/* args.c */
/* Parses a verb's command line into a->params. 0, or an exit status (-1: help was shown). */
int cli_parse_verb_args(struct args *a, int argc, char **argv);
/* "parvis VERB: ..." on stderr, with where to read more; returns EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) printf_like(2, 3);
int cli_parse_size(const char *verb, const char *s, uint64_t *ret);
int cli_parse_uint(const char *verb, const char *opt, const char *s, uint64_t *ret);
/* A path for the service, which has another working directory: made absolute. */
char *cli_abs_path_cwd(const char *p);
void cli_add_str(struct json_object *o, const char *k, const char *v);

/* output.c */
void cli_print_json(struct json_object *o);
/* A string member, or "" when absent or not a string. */
const char *cli_jstr(struct json_object *o, const char *key);
/* A string from a guest made safe for the terminal, cut at n - 1 bytes, in buf. */
const char *cli_printable(const char *s, char *buf, size_t n);
double cli_jnum(struct json_object *o, const char *key);
void cli_print_vm_table(struct json_object *vms);
/* The JSON with --json, else the line what (if any); takes res. */
int cli_print_vm_or_json(struct json_object *res, const char *what);

/* console.c */
int verb_console(struct args *a);
int verb_screenshot(struct args *a);
int verb_connect(struct args *a);

/* main.c */
/* One verb's usage and help, or all verbs' usage when verb is NULL; non-zero if unknown. */
int cli_print_help(const char *verb);
