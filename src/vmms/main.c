/*
 * parvis-vmms: the VM management service. In the foreground, logs to
 * stderr. It holds an exclusive lock on its state directory (a second
 * service on the same directory refuses to start), loads the inventory,
 * finds the workers of running VMs again, and serves the API (docs/api.md)
 * on a Unix socket, one thread per client. SIGTERM/SIGINT end the service;
 * the VMs' workers keep running and a new service takes them over.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "ipc/api.h"
#include "ipc/jsonline.h"
#include "vmms/web_console.h"
#include "vmms/audit.h"
#include "vmms/worker.h"
#include "vmms/inventory.h"
#include "vmms/service.h"

#define MAX_CLIENTS	       128
#define MAX_STORAGE_DIRS       32
#define DEFAULT_ADMIN_GROUP    "parvis-admins"
#define DEFAULT_OPERATOR_GROUP "parvis-operators"

struct options {
	char *state_dir;
	char *socket_path;
	char *vmwp;
	bool no_jail;
	uint32_t jail_first, jail_count;
	const char *admin_group, *operator_group, *audit_log;
	const char *web; /* --web [HOST:]PORT: the web console (docs/console.md) */
	const char *storage_dirs[MAX_STORAGE_DIRS];
	unsigned nstorage_dirs;
};

static atomic_uint nclients;

struct client {
	struct service *svc;
	int fd;
	struct api_caller caller;
};

static void send_error(int fd, const struct api_request *req, const struct api_error *e)
{
	struct json_object *a = api_answer_error(req, e);

	if (a && jsonline_send(fd, a) < 0) {
		/* the client is gone */
	}
	json_object_put(a);
}

/* A subscriber's connection carries events only; we wait for its end. */
static void wait_hangup(int fd)
{
	char buf[256];

	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct jsonline_reader rd;
	bool subscribed = false;

	pthread_setname_np(pthread_self(), "client");
	if (jsonline_reader_init(&rd, c->fd, API_LINE_MAX) < 0)
		goto out;
	for (;;) {
		struct api_request req;
		struct api_error e = {0};
		struct json_object *ans;
		char *line;
		size_t len;
		int pass_fd, r = jsonline_read(&rd, -1, &line, &len);

		if (r == -E2BIG) {
			api_error_set(&e, API_ERR_BAD_REQUEST,
				      "request longer than %d bytes: closing the connection",
				      API_LINE_MAX);
			send_error(c->fd, NULL, &e);
			break;
		}
		if (r <= 0)
			break; /* end of stream, or an error: the client is dropped */
		if (len == 0)
			continue;
		if (api_request_parse(line, len, &req, &e) < 0) {
			send_error(c->fd, &req, &e);
			api_request_fini(&req);
			continue;
		}
		pass_fd = -1;
		ans = service_call(c->svc, &c->caller, &req, c->fd, &subscribed, &pass_fd);
		api_request_fini(&req);
		r = ans ? jsonline_send_fd(c->fd, ans, pass_fd) : subscribed ? 0 : -ENOMEM;
		if (pass_fd >= 0)
			close(pass_fd);
		json_object_put(ans);
		if (r < 0)
			break;
		if (subscribed) {
			wait_hangup(c->fd);
			service_unsubscribe(c->svc, c->fd);
			break;
		}
	}
	jsonline_reader_fini(&rd);
out:
	close(c->fd);
	free(c);
	atomic_fetch_sub(&nclients, 1);
	return NULL;
}

/*
 * A caller with no role is answered at once with the reason and dropped, before it takes
 * a client slot or a thread: the socket is open to every local user (mode 0666), so that
 * who may do what is decided here, from the kernel's credentials, with a message.
 */
static void refuse_client(struct service *svc, const struct access_policy *p, int fd,
			  const struct api_caller *caller)
{
	struct api_error e;

	api_error_set(&e, API_ERR_DENIED, "%s", "");
	access_refusal(p, caller, e.message, sizeof(e.message));
	service_audit_refused(svc, caller, e.message);
	pv_log(LOG_INFO, "refused a connection of %s (uid %u, pid %d): no admin or operator group",
	       caller->user, (unsigned)caller->uid, (int)caller->pid);
	send_error(fd, NULL, &e);
	close(fd);
}

static void accept_client(struct service *svc, const struct access_policy *policy, int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	struct timeval tmo = {.tv_sec = 1};
	struct client *c;
	pthread_attr_t attr;
	pthread_t t;

	if (fd < 0)
		return;
	c = malloc(sizeof(*c));
	if (!c || access_caller_from_socket(fd, policy, &c->caller) < 0) {
		free(c);
		close(fd);
		return;
	}
	if (c->caller.role == ACCESS_NONE) {
		/* A refused caller that does not read must not stall the accept loop. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
		refuse_client(svc, policy, fd, &c->caller);
		free(c);
		return;
	}
	if (atomic_fetch_add(&nclients, 1) >= MAX_CLIENTS) {
		struct api_error e;

		api_error_set(&e, API_ERR_HOST, "too many clients (%d); try again", MAX_CLIENTS);
		send_error(fd, NULL, &e);
		close(fd);
		free(c);
		atomic_fetch_sub(&nclients, 1);
		return;
	}
	c->svc = svc;
	c->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&t, &attr, client_main, c)) {
		close(fd);
		free(c);
		atomic_fetch_sub(&nclients, 1);
	}
	pthread_attr_destroy(&attr);
}

static int mkdir_parents(const char *path)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int listen_api(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, probe;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		pv_log(LOG_ERR, "--socket %s: path too long (at most %zu bytes)", path,
		       sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, path, strlen(path));
	if (mkdir_parents(path) < 0) {
		pv_log(LOG_ERR, "--socket %s: cannot create its directory: %s", path,
		       strerror(errno));
		return -errno;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			pv_log(LOG_ERR, "--socket %s: exists and is not a socket", path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
			close(probe);
			pv_log(LOG_ERR,
			       "--socket %s: another service is listening there (another state "
			       "directory?); stop it or choose another socket",
			       path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path); /* left by a service that died */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, 64) < 0) {
		pv_log(LOG_ERR, "--socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	return fd;
}

/*
 * The state directory's lock: DIR/lock, flock()ed for the service's life
 * (the kernel drops it when the process ends, however it ends).
 */
static int lock_state_dir(const char *dir)
{
	char path[PATH_MAX], holder[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		pv_log(LOG_ERR, "state directory %s: cannot open %s: %s", dir, path,
		       strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		pv_log(LOG_ERR,
		       "state directory %s is in use by another parvis-vmms (pid %s); stop it "
		       "first, or give this one another --state-dir",
		       dir, holder[0] ? holder : "unknown");
		close(fd);
		return -EBUSY;
	}
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	return fd;
}

static char *default_vmwp(void)
{
	char self[PATH_MAX], *slash, *cand;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	static const char *const rel[] = {"parvis-vmwp", "../vmwp/parvis-vmwp"};
	unsigned i;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			for (i = 0; i < 2; i++) {
				if (asprintf(&cand, "%s/%s", self, rel[i]) < 0)
					return NULL;
				if (access(cand, X_OK) == 0) {
					char *real = realpath(cand, NULL);

					free(cand);
					return real;
				}
				free(cand);
			}
		}
	}
	return strdup("parvis-vmwp"); /* found through PATH by posix_spawnp's caller */
}

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *cand;

	if (strchr(name, '/'))
		return realpath(name, NULL);
	copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if (asprintf(&cand, "%s/%s", dir, name) < 0)
			break;
		if (access(cand, X_OK) == 0) {
			free(copy);
			return cand;
		}
		free(cand);
	}
	free(copy);
	return NULL;
}

static void usage(FILE *out)
{
	fputs("Usage: parvis-vmms --state-dir DIR --socket PATH [--vmwp PATH] [--no-jail]\n"
	      "                   [--jail-uids FIRST-LAST] [--admin-group GROUP]\n"
	      "                   [--operator-group GROUP] [--storage-dir DIR]... [--audit-log "
	      "FILE]\n"
	      "\n"
	      "The VM management service: the inventory of VMs in DIR, one parvis-vmwp worker\n"
	      "per running VM, and the API (docs/api.md) on the Unix socket PATH. Any local user\n"
	      "may connect; root and the admin group may do everything, the operator group may\n"
	      "start, stop, use the console and read, anyone else is refused (docs/security.md).\n"
	      "Runs in the foreground, logs to stderr.\n"
	      "\n"
	      "  --state-dir DIR  VM files (DIR/vms/ID.json), workers' files (DIR/run/ID/)\n"
	      "  --socket PATH    the API socket\n"
	      "  --web [HOST:]PORT  the web console (noVNC) on that port, loopback unless a\n"
	      "                   HOST is given (docs/console.md); off by default\n"
	      "  --vmwp PATH      the worker binary (default: beside this program, else PATH)\n"
	      "  --jail-uids FIRST-LAST  the uids (and gids) given to the VMs' jailed workers,\n"
	      "                   one per VM (default 2130706432-2130771967; docs/security.md)\n"
	      "  --no-jail        run workers unjailed, as root (development, benchmarks)\n"
	      "  --admin-group GROUP     may do everything (default " DEFAULT_ADMIN_GROUP
	      " if it exists)\n"
	      "  --operator-group GROUP  may start, stop, restart, suspend, resume, open the\n"
	      "                   console and read (default " DEFAULT_OPERATOR_GROUP
	      " if it exists)\n"
	      "  --storage-dir DIR       where callers other than root may name kernels, initrds\n"
	      "                   and disks (repeatable; default none: only root names files)\n"
	      "  --audit-log FILE who did what: one JSON line per state-changing call\n"
	      "                   (default DIR/audit.log)\n"
	      "\n"
	      "Stopping the service leaves the VMs running; the next service finds them.\n",
	      out);
}

/*
 * A role's group: the one named (which must exist), else the default name if this host
 * has such a group, else none.
 */
static int find_group(const char *opt, const char *given, const char *def, gid_t *gid, bool *has,
		      const char **name)
{
	struct group gr, *grp = NULL;
	char buf[16384];

	getgrnam_r(given ? given : def, &gr, buf, sizeof(buf), &grp);
	if (!grp) {
		if (!given)
			return 0;
		pv_log(LOG_ERR, "%s %s: no such group on this host (create it with groupadd %s)",
		       opt, given, given);
		return -ENOENT;
	}
	*gid = grp->gr_gid;
	*has = true;
	*name = given ? given : def;
	return 0;
}

static int parse_uid_range(const char *s, uint32_t *first, uint32_t *count)
{
	unsigned long long a, b;
	char *end;

	errno = 0;
	a = strtoull(s, &end, 10);
	if (errno || end == s || *end != '-')
		return -EINVAL;
	s = end + 1;
	b = strtoull(s, &end, 10);
	if (errno || end == s || *end || a == 0 || b < a || b >= UINT32_MAX)
		return -EINVAL;
	*first = (uint32_t)a;
	*count = (uint32_t)(b - a + 1);
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"state-dir", required_argument, NULL, 'd'},
		{"socket", required_argument, NULL, 's'},
		{"vmwp", required_argument, NULL, 'w'},
		{"no-jail", no_argument, NULL, 'J'},
		{"jail-uids", required_argument, NULL, 'U'},
		{"admin-group", required_argument, NULL, 'A'},
		{"operator-group", required_argument, NULL, 'O'},
		{"storage-dir", required_argument, NULL, 'S'},
		{"audit-log", required_argument, NULL, 'L'},
		{"web", required_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->state_dir = optarg; break;
		case 's': o->socket_path = optarg; break;
		case 'w': o->vmwp = optarg; break;
		case 'J': o->no_jail = true; break;
		case 'U':
			if (parse_uid_range(optarg, &o->jail_first, &o->jail_count) < 0) {
				pv_log(LOG_ERR,
				       "--jail-uids: '%s' is not FIRST-LAST (1 <= FIRST <= LAST < "
				       "4294967295)",
				       optarg);
				return -EINVAL;
			}
			break;
		case 'A': o->admin_group = optarg; break;
		case 'O': o->operator_group = optarg; break;
		case 'L': o->audit_log = optarg; break;
		case 'W': o->web = optarg; break;
		case 'S':
			if (o->nstorage_dirs == MAX_STORAGE_DIRS) {
				pv_log(LOG_ERR, "--storage-dir: at most %d", MAX_STORAGE_DIRS);
				return -EINVAL;
			}
			o->storage_dirs[o->nstorage_dirs++] = optarg;
			break;
		case 'h': usage(stdout); return 1;
		case 'V': puts("parvis-vmms " PARVIS_VERSION); return 1;
		case ':': pv_log(LOG_ERR, "%s needs a value", argv[optind - 1]); return -EINVAL;
		default:
			pv_log(LOG_ERR, "unknown option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		pv_log(LOG_ERR, "unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	if (!o->state_dir || !o->socket_path) {
		pv_log(LOG_ERR, "give --state-dir DIR and --socket PATH (see --help)");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	struct service_config cfg = {.poll_ms = 1000};
	struct service *svc = NULL;
	char err[512], *state_dir = NULL, *vmwp = NULL, *audit_path = NULL;
	char *storage[MAX_STORAGE_DIRS] = {0};
	int r, lock_fd = -1, listen_fd = -1, sig_fd;
	unsigned i;
	sigset_t set;

	log_set_sink(log_sink_stderr, NULL);
	r = parse_args(argc, argv, &o);
	if (r)
		return r > 0 ? 0 : 1;
	if (mkdir(o.state_dir, 0750) < 0 && errno != EEXIST) {
		pv_log(LOG_ERR, "--state-dir %s: %s", o.state_dir, strerror(errno));
		return 1;
	}
	state_dir = realpath(o.state_dir, NULL);
	if (!state_dir) {
		pv_log(LOG_ERR, "--state-dir %s: %s", o.state_dir, strerror(errno));
		return 1;
	}
	vmwp = o.vmwp ? find_in_path(o.vmwp) : default_vmwp();
	if (vmwp && !strchr(vmwp, '/')) {
		char *p = find_in_path(vmwp);

		free(vmwp);
		vmwp = p;
	}
	if (!vmwp || access(vmwp, X_OK) < 0) {
		pv_log(LOG_ERR, "cannot find the worker program parvis-vmwp%s%s: give --vmwp PATH",
		       o.vmwp ? " at " : "", o.vmwp ? o.vmwp : "");
		r = 1;
		goto out;
	}
	if (find_group("--admin-group", o.admin_group, DEFAULT_ADMIN_GROUP, &cfg.access.admin_gid,
		       &cfg.access.has_admin, &cfg.access.admin_group) < 0 ||
	    find_group("--operator-group", o.operator_group, DEFAULT_OPERATOR_GROUP,
		       &cfg.access.operator_gid, &cfg.access.has_operator,
		       &cfg.access.operator_group) < 0) {
		r = 1;
		goto out;
	}
	for (i = 0; i < o.nstorage_dirs; i++) {
		struct stat st;

		storage[i] = realpath(o.storage_dirs[i], NULL);
		if (!storage[i] || stat(storage[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			pv_log(LOG_ERR, "--storage-dir %s: %s", o.storage_dirs[i],
			       storage[i] ? "not a directory" : strerror(errno));
			r = 1;
			goto out;
		}
	}
	cfg.storage_dirs = (const char *const *)storage;
	cfg.nstorage_dirs = o.nstorage_dirs;
	lock_fd = lock_state_dir(state_dir);
	if (lock_fd < 0) {
		r = 1;
		goto out;
	}
	r = inventory_prepare(state_dir, err, sizeof(err));
	if (r < 0) {
		pv_log(LOG_ERR, "%s", err);
		r = 1;
		goto out;
	}
	if (!o.audit_log && asprintf(&audit_path, "%s/audit.log", state_dir) < 0) {
		r = 1;
		goto out;
	}
	r = audit_open(o.audit_log ? o.audit_log : audit_path, &cfg.audit);
	if (r < 0) {
		pv_log(LOG_ERR, "--audit-log %s: %s", o.audit_log ? o.audit_log : audit_path,
		       strerror(-r));
		r = 1;
		goto out;
	}
	/* Signals: SIGTERM/SIGINT through a signalfd; SIGPIPE never (MSG_NOSIGNAL everywhere). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	cfg.state_dir = state_dir;
	cfg.vmwp = vmwp;
	cfg.jail = !o.no_jail;
	cfg.jail_mntns_fd = -1;
	if (cfg.jail) {
		/* Made once: each worker's start then unmounts nothing (worker.h). */
		cfg.jail_mntns_fd = worker_jail_mntns_new();
		if (cfg.jail_mntns_fd < 0)
			pv_log(LOG_WARN,
			       "cannot make the jail's mount namespace template (%s): each worker "
			       "makes its own root (slower starts)",
			       strerror(-cfg.jail_mntns_fd));
	}
	cfg.jail_uid_first = o.jail_count ? o.jail_first : SERVICE_JAIL_UID_FIRST;
	cfg.jail_uid_count = o.jail_count ? o.jail_count : SERVICE_JAIL_UID_COUNT;
	if (o.web && web_console_new(o.web, WEB_NOVNC_DIR, &cfg.web, err, sizeof(err)) < 0) {
		pv_log(LOG_ERR, "%s", err);
		r = 1;
		goto out;
	}
	if (cfg.web)
		pv_log(LOG_INFO, "web console on port %u", web_console_port(cfg.web));
	r = service_new(&cfg, &svc, err, sizeof(err));
	if (r < 0) {
		pv_log(LOG_ERR, "%s", err);
		r = 1;
		goto out;
	}
	listen_fd = listen_api(o.socket_path);
	if (listen_fd < 0) {
		r = 1;
		goto out;
	}
	pv_log(LOG_INFO, "serving API version %d on %s (state %s, worker %s, %s)", API_VERSION,
	       o.socket_path, state_dir, vmwp, cfg.jail ? "jailed" : "not jailed: --no-jail");
	pv_log(LOG_INFO, "admin group %s, operator group %s, %u storage director%s",
	       cfg.access.has_admin ? cfg.access.admin_group : "(none)",
	       cfg.access.has_operator ? cfg.access.operator_group : "(none)", cfg.nstorage_dirs,
	       cfg.nstorage_dirs == 1 ? "y" : "ies");
	for (;;) {
		struct pollfd p[2] = {{.fd = listen_fd, .events = POLLIN},
				      {.fd = sig_fd, .events = POLLIN}};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				pv_log(LOG_INFO, "%s: stopping the service; %u VM(s) keep running",
				       strsignal((int)si.ssi_signo), service_running_count(svc));
			break;
		}
		if (p[0].revents & POLLIN)
			accept_client(svc, &cfg.access, listen_fd);
	}
	close(listen_fd);
	unlink(o.socket_path);
	r = 0;
	/* Client threads may be mid-call: exit without tearing the service down under them. */
	audit_flush(cfg.audit);
	_exit(0);
out:
	service_free(svc);
	audit_close(cfg.audit);
	if (lock_fd >= 0)
		close(lock_fd);
	free(state_dir);
	free(vmwp);
	free(audit_path);
	for (i = 0; i < MAX_STORAGE_DIRS; i++)
		free(storage[i]);
	return r;
}
