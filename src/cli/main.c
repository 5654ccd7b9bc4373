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

#define DETACH_KEY 0x1d /* Ctrl-], as virsh console */

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1, /* the service refused or the call failed */
	EXIT_USAGE = 2,	 /* bad command line */
	EXIT_NO_SERVICE = 3,
};

static const char *socket_path;
static bool json_out;

/* --- talking to the service ---------------------------------------------------------------- */

static char *default_socket(void)
{
	const char *env = getenv("PARVIS_SOCKET"), *xdg;
	char *p;

	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/run/parvis/vmms.sock");
	xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg && asprintf(&p, "%s/parvis/vmms.sock", xdg) >= 0)
		return p;
	if (asprintf(&p, "/tmp/parvis-%d/vmms.sock", (int)geteuid()) >= 0)
		return p;
	return NULL;
}

static int connect_service(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "parvis: socket path %s is too long\n", socket_path);
		return -1;
	}
	memcpy(addr.sun_path, socket_path, strlen(socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr,
			"parvis: cannot connect to parvis-vmms at %s: %s\n"
			"        Is the service running? Start it with: parvis-vmms --state-dir "
			"DIR "
			"--socket %s\n"
			"        (or point parvis at it with --socket PATH or PARVIS_SOCKET)\n",
			socket_path, strerror(errno), socket_path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int cli_connect(void)
{
	return connect_service();
}

/* The answer of call `name`: 0 with *result (the caller's), or the error printed. */
static int answer_result(const char *name, struct json_object *ans, struct json_object **result)
{
	struct json_object *v, *e;

	if (!ans) {
		fprintf(stderr, "parvis: the service answered something that is not JSON\n");
		return EXIT_FAILED;
	}
	if (!json_object_object_get_ex(ans, "ok", &v) || !json_object_get_boolean(v)) {
		const char *msg = "unknown error", *code = "";

		if (json_object_object_get_ex(ans, "error", &e)) {
			if (json_object_object_get_ex(e, "message", &v))
				msg = json_object_get_string(v);
			if (json_object_object_get_ex(e, "code", &v))
				code = json_object_get_string(v);
		}
		if (json_out)
			printf("%s\n",
			       json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PRETTY));
		fprintf(stderr, "parvis %s: %s (%s)\n", name, msg, code);
		json_object_put(ans);
		return EXIT_FAILED;
	}
	json_object_object_get_ex(ans, "result", &v);
	*result = json_object_get(v);
	json_object_put(ans);
	return 0;
}

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : "";
}

/*
 * A string that came from a guest (KVP items), made safe for the terminal: C0 controls, DEL
 * and the C1 controls' UTF-8 forms become '?', and it is cut at n - 1 bytes. The worker
 * already replaces them; this is the CLI not trusting what reaches it.
 */
static const char *printable(const char *s, char *buf, size_t n)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < n; p++) {
		if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] < 0xA0) {
			buf[o++] = '?';
			p++;
		} else {
			buf[o++] = *p < 0x20 || *p == 0x7F ? '?' : (char)*p;
		}
	}
	buf[o] = '\0';
	return buf;
}

static double jnum(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0;
}

/* --- arguments ------------------------------------------------------------------------------ */

/* A path for the service, which has another working directory: made absolute. */
static char *abs_path(const char *p)
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

static int usage_error(const char *verb, const char *fmt, ...) printf_like(2, 3);
static int usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "parvis %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see parvis help %s)\n", verb);
	return EXIT_USAGE;
}

static int parse_size(const char *verb, const char *s, uint64_t *ret)
{
	if (size_parse(s, 1ull << 20, ret) < 0)
		return usage_error(verb, "--memory: '%s' is not a size (examples: 512M, 2G)", s);
	return 0;
}

static int parse_uint(const char *verb, const char *opt, const char *s, uint64_t *ret)
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

/*
 * Makes one call. On success returns 0 with *result (the caller's); on a
 * refused call prints the service's error and returns EXIT_FAILED. progress,
 * if not NULL, is shown on a terminal while the call takes long.
 */
static int call(const char *name, struct json_object *params, const char *progress,
		struct json_object **result)
{
	struct json_object *req = api_request_new(1, name, params), *ans;
	struct jsonline_reader rd;
	bool tty = progress && isatty(STDERR_FILENO), shown = false;
	time_t start = time(NULL);
	char *line;
	size_t len;
	int fd, r;

	fd = connect_service();
	if (fd < 0) {
		json_object_put(req);
		return EXIT_NO_SERVICE;
	}
	r = jsonline_send(fd, req);
	json_object_put(req);
	/* A caller the service refuses is answered and dropped at once: read that answer. */
	if (r == -EPIPE || r == -ECONNRESET)
		r = 0;
	if (r < 0 || jsonline_reader_init(&rd, fd, API_ANSWER_MAX) < 0) {
		fprintf(stderr, "parvis: cannot send the request: %s\n", strerror(-r));
		close(fd);
		return EXIT_NO_SERVICE;
	}
	for (;;) {
		r = jsonline_read(&rd, tty ? 1000 : -1, &line, &len);
		if (r != -ETIMEDOUT)
			break;
		fprintf(stderr, "\r%s... %lds ", progress, (long)(time(NULL) - start));
		shown = true;
	}
	if (shown)
		fprintf(stderr, "\r\033[K");
	if (r <= 0) {
		fprintf(stderr, "parvis: the service closed the connection without answering%s%s\n",
			r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		jsonline_reader_fini(&rd);
		close(fd);
		return EXIT_NO_SERVICE;
	}
	ans = jsonline_parse_object(line, len);
	jsonline_reader_fini(&rd);
	close(fd);
	return answer_result(name, ans, result);
}

int cli_call(const char *name, struct json_object *params, bool json, struct json_object **result)
{
	json_out = json;
	return call(name, params, NULL, result);
}

/*
 * call() for a call whose answer carries a descriptor (SCM_RIGHTS on its first byte):
 * *ret_fd gets it, or -1 if the answer had none.
 */
static int call_fd(const char *name, struct json_object *params, struct json_object **result,
		   int *ret_fd)
{
	struct json_object *req = api_request_new(1, name, params);
	char buf[8192];
	size_t used = 0;
	int fd, r;

	*ret_fd = -1;
	fd = connect_service();
	if (fd < 0) {
		json_object_put(req);
		return EXIT_NO_SERVICE;
	}
	r = jsonline_send(fd, req);
	json_object_put(req);
	if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
		fprintf(stderr, "parvis: cannot send the request: %s\n", strerror(-r));
		close(fd);
		return EXIT_NO_SERVICE;
	}
	while (used < sizeof(buf) - 1 && !memchr(buf, '\n', used)) {
		union {
			struct cmsghdr h;
			char c[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov = {.iov_base = buf + used, .iov_len = sizeof(buf) - 1 - used};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.c,
				    .msg_controllen = sizeof(cm.c)};
		struct cmsghdr *h;
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
			if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
			    h->cmsg_len == CMSG_LEN(sizeof(int)) && *ret_fd < 0)
				memcpy(ret_fd, CMSG_DATA(h), sizeof(int));
		used += (size_t)n;
	}
	close(fd);
	if (!memchr(buf, '\n', used)) {
		fprintf(stderr, "parvis: the service closed the connection without answering\n");
		if (*ret_fd >= 0)
			close(*ret_fd);
		*ret_fd = -1;
		return EXIT_NO_SERVICE;
	}
	r = answer_result(
		name, jsonline_parse_object(buf, (size_t)((char *)memchr(buf, '\n', used) - buf)),
		result);
	if (r && *ret_fd >= 0) {
		close(*ret_fd);
		*ret_fd = -1;
	}
	return r;
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

static int print_help(const char *verb);

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

static void add_str(struct json_object *o, const char *k, const char *v)
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
		r = op->kind == OPT_SIZE ? parse_size(verb, val, &n)
					 : parse_uint(verb, flag, val, &n);
		if (r)
			return r;
		json_object_object_add(a->params, op->key, json_object_new_int64((int64_t)n));
		return 0;
	case OPT_PATH:
		p = abs_path(val);
		add_str(a->params, op->key, p);
		free(p);
		return 0;
	case OPT_STRING: add_str(a->params, op->key, val); return 0;
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
		return usage_error(verb, "%s: '%s' is not %s or %s", flag, val, op->choice[0],
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
	case O_HELP: return print_help(a->verb->name) ? EXIT_USAGE : -1;
	case O_DISK: /* repeatable: a list */
		if (!json_object_object_get_ex(a->params, "disks", &disks)) {
			disks = json_object_new_array();
			json_object_object_add(a->params, "disks", disks);
		}
		p = abs_path(val);
		json_object_array_add(disks, json_object_new_string(p));
		free(p);
		break;
	case O_JSON: json_out = true; break;
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
		return usage_error(v->name, "unexpected argument '%s'", argv[optind]);
	if (v->needs_name && !a->name)
		return usage_error(v->name, "which VM? give its name");
	if (a->name)
		add_str(a->params, "name", a->name);
	return 0;
}

/* Parses a verb's command line into a->params. 0, or an exit status. */
static int parse_verb_args(struct args *a, int argc, char **argv)
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
				return usage_error(v->name, "%s needs a value", bad);
			return usage_error(v->name, "unknown option '%s'", bad);
		}
		opt = all_options[idx].name;
		if (!verb_takes(v, opt))
			return usage_error(v->name, "--%s does not apply to this verb", opt);
		op = opt_param_find(c);
		r = op ? put_opt_param(a, op, opt, optarg) : 0;
		if (r == 0)
			r = put_other_opt(a, c, optarg);
		if (r)
			return r;
	}
	return parse_positionals(a, argc, argv);
}

/* --- output --------------------------------------------------------------------------------- */

static void format_uptime(double s, char *buf, size_t len)
{
	unsigned long t = (unsigned long)s;

	if (t >= 86400)
		snprintf(buf, len, "%lu.%02lu:%02lu:%02lu", t / 86400, t / 3600 % 24, t / 60 % 60,
			 t % 60);
	else
		snprintf(buf, len, "%02lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

static void print_vm_table(struct json_object *vms)
{
	size_t i, n = json_object_array_length(vms);
	int w = 4;

	for (i = 0; i < n; i++) {
		int l = (int)strlen(jstr(json_object_array_get_idx(vms, i), "name"));

		if (l > w)
			w = l;
	}
	printf("%-*s  %-8s  %11s  %17s  %-10s  %s\n", w, "Name", "State", "CPUUsage(%)",
	       "MemoryAssigned(M)", "Uptime", "Status");
	printf("%-*s  %-8s  %11s  %17s  %-10s  %s\n", w, "----", "-----", "-----------",
	       "-----------------", "------", "------");
	for (i = 0; i < n; i++) {
		struct json_object *vm = json_object_array_get_idx(vms, i);
		char up[32];

		format_uptime(jnum(vm, "uptime_s"), up, sizeof(up));
		printf("%-*s  %-8s  %11.0f  %17.0f  %-10s  %s\n", w, jstr(vm, "name"),
		       jstr(vm, "state"), jnum(vm, "cpu_usage_percent"),
		       jnum(vm, "memory_assigned_bytes") / 1048576.0, up, jstr(vm, "status"));
	}
}

static int print_vm_or_json(struct json_object *res, const char *what)
{
	if (json_out)
		print_json(res);
	else if (what)
		printf("%s\n", what);
	json_object_put(res);
	return EXIT_OK;
}

/* --- verbs ---------------------------------------------------------------------------------- */

/* One call on a named VM; prints "VM 'NAME' is STATE" (or the JSON). */
static int simple_call(struct args *a, const char *progress)
{
	struct json_object *res;
	char msg[512], prog[300];
	int r;

	if (progress)
		snprintf(prog, sizeof(prog), "%s %s", progress, a->name);
	r = call(a->verb->name, json_object_get(a->params), progress ? prog : NULL, &res);
	if (r)
		return r;
	snprintf(msg, sizeof(msg), "VM '%s' is %s", a->name, jstr(res, "state"));
	return print_vm_or_json(res, msg);
}

static int verb_new_vm(struct args *a)
{
	struct json_object *res;
	char msg[512];
	int r = call("new-vm", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	snprintf(msg, sizeof(msg), "VM '%s' created (ID %s), Off", jstr(res, "name"),
		 jstr(res, "id"));
	return print_vm_or_json(res, msg);
}

static int verb_get_vm(struct args *a)
{
	struct json_object *res, *vms;
	int r = call("get-vm", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (json_out) {
		print_json(res);
	} else if (json_object_object_get_ex(res, "vms", &vms)) {
		print_vm_table(vms);
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
	int r = call("remove-vm", json_object_get(a->params), "removing", &res);

	if (r)
		return r;
	if (!json_out)
		printf("VM '%s' removed\n", a->name);
	else
		print_json(res);
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
		char *p = abs_path(a->extra_positional);

		add_str(a->params, "path", p);
		free(p);
	}
	r = call(a->verb->name, json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (json_out) {
		print_json(res);
	} else {
		struct json_object *disks;
		size_t i;

		printf("VM '%s' disks:\n", a->name);
		if (json_object_object_get_ex(res, "disks", &disks))
			for (i = 0; i < json_object_array_length(disks); i++) {
				struct json_object *d = json_object_array_get_idx(disks, i);

				printf("  %-4s controller %.0f %s %.0f  %s%s\n",
				       jstr(d, "controller_type"), jnum(d, "controller"),
				       strcmp(jstr(d, "controller_type"), "IDE") ? "lun"
										 : "location",
				       jnum(d, "lun"), jstr(d, "path"),
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
	int r = call("get-vmintegrationservice", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (json_out) {
		print_json(res);
		json_object_put(res);
		return EXIT_OK;
	}
	printf("%-12s  %-24s  %-7s  %s\n", "VMName", "Name", "Enabled", "PrimaryStatusDescription");
	printf("%-12s  %-24s  %-7s  %s\n", "------", "----", "-------", "------------------------");
	if (json_object_object_get_ex(res, "services", &list))
		for (i = 0; i < json_object_array_length(list); i++) {
			struct json_object *s = json_object_array_get_idx(list, i);

			printf("%-12s  %-24s  %-7s  %s\n", a->name, jstr(s, "name"), "True",
			       jstr(s, "status"));
		}
	if (json_object_object_get_ex(res, "kvp_items", &items) &&
	    json_object_array_length(items)) {
		printf("\nKVP items from the guest:\n");
		for (i = 0; i < json_object_array_length(items); i++) {
			struct json_object *it = json_object_array_get_idx(items, i);
			char key[800], value[3100];

			printf("  %-14s %-28s %s\n", jstr(it, "pool"),
			       printable(jstr(it, "key"), key, sizeof(key)),
			       printable(jstr(it, "value"), value, sizeof(value)));
		}
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_history(struct args *a)
{
	struct json_object *res, *h;
	size_t i;
	int r = call("get-vmhistory", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (json_out) {
		print_json(res);
	} else if (json_object_object_get_ex(res, "history", &h)) {
		for (i = 0; i < json_object_array_length(h); i++) {
			struct json_object *e = json_object_array_get_idx(h, i);
			time_t t = (time_t)(jnum(e, "time_ms") / 1000);
			char when[64];

			const char *by =
				json_object_object_get_ex(e, "user", NULL) ? jstr(e, "user") : "-";

			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
			printf("%s  %-8s -> %-8s  %-12s  %s\n", when, jstr(e, "from"),
			       jstr(e, "to"), by, jstr(e, "reason"));
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

	printf("%-12s: %s\n", "Model", jstr(p, "model"));
	printf("%-12s: %s (%s family %#x model %#x stepping %u)\n", "Processor", jstr(p, "brand"),
	       jstr(p, "vendor"), (unsigned)jnum(p, "family"), (unsigned)jnum(p, "model-number"),
	       (unsigned)jnum(p, "stepping"));
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
	printf("%-12s: %d%% of a CPU per vCPU\n", "Maximum", (int)jnum(res, "maximum"));
	printf("%-12s: %d%%\n", "Reserve", (int)jnum(res, "reserve"));
	printf("%-12s: %d\n", "RelativeWeight", (int)jnum(res, "relative_weight"));
}

static int verb_set_processor(struct args *a)
{
	struct json_object *res, *p;
	uint64_t n;
	int r;

	if (a->maximum) {
		if ((r = parse_uint(a->verb->name, "--maximum", a->maximum, &n)))
			return r;
		json_object_object_add(a->params, "maximum", json_object_new_int64((int64_t)n));
	}
	if (!json_object_object_get_ex(a->params, "compatibility_for_migration", NULL) &&
	    !a->maximum && !json_object_object_get_ex(a->params, "reserve", NULL) &&
	    !json_object_object_get_ex(a->params, "relative_weight", NULL))
		return usage_error(a->verb->name,
				   "give --compatibility-for-migration on|off, --maximum PCT, "
				   "--reserve PCT or --relative-weight N");
	r = call("set-vmprocessor", json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (json_out) {
		print_json(res);
	} else if (json_object_object_get_ex(res, "processor", &p)) {
		printf("%s: compatibility for migration %s (CPU model %s)\n", jstr(res, "name"),
		       json_object_get_boolean(
			       json_object_object_get(res, "compatibility_for_migration"))
			       ? "on"
			       : "off",
		       jstr(p, "model"));
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
		return usage_error(a->verb->name, "give --maximum SIZE");
	if ((r = parse_size(a->verb->name, a->maximum, &n)))
		return r;
	json_object_object_add(a->params, "maximum_bytes", json_object_new_int64((int64_t)n));
	r = call("set-vmmemory", json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (json_out)
		print_json(res);
	else
		printf("%s: memory maximum %llu MiB (the worker, guest RAM included)\n",
		       jstr(res, "name"), (unsigned long long)(n >> 20));
	json_object_put(res);
	return EXIT_OK;
}

static int verb_measure(struct args *a)
{
	struct json_object *res;
	int r = call("measure-vm", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (json_out) {
		print_json(res);
	} else {
		double peak = jnum(res, "memory_peak_bytes"),
		       max = jnum(res, "memory_maximum_bytes");

		printf("%-16s: %s\n", "VMName", jstr(res, "name"));
		printf("%-16s: %.3f s\n", "CPUTime", jnum(res, "cpu_time_ns") / 1e9);
		if (jnum(res, "cpu_quota_us") > 0)
			printf("%-16s: %.0f of %.0f periods (%.3f s)\n", "CPUThrottled",
			       jnum(res, "cpu_throttled_periods"), jnum(res, "cpu_periods"),
			       jnum(res, "cpu_throttled_ns") / 1e9);
		printf("%-16s: %.1f MiB\n", "Memory", jnum(res, "memory_bytes") / 1048576.0);
		if (peak > 0)
			printf("%-16s: %.1f MiB\n", "MemoryPeak", peak / 1048576.0);
		if (max > 0)
			printf("%-16s: %.1f MiB (reached %.0f times)\n", "MemoryMaximum",
			       max / 1048576.0, jnum(res, "memory_limit_hits"));
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_get_processor(struct args *a)
{
	struct json_object *res, *p;
	int r = call("get-vmprocessor", json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (json_out) {
		print_json(res);
	} else if (json_object_object_get_ex(res, "processor", &p)) {
		printf("%-12s: %s\n", "VMName", jstr(res, "name"));
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
	int r = call("get-vmhostprocessor", NULL, NULL, &res);

	(void)a;
	if (r)
		return r;
	if (json_out) {
		print_json(res);
	} else {
		printf("%-12s: %s (%s family %#x model %#x stepping %u)%s\n", "Processor",
		       jstr(res, "brand"), jstr(res, "vendor"), (unsigned)jnum(res, "family"),
		       (unsigned)jnum(res, "model-number"), (unsigned)jnum(res, "stepping"),
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
				       !ok ? jstr(m, "reason")
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
	int fd = connect_service(), r;

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

static int relay_console(int sock)
{
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	bool in_open = true;
	char buf[4096];
	int status = EXIT_OK;

	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = sock, .events = POLLIN},
				      {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(sock, buf, sizeof(buf));
			if (n <= 0) {
				fprintf(stderr, "%s[the console closed: the VM stopped]\n",
					tty ? "\r\n" : "\n");
				break;
			}
			if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
				break;
		}
		if (p[1].revents & (POLLIN | POLLHUP)) {
			char *k;

			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false; /* keep showing output until detached or closed */
				continue;
			}
			k = memchr(buf, DETACH_KEY, (size_t)n);
			if (k)
				n = k - buf;
			if (n > 0 && send(sock, buf, (size_t)n, MSG_NOSIGNAL) < 0)
				break;
			if (k) {
				fprintf(stderr, "%s[detached]\n", tty ? "\r\n" : "\n");
				break;
			}
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return status;
}

static int verb_console(struct args *a)
{
	struct json_object *res;
	char first[128];
	int r, fd;
	ssize_t n;

	/*
	 * The service connects to the console and passes us the socket: its directory is
	 * root's, and an operator may use a console it could not open itself.
	 */
	json_object_object_add(a->params, "connect", json_object_new_boolean(1));
	r = call_fd("get-vmconsole", json_object_get(a->params), &res, &fd);
	if (r)
		return r;
	if (fd < 0) {
		fprintf(stderr, "parvis console: the service passed no console socket (an older "
				"service?)\n");
		json_object_put(res);
		return EXIT_FAILED;
	}
	/* A busy console says so at once and closes: give it a moment to. */
	{
		struct pollfd pf = {.fd = fd, .events = POLLIN};

		n = poll(&pf, 1, 300) > 0 ? recv(fd, first, sizeof(first) - 1, 0) : 0;
	}
	if (n > 0) {
		first[n] = '\0';
		if (strstr(first, "in use by another client")) {
			fprintf(stderr,
				"parvis console: VM '%s': the console is in use by another "
				"client\n",
				a->name);
			close(fd);
			json_object_put(res);
			return EXIT_FAILED;
		}
		IGNORE_RESULT(write(STDOUT_FILENO, first, (size_t)n));
	}
	fprintf(stderr, "Connected to the console of '%s' (log: %s). Press Ctrl-] to detach.\n",
		a->name, jstr(res, "log"));
	json_object_put(res);
	r = relay_console(fd);
	close(fd);
	return r;
}

/* --- the screen (docs/console.md) --- */

static int fd_read(void *opaque, void *buf, size_t len)
{
	int fd = *(int *)opaque;
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_write(void *opaque, const void *buf, size_t len)
{
	int fd = *(int *)opaque;
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A connection to the VM's screen, from the service (its run directory is root's). */
static int screen_fd(struct args *a, struct json_object **res, int *fd)
{
	int r;

	json_object_object_add(a->params, "connect", json_object_new_boolean(1));
	r = call_fd("connect-vm", json_object_get(a->params), res, fd);
	if (r)
		return r;
	if (*fd < 0) {
		fprintf(stderr,
			"parvis %s: the service passed no screen socket (an older "
			"service?)\n",
			a->verb->name);
		json_object_put(*res);
		return EXIT_FAILED;
	}
	return 0;
}

static int verb_screenshot(struct args *a)
{
	struct json_object *res;
	struct rfb_frame frame;
	const char *why = NULL;
	int r, fd;

	if (!a->extra_positional)
		return usage_error(a->verb->name, "where to? give FILE.png");
	r = screen_fd(a, &res, &fd);
	if (r)
		return r;
	json_object_put(res);
	{
		struct timeval tv = {.tv_sec = 30};

		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	r = rfb_capture(fd_read, fd_write, &fd, &frame, &why);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "parvis get-vmscreenshot: VM '%s': %s\n", a->name,
			why ? why : strerror(-r));
		return EXIT_FAILED;
	}
	r = rfb_frame_save_png(&frame, a->extra_positional);
	if (r < 0) {
		fprintf(stderr, "parvis get-vmscreenshot: %s: %s\n", a->extra_positional,
			strerror(-r));
		rfb_frame_fini(&frame);
		return EXIT_FAILED;
	}
	if (json_out)
		printf("{\"file\": \"%s\", \"width\": %u, \"height\": %u}\n", a->extra_positional,
		       frame.width, frame.height);
	else
		printf("%s: %ux%u screen of VM '%s'\n", a->extra_positional, frame.width,
		       frame.height, a->name);
	rfb_frame_fini(&frame);
	return EXIT_OK;
}

/*
 * --viewer: a loopback port that relays one connection to the screen socket, and a VNC
 * viewer started on it (the first of the known ones installed).
 */
static int run_viewer(struct args *a, int vnc)
{
	static const char *const viewers[] = {"vncviewer",  "xtightvncviewer", "xvnc4viewer",
					      "gvncviewer", "remmina",	       NULL};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	char target[64], path[PATH_MAX];
	const char *viewer = NULL;
	int l, c;
	pid_t pid;

	for (unsigned i = 0; viewers[i] && !viewer; i++) {
		const char *dirs = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
		char *copy = strdup(dirs), *save = NULL;

		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(path, sizeof(path), "%s/%s", d, viewers[i]);
			if (access(path, X_OK) == 0) {
				viewer = viewers[i];
				break;
			}
		}
		free(copy);
	}
	if (!viewer) {
		fprintf(stderr, "parvis connect --viewer: no VNC viewer installed (vncviewer, "
				"xtightvncviewer, gvncviewer or remmina); without --viewer, parvis "
				"connect prints the address for one\n");
		return EXIT_FAILED;
	}
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0) {
		perror("parvis connect --viewer");
		return EXIT_FAILED;
	}
	snprintf(target, sizeof(target), "127.0.0.1::%u", ntohs(sa.sin_port));
	pid = fork();
	if (pid == 0) {
		execlp(viewer, viewer, target, (char *)NULL);
		_exit(127);
	}
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (c < 0)
		return EXIT_FAILED;
	fprintf(stderr, "VM '%s': %s shows its screen\n", a->name, viewer);
	for (;;) {
		struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = vnc, .events = POLLIN}};
		char buf[65536];
		ssize_t n;
		int i;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++)
			if (p[i].revents) {
				n = read(p[i].fd, buf, sizeof(buf));
				if (n <= 0 || fd_write(i ? &c : &vnc, buf, (size_t)n) < 0)
					goto done;
			}
	}
done:
	close(c);
	waitpid(pid, NULL, 0);
	return EXIT_OK;
}

static int verb_connect(struct args *a)
{
	struct json_object *res;
	int r, fd = -1;

	if (a->viewer) {
		r = screen_fd(a, &res, &fd);
		if (r)
			return r;
		json_object_put(res);
		r = run_viewer(a, fd);
		close(fd);
		return r;
	}
	if (a->web)
		json_object_object_add(a->params, "web", json_object_new_boolean(1));
	if (a->tcp)
		json_object_object_add(a->params, "tcp", json_object_new_boolean(1));
	r = call("connect-vm", json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (json_out)
		print_json(res);
	else if (a->tcp)
		printf("%s\n", jstr(res, "tcp"));
	else if (a->web)
		printf("http://127.0.0.1:%.0f%s\n", jnum(res, "web_port"), jstr(res, "web_path"));
	else
		printf("%s\n", jstr(res, "socket"));
	json_object_put(res);
	return EXIT_OK;
}

/* add/get/set/remove-vmdvddrive: the drives as a table, or the JSON. */
static int verb_dvd(struct args *a)
{
	struct json_object *res, *list, *one[1];
	size_t i, n;
	int r;

	if (a->extra_positional && !json_object_object_get_ex(a->params, "path", NULL)) {
		char *p = abs_path(a->extra_positional);

		add_str(a->params, "path", p);
		free(p);
	}
	r = call(a->verb->name, json_object_get(a->params), NULL, &res);
	if (r)
		return r;
	if (json_out) {
		print_json(res);
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
		const char *p = jstr(d, "path");

		printf("%-10s %-6s %-10.0f %-8.0f %s\n", jstr(d, "vm"), jstr(d, "controller_type"),
		       jnum(d, "controller_number"), jnum(d, "controller_location"),
		       p[0] ? p : "(no media)");
	}
	json_object_put(res);
	return EXIT_OK;
}

static int verb_bios(struct args *a)
{
	struct json_object *res, *order;
	size_t i;
	int r = call(a->verb->name, json_object_get(a->params), NULL, &res);

	if (r)
		return r;
	if (json_out) {
		print_json(res);
	} else {
		printf("VM '%s' (%s) startup order:", jstr(res, "vm"), jstr(res, "firmware"));
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
	return print_help(a->name);
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

static int print_help(const char *verb)
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

int main(int argc, char **argv)
{
	const struct verb *v;
	struct args a = {0};
	char *def = NULL;
	int i = 1, r;

	signal(SIGPIPE, SIG_IGN);
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			socket_path = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			socket_path = argv[i] + 9;
			i++;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			return print_help(NULL);
		} else if (!strcmp(argv[i], "--version")) {
			puts("parvis " PARVIS_VERSION);
			return 0;
		} else {
			fprintf(stderr, "parvis: unknown option '%s' (see parvis help)\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		print_help(NULL);
		return EXIT_USAGE;
	}
	for (v = verbs; v->name && strcmp(v->name, argv[i]); v++)
		;
	if (!v->name && cli_snapshot_is_verb(argv[i])) {
		if (!socket_path) {
			def = default_socket();
			socket_path = def ? def : "/run/parvis/vmms.sock";
		}
		r = cli_snapshot_main(argc - i, argv + i);
		free(def);
		return r;
	}
	if (!v->name && cli_migration_is_verb(argv[i])) {
		if (!socket_path) {
			def = default_socket();
			socket_path = def ? def : "/run/parvis/vmms.sock";
		}
		r = cli_migration_main(argc - i, argv + i);
		free(def);
		return r;
	}
	if (!v->name && cli_net_is_verb(argv[i])) {
		if (!socket_path) {
			def = default_socket();
			socket_path = def ? def : "/run/parvis/vmms.sock";
		}
		r = cli_net_main(argc - i, argv + i);
		free(def);
		return r;
	}
	if (!v->name) {
		fprintf(stderr, "parvis: unknown verb '%s' (see parvis help)\n", argv[i]);
		return EXIT_USAGE;
	}
	if (!v->fn)
		return cli_vhd_main(argc - i, argv + i);
	if (!socket_path) {
		def = default_socket();
		socket_path = def ? def : "/run/parvis/vmms.sock";
	}
	a.verb = v;
	a.params = json_object_new_object();
	r = parse_verb_args(&a, argc - i, argv + i);
	if (r == 0)
		r = v->fn(&a);
	else if (r < 0)
		r = 0; /* --help */
	json_object_put(a.params);
	free(def);
	return r;
}
