/*
 * `parvis vhd`: new, inspect, resize, convert, merge. Argument parsing,
 * printing and progress; the work is in src/disk/ (disk_tool.h, vhdx.h).
 * Exit status: 0 on success, 1 when the operation failed, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/compiler.h"
#include "base/size.h"
#include "cli/vhd.h"
#include "disk/disk_tool.h"
#include "disk/vhdx.h"

#define EXIT_USAGE 2

static const char usage[] =
	"usage: parvis vhd new FILE --size SIZE [--fixed|--dynamic] [--block-size SIZE]\n"
	"                          [--sector-size 512|4096] [--format vhdx|raw]\n"
	"       parvis vhd new FILE --parent PARENT   (a differencing disk)\n"
	"       parvis vhd inspect FILE [--json]\n"
	"       parvis vhd resize FILE --size SIZE\n"
	"       parvis vhd convert SRC DST [--format vhdx|raw] [--fixed|--dynamic] [--block-size "
	"SIZE]\n"
	"                          [--sector-size 512|4096]\n"
	"       parvis vhd merge CHILD\n"
	"options for long work: --progress (a percentage on stderr; the default on a terminal)\n";

struct opts {
	uint64_t size;
	uint32_t block_size, sector_size;
	int fixed;  /* -1 unset, 0 dynamic, 1 fixed */
	int format; /* -1 unset, else enum disk_format */
	const char *parent;
	bool json, progress;
	char *args[2];
	int nargs;
};

struct progress {
	const char *what;
	int last;
};

static void show_progress(void *opaque, uint64_t done, uint64_t total)
{
	struct progress *p = opaque;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (pct == p->last)
		return;
	p->last = pct;
	fprintf(stderr, "\r%s: %3d%%", p->what, pct);
	if (pct == 100)
		fputc('\n', stderr);
	fflush(stderr);
}

static int bad_usage(const char *fmt, ...) printf_like(1, 2);
static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "parvis vhd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return EXIT_USAGE;
}

static int failed(const char *err)
{
	fprintf(stderr, "parvis vhd: %s\n", err);
	return EXIT_FAILURE;
}

static int parse_size(const char *s, const char *what, uint64_t *ret)
{
	if (size_parse(s, 0, ret) < 0 || !*ret) {
		fprintf(stderr, "parvis vhd: bad %s \"%s\" (e.g. 512M, 20G)\n", what, s);
		return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"size", required_argument, NULL, 's'},
		{"fixed", no_argument, NULL, 'F'},
		{"dynamic", no_argument, NULL, 'D'},
		{"parent", required_argument, NULL, 'p'},
		{"block-size", required_argument, NULL, 'b'},
		{"sector-size", required_argument, NULL, 'S'},
		{"format", required_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"progress", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint64_t v;
	int c;

	*o = (struct opts){.fixed = -1, .format = -1, .progress = isatty(STDERR_FILENO)};
	optind = 0; /* full reinitialisation: the parvis command may have run getopt before */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_size(optarg, "size", &o->size) < 0)
				return EXIT_USAGE;
			break;
		case 'F':
		case 'D': o->fixed = c == 'F'; break;
		case 'p': o->parent = optarg; break;
		case 'b':
			if (parse_size(optarg, "block size", &v) < 0)
				return EXIT_USAGE;
			if (v > UINT32_MAX)
				return bad_usage("block size %s too large", optarg);
			o->block_size = (uint32_t)v;
			break;
		case 'S':
			if (strcmp(optarg, "512") && strcmp(optarg, "4096"))
				return bad_usage("sector size %s is not 512 or 4096", optarg);
			o->sector_size = (uint32_t)atoi(optarg);
			break;
		case 'f':
			if (!strcmp(optarg, "vhdx"))
				o->format = DISK_FORMAT_VHDX;
			else if (!strcmp(optarg, "raw"))
				o->format = DISK_FORMAT_RAW;
			else
				return bad_usage("unknown format %s (vhdx or raw)", optarg);
			break;
		case 'j': o->json = true; break;
		case 'P': o->progress = true; break;
		case 'h': fputs(usage, stdout); return -1;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	for (; optind < argc; optind++) {
		if (o->nargs == 2)
			return bad_usage("unexpected argument %s", argv[optind]);
		o->args[o->nargs++] = argv[optind];
	}
	return 0;
}

static int cmd_new(struct opts *o)
{
	char err[512];
	int r;

	if (o->nargs != 1)
		return bad_usage("new takes one FILE");
	if (o->parent) {
		if (o->fixed == 1 || o->format == DISK_FORMAT_RAW)
			return bad_usage("a differencing disk is a dynamic VHDX");
	} else if (!o->size) {
		return bad_usage("new needs --size (or --parent)");
	}
	if (o->format == DISK_FORMAT_RAW) {
		if (o->fixed != -1 || o->block_size || o->sector_size)
			return bad_usage("raw images take only --size");
		r = disk_raw_create(o->args[0], o->size, err, sizeof(err));
	} else {
		struct vhdx_create_params p = {
			.size = o->size,
			.block_size = o->block_size,
			.logical_sector_size = o->sector_size,
			.fixed = o->fixed == 1,
			.parent = o->parent,
		};
		if (o->parent && o->size) {
			struct disk_image_info *pi;

			r = disk_image_inspect(o->parent, &pi, err, sizeof(err));
			if (r < 0)
				return failed(err);
			bool same = pi->virtual_size == o->size;
			disk_image_info_free(pi);
			if (!same)
				return failed(
					"a differencing disk has its parent's size: leave out "
					"--size");
		}
		r = vhdx_create(o->args[0], &p, err, sizeof(err));
	}
	return r < 0 ? failed(err) : 0;
}

static char *human(uint64_t v, char *buf, size_t n)
{
	static const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	double d = (double)v;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%llu bytes", (unsigned long long)v);
	else
		snprintf(buf, n, "%.4g %s", d, unit[u]);
	return buf;
}

static const char *kind(const struct disk_image_info *i)
{
	if (i->format == DISK_FORMAT_RAW)
		return NULL;
	return i->differencing ? "differencing" : i->fixed ? "fixed" : "dynamic";
}

static json_object *info_json(const struct disk_image_info *i)
{
	json_object *o = json_object_new_object();
	char g[GUID_STRING_LEN];

	json_object_object_add(o, "path", json_object_new_string(i->path));
	json_object_object_add(o, "format", json_object_new_string(disk_format_name(i->format)));
	json_object_object_add(o, "type", kind(i) ? json_object_new_string(kind(i)) : NULL);
	json_object_object_add(o, "virtual_size", json_object_new_int64((int64_t)i->virtual_size));
	json_object_object_add(o, "file_size", json_object_new_int64((int64_t)i->file_size));
	json_object_object_add(o, "allocated_size",
			       json_object_new_int64((int64_t)i->allocated_size));
	json_object_object_add(o, "logical_sector_size",
			       json_object_new_int((int32_t)i->logical_sector_size));
	json_object_object_add(o, "physical_sector_size",
			       json_object_new_int((int32_t)i->physical_sector_size));
	json_object_object_add(o, "disk_id", json_object_new_string(guid_format(&i->disk_id, g)));
	if (i->format == DISK_FORMAT_VHDX) {
		json_object_object_add(o, "block_size", json_object_new_int64(i->block_size));
		json_object_object_add(o, "blocks", json_object_new_int64((int64_t)i->blocks));
		json_object_object_add(o, "blocks_allocated",
				       json_object_new_int64((int64_t)i->blocks_allocated));
		json_object_object_add(o, "log_needs_replay",
				       json_object_new_boolean(i->log_needs_replay));
		json_object_object_add(o, "data_write_guid",
				       json_object_new_string(guid_format(&i->data_write_guid, g)));
	}
	if (i->parent) {
		json_object_object_add(o, "parent_linkage",
				       json_object_new_string(i->parent_linkage));
		json_object_object_add(o, "parent", info_json(i->parent));
	}
	return o;
}

static void info_text(const struct disk_image_info *i, int depth)
{
	char a[64], b[64], g[GUID_STRING_LEN];
	const char *pad = depth ? "  " : "";

	printf("%sfile:              %s\n", pad, i->path);
	printf("%sformat:            %s%s%s%s\n", pad, disk_format_name(i->format),
	       kind(i) ? " (" : "", kind(i) ? kind(i) : "", kind(i) ? ")" : "");
	printf("%svirtual size:      %s (%llu bytes)\n", pad, human(i->virtual_size, a, sizeof(a)),
	       (unsigned long long)i->virtual_size);
	printf("%sfile size:         %s, %s allocated on the host\n", pad,
	       human(i->file_size, a, sizeof(a)), human(i->allocated_size, b, sizeof(b)));
	printf("%ssector size:       %u logical, %u physical\n", pad, i->logical_sector_size,
	       i->physical_sector_size);
	printf("%sdisk id:           %s\n", pad, guid_format(&i->disk_id, g));
	if (i->format == DISK_FORMAT_VHDX) {
		printf("%sblock size:        %s\n", pad, human(i->block_size, a, sizeof(a)));
		printf("%sblocks allocated:  %llu of %llu (%s)\n", pad,
		       (unsigned long long)i->blocks_allocated, (unsigned long long)i->blocks,
		       human(i->blocks_allocated * i->block_size, a, sizeof(a)));
		printf("%slog:               %s\n", pad,
		       i->log_needs_replay ? "needs replay (in use by a writer, or not closed "
					     "cleanly; the next read-write open replays it)"
					   : "clean");
	}
	if (i->parent) {
		printf("%sparent:\n", pad);
		info_text(i->parent, depth + 1);
	}
}

static int cmd_inspect(struct opts *o)
{
	struct disk_image_info *info;
	char err[512];

	if (o->nargs != 1)
		return bad_usage("inspect takes one FILE");
	if (disk_image_inspect(o->args[0], &info, err, sizeof(err)) < 0)
		return failed(err);
	if (o->json) {
		json_object *j = info_json(info);

		puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
		json_object_put(j);
	} else {
		info_text(info, 0);
	}
	disk_image_info_free(info);
	return 0;
}

static int cmd_resize(struct opts *o)
{
	char err[512];

	if (o->nargs != 1 || !o->size)
		return bad_usage("resize takes one FILE and --size");
	return disk_image_resize(o->args[0], o->size, err, sizeof(err)) < 0 ? failed(err) : 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcasecmp(s + a - b, suffix);
}

static int cmd_convert(struct opts *o)
{
	struct progress prog = {"converting", -1};
	struct disk_convert_params p = {.progress = o->progress ? show_progress : NULL,
					.opaque = &prog};
	struct disk_image_info *src;
	char err[512];

	if (o->nargs != 2)
		return bad_usage("convert takes SRC and DST");
	if (disk_image_inspect(o->args[0], &src, err, sizeof(err)) < 0)
		return failed(err);
	/* The output format: --format, else DST's extension, else the other one than SRC's. */
	if (o->format >= 0)
		p.format = o->format;
	else if (ends_with(o->args[1], ".vhdx"))
		p.format = DISK_FORMAT_VHDX;
	else if (ends_with(o->args[1], ".raw") || ends_with(o->args[1], ".img"))
		p.format = DISK_FORMAT_RAW;
	else
		p.format = src->format == DISK_FORMAT_RAW ? DISK_FORMAT_VHDX : DISK_FORMAT_RAW;
	disk_image_info_free(src);
	if (p.format == DISK_FORMAT_RAW && (o->fixed != -1 || o->block_size || o->sector_size))
		return bad_usage("--fixed, --dynamic, --block-size and --sector-size are for VHDX "
				 "output");
	p.fixed = o->fixed == 1;
	p.block_size = o->block_size;
	p.logical_sector_size = o->sector_size;
	return disk_image_convert(o->args[0], o->args[1], &p, err, sizeof(err)) < 0 ? failed(err)
										    : 0;
}

static int cmd_merge(struct opts *o)
{
	struct progress prog = {"merging", -1};
	char err[512];

	if (o->nargs != 1)
		return bad_usage("merge takes one CHILD");
	return disk_image_merge(o->args[0], o->progress ? show_progress : NULL, &prog, err,
				sizeof(err)) < 0
		       ? failed(err)
		       : 0;
}

int cli_vhd_main(int argc, char **argv)
{
	static const struct {
		const char *verb;
		int (*run)(struct opts *o);
	} verbs[] = {
		{"new", cmd_new},	  {"inspect", cmd_inspect}, {"resize", cmd_resize},
		{"convert", cmd_convert}, {"merge", cmd_merge},
	};
	struct opts o;
	int r;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[1], verbs[i].verb))
			continue;
		r = parse_opts(argc - 1, argv + 1, &o);
		if (r)
			return r < 0 ? 0 : r;
		return verbs[i].run(&o);
	}
	return bad_usage("unknown verb \"%s\"", argv[1]);
}
