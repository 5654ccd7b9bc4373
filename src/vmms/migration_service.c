/*
 * The migration service's settings and listener (migration_service.h), as Hyper-V's
 * Enable-VMMigration / Disable-VMMigration / Get-VMHost: off by default; when on, a TCP
 * listener on --listen ADDR:PORT whose connections must complete a TLS handshake with the
 * pre-shared key in --key-file (migration_channel.c) before anything else is read. The
 * settings live in DIR/migration.json (written atomically, read at the service's start, the
 * key itself never copied there: the file is read at each use). Also kept there: the last VMs
 * that moved away, so that get-vm says where a VM went.
 */
#include "vmms/migration_service.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "vmms/service_internal.h"

#define SETTINGS_FILE_MAX (256 * 1024)
#define MAX_INCOMING	  4 /* moves arriving at once */

struct moved_vm {
	char name[VM_NAME_MAX + 1];
	char id[GUID_STRING_LEN];
	char dest[PEER_HOST_MAX];
	int64_t time_ms;
};

/* enable-vmmigration's authentication: a key file, or certificate files (paths, absolute). */
struct mig_settings {
	enum mig_auth_mode mode;
	char key_file[VM_PATH_MAX];
	char cert[VM_PATH_MAX], private_key[VM_PATH_MAX], trusted_ca[VM_PATH_MAX];
};

struct migration_service {
	bool enabled;
	char listen[PEER_HOST_MAX];
	struct mig_settings auth; /* how this host authenticates */
	int listen_fd, stop_fd;
	pthread_t thread;
	bool thread_running;
	/* Connections being served: own lock, as the listener stops under svc->lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned incoming;
	struct moved_vm moved[MIG_MOVED_MAX]; /* oldest first */
	unsigned nmoved;
};

struct incoming_arg {
	struct service *svc;
	int fd;
};

static void settings_path(const struct service *svc, char *buf, size_t len)
{
	snprintf(buf, len, "%s/migration.json", svc->state_dir);
}

/* The authentication settings into o ("authentication" and its files). */
static void auth_json(struct json_object *o, const struct mig_settings *a)
{
	json_object_object_add(
		o, "authentication",
		json_object_new_string(a->mode == MIG_AUTH_X509 ? "tls-x509" : "tls-psk"));
	if (a->mode == MIG_AUTH_PSK) {
		json_object_object_add(o, "key_file", json_object_new_string(a->key_file));
		return;
	}
	json_object_object_add(o, "certificate", json_object_new_string(a->cert));
	json_object_object_add(o, "private_key", json_object_new_string(a->private_key));
	json_object_object_add(o, "trusted_ca", json_object_new_string(a->trusted_ca));
}

static int settings_write(struct service *svc)
{
	struct migration_service *m = svc->mig;
	struct json_object *o = json_object_new_object(), *mv = json_object_new_array();
	char path[VM_PATH_MAX + 64], tmp[VM_PATH_MAX + 80];
	unsigned i;
	int r;

	json_object_object_add(o, "enabled", json_object_new_boolean(m->enabled));
	if (m->enabled) {
		json_object_object_add(o, "listen", json_object_new_string(m->listen));
		auth_json(o, &m->auth);
	}
	for (i = 0; i < m->nmoved; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(m->moved[i].name));
		json_object_object_add(e, "id", json_object_new_string(m->moved[i].id));
		json_object_object_add(e, "destination", json_object_new_string(m->moved[i].dest));
		json_object_object_add(e, "time_ms", json_object_new_int64(m->moved[i].time_ms));
		json_object_array_add(mv, e);
	}
	json_object_object_add(o, "moved", mv);
	settings_path(svc, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	r = json_object_to_file_ext(tmp, o,
				    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(o);
	if (r < 0 || rename(tmp, path) < 0)
		return -EIO;
	return 0;
}

static const char *jstr(struct json_object *o, const char *key, size_t max)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= max)
		return NULL;
	return json_object_get_string(v);
}

/* DIR/migration.json: the service's own file; a malformed one turns migration off, loudly. */
static void settings_read(struct service *svc)
{
	struct migration_service *m = svc->mig;
	char path[VM_PATH_MAX + 64];
	struct json_object *o, *v, *mv;
	const char *s, *k;
	size_t i;

	settings_path(svc, path, sizeof(path));
	o = json_object_from_file(path);
	if (!o) {
		if (access(path, F_OK) == 0)
			pv_log(LOG_ERR, "%s does not parse: live migration stays off", path);
		return;
	}
	if (json_object_object_get_ex(o, "enabled", &v) && json_object_get_boolean(v)) {
		const char *mode = jstr(o, "authentication", 32), *c, *pk, *ca;

		s = jstr(o, "listen", sizeof(m->listen));
		k = jstr(o, "key_file", sizeof(m->auth.key_file));
		c = jstr(o, "certificate", sizeof(m->auth.cert));
		pk = jstr(o, "private_key", sizeof(m->auth.private_key));
		ca = jstr(o, "trusted_ca", sizeof(m->auth.trusted_ca));
		if (s && mode && !strcmp(mode, "tls-x509") && c && pk && ca) {
			m->enabled = true;
			m->auth.mode = MIG_AUTH_X509;
			snprintf(m->auth.cert, sizeof(m->auth.cert), "%s", c);
			snprintf(m->auth.private_key, sizeof(m->auth.private_key), "%s", pk);
			snprintf(m->auth.trusted_ca, sizeof(m->auth.trusted_ca), "%s", ca);
		} else if (s && k && (!mode || !strcmp(mode, "tls-psk"))) {
			m->enabled = true;
			m->auth.mode = MIG_AUTH_PSK;
			snprintf(m->auth.key_file, sizeof(m->auth.key_file), "%s", k);
		} else {
			pv_log(LOG_ERR,
			       "%s: no \"listen\" or no complete authentication: live migration "
			       "stays off",
			       path);
		}
		if (m->enabled)
			snprintf(m->listen, sizeof(m->listen), "%s", s);
	}
	if (json_object_object_get_ex(o, "moved", &mv) && json_object_is_type(mv, json_type_array))
		for (i = 0; i < json_object_array_length(mv) && m->nmoved < MIG_MOVED_MAX; i++) {
			struct json_object *e = json_object_array_get_idx(mv, i);
			struct moved_vm *d = &m->moved[m->nmoved];
			const char *n = jstr(e, "name", sizeof(d->name)),
				   *id = jstr(e, "id", sizeof(d->id)),
				   *dest = jstr(e, "destination", sizeof(d->dest));

			if (!n || !id || !dest)
				continue;
			snprintf(d->name, sizeof(d->name), "%s", n);
			snprintf(d->id, sizeof(d->id), "%s", id);
			snprintf(d->dest, sizeof(d->dest), "%s", dest);
			d->time_ms = json_object_object_get_ex(e, "time_ms", &v)
					     ? json_object_get_int64(v)
					     : 0;
			m->nmoved++;
		}
	json_object_put(o);
}

/* --- the listener --------------------------------------------------------------------------- */

static int listen_on(const char *hostport, int *ret, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE},
			*ai = NULL;
	char host[256], port[16];
	const char *colon = strrchr(hostport, ':');
	size_t n;
	int fd, one = 1, r;

	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port) ||
	    (size_t)(colon - hostport) >= sizeof(host) || colon == hostport) {
		snprintf(err, errlen, "--listen '%s' is not ADDR:PORT (e.g. 10.0.0.1:6600)",
			 hostport);
		return -EINVAL;
	}
	n = (size_t)(colon - hostport);
	if (hostport[0] == '[' && n > 2 && hostport[n - 1] == ']') {
		memcpy(host, hostport + 1, n - 2);
		host[n - 2] = '\0';
	} else {
		memcpy(host, hostport, n);
		host[n] = '\0';
	}
	snprintf(port, sizeof(port), "%s", colon + 1);
	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		snprintf(err, errlen, "--listen %s: %s (give a numeric address and port)", hostport,
			 gai_strerror(r));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 8) < 0) {
		r = -errno;
		snprintf(err, errlen, "--listen %s: %s", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	*ret = fd;
	return 0;
}

static void *incoming_main(void *arg)
{
	struct incoming_arg a = *(struct incoming_arg *)arg;

	free(arg);
	svc_migration_incoming(a.svc, a.fd);
	pthread_mutex_lock(&a.svc->mig->lock);
	a.svc->mig->incoming--;
	pthread_cond_broadcast(&a.svc->mig->cond);
	pthread_mutex_unlock(&a.svc->mig->lock);
	return NULL;
}

static void *listener_main(void *arg)
{
	struct service *svc = arg;
	struct migration_service *m = svc->mig;

	for (;;) {
		struct pollfd p[2] = {{.fd = m->listen_fd, .events = POLLIN},
				      {.fd = m->stop_fd, .events = POLLIN}};
		struct incoming_arg *a;
		pthread_attr_t attr;
		pthread_t t;
		bool busy;
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&m->lock);
		busy = m->incoming >= MAX_INCOMING;
		if (!busy)
			m->incoming++;
		pthread_mutex_unlock(&m->lock);
		a = busy ? NULL : malloc(sizeof(*a));
		if (!a) {
			pv_log(LOG_WARN, "migration: refused a connection: %u moves arrive already",
			       MAX_INCOMING);
			close(fd);
			if (!busy) {
				pthread_mutex_lock(&m->lock);
				m->incoming--;
				pthread_mutex_unlock(&m->lock);
			}
			continue;
		}
		a->svc = svc;
		a->fd = fd;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, incoming_main, a)) {
			close(fd);
			free(a);
			pthread_mutex_lock(&m->lock);
			m->incoming--;
			pthread_mutex_unlock(&m->lock);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

static int listener_start(struct service *svc, char *err, size_t errlen)
{
	struct migration_service *m = svc->mig;
	int r = listen_on(m->listen, &m->listen_fd, err, errlen);

	if (r < 0)
		return r;
	r = -pthread_create(&m->thread, NULL, listener_main, svc);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the migration listener thread");
		close(m->listen_fd);
		m->listen_fd = -1;
		return r;
	}
	m->thread_running = true;
	pv_log(LOG_INFO, "live migration: listening on %s (TLS, %s %s)", m->listen,
	       m->auth.mode == MIG_AUTH_X509 ? "certificate" : "pre-shared key",
	       m->auth.mode == MIG_AUTH_X509 ? m->auth.cert : m->auth.key_file);
	return 0;
}

/* Stops the thread and closes the socket; connections being served go on. */
static void listener_stop(struct service *svc)
{
	struct migration_service *m = svc->mig;
	uint64_t one = 1;

	if (m->thread_running) {
		if (write(m->stop_fd, &one, sizeof(one)) < 0)
			pv_log(LOG_WARN, "migration: cannot wake the listener");
		pthread_join(m->thread, NULL);
		m->thread_running = false;
		if (read(m->stop_fd, &one, sizeof(one)) < 0)
			one = 0;
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	m->listen_fd = -1;
}

int svc_migration_load(struct service *svc, char *err, size_t errlen)
{
	struct migration_service *m = calloc(1, sizeof(*m));
	char why[512];

	if (!m)
		return -ENOMEM;
	m->listen_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (m->stop_fd < 0) {
		free(m);
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	svc->mig = m;
	settings_read(svc);
	/* A listener that cannot start (the address gone) is logged: the VMs still run. */
	if (m->enabled && listener_start(svc, why, sizeof(why)) < 0)
		pv_log(LOG_ERR, "live migration is enabled but cannot listen: %s", why);
	return 0;
}

void svc_migration_free(struct service *svc)
{
	struct migration_service *m = svc->mig;

	if (!m)
		return;
	listener_stop(svc);
	/* Serving threads hold svc: wait for them. */
	pthread_mutex_lock(&m->lock);
	while (m->incoming)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	close(m->stop_fd);
	free(m);
	svc->mig = NULL;
}

/* --- the calls ------------------------------------------------------------------------------ */

int svc_migration_auth(struct service *svc, struct mig_auth *auth, char *listen, size_t listenlen,
		       struct api_error *err)
{
	struct migration_service *m = svc->mig;
	char why[3 * VM_PATH_MAX + 300];

	if (!m->enabled) {
		api_error_set(err, API_ERR_STATE,
			      "live migration is not enabled on this host: parvis "
			      "enable-vmmigration --listen ADDR:PORT --key-file FILE first (the "
			      "key is the one the destination has)");
		return -EPERM;
	}
	memset(auth, 0, sizeof(*auth));
	auth->mode = m->auth.mode;
	if (m->auth.mode == MIG_AUTH_X509) {
		auth->cert = strdup(m->auth.cert);
		auth->private_key = strdup(m->auth.private_key);
		auth->trusted_ca = strdup(m->auth.trusted_ca);
		if (!auth->cert || !auth->private_key || !auth->trusted_ca) {
			api_error_set(err, API_ERR_HOST, "out of memory");
			return -ENOMEM;
		}
	} else if (mig_key_read(m->auth.key_file, auth->key, &auth->keylen, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_HOST, "%s", why);
		return -EINVAL;
	}
	snprintf(listen, listenlen, "%s", m->listen);
	return 0;
}

void svc_migration_auth_free(struct mig_auth *auth)
{
	if (!auth)
		return;
	free((char *)auth->cert);
	free((char *)auth->private_key);
	free((char *)auth->trusted_ca);
	explicit_bzero(auth, sizeof(*auth));
	free(auth);
}

static struct json_object *host_json(struct service *svc)
{
	struct migration_service *m = svc->mig;
	struct json_object *o = json_object_new_object(), *mig = json_object_new_object();
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	json_object_object_add(o, "name", json_object_new_string(host));
	json_object_object_add(o, "logical_processors", json_object_new_int((int)svc->host_cpus));
	json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)svc->host_ram));
	json_object_object_add(o, "state_dir", json_object_new_string(svc->state_dir));
	json_object_object_add(mig, "enabled", json_object_new_boolean(m->enabled));
	if (m->enabled) {
		json_object_object_add(mig, "listen", json_object_new_string(m->listen));
		json_object_object_add(mig, "listening",
				       json_object_new_boolean(m->thread_running));
		auth_json(mig, &m->auth);
	}
	json_object_object_add(mig, "incoming_moves", json_object_new_int((int)m->incoming));
	json_object_object_add(o, "migration", mig);
	return o;
}

/* An absolute path parameter, or NULL (err set when it is there but not absolute). */
static int path_param(const struct api_request *req, const char *name, const char **ret,
		      struct api_error *err)
{
	*ret = NULL;
	if (api_param_string(req, name, false, VM_PATH_MAX - 1, ret, err) < 0)
		return -EINVAL;
	if (*ret && (*ret)[0] != '/') {
		api_error_set(err, API_ERR_INVALID, "%s: '%s' is not an absolute path", name, *ret);
		return -EINVAL;
	}
	return 0;
}

/* The authentication enable-vmmigration asks for, checked by loading it as a session would. */
static int enable_auth(const struct api_request *req, struct mig_settings *a, struct api_error *err)
{
	const char *key_file, *cert, *pk, *ca;
	char why[3 * VM_PATH_MAX + 300];
	struct mig_auth *auth;
	int r;

	if (path_param(req, "key_file", &key_file, err) < 0 ||
	    path_param(req, "certificate", &cert, err) < 0 ||
	    path_param(req, "private_key", &pk, err) < 0 ||
	    path_param(req, "trusted_ca", &ca, err) < 0)
		return -EINVAL;
	if (!key_file == !(cert || pk || ca) || (!key_file && (!cert || !pk || !ca))) {
		api_error_set(err, API_ERR_INVALID,
			      "give either --key-file FILE (a pre-shared key) or --certificate, "
			      "--private-key and --trusted-ca (per-host certificates)");
		return -EINVAL;
	}
	auth = calloc(1, sizeof(*auth));
	if (!auth) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return -ENOMEM;
	}
	memset(a, 0, sizeof(*a));
	if (key_file) {
		a->mode = MIG_AUTH_PSK;
		snprintf(a->key_file, sizeof(a->key_file), "%s", key_file);
		r = mig_key_read(key_file, auth->key, &auth->keylen, why, sizeof(why));
	} else {
		a->mode = auth->mode = MIG_AUTH_X509;
		snprintf(a->cert, sizeof(a->cert), "%s", cert);
		snprintf(a->private_key, sizeof(a->private_key), "%s", pk);
		snprintf(a->trusted_ca, sizeof(a->trusted_ca), "%s", ca);
		auth->cert = cert;
		auth->private_key = pk;
		auth->trusted_ca = ca;
		r = mig_x509_check(auth, why, sizeof(why));
	}
	explicit_bzero(auth, sizeof(*auth));
	free(auth);
	if (r < 0)
		api_error_set(err, API_ERR_INVALID, "%s", why);
	return r;
}

struct json_object *svc_call_enable_migration(struct service *svc, const struct api_request *req,
					      struct api_error *err)
{
	struct migration_service *m = svc->mig;
	struct mig_settings *old = malloc(sizeof(*old)), *want = malloc(sizeof(*want));
	char why[VM_PATH_MAX + 300], old_listen[sizeof(m->listen)];
	const char *listen;
	bool was = m->enabled;
	struct json_object *res = NULL;

	if (!old || !want) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		goto out;
	}
	if (api_param_string(req, "listen", true, sizeof(m->listen) - 1, &listen, err) < 0 ||
	    enable_auth(req, want, err) < 0)
		goto out;
	memcpy(old_listen, m->listen, sizeof(old_listen));
	*old = m->auth;
	listener_stop(svc);
	snprintf(m->listen, sizeof(m->listen), "%s", listen);
	m->auth = *want;
	m->enabled = true;
	if (listener_start(svc, why, sizeof(why)) < 0) {
		api_error_set(err, API_ERR_INVALID, "%s", why);
		memcpy(m->listen, old_listen, sizeof(old_listen));
		m->auth = *old;
		m->enabled = was;
		if (was && listener_start(svc, why, sizeof(why)) < 0)
			pv_log(LOG_ERR, "live migration: the old listener did not come back: %s",
			       why);
		goto out;
	}
	if (settings_write(svc) < 0)
		pv_log(LOG_ERR, "cannot write %s/migration.json: a restart forgets the setting",
		       svc->state_dir);
	res = host_json(svc);
out:
	free(old);
	free(want);
	return res;
}

struct json_object *svc_call_disable_migration(struct service *svc, const struct api_request *req,
					       struct api_error *err)
{
	struct migration_service *m = svc->mig;

	(void)req;
	(void)err;
	listener_stop(svc);
	m->enabled = false;
	if (settings_write(svc) < 0)
		pv_log(LOG_ERR, "cannot write %s/migration.json", svc->state_dir);
	pv_log(LOG_INFO, "live migration: disabled");
	return host_json(svc);
}

struct json_object *svc_call_get_vmhost(struct service *svc, const struct api_request *req,
					struct api_error *err)
{
	(void)req;
	(void)err;
	return host_json(svc);
}

void svc_migration_note_moved(struct service *svc, const char *name, const char *id,
			      const char *dest)
{
	struct migration_service *m = svc->mig;
	struct moved_vm *d;

	if (m->nmoved == MIG_MOVED_MAX) {
		memmove(&m->moved[0], &m->moved[1], sizeof(m->moved[0]) * (MIG_MOVED_MAX - 1));
		m->nmoved--;
	}
	d = &m->moved[m->nmoved++];
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->dest, sizeof(d->dest), "%s", dest);
	d->time_ms = svc_now_ms();
	if (settings_write(svc) < 0)
		pv_log(LOG_ERR, "cannot write %s/migration.json", svc->state_dir);
}

bool svc_migration_moved(struct service *svc, const char *name, char *buf, size_t len)
{
	struct migration_service *m = svc->mig;
	unsigned i;

	for (i = m ? m->nmoved : 0; i-- > 0;)
		if (!strcmp(m->moved[i].name, name) || !strcasecmp(m->moved[i].id, name)) {
			time_t t = (time_t)(m->moved[i].time_ms / 1000);
			struct tm tm;
			char when[64];

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			snprintf(buf, len, "it moved to %s at %s (move-vm; VM id %s)",
				 m->moved[i].dest, when, m->moved[i].id);
			return true;
		}
	return false;
}
