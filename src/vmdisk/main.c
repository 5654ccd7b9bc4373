/*
 * parvis-vmdisk: the disk work of checkpoints for parvis-vmms, which parses no image itself
 * (src/vmms/README.md): it runs this program, one operation per process, and reads its one
 * line of JSON on stdout. Operations:
 *   info FILE            {"format":"vhdx"|"raw","differencing":B,"virtual_size":N}
 *   check FILE           opens FILE and its whole parent chain read-only: {"ok":true}
 *   diff PARENT CHILD    a new differencing VHDX CHILD of PARENT
 *   merge CHILD          disk_image_merge_replace (disk/disk_tool.h): progress lines
 *                        {"done":N,"total":M} first, then the result
 * Failures print {"error":"..."} (naming the file) and exit 1; bad usage exits 2.
 * SIGTERM during a merge's copy stops it there (the child still shows the same data, and the
 * merge can run again); once the copy is done the merge finishes whatever comes.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/disk.h"
#include "disk/disk_tool.h"
#include "disk/vhdx.h"

static volatile int cancelled; /* int: what disk_image_merge_replace polls */

static void on_term(int sig)
{
	(void)sig;
	cancelled = 1;
}

static int print_line(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
	return 0;
}

static int fail(const char *err)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(err));
	print_line(o);
	return 1;
}

static int ok(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return print_line(o);
}

static int op_info(char **argv)
{
	struct disk_image_info *info;
	struct json_object *o;
	char err[512] = "";

	if (disk_image_inspect(argv[0], &info, err, sizeof(err)) < 0)
		return fail(err);
	o = json_object_new_object();
	json_object_object_add(
		o, "format",
		json_object_new_string(info->format == DISK_FORMAT_VHDX ? "vhdx" : "raw"));
	json_object_object_add(o, "differencing", json_object_new_boolean(info->differencing));
	json_object_object_add(o, "virtual_size",
			       json_object_new_int64((int64_t)info->virtual_size));
	disk_image_info_free(info);
	return print_line(o);
}

static int op_check(char **argv)
{
	struct disk *d;
	char err[512] = "";

	if (disk_open(argv[0], DISK_OPEN_READ_ONLY, &d, err, sizeof(err)) < 0)
		return fail(err);
	disk_close(d);
	return ok();
}

static int op_diff(char **argv)
{
	struct vhdx_create_params p = {.parent = argv[0]};
	char err[512] = "";

	if (vhdx_create(argv[1], &p, err, sizeof(err)) < 0)
		return fail(err);
	return ok();
}

struct merge_progress {
	int last;
};

static void merge_progress(void *opaque, uint64_t done, uint64_t total)
{
	struct merge_progress *m = opaque;
	struct json_object *o;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (pct == m->last)
		return;
	m->last = pct;
	o = json_object_new_object();
	json_object_object_add(o, "done", json_object_new_int64((int64_t)done));
	json_object_object_add(o, "total", json_object_new_int64((int64_t)total));
	print_line(o);
}

/*
 * A parent whose log needs replay (a merge killed before it closed the parent) is replayed
 * first: opened read-write once and closed. The replay writes what the log holds and clears
 * LogGuid; the parent keeps its DataWriteGuid, so the child still matches it.
 */
static int replay_parent(const char *child, char *err, size_t errlen)
{
	struct disk_parent_locator loc;
	struct disk_image_info *info = NULL;
	char path[8192], dir[4096], *slash, *c;
	struct disk *d;
	int fd = open(child, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return 0; /* the merge names the problem */
	r = disk_read_parent_locator(child, fd, &loc, err, errlen);
	close(fd);
	if (r < 0 || !loc.differencing || !loc.relative_path) {
		if (r == 0)
			disk_parent_locator_fini(&loc);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", child);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	/* Windows separators (MS-VHDX 2.6.2.6.3), relative to the child's directory. */
	for (c = loc.relative_path; *c; c++)
		if (*c == '\\')
			*c = '/';
	snprintf(path, sizeof(path), "%s/%s", dir, loc.relative_path);
	disk_parent_locator_fini(&loc);
	if (disk_image_inspect(path, &info, err, errlen) < 0 || !info->log_needs_replay) {
		disk_image_info_free(info);
		err[0] = '\0';
		return 0;
	}
	disk_image_info_free(info);
	r = disk_open(path, 0, &d, err, errlen);
	if (r < 0)
		return r;
	disk_close(d);
	return 0;
}

static int op_merge(char **argv)
{
	struct merge_progress m = {.last = -1};
	char err[512] = "";
	int r;

	r = replay_parent(argv[0], err, sizeof(err));
	if (r == 0)
		r = disk_image_merge_replace(argv[0], &cancelled, merge_progress, &m, err,
					     sizeof(err));
	/* From here on (header and rename), nothing stops it. */
	signal(SIGTERM, SIG_IGN);
	if (r < 0)
		return fail(err);
	return ok();
}

static const struct {
	const char *name;
	int nargs;
	int (*fn)(char **argv);
} ops[] = {
	{"info", 1, op_info},
	{"check", 1, op_check},
	{"diff", 2, op_diff},
	{"merge", 1, op_merge},
};

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_term};
	size_t i;

	sigset_t term;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	signal(SIGINT, SIG_IGN); /* the service decides: a ^C of its terminal is not ours */
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; argc >= 2 && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(argv[1], ops[i].name) && argc == 2 + ops[i].nargs)
			return ops[i].fn(argv + 2);
	fprintf(stderr, "usage: parvis-vmdisk info|check FILE | diff PARENT CHILD | merge CHILD\n");
	return 2;
}
