/* A cgroup per VM; see cgroup.h. Only the service's threads call this (under svc->lock). */
#include "vmms/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CG_CPU, CG_CPUACCT, CG_MEMORY, CG_COUNT };

static const char *const ctrl_names[CG_COUNT] = {"cpu", "cpuacct", "memory"};

struct cgroup_host {
	const char *proc; /* where "mountinfo" and "cgroup" are: /proc/self, or a test's */
	int version;	  /* 1 or 2 */
	char base[CG_COUNT][PATH_MAX]; /* v1: per controller; v2: base[0] only */
	char desc[3 * PATH_MAX + 32];
};

/*
 * True if the list has name: comma-separated (v1 mount options, /proc/self/cgroup) or
 * space-separated (v2's cgroup.controllers, "cpuset cpu io memory").
 */
static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p && *p) {
		if (!strncmp(p, name, n) &&
		    (p[n] == ',' || p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
		p = strpbrk(p, ", \n");
		p = p && *p != '\n' ? p + 1 : NULL;
	}
	return false;
}

/* Mount point of the v1 hierarchy holding ctrl, or of cgroup2 when ctrl is NULL. */
static int find_mount(const struct cgroup_host *h, const char *ctrl, char *out, size_t len)
{
	char line[4096];
	FILE *f;

	snprintf(line, sizeof(line), "%s/mountinfo", h->proc);
	f = fopen(line, "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char mnt[1024], *dash = strstr(line, " - "), fstype[32], src[256], opts[1024];

		if (!dash || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
		    sscanf(dash + 3, "%31s %255s %1023s", fstype, src, opts) != 3)
			continue;
		if (ctrl ? strcmp(fstype, "cgroup") || !list_has(opts, ctrl)
			 : strcmp(fstype, "cgroup2"))
			continue;
		snprintf(out, len, "%s", mnt);
		r = 0;
		break;
	}
	fclose(f);
	return r;
}

/* The service's own cgroup in the hierarchy of ctrl (NULL: v2). */
static int own_path(const struct cgroup_host *h, const char *ctrl, char *out, size_t len)
{
	char line[4096];
	FILE *f;

	snprintf(line, sizeof(line), "%s/cgroup", h->proc);
	f = fopen(line, "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c2 = '\0';
		/* v2's line is "0::PATH": hierarchy 0, no controller list (cgroups(7)). */
		if (ctrl ? !list_has(c1 + 1, ctrl) : (c1 != line + 1 || line[0] != '0' || c1[1]))
			continue;
		c2[strcspn(c2 + 1, "\n") + 1] = '\0';
		snprintf(out, len, "%s", strcmp(c2 + 1, "/") ? c2 + 1 : "");
		r = 0;
		break;
	}
	fclose(f);
	return r;
}

static int write_file(const char *dir, const char *name, const char *fmt, ...) printf_like(3, 4);

static int write_file(const char *dir, const char *name, const char *fmt, ...)
{
	char path[PATH_MAX + 64], buf[64];
	va_list ap;
	int fd, r = 0;
	ssize_t n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, buf, strlen(buf));
	if (n < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Reads "name" (or the value of key in it, a "key value" file) as a number. */
static int read_num(const char *dir, const char *name, const char *key, int64_t *v)
{
	char path[PATH_MAX + 64], line[256];
	FILE *f;
	int r = -ENOENT;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		const char *p = line;
		size_t kl = key ? strlen(key) : 0;

		if (key) {
			if (strncmp(line, key, kl) || line[kl] != ' ')
				continue;
			p = line + kl + 1;
		}
		*v = !strncmp(p, "max", 3) ? -1 : strtoll(p, NULL, 10);
		r = 0;
		break;
	}
	fclose(f);
	return r;
}

static int make_dir(const char *path)
{
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static void vm_dir(const struct cgroup_host *h, int c, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/vm-%s", h->base[h->version == 2 ? 0 : c], id);
}

static int setup_v2(struct cgroup_host *h, char *err, size_t errlen)
{
	char mnt[1024], own[1024], ctl[1100], parent[2100];
	FILE *f;
	char list[512] = "";
	int r;

	if (find_mount(h, NULL, mnt, sizeof(mnt)) < 0 || own_path(h, NULL, own, sizeof(own)) < 0)
		return -ENOENT;
	snprintf(ctl, sizeof(ctl), "%s/cgroup.controllers", mnt);
	f = fopen(ctl, "re");
	if (!f)
		return -ENOENT;
	if (!fgets(list, sizeof(list), f))
		list[0] = '\0';
	fclose(f);
	if (!list_has(list, "cpu") || !list_has(list, "memory"))
		return -ENOENT; /* the controllers are bound to v1 (or absent) */
	/*
	 * v2 lets a cgroup with processes in it give controllers to no child: parvis-vmms/
	 * must be given them by the service's cgroup, which then holds only the service when
	 * it is the delegated cgroup of a unit (systemd's Delegate=yes).
	 */
	snprintf(parent, sizeof(parent), "%s%s", mnt, own);
	snprintf(h->base[0], sizeof(h->base[0]), "%s/parvis-vmms", parent);
	r = write_file(parent, "cgroup.subtree_control", "+cpu +memory");
	if (r == 0 && (r = make_dir(h->base[0])) == 0)
		r = write_file(h->base[0], "cgroup.subtree_control", "+cpu +memory");
	if (r < 0) {
		snprintf(err, errlen,
			 "cgroup v2: cannot give the cpu and memory controllers to %s: %s (run "
			 "parvis-vmms in a cgroup of its own with delegation, e.g. systemd's "
			 "Delegate=yes)",
			 h->base[0], strerror(-r));
		/* Not -ENOENT, which would mean "no v2 here" and try v1 in silence. */
		return r == -ENOENT ? -ENOTSUP : r;
	}
	h->version = 2;
	snprintf(h->desc, sizeof(h->desc), "v2 (%s)", h->base[0]);
	return 0;
}

static int setup_v1(struct cgroup_host *h, char *err, size_t errlen)
{
	char mnt[1024], own[1024];
	size_t at = 0;
	int c, r;

	for (c = 0; c < CG_COUNT; c++) {
		if (find_mount(h, ctrl_names[c], mnt, sizeof(mnt)) < 0 ||
		    own_path(h, ctrl_names[c], own, sizeof(own)) < 0) {
			snprintf(
				err, errlen,
				"no cgroup hierarchy with the %s controller (neither v2 with cpu "
				"and memory nor v1): per-VM processor and memory controls need one",
				ctrl_names[c]);
			return -ENOENT;
		}
		snprintf(h->base[c], sizeof(h->base[c]), "%s%s/parvis-vmms", mnt, own);
		r = make_dir(h->base[c]);
		if (r < 0) {
			snprintf(err, errlen, "cannot make %s: %s", h->base[c], strerror(-r));
			return r;
		}
		at += (size_t)snprintf(h->desc + at, sizeof(h->desc) - at, "%s%s",
				       c ? ", " : "v1 (", h->base[c]);
	}
	snprintf(h->desc + at, sizeof(h->desc) - at, ")");
	h->version = 1;
	return 0;
}

int cgroup_host_new(struct cgroup_host **ret, char *err, size_t errlen)
{
	return cgroup_host_new_at("/proc/self", ret, err, errlen);
}

int cgroup_host_new_at(const char *proc, struct cgroup_host **ret, char *err, size_t errlen)
{
	struct cgroup_host *h = calloc(1, sizeof(*h));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	if (!h)
		return -ENOMEM;
	h->proc = proc;
	err[0] = '\0';
	r = setup_v2(h, err, errlen);
	if (r == -ENOENT)
		r = setup_v1(h, err, errlen);
	if (r < 0) {
		free(h);
		return r;
	}
	/*
	 * parvis-vmms/ is one scheduling entity beside the host's processes: weighed as one
	 * process, all VMs together would get one CPU's share under contention. Weighed as one
	 * busy process per host CPU, they may take the host, as their vCPU threads could
	 * before they were grouped. A failure leaves the default weight (the VMs still run).
	 */
	if (cpus < 1)
		cpus = 1;
	if (h->version == 2)
		(void)write_file(h->base[0], "cpu.weight", "%ld",
				 cpus * 100 > 10000 ? 10000 : cpus * 100);
	else
		(void)write_file(h->base[CG_CPU], "cpu.shares", "%ld", cpus * 1024);
	*ret = h;
	return 0;
}

int cgroup_host_version(const struct cgroup_host *h)
{
	return h->version;
}

struct cgroup_host *cgroup_host_free(struct cgroup_host *h)
{
	free(h);
	return NULL;
}

const char *cgroup_host_describe(const struct cgroup_host *h)
{
	return h->desc;
}

int cgroup_vm_create(struct cgroup_host *h, const char *id)
{
	char dir[PATH_MAX + 64];
	int c, r;

	for (c = 0; c < (h->version == 2 ? 1 : CG_COUNT); c++) {
		vm_dir(h, c, id, dir, sizeof(dir));
		r = make_dir(dir);
		if (r < 0)
			return r;
	}
	return 0;
}

int cgroup_vm_remove(struct cgroup_host *h, const char *id)
{
	char dir[PATH_MAX + 64];
	int c, r = 0;

	for (c = 0; c < (h->version == 2 ? 1 : CG_COUNT); c++) {
		vm_dir(h, c, id, dir, sizeof(dir));
		if (rmdir(dir) < 0 && errno != ENOENT)
			r = -errno;
	}
	return r;
}

int cgroup_vm_procs_fds(struct cgroup_host *h, const char *id, int fds[CGROUP_MAX_FDS], unsigned *n)
{
	char path[PATH_MAX + 80];
	int c;

	*n = 0;
	for (c = 0; c < (h->version == 2 ? 1 : CG_COUNT); c++) {
		vm_dir(h, c, id, path, sizeof(path));
		strcat(path, "/cgroup.procs");
		fds[*n] = open(path, O_WRONLY | O_CLOEXEC);
		if (fds[*n] < 0) {
			int r = -errno;

			while (*n)
				close(fds[--*n]);
			return r;
		}
		(*n)++;
	}
	return 0;
}

bool cgroup_vm_has(struct cgroup_host *h, const char *id, int pid)
{
	char path[PATH_MAX + 80], line[32];
	bool found = false;
	FILE *f;

	vm_dir(h, CG_CPU, id, path, sizeof(path));
	strcat(path, "/cgroup.procs");
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = atoi(line) == pid;
	fclose(f);
	return found;
}

int cgroup_vm_set_cpu(struct cgroup_host *h, const char *id, unsigned cpus, unsigned max_pct,
		      unsigned weight)
{
	char dir[PATH_MAX + 64];
	int64_t quota =
		max_pct >= 100 ? -1 : (int64_t)CGROUP_PERIOD_US * max_pct * (cpus ? cpus : 1) / 100;
	int r;

	if (quota >= 0 && quota < 1000)
		quota = 1000; /* the kernel's least quota: 1 ms */
	vm_dir(h, CG_CPU, id, dir, sizeof(dir));
	if (h->version == 2) {
		if (quota < 0)
			r = write_file(dir, "cpu.max", "max %u", CGROUP_PERIOD_US);
		else
			r = write_file(dir, "cpu.max", "%lld %u", (long long)quota,
				       CGROUP_PERIOD_US);
		return r < 0 ? r : write_file(dir, "cpu.weight", "%u", weight);
	}
	r = write_file(dir, "cpu.cfs_period_us", "%u", CGROUP_PERIOD_US);
	if (r == 0)
		r = write_file(dir, "cpu.cfs_quota_us", "%lld", (long long)quota);
	/* v1 shares: 1024 is v2's weight 100; the kernel takes 2 .. 262144. */
	if (r == 0)
		r = write_file(dir, "cpu.shares", "%u",
			       weight * 1024 / 100 < 2 ? 2 : weight * 1024 / 100);
	return r;
}

int cgroup_vm_set_memory(struct cgroup_host *h, const char *id, uint64_t limit)
{
	char dir[PATH_MAX + 64];

	vm_dir(h, CG_MEMORY, id, dir, sizeof(dir));
	if (h->version == 2)
		return limit == UINT64_MAX
			       ? write_file(dir, "memory.max", "max")
			       : write_file(dir, "memory.max", "%llu", (unsigned long long)limit);
	/* v1 takes -1 for none and rounds down to pages. */
	return limit == UINT64_MAX ? write_file(dir, "memory.limit_in_bytes", "-1")
				   : write_file(dir, "memory.limit_in_bytes", "%llu",
						(unsigned long long)limit);
}

int cgroup_vm_measure(struct cgroup_host *h, const char *id, struct cgroup_usage *u)
{
	char cpu[PATH_MAX + 64], acct[PATH_MAX + 64], mem[PATH_MAX + 64];
	int64_t v;
	int r;

	*u = (struct cgroup_usage){.quota_us = -1, .memory_limit = UINT64_MAX};
	vm_dir(h, CG_CPU, id, cpu, sizeof(cpu));
	vm_dir(h, CG_CPUACCT, id, acct, sizeof(acct));
	vm_dir(h, CG_MEMORY, id, mem, sizeof(mem));
#define GET(dir, file, key, field, scale)                                                          \
	do {                                                                                       \
		if ((r = read_num(dir, file, key, &v)) < 0)                                        \
			return r;                                                                  \
		u->field = v < 0 ? (__typeof__(u->field))-1 : (__typeof__(u->field))v * (scale);   \
	} while (0)
	GET(cpu, "cpu.stat", "nr_periods", nr_periods, 1);
	GET(cpu, "cpu.stat", "nr_throttled", nr_throttled, 1);
	if (h->version == 2) {
		int64_t quota, period;
		char path[PATH_MAX + 80];
		FILE *f;

		GET(cpu, "cpu.stat", "usage_usec", cpu_ns, 1000);
		GET(cpu, "cpu.stat", "throttled_usec", throttled_ns, 1000);
		snprintf(path, sizeof(path), "%s/cpu.max", cpu);
		f = fopen(path, "re");
		if (f) {
			char q[32];

			if (fscanf(f, "%31s %lld", q, (long long *)&period) == 2) {
				quota = strcmp(q, "max") ? strtoll(q, NULL, 10) : -1;
				u->quota_us = quota;
				u->period_us = (uint64_t)period;
			}
			fclose(f);
		}
		GET(mem, "memory.current", NULL, memory_bytes, 1);
		if (read_num(mem, "memory.peak", NULL, &v) == 0)
			u->memory_peak = (uint64_t)v;
		GET(mem, "memory.max", NULL, memory_limit, 1);
		if (read_num(mem, "memory.events", "max", &v) == 0)
			u->memory_failures = (uint64_t)v;
		return 0;
	}
	GET(cpu, "cpu.stat", "throttled_time", throttled_ns, 1);
	GET(cpu, "cpu.cfs_quota_us", NULL, quota_us, 1);
	GET(cpu, "cpu.cfs_period_us", NULL, period_us, 1);
	GET(acct, "cpuacct.usage", NULL, cpu_ns, 1);
	GET(mem, "memory.usage_in_bytes", NULL, memory_bytes, 1);
	GET(mem, "memory.max_usage_in_bytes", NULL, memory_peak, 1);
	GET(mem, "memory.limit_in_bytes", NULL, memory_limit, 1);
	GET(mem, "memory.failcnt", NULL, memory_failures, 1);
#undef GET
	/* v1 says "no limit" as the largest page-aligned number. */
	if (u->memory_limit >= (UINT64_MAX >> 2))
		u->memory_limit = UINT64_MAX;
	return 0;
}

int cgroup_vm_oom_kills(struct cgroup_host *h, const char *id, uint64_t *kills)
{
	char mem[PATH_MAX + 64];
	int64_t v;
	int r;

	vm_dir(h, CG_MEMORY, id, mem, sizeof(mem));
	r = read_num(mem, h->version == 2 ? "memory.events" : "memory.oom_control", "oom_kill", &v);
	if (r == 0)
		*kills = v < 0 ? 0 : (uint64_t)v;
	return r;
}
