/*
 * move-vm on the source (migration_service.h), as Hyper-V's Move-VM: the VM's record, adapters
 * and CPU features offered to the destination over TLS; its verdict (the checks run there
 * before any memory moves); then the worker's migrate-send on one end of a socketpair whose
 * other end the relay joins to the session, while progress lines go to the caller. The worker
 * answers once the destination's worker has acked (the switch-over) or the move failed (the
 * VM then runs on here: the worker resumed it). After the switch-over the source confirms
 * (COMMIT), waits for the destination's DONE, and removes its entry: the worker has ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "ipc/jsonline.h"
#include "vmms/migration_service.h"
#include "vmms/network.h"
#include "vmms/service_internal.h"
#include "vmms/snapshot.h"

#define VERDICT_TIMEOUT_MS 120000  /* the destination's checks run its CPU report */
#define SEND_TIMEOUT_MS	   1800000 /* the worker's migrate-send: ends with the ack or fails */
#define DONE_TIMEOUT_MS	   60000
#define PROGRESS_MS	   500

#define ROUND_LINE_MAX 512 /* one line of the worker's progress socket */

/*
 * Progress lines to the caller while the worker sends: the bytes the relay carried, and what
 * the worker reports after each round on its progress socket (migration_send.h).
 */
struct progress {
	struct snap_caller *caller;
	struct peer_relay *relay;
	uint64_t memory_bytes;
	int worker_fd; /* our end of the worker's progress socket */
	pthread_t thread;
	int stop_fd[2];
	/* The worker's last round line. */
	char line[ROUND_LINE_MAX + 1];
	size_t used;
	int64_t round, dirty_pages, dirty_pages_per_s, expected_downtime_ms;
};

static int64_t line_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int)
		       ? json_object_get_int64(v)
		       : -1;
}

/* The worker's lines (its bytes: bounded, each one JSON object of numbers, or ignored). */
static void read_rounds(struct progress *p)
{
	ssize_t n = read(p->worker_fd, p->line + p->used, ROUND_LINE_MAX - p->used);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		p->worker_fd = -1; /* the worker closed it: no more rounds */
		return;
	}
	p->used += (size_t)n;
	p->line[p->used] = '\0';
	while ((nl = memchr(p->line, '\n', p->used))) {
		struct json_object *o;

		*nl = '\0';
		o = json_tokener_parse(p->line);
		if (o && json_object_is_type(o, json_type_object)) {
			p->round = line_int(o, "round");
			p->dirty_pages = line_int(o, "dirty_pages");
			p->dirty_pages_per_s = line_int(o, "dirty_pages_per_s");
			p->expected_downtime_ms = line_int(o, "expected_downtime_ms");
		}
		json_object_put(o);
		p->used -= (size_t)(nl + 1 - p->line);
		memmove(p->line, nl + 1, p->used);
	}
	if (p->used == ROUND_LINE_MAX)
		p->used = 0; /* a line longer than any the worker writes: dropped */
}

/* One progress line: the relay's bytes and rate since the last line, the worker's last round. */
static void emit(struct progress *p, uint64_t start, uint64_t *last_bytes, uint64_t *last_ns)
{
	struct json_object *o = json_object_new_object(), *pr = json_object_new_object();
	uint64_t out, in, now = time_monotonic_ns();
	double rate;

	peer_relay_bytes(p->relay, &out, &in);
	rate = now > *last_ns ? (double)(out - *last_bytes) * 1e9 / (double)(now - *last_ns) : 0;
	*last_bytes = out;
	*last_ns = now;
	json_object_object_add(pr, "operation", json_object_new_string("move-vm"));
	json_object_object_add(pr, "bytes_sent", json_object_new_int64((int64_t)out));
	json_object_object_add(pr, "memory_bytes", json_object_new_int64((int64_t)p->memory_bytes));
	json_object_object_add(pr, "rate_bytes_per_s", json_object_new_int64((int64_t)rate));
	json_object_object_add(pr, "elapsed_ms",
			       json_object_new_int64((int64_t)((now - start) / 1000000)));
	if (p->round >= 0) {
		json_object_object_add(pr, "round", json_object_new_int64(p->round));
		json_object_object_add(pr, "dirty_pages", json_object_new_int64(p->dirty_pages));
		json_object_object_add(pr, "dirty_pages_per_s",
				       json_object_new_int64(p->dirty_pages_per_s));
		json_object_object_add(pr, "expected_downtime_ms",
				       json_object_new_int64(p->expected_downtime_ms));
	}
	json_object_object_add(o, "progress", pr);
	if (jsonline_send(p->caller->fd, o) < 0)
		p->caller->cancelled = true;
	json_object_put(o);
}

static void *progress_main(void *arg)
{
	struct progress *p = arg;
	uint64_t start = time_monotonic_ns(), last_bytes = 0, last_ns = start, next = start;

	for (;;) {
		struct pollfd pf[2] = {{.fd = p->stop_fd[0], .events = POLLIN},
				       {.fd = p->worker_fd, .events = POLLIN}};
		uint64_t now = time_monotonic_ns();
		int wait = next > now ? (int)((next - now) / 1000000) : 0;

		if (poll(pf, p->worker_fd >= 0 ? 2 : 1, wait) > 0) {
			if (pf[0].revents) {
				/* The worker has answered: its last rounds, then the last line. */
				while (p->worker_fd >= 0 && poll(&pf[1], 1, 0) > 0)
					read_rounds(p);
				emit(p, start, &last_bytes, &last_ns);
				break;
			}
			if (pf[1].revents)
				read_rounds(p);
			continue;
		}
		next = time_monotonic_ns() + (uint64_t)PROGRESS_MS * 1000000;
		emit(p, start, &last_bytes, &last_ns);
	}
	return NULL;
}

static int progress_start(struct progress *p)
{
	if (!p->caller->progress)
		return 0;
	if (pipe2(p->stop_fd, O_CLOEXEC) < 0)
		return -errno;
	if (pthread_create(&p->thread, NULL, progress_main, p)) {
		close(p->stop_fd[0]);
		close(p->stop_fd[1]);
		return -EAGAIN;
	}
	return 0;
}

static void progress_stop(struct progress *p)
{
	if (!p->caller->progress)
		return;
	if (write(p->stop_fd[1], "x", 1) < 0)
		pv_log(LOG_WARN, "move-vm: cannot stop the progress thread");
	pthread_join(p->thread, NULL);
	close(p->stop_fd[0]);
	close(p->stop_fd[1]);
}

/* The OFFER: the record, the adapters with their switches' names, the CPU features. */
static struct json_object *make_offer(struct service *svc, struct vm *vm, const char *listen)
{
	const struct net_adapter *ads[NET_MAX_VM_ADAPTERS];
	const char *sws[NET_MAX_VM_ADAPTERS];
	struct json_object *ans = NULL, *cpu, *feat = json_object_new_array(), *o, *f;
	unsigned i, n = 0;

	for (i = 0; i < svc->net->nadapters && n < NET_MAX_VM_ADAPTERS; i++) {
		const struct net_adapter *a = &svc->net->adapters[i];
		const struct net_switch *sw;

		if (strcmp(a->vm_id, vm->rec.id))
			continue;
		sw = a->switch_id[0] ? svc_net_switch_by_id(svc, a->switch_id) : NULL;
		ads[n] = a;
		sws[n++] = sw ? sw->name : "";
	}
	/* What the guest was told of: its worker's CPU model (docs/cpu.md). */
	if (svc_call_worker(svc, vm, "cpu", NULL, STATUS_TIMEOUT_MS, &ans) == 0 &&
	    json_object_object_get_ex(ans, "cpu", &cpu)) {
		static const char *const keys[] = {"features", "host-features"};

		for (i = 0; i < 2; i++)
			if (json_object_object_get_ex(cpu, keys[i], &f) &&
			    json_object_is_type(f, json_type_array)) {
				size_t k;

				for (k = 0; k < json_object_array_length(f); k++)
					json_object_array_add(
						feat,
						json_object_get(json_object_array_get_idx(f, k)));
			}
	}
	json_object_put(ans);
	/* The adapters may have changed while the lock was dropped: listed again. */
	n = 0;
	for (i = 0; i < svc->net->nadapters && n < NET_MAX_VM_ADAPTERS; i++) {
		const struct net_adapter *a = &svc->net->adapters[i];
		const struct net_switch *sw;

		if (strcmp(a->vm_id, vm->rec.id))
			continue;
		sw = a->switch_id[0] ? svc_net_switch_by_id(svc, a->switch_id) : NULL;
		ads[n] = a;
		sws[n++] = sw ? sw->name : "";
	}
	o = peer_offer_to_json(listen, &vm->rec, ads, sws, n,
			       json_object_array_length(feat) ? feat : NULL);
	json_object_put(feat);
	return o;
}

/* A history line on the source, the state unchanged (a failed move, the start of one). */
static void note(struct service *svc, struct vm *vm, const char *what, const char *dest,
		 const char *why)
{
	char reason[VM_REASON_MAX];

	snprintf(reason, sizeof(reason), "move-vm to %.100s %s%s%.140s", dest, what,
		 why ? ": " : "", why ? why : "");
	vm_record_transition(&vm->rec, vm->rec.state, svc_now_ms(), reason, svc_caller_uid());
	if (inventory_write(svc->state_dir, &vm->rec) < 0)
		pv_log(LOG_ERR, "VM '%s': cannot write its file", vm->rec.name);
}

/* Connects, offers, takes the verdict; the lock dropped meanwhile. 0 with *ret, or err set. */
static int negotiate(struct service *svc, struct vm *vm, const char *dest, struct peer_chan **ret,
		     struct api_error *err)
{
	struct mig_auth *auth = calloc(1, sizeof(*auth));
	char listen[PEER_HOST_MAX], why[1024] = "", peer_why[600], *text, *data = NULL;
	struct json_object *offer;
	struct peer_chan *c = NULL;
	enum peer_frame_type t;
	uint32_t len;
	bool ok = false;
	int r;

	if (!auth) {
		api_error_set(err, API_ERR_HOST, "out of memory");
		return -ENOMEM;
	}
	if (svc_migration_auth(svc, auth, listen, sizeof(listen), err) < 0) {
		svc_migration_auth_free(auth);
		return -EPERM;
	}
	offer = make_offer(svc, vm, listen);
	text = strdup(json_object_to_json_string_ext(offer, JSON_C_TO_STRING_PLAIN));
	json_object_put(offer);
	if (!text) {
		svc_migration_auth_free(auth);
		api_error_set(err, API_ERR_HOST, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_unlock(&svc->lock);
	r = peer_chan_connect(dest, auth, &c, why, sizeof(why));
	svc_migration_auth_free(auth);
	if (r == 0 && strlen(text) > PEER_JSON_MAX) {
		snprintf(why, sizeof(why), "the VM's record is larger than %u bytes",
			 PEER_JSON_MAX);
		r = -E2BIG;
	}
	/*
	 * TLS 1.3: the client's handshake ends before the server has checked the client's
	 * certificate; a server that refuses it closes the session before any frame, so the
	 * offer's send (when the reset came first) or the verdict's receive fails.
	 */
	if (r == 0) {
		r = peer_chan_send(c, PEER_FRAME_OFFER, text, (uint32_t)strlen(text));
		if (r == 0)
			r = peer_chan_recv(c, VERDICT_TIMEOUT_MS, &t, &data, &len, why,
					   sizeof(why));
		if (r == -EPIPE) {
			snprintf(
				why, sizeof(why),
				"%s closed the session before its verdict: it refused this host in "
				"the TLS handshake (a certificate or key it does not trust) or "
				"failed; see its log",
				dest);
			r = -EACCES;
		}
	}
	if (r == 0 && t != PEER_FRAME_VERDICT) {
		snprintf(why, sizeof(why), "%s answered with frame %d, not a verdict", dest,
			 (int)t);
		r = -EPROTO;
	}
	if (r == 0)
		r = peer_result_parse(data, len, &ok, peer_why, sizeof(peer_why), why, sizeof(why));
	free(data);
	free(text);
	pthread_mutex_lock(&svc->lock);
	if (r < 0) {
		api_error_set(err, r == -EACCES ? API_ERR_DENIED : API_ERR_HOST,
			      "move-vm: %s; VM '%s' still runs here", why, vm->rec.name);
		peer_chan_free(c);
		return r;
	}
	if (!ok) {
		api_error_set(err, API_ERR_STATE,
			      "move-vm: %s refused VM '%s': %s; it still runs here", dest,
			      vm->rec.name, peer_why);
		peer_chan_free(c);
		return -EPERM;
	}
	*ret = c;
	return 0;
}

/* After the switch-over: the confirmation, the destination's DONE, the entry removed. */
static struct json_object *finish(struct service *svc, struct vm *vm, struct peer_chan *c,
				  struct peer_relay *relay, const char *dest,
				  struct json_object *migration)
{
	struct json_object *res = json_object_new_object();
	char why[600] = "", peer_why[600] = "", *data = NULL, name[VM_NAME_MAX + 1],
	     id[GUID_STRING_LEN];
	struct api_error err = {0};
	enum peer_frame_type t;
	bool ok = false;
	uint32_t len;
	uint64_t deadline;
	int r;

	vm->migrated = true;
	pthread_mutex_unlock(&svc->lock);
	r = peer_chan_send(c, PEER_FRAME_COMMIT, NULL, 0);
	if (r == 0)
		r = peer_relay_wait(relay, DONE_TIMEOUT_MS, &t, &data, &len, why, sizeof(why));
	if (r == 0 && t == PEER_FRAME_DONE)
		r = peer_result_parse(data, len, &ok, peer_why, sizeof(peer_why), why, sizeof(why));
	free(data);
	pthread_mutex_lock(&svc->lock);
	/* The worker ends once it has sent everything (docs/migration.md): wait for it. */
	deadline = time_monotonic_ns() + 30000000000ull;
	while (vm->pidfd >= 0 && time_monotonic_ns() < deadline) {
		pthread_mutex_unlock(&svc->lock);
		usleep(20000);
		pthread_mutex_lock(&svc->lock);
	}
	/* Nothing of it runs here after the switch-over. */
	if (vm->pidfd >= 0 && vm->pid > 0 && proc_start_time(vm->pid) == vm->start_time) {
		pv_log(LOG_WARN, "move-vm: VM '%s''s worker did not end after the move: killing it",
		       vm->rec.name);
		kill(vm->pid, SIGKILL);
		deadline = time_monotonic_ns() + 10000000000ull;
		while (vm->pidfd >= 0 && time_monotonic_ns() < deadline) {
			pthread_mutex_unlock(&svc->lock);
			usleep(20000);
			pthread_mutex_lock(&svc->lock);
		}
	}
	snprintf(name, sizeof(name), "%s", vm->rec.name);
	snprintf(id, sizeof(id), "%s", vm->rec.id);
	json_object_object_add(res, "name", json_object_new_string(name));
	json_object_object_add(res, "id", json_object_new_string(id));
	json_object_object_add(res, "destination", json_object_new_string(dest));
	json_object_object_add(res, "migration", json_object_get(migration));
	json_object_object_add(
		res, "destination_state",
		json_object_new_string(r == 0 && ok ? "Running" : "unknown (see the destination)"));
	if (r < 0 || !ok)
		pv_log(LOG_WARN,
		       "move-vm: VM '%s' switched over to %s but its confirmation did not come "
		       "back (%s%s): see get-vm there",
		       name, dest, why, peer_why);
	svc_migration_note_moved(svc, name, id, dest);
	vm->refs--;
	if (svc_vm_unregister(svc, vm, "moved to another host (move-vm)", &err) < 0)
		pv_log(LOG_ERR, "move-vm: VM '%s': %s", name, err.message);
	return res;
}

struct json_object *svc_call_move_vm(struct service *svc, const struct api_request *req,
				     int client_fd, struct api_error *err)
{
	static const enum vm_state ok[] = {VM_STATE_RUNNING};
	struct snap_caller caller = {.fd = client_fd};
	struct progress prog = {.caller = &caller, .worker_fd = -1, .round = -1};
	struct json_object *ans = NULL, *res = NULL, *mig;
	struct vm *vm = svc_lookup(svc, req, err);
	struct peer_chan *c = NULL;
	struct peer_relay *relay = NULL;
	char why[600], dest_copy[PEER_HOST_MAX];
	const char *dest;
	int sp[2] = {-1, -1}, psp[2] = {-1, -1}, r;

	if (!vm ||
	    api_param_string(req, "destination_host", true, PEER_HOST_MAX - 1, &dest, err) < 0 ||
	    api_param_bool(req, "progress", &caller.progress, err) < 0 ||
	    svc_need_state(vm, "move-vm", ok, 1, "only a Running VM moves live", err) < 0)
		return NULL;
	/*
	 * A worker holds its disks (an OFD lock, a VHDX's log and headers) until it ends, and the
	 * destination's worker opens them when it starts: both at once would corrupt a VHDX. The
	 * hand-over of disks at the switch-over is not in the workers yet (docs/migration.md).
	 */
	if (vm->rec.ndisks) {
		api_error_set(err, API_ERR_INVALID,
			      "move-vm: VM '%s' has %u virtual hard disk%s; its worker cannot hand "
			      "disks over to another at the switch-over yet, so only VMs without "
			      "disks move live (stop it and use export-vm / import-vm)",
			      vm->rec.name, vm->rec.ndisks, vm->rec.ndisks > 1 ? "s" : "");
		return NULL;
	}
	snprintf(dest_copy, sizeof(dest_copy), "%s", dest);
	vm->busy = "move-vm";
	vm->migrating = true;
	vm->refs++;
	/* Before the offer: the history that moves with the VM says where it came from. */
	note(svc, vm, "started", dest_copy, NULL);
	if (negotiate(svc, vm, dest_copy, &c, err) < 0) {
		note(svc, vm, "refused", dest_copy, err->message);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    peer_relay_start(c, sp[0], &relay) < 0) {
		api_error_set(err, API_ERR_HOST, "move-vm: cannot relay the stream: %s",
			      strerror(errno));
		goto out;
	}
	prog.relay = relay;
	prog.memory_bytes = vm->rec.memory_bytes;
	/* The worker's rounds, when the caller wants progress. */
	if (caller.progress &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, psp) == 0)
		prog.worker_fd = psp[0];
	if (progress_start(&prog) < 0)
		caller.progress = false;
	{
		int fds[2] = {sp[1], psp[1]};

		r = svc_call_worker_fds(svc, vm, "migrate-send", NULL, fds, psp[1] >= 0 ? 2 : 1,
					SEND_TIMEOUT_MS, &ans);
	}
	close(sp[1]);
	sp[1] = -1;
	progress_stop(&prog);
	if (psp[0] >= 0)
		close(psp[0]);
	if (psp[1] >= 0)
		close(psp[1]);
	if (r == 0 && svc_worker_ok(ans)) {
		mig = NULL;
		json_object_object_get_ex(ans, "migration", &mig);
		vm->migrating = false;
		vm->busy = NULL;
		res = finish(svc, vm, c, relay, dest_copy, mig);
		vm = NULL;
		goto out;
	}
	if (r < 0 || !svc_worker_ok(ans)) {
		char link[256] = "";

		if (relay && peer_relay_failed(relay, link, sizeof(link)))
			snprintf(why, sizeof(why), "%s (%s)",
				 r < 0 ? strerror(-r) : svc_worker_error(ans), link);
		else
			snprintf(why, sizeof(why), "%s",
				 r < 0 ? strerror(-r) : svc_worker_error(ans));
		/* The usual case: the worker resumed the guest. A guest that powered off meanwhile
		 * took its worker with it. */
		bool alive = vm->pidfd >= 0 && vm->pid > 0 && !proc_is_zombie(vm->pid) &&
			     proc_start_time(vm->pid) == vm->start_time;

		api_error_set(
			err, API_ERR_WORKER, "move-vm: VM '%s' to %s: %s; %s", vm->rec.name,
			dest_copy, why,
			alive ? "it still runs here"
			      : "its worker ended meanwhile here (the guest powered off?): see "
				"get-vm");
		note(svc, vm, "failed", dest_copy, why);
	}
out:
	json_object_put(ans);
	pthread_mutex_unlock(&svc->lock);
	peer_relay_free(relay);
	peer_chan_free(c);
	pthread_mutex_lock(&svc->lock);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (vm) {
		vm->busy = NULL;
		vm->migrating = false;
		svc_vm_put(svc, vm);
	}
	return res;
}
