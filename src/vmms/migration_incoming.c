/*
 * A move arriving (migration_service.h): the TLS handshake (a peer without the key is refused
 * and logged, nothing created), the source's OFFER, the checks before any memory moves (a VM
 * of that id or name here, the CPU features, the switches, the disks and boot files reachable,
 * memory), then the VM registered and its worker started with --incoming on one end of a
 * socketpair whose other end the relay joins to the session. The guest runs here once the
 * worker has the whole stream and acks; the VM stays only when the source then confirms
 * (COMMIT): without it the source may still run the guest, so the destination turns its copy
 * off and removes it (docs/migration.md, "Failure").
 */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "ipc/worker_client.h"
#include "vmms/audit.h"
#include "vmms/migration_service.h"
#include "vmms/network.h"
#include "vmms/service_internal.h"

#define OFFER_TIMEOUT_MS  30000
#define COMMIT_TIMEOUT_MS 60000

/* Who the audit log names for what a peer host asked. */
static const struct api_caller peer_caller = {.uid = 0, .user = "migration-peer"};

/* MemAvailable of /proc/meminfo, in bytes (0 if unreadable). */
static uint64_t mem_available(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb << 10;
}

/* Whether every name of want is in have (two arrays of strings); the first missing in miss. */
static bool features_cover(struct json_object *have, struct json_object *want, const char **miss)
{
	size_t i, j;

	for (i = 0; i < json_object_array_length(want); i++) {
		const char *f = json_object_get_string(json_object_array_get_idx(want, i));

		for (j = 0; j < json_object_array_length(have); j++) {
			const char *h = json_object_get_string(json_object_array_get_idx(have, j));

			if (f && h && !strcmp(f, h))
				break;
		}
		if (j == json_object_array_length(have)) {
			*miss = f;
			return false;
		}
	}
	return true;
}

/*
 * The processor the VM would get here (the worker's --print-cpu report, as get-vmprocessor):
 * it must have every feature the VM has on the source, or the guest could fault on an
 * instruction it was told of.
 */
static int check_cpu(struct service *svc, const struct peer_offer *o, char *why, size_t len)
{
	struct api_request req = {0};
	struct json_object *params = json_object_new_object(), *res, *proc, *feat, *have;
	struct api_error err = {0};
	const char *miss = NULL;
	struct vm tmp;
	int r = 0;

	if (!o->cpu_features)
		return 0;
	/* get-vmprocessor on a VM that is Off: the report for its CPU model and count. */
	memset(&tmp, 0, sizeof(tmp));
	tmp.rec = o->rec;
	tmp.rec.state = VM_STATE_OFF; /* no worker here: the report, not a control call */
	tmp.pidfd = -1;
	tmp.incoming_fd = -1;
	tmp.next = svc->vms;
	svc->vms = &tmp;
	json_object_object_add(params, "name", json_object_new_string(o->rec.id));
	req.params = params;
	res = svc_call_get_processor(svc, &req, &err);
	svc->vms = tmp.next;
	json_object_put(params);
	if (!res) {
		snprintf(why, len, "cannot tell this host's processor for the VM: %s", err.message);
		return -EIO;
	}
	have = json_object_new_array();
	if (json_object_object_get_ex(res, "processor", &proc)) {
		static const char *const keys[] = {"features", "host-features"};
		unsigned k;
		size_t i;

		for (k = 0; k < 2; k++)
			if (json_object_object_get_ex(proc, keys[k], &feat) &&
			    json_object_is_type(feat, json_type_array))
				for (i = 0; i < json_object_array_length(feat); i++)
					json_object_array_add(
						have, json_object_get(
							      json_object_array_get_idx(feat, i)));
	}
	if (!features_cover(have, o->cpu_features, &miss)) {
		snprintf(why, len,
			 "this host's processor lacks '%s', which the VM has on the source: turn "
			 "on processor compatibility (parvis set-vmprocessor %s "
			 "--compatibility-for-migration on, with the VM off) or choose another "
			 "host",
			 miss, o->rec.name);
		r = -ENOTSUP;
	}
	json_object_put(have);
	json_object_put(res);
	return r;
}

static struct vm *vm_by_id(struct service *svc, const char *id)
{
	struct vm *v;

	for (v = svc->vms; v; v = v->next)
		if (!strcasecmp(v->rec.id, id))
			return v;
	return NULL;
}

/* Everything the VM needs here, before any memory moves. Under svc->lock. */
static int check_offer(struct service *svc, const struct peer_offer *o, char *why, size_t len)
{
	struct api_error err = {0};
	uint64_t avail;
	unsigned i;
	struct vm *other;

	if ((other = vm_by_id(svc, o->rec.id)) || (other = svc_vm_find(svc, o->rec.name))) {
		snprintf(why, len, "this host has a VM '%s' (%s) already", other->rec.name,
			 other->rec.id);
		return -EEXIST;
	}
	/*
	 * A generation 1 VM without a kernel boots through this host's BIOS after a reboot (the
	 * worker restores its saved BIOS image copy and checks the image's size, section "bios");
	 * any other VM needs its kernel here.
	 */
	if (!o->rec.kernel && o->rec.generation != 1) {
		snprintf(why, len, "VM '%s' has no kernel to boot again after a reboot here",
			 o->rec.name);
		return -EINVAL;
	}
	if (o->rec.kernel &&
	    (svc_check_file("kernel", o->rec.kernel, &err) < 0 ||
	     svc_check_stored_path(svc, "kernel", o->rec.kernel, &err) < 0 ||
	     (o->rec.initrd && (svc_check_file("initrd", o->rec.initrd, &err) < 0 ||
				svc_check_stored_path(svc, "initrd", o->rec.initrd, &err) < 0))))
		goto shared;
	for (i = 0; i < o->rec.ndisks; i++)
		if (svc_check_disk(svc, NULL, o->rec.disks[i].path, &err) < 0 ||
		    svc_check_stored_path(svc, "disk", o->rec.disks[i].path, &err) < 0)
			goto shared;
	for (i = 0; i < o->nadapters; i++)
		if (o->adapter_switch[i][0] && !svc_net_switch_by_name(svc, o->adapter_switch[i])) {
			snprintf(why, len,
				 "adapter '%s' is on switch '%s', which this host does not have: "
				 "make it here first (parvis new-vmswitch %s ...)",
				 o->adapters[i].name, o->adapter_switch[i], o->adapter_switch[i]);
			return -ENOENT;
		}
	avail = mem_available();
	if (avail && o->rec.memory_bytes > avail) {
		snprintf(why, len,
			 "the VM has %llu MiB of memory; this host has %llu MiB available",
			 (unsigned long long)(o->rec.memory_bytes >> 20),
			 (unsigned long long)(avail >> 20));
		return -ENOMEM;
	}
	if (svc_check_cpus(o->rec.cpus, &err) < 0)
		goto shared;
	return check_cpu(svc, o, why, len);
shared:
	snprintf(why, len,
		 "%s (the VM's files must be reachable here at the same paths: shared "
		 "storage)",
		 err.message);
	return -ENOENT;
}

/* The adapters of the offer, on this host's switches of the same names; -errno with why. */
static int add_adapters(struct service *svc, const struct peer_offer *o, char *why, size_t len)
{
	struct net_state *st = svc->net;
	unsigned i, k;

	for (i = 0; i < o->nadapters; i++) {
		struct net_adapter a = o->adapters[i];
		struct net_switch *sw =
			a.switch_id[0] ? svc_net_switch_by_name(svc, o->adapter_switch[i]) : NULL;

		if (st->nadapters == NET_MAX_ADAPTERS) {
			snprintf(why, len, "this host has %d network adapters already",
				 NET_MAX_ADAPTERS);
			return -ENOSPC;
		}
		if (net_mac_in_use(st, a.mac, NULL)) {
			snprintf(why, len, "adapter '%s''s MAC address is another adapter's here",
				 a.name);
			return -EEXIST;
		}
		a.switch_id[0] = '\0';
		if (sw)
			memcpy(a.switch_id, sw->id, sizeof(a.switch_id));
		/* Its TAP and IFB get this host's names. */
		do {
			k = st->next_index++;
			snprintf(a.tap, sizeof(a.tap), "pvt%u", k);
			snprintf(a.ifb, sizeof(a.ifb), "pvi%u", k);
		} while (if_nametoindex(a.tap) || if_nametoindex(a.ifb));
		st->adapters[st->nadapters++] = a;
	}
	if (o->nadapters && svc_net_save(svc) < 0) {
		snprintf(why, len, "cannot write %s/network.json", svc->state_dir);
		return -EIO;
	}
	return 0;
}

/* The VM, registered Off from the offer's record (its history kept). Under svc->lock. */
static struct vm *register_vm(struct service *svc, struct peer_offer *o, char *why, size_t len)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	char reason[VM_REASON_MAX];
	int r;

	if (!vm) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	vm->pidfd = -1;
	vm->incoming_fd = -1;
	vm->rec = o->rec;
	vm_record_init(&o->rec);
	vm->rec.jail_uid = 0; /* this host gives its own */
	if (worker_paths_init(&vm->paths, svc->state_dir, vm->rec.id) < 0) {
		snprintf(why, len, "the run directory path is too long");
		svc_vm_free(vm);
		return NULL;
	}
	snprintf(reason, sizeof(reason),
		 "move-vm: arriving from %.200s (the source keeps it running)", o->source);
	vm_record_transition(&vm->rec, VM_STATE_OFF, svc_now_ms(), reason, VM_BY_SERVICE);
	r = inventory_write(svc->state_dir, &vm->rec);
	if (r < 0) {
		snprintf(why, len, "cannot write the VM's file: %s", strerror(-r));
		svc_vm_free(vm);
		return NULL;
	}
	vm->next = svc->vms;
	svc->vms = vm;
	if (add_adapters(svc, o, why, len) < 0) {
		struct api_error err = {0};

		(void)svc_vm_unregister(svc, vm, "not registered: its adapters failed", &err);
		return NULL;
	}
	svc_emit(svc, svc_vm_event("vm-created", vm));
	return vm;
}

/* Nothing of the VM stays: worker off, record, adapters, run directory. Under svc->lock. */
static void drop_vm(struct service *svc, struct vm *vm, const char *why)
{
	struct api_error err = {0};
	int i;

	if (vm->pidfd >= 0 && vm->pid > 0)
		kill(vm->pid, SIGKILL);
	/* The monitor reaps it; the VM goes when nobody uses it. */
	for (i = 0; i < 300 && (vm->pidfd >= 0 || vm->refs > 1); i++) {
		pthread_mutex_unlock(&svc->lock);
		usleep(50000);
		pthread_mutex_lock(&svc->lock);
	}
	vm->refs--;
	if (svc_vm_unregister(svc, vm, why, &err) < 0)
		pv_log(LOG_ERR, "VM '%s': %s", vm->rec.name, err.message);
}

static void send_result(struct peer_chan *c, enum peer_frame_type t, bool ok, const char *why)
{
	char *text = peer_result_text(ok, why);

	if (!text || peer_chan_send(c, t, text, (uint32_t)strlen(text)) < 0)
		pv_log(LOG_WARN, "migration: cannot answer %s", peer_chan_peer(c));
	free(text);
}

/* After the verdict: the worker and the relay, until the VM runs here (and stays) or not. */
static void receive_vm(struct service *svc, struct peer_chan *c, struct vm *vm, const char *source)
{
	struct api_error err = {0};
	struct peer_relay *relay = NULL;
	struct json_object *res;
	enum peer_frame_type t;
	char why[512], reason[VM_REASON_MAX], *data = NULL;
	uint32_t len;
	int sp[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    peer_relay_start(c, sp[0], &relay) < 0) {
		pv_log(LOG_ERR, "migration: VM '%s': cannot relay its stream", vm->rec.name);
		drop_vm(svc, vm, "removed: the move could not start here");
		return;
	}
	snprintf(reason, sizeof(reason), "move-vm from %.200s", source);
	vm->incoming_fd = sp[1];
	res = svc_start_vm(svc, vm, reason, &err);
	vm->incoming_fd = -1;
	close(sp[1]);
	if (!res || vm->rec.state != VM_STATE_RUNNING) {
		char tail[160] = "";

		worker_log_last_line(&vm->paths, tail, sizeof(tail));
		snprintf(why, sizeof(why), "%.300s%s%.150s",
			 err.code ? err.message : "the guest did not run here", tail[0] ? ": " : "",
			 tail);
		pv_log(LOG_WARN, "migration: VM '%s' from %s did not arrive: %s", vm->rec.name,
		       source, why);
		json_object_put(res);
		pthread_mutex_unlock(&svc->lock);
		send_result(c, PEER_FRAME_DONE, false, why);
		peer_relay_free(relay);
		pthread_mutex_lock(&svc->lock);
		drop_vm(svc, vm, "removed: the move did not complete");
		return;
	}
	json_object_put(res);
	/* Running here: the source must confirm it has let go, else this copy goes. */
	pthread_mutex_unlock(&svc->lock);
	r = peer_relay_wait(relay, COMMIT_TIMEOUT_MS, &t, &data, &len, why, sizeof(why));
	if (r == 0 && t != PEER_FRAME_COMMIT) {
		snprintf(why, sizeof(why), "the source sent frame %d instead of its commit",
			 (int)t);
		r = -EPROTO;
	}
	free(data);
	if (r == 0)
		send_result(c, PEER_FRAME_DONE, true, NULL);
	peer_relay_free(relay);
	pthread_mutex_lock(&svc->lock);
	if (r < 0) {
		pv_log(LOG_WARN,
		       "migration: VM '%s' from %s ran here but the source did not confirm (%s): "
		       "turned off, the source keeps it",
		       vm->rec.name, source, why);
		drop_vm(svc, vm, "removed: the source did not confirm the move");
		return;
	}
	vm_record_transition(&vm->rec, vm->rec.state, svc_now_ms(), "move-vm: arrived",
			     VM_BY_SERVICE);
	if (inventory_write(svc->state_dir, &vm->rec) < 0)
		pv_log(LOG_ERR, "VM '%s': cannot write its file", vm->rec.name);
	vm->refs--;
	pv_log(LOG_INFO, "migration: VM '%s' arrived from %s and runs here", vm->rec.name, source);
}

void svc_migration_incoming(struct service *svc, int fd)
{
	struct mig_auth *auth = calloc(1, sizeof(*auth));
	char listen[PEER_HOST_MAX], why[1024], *data = NULL, source[PEER_HOST_MAX];
	struct api_error err = {0};
	struct peer_chan *c = NULL;
	struct peer_offer *o = malloc(sizeof(*o));
	enum peer_frame_type t;
	struct vm *vm;
	uint32_t len;
	int r;

	if (!o || !auth || peer_offer_init(o) < 0) {
		free(o);
		free(auth);
		close(fd);
		return;
	}
	pthread_mutex_lock(&svc->lock);
	r = svc_migration_auth(svc, auth, listen, sizeof(listen), &err);
	pthread_mutex_unlock(&svc->lock);
	if (r < 0) {
		pv_log(LOG_WARN, "migration: refused a connection: %s", err.message);
		close(fd);
		goto out;
	}
	r = peer_chan_accept(fd, auth, &c, why, sizeof(why));
	if (r < 0) {
		/* An untrusted peer: nothing read from it, nothing created. */
		pv_log(LOG_WARN, "migration: refused a connection: %s", why);
		audit_record(svc->cfg.audit, &peer_caller, "move-vm (incoming)", NULL, false, why);
		goto out;
	}
	r = peer_chan_recv(c, OFFER_TIMEOUT_MS, &t, &data, &len, why, sizeof(why));
	if (r == 0 && t != PEER_FRAME_OFFER) {
		snprintf(why, sizeof(why), "the first frame is of type %d, not an offer", (int)t);
		r = -EPROTO;
	}
	if (r == 0)
		r = peer_offer_parse(data, len, o, why, sizeof(why));
	free(data);
	if (r < 0) {
		pv_log(LOG_WARN, "migration: %s: %s", peer_chan_peer(c), why);
		if (r != -EPIPE)
			send_result(c, PEER_FRAME_VERDICT, false, why);
		goto out;
	}
	snprintf(source, sizeof(source), "%s", o->source);
	pthread_mutex_lock(&svc->lock);
	r = check_offer(svc, o, why, sizeof(why));
	vm = r == 0 ? register_vm(svc, o, why, sizeof(why)) : NULL;
	if (vm)
		vm->refs++;
	pthread_mutex_unlock(&svc->lock);
	if (!vm) {
		pv_log(LOG_WARN, "migration: refused VM '%s' from %s: %s", o->rec.name, source,
		       why);
		audit_record(svc->cfg.audit, &peer_caller, "move-vm (incoming)", o->rec.name, false,
			     why);
		send_result(c, PEER_FRAME_VERDICT, false, why);
		goto out;
	}
	pv_log(LOG_INFO, "migration: VM '%s' from %s: checks passed, receiving", vm->rec.name,
	       source);
	send_result(c, PEER_FRAME_VERDICT, true, NULL);
	pthread_mutex_lock(&svc->lock);
	receive_vm(svc, c, vm, source);
	pthread_mutex_unlock(&svc->lock);
out:
	svc_migration_auth_free(auth);
	peer_chan_free(c);
	peer_offer_fini(o);
	free(o);
}
