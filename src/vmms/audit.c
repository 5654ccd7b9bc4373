/* The audit log; see audit.h. */
#include "vmms/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

/* One (uid, call) pair's refusals in the current interval. */
struct audit_key {
	bool used;
	uid_t uid;
	char call[32];
	char user[64];
	uint64_t window_start_ns; /* CLOCK_MONOTONIC */
	uint64_t last_ns;	  /* last record of this key, for eviction */
	unsigned written;	  /* in this window */
	unsigned suppressed;	  /* not written since the last record of this key */
};

struct audit_log {
	int fd;
	unsigned burst;
	uint64_t interval_ns;
	pthread_mutex_t lock; /* protects keys and the counters */
	struct audit_key keys[AUDIT_KEYS];
	uint64_t written, suppressed;
};

int audit_open_fd(int fd, unsigned burst, unsigned interval_ms, struct audit_log **ret)
{
	struct audit_log *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->fd = fd;
	a->burst = burst;
	a->interval_ns = (uint64_t)interval_ms * 1000000;
	pthread_mutex_init(&a->lock, NULL);
	*ret = a;
	return 0;
}

int audit_open(const char *path, struct audit_log **ret)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640), r;

	if (fd < 0)
		return -errno;
	r = audit_open_fd(fd, AUDIT_BURST, AUDIT_INTERVAL_MS, ret);
	if (r < 0)
		close(fd);
	return r;
}

/* One line, one write(); under a->lock. */
static void write_line(struct audit_log *a, struct json_object *o, const char *call)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(s);
	char *line = malloc(len + 1);

	if (!line)
		return;
	memcpy(line, s, len);
	line[len] = '\n';
	if (write(a->fd, line, len + 1) != (ssize_t)(len + 1))
		pv_log(LOG_ERR, "audit log: cannot append a record (%s): %s", call,
		       strerror(errno));
	else
		a->written++;
	free(line);
}

static struct json_object *new_record(uid_t uid, const char *user, const char *call)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "time_ms",
			       json_object_new_int64((int64_t)(time_realtime_ns() / 1000000)));
	json_object_object_add(o, "uid", json_object_new_int64(uid));
	json_object_object_add(o, "user", json_object_new_string(user));
	return o;
}

/* The count of a key whose records were suppressed, as a record of its own; under a->lock. */
static void flush_key(struct audit_log *a, struct audit_key *k)
{
	struct json_object *o;

	if (!k->suppressed)
		return;
	o = new_record(k->uid, k->user, k->call);
	json_object_object_add(o, "call", json_object_new_string(k->call));
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "suppressed", json_object_new_int64(k->suppressed));
	json_object_object_add(o, "summary", json_object_new_boolean(1));
	write_line(a, o, k->call);
	json_object_put(o);
	k->suppressed = 0;
}

/* Summaries of keys whose interval is over; under a->lock. */
static void flush_expired(struct audit_log *a, uint64_t now)
{
	unsigned i;

	for (i = 0; i < AUDIT_KEYS; i++)
		if (a->keys[i].used && a->keys[i].suppressed &&
		    now - a->keys[i].window_start_ns >= a->interval_ns)
			flush_key(a, &a->keys[i]);
}

/* The key of (uid, call), made (evicting the least recent) if there is none; under a->lock. */
static struct audit_key *find_key(struct audit_log *a, const struct api_caller *c, const char *call,
				  uint64_t now)
{
	struct audit_key *k, *oldest = &a->keys[0];
	unsigned i;

	for (i = 0; i < AUDIT_KEYS; i++) {
		k = &a->keys[i];
		if (k->used && k->uid == c->uid && !strncmp(k->call, call, sizeof(k->call)))
			return k;
		if (!k->used || (oldest->used && k->last_ns < oldest->last_ns))
			oldest = k;
	}
	k = oldest;
	if (k->used)
		flush_key(a, k);
	memset(k, 0, sizeof(*k));
	k->used = true;
	k->uid = c->uid;
	snprintf(k->call, sizeof(k->call), "%s", call);
	snprintf(k->user, sizeof(k->user), "%s", c->user);
	k->window_start_ns = now;
	return k;
}

void audit_record(struct audit_log *a, const struct api_caller *c, const char *call, const char *vm,
		  bool ok, const char *error)
{
	struct audit_key *k;
	struct json_object *o;
	uint64_t now = time_monotonic_ns();

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	flush_expired(a, now);
	/* A key's window is over only once its pending count is written (flush_expired). */
	if (!ok) {
		k = find_key(a, c, call, now);
		k->last_ns = now;
		if (now - k->window_start_ns >= a->interval_ns) {
			k->window_start_ns = now;
			k->written = 0;
		}
		if (k->written >= a->burst) {
			k->suppressed++;
			a->suppressed++;
			pthread_mutex_unlock(&a->lock);
			return;
		}
		k->written++;
	}
	o = new_record(c->uid, c->user, call);
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "call", json_object_new_string(call));
	if (vm)
		json_object_object_add(o, "vm", json_object_new_string(vm));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (error)
		json_object_object_add(o, "error", json_object_new_string(error));
	write_line(a, o, call);
	json_object_put(o);
	pthread_mutex_unlock(&a->lock);
}

void audit_counts(struct audit_log *a, uint64_t *written, uint64_t *suppressed)
{
	pthread_mutex_lock(&a->lock);
	*written = a->written;
	*suppressed = a->suppressed;
	pthread_mutex_unlock(&a->lock);
}

void audit_flush(struct audit_log *a)
{
	unsigned i;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < AUDIT_KEYS; i++)
		if (a->keys[i].used)
			flush_key(a, &a->keys[i]);
	pthread_mutex_unlock(&a->lock);
}

struct audit_log *audit_close(struct audit_log *a)
{
	if (!a)
		return NULL;
	audit_flush(a);
	pthread_mutex_destroy(&a->lock);
	close(a->fd);
	free(a);
	return NULL;
}
