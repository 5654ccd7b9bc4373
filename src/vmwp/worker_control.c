/*
 * The worker's control commands (docs/control.md): one table of {name, what
 * the command needs, handler}, and a small function per command.
 *
 * Every handler runs on the control thread (control.c), under w->lock unless
 * its entry says CONTROL_UNLOCKED; with w->lock held it may call the machine's
 * verbs but never wait for the boot loop (main.c), which takes w->lock too.
 * The long ones (save, migrate-send) hold the machine (worker_hold_machine)
 * and drop w->lock while they work, taking it again before they return.
 */
#include "vmwp/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "base/log.h"
#include "cpu/cpu_report.h"
#include "disk/disk.h"
#include "net/tap.h"
#include "state/state_lazy.h"
#include "vmwp/control.h"
#include "vmwp/exit_stats.h"
#include "vmwp/firmware.h"
#include "vmwp/machine_state.h"
#include "vmwp/sandbox.h"
#include "vmwp/vmbus_status.h"
#include "vmwp/vmconnect.h"

/*
 * CLOCK_MONOTONIC of the first KVM_RUN (of vCPU 0, first boot), 0 before, and the process's
 * CPU time by then (*cpu_ns); under w->lock.
 */
static uint64_t first_run_ns(struct worker *w, uint64_t *cpu_ns)
{
	struct partition_exit_stats st;

	if (!w->first_run_ns && w->machine) {
		partition_get_exit_stats(machine_partition(w->machine), &st);
		w->first_run_ns = st.first_run_ns;
		w->first_run_cpu_ns = st.first_run_cpu_ns;
	}
	*cpu_ns = w->first_run_cpu_ns;
	return w->first_run_ns;
}

/* How the restore's RAM came (docs/saved-state.md, "Lazy RAM"); under w->lock. */
static struct json_object *restore_ram_json(struct worker *w)
{
	struct json_object *o = json_object_new_object();
	struct state_lazy_stats st;

	json_object_object_add(o, "mode",
			       json_object_new_string(w->restore_ram_lazy ? "lazy" : "eager"));
	if (!w->restore_ram_lazy && w->state.eager_why[0])
		json_object_object_add(o, "why", json_object_new_string(w->state.eager_why));
	if (!w->machine || w->boots != 1 ||
	    !partition_lazy_ram_stats(machine_partition(w->machine), &st))
		return o;
	json_object_object_add(o, "faults", json_object_new_int64((int64_t)st.faults));
	json_object_object_add(o, "fault_copies", json_object_new_int64((int64_t)st.fault_copies));
	json_object_object_add(o, "prefetched_pages",
			       json_object_new_int64((int64_t)st.prefetched_pages));
	json_object_object_add(o, "done", json_object_new_boolean(st.done_ns != 0));
	if (st.done_ns)
		json_object_object_add(
			o, "prefetch_ms",
			json_object_new_int64((int64_t)((st.done_ns - st.start_ns) / 1000000)));
	if (st.error)
		json_object_object_add(o, "error", json_object_new_string(strerror(-st.error)));
	return o;
}

/* The timing members of a status answer (docs/control.md), under w->lock. */
static void add_status_times(struct worker *w, struct json_object *resp)
{
	uint64_t first_cpu, now = time_monotonic_ns(), first = first_run_ns(w, &first_cpu);
	struct timespec real;

	json_object_object_add(resp, "pid", json_object_new_int64(getpid()));
	json_object_object_add(resp, "paused", json_object_new_boolean(w->paused));
	json_object_object_add(
		resp, "uptime_s",
		json_object_new_double(w->machine ? (double)(now - w->boot_start_ns) / 1e9 : 0.0));
	json_object_object_add(resp, "cpu_s",
			       json_object_new_double((double)time_process_cpu_ns() / 1e9));
	json_object_object_add(resp, "memory_bytes",
			       json_object_new_int64((int64_t)w->cfg.memory_bytes));
	if (first) {
		clock_gettime(CLOCK_REALTIME, &real);
		json_object_object_add(resp, "first_run_monotonic_ns",
				       json_object_new_int64((int64_t)first));
		json_object_object_add(resp, "first_run_cpu_ns",
				       json_object_new_int64((int64_t)first_cpu));
		json_object_object_add(resp, "first_run_realtime_ns",
				       json_object_new_int64((int64_t)real.tv_sec * 1000000000 +
							     real.tv_nsec -
							     (int64_t)(now - first)));
	} else {
		json_object_object_add(resp, "first_run_monotonic_ns", NULL);
		json_object_object_add(resp, "first_run_cpu_ns", NULL);
		json_object_object_add(resp, "first_run_realtime_ns", NULL);
	}
}

/* Guest accesses by device: {"pio": {name: n}, "mmio": {name: n}}, ranges of a name summed. */
static struct json_object *io_accesses_json(struct partition *p)
{
	struct io_bus *buses[2] = {partition_pio_bus(p), partition_mmio_bus(p)};
	static const char *const names[2] = {"pio", "mmio"};
	struct json_object *o = json_object_new_object();
	struct io_bus_count c[128];

	for (unsigned b = 0; o && b < 2; b++) {
		struct json_object *d = json_object_new_object(), *v;
		size_t n = io_bus_counts(buses[b], c, ARRAY_SIZE(c));

		for (size_t i = 0; d && i < n; i++) {
			int64_t prev = json_object_object_get_ex(d, c[i].name, &v)
					       ? json_object_get_int64(v)
					       : 0;

			json_object_object_add(
				d, c[i].name, json_object_new_int64(prev + (int64_t)c[i].accesses));
		}
		json_object_object_add(o, names[b], d);
	}
	return o;
}

static struct json_object *control_error(struct json_object *resp, const char *msg)
{
	json_object_object_add(resp, "ok", json_object_new_boolean(0));
	json_object_object_add(resp, "error", json_object_new_string(msg));
	return resp;
}

static const char *get_string(struct json_object *req, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(req, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static bool get_int(struct json_object *req, const char *key, int64_t *ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

/* disk-add and disk-remove (docs/control.md), under w->lock with a machine running. */
static void control_disk(struct worker *w, const char *cmd, struct json_object *req, const int *fds,
			 unsigned nfds, struct json_object *resp)
{
	struct storage *st = machine_storage(w->machine);
	struct disk_config d = DISK_CONFIG_INIT;
	struct json_object *ro;
	int64_t controller = 0, lun = -1;
	char err[512];
	int r;

	if ((json_object_object_get_ex(req, "controller", NULL) &&
	     !get_int(req, "controller", &controller)) ||
	    (json_object_object_get_ex(req, "lun", NULL) && !get_int(req, "lun", &lun)) ||
	    controller < 0 || controller >= STORAGE_MAX_CONTROLLERS || lun < -1 ||
	    lun > STORAGE_MAX_LUN) {
		control_error(resp, "\"controller\" and \"lun\" must be small integers");
		return;
	}
	if (!strcmp(cmd, "disk-remove")) {
		if (lun < 0) {
			control_error(resp, "disk-remove needs \"lun\"");
			return;
		}
		r = storage_remove_disk(st, (unsigned)controller, (unsigned)lun, err, sizeof(err));
		if (r < 0) {
			control_error(resp, err);
			return;
		}
		pv_log(LOG_INFO, "disk removed from controller %u, lun %u", (unsigned)controller,
		       (unsigned)lun);
		json_object_object_add(resp, "ok", json_object_new_boolean(1));
		return;
	}
	d.path = (char *)get_string(req, "path");
	if (!d.path) {
		control_error(resp, "disk-add needs \"path\"");
		return;
	}
	if (json_object_object_get_ex(req, "readonly", &ro))
		d.read_only = json_object_get_boolean(ro);
	d.controller = (unsigned)controller;
	d.lun = (int)lun;
	if (nfds) {
		/*
		 * Opened by the service (a jailed worker cannot open host paths): the file, the
		 * same file with O_DIRECT when "direct" (or, from an older service, when a
		 * second descriptor came), then each of "parents" (a differencing disk's chain,
		 * nearest first), one descriptor each.
		 */
		struct disk_parent_file parents[DISK_MAX_PARENTS];
		struct json_object *jp = NULL, *jd = NULL;
		size_t np = 0, i;
		bool direct = nfds > 1;
		char why[256] = "";

		if (json_object_object_get_ex(req, "parents", &jp)) {
			if (!json_object_is_type(jp, json_type_array) ||
			    (np = json_object_array_length(jp)) > DISK_MAX_PARENTS) {
				control_error(resp,
					      "\"parents\" must be an array of at most 32 paths");
				return;
			}
			direct = false;
		}
		if (json_object_object_get_ex(req, "direct", &jd))
			direct = json_object_get_boolean(jd);
		if (nfds != 1 + (unsigned)direct + np) {
			snprintf(err, sizeof(err),
				 "disk-add: %u descriptors came, the request names %zu (the disk%s "
				 "and %zu parent(s))",
				 nfds, 1 + (size_t)direct + np, direct ? " twice" : "", np);
			control_error(resp, err);
			return;
		}
		for (i = 0; i < np; i++) {
			struct json_object *e = json_object_array_get_idx(jp, i);

			parents[i].path = json_object_is_type(e, json_type_string)
						  ? json_object_get_string(e)
						  : "(unnamed parent)";
			parents[i].fd = fds[1 + direct + i];
		}
		r = disk_open_fd(d.path, fds[0], direct ? fds[1] : -1,
				 d.read_only ? DISK_OPEN_READ_ONLY : 0, parents, (unsigned)np,
				 &d.opened, why, sizeof(why));
		if (r < 0) {
			snprintf(err, sizeof(err), "--disk %s: %s", d.path,
				 why[0] ? why : strerror(-r));
			control_error(resp, err);
			return;
		}
	} else if (w->cfg.jail) {
		control_error(resp, "disk-add to a jailed worker needs the disk's file descriptor "
				    "(SCM_RIGHTS): it cannot open host paths");
		return;
	}
	r = storage_add_disk(st, &d, err, sizeof(err));
	d.opened = disk_close(d.opened); /* the controller holds its own reference */
	if (r < 0) {
		control_error(resp, err);
		return;
	}
	pv_log(LOG_INFO, "disk %s added on controller %u, lun %d", d.path, d.controller, r);
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
	json_object_object_add(resp, "controller", json_object_new_int((int)controller));
	json_object_object_add(resp, "lun", json_object_new_int(r));
}

/*
 * dvd-set (docs/control.md): new media in the CD-ROM at IDE "controller", "lun" ("path" with
 * its descriptor, or none to eject), under w->lock with a machine running. The worker's
 * configuration keeps it, so later boots find it too; the guest sees UNIT ATTENTION.
 */
static void control_dvd_set(struct worker *w, struct json_object *req, const int *fds,
			    unsigned nfds, struct json_object *resp)
{
	const char *path = get_string(req, "path");
	struct disk_config *cd = NULL;
	struct disk *iso = NULL;
	int64_t ch = -1, unit = -1;
	struct json_object *fv;
	bool force = false;
	char err[512], why[256] = "";
	unsigned i;
	int r;

	if (!get_int(req, "controller", &ch) || !get_int(req, "lun", &unit) || ch < 0 ||
	    ch >= IDE_CHANNELS || unit < 0 || unit >= IDE_UNITS) {
		control_error(resp, "dvd-set needs \"controller\" 0|1 and \"lun\" 0|1");
		return;
	}
	if (json_object_object_get_ex(req, "force", &fv))
		force = json_object_get_boolean(fv);
	for (i = 0; i < w->cfg.ndvds && !cd; i++)
		if (w->cfg.dvds[i].controller == (unsigned)ch && w->cfg.dvds[i].lun == (int)unit)
			cd = &w->cfg.dvds[i];
	if (!cd) {
		snprintf(err, sizeof(err), "no CD-ROM drive on IDE %d:%d", (int)ch, (int)unit);
		control_error(resp, err);
		return;
	}
	if (nfds > 1 || (nfds && !path) || (path && !nfds && w->cfg.jail)) {
		control_error(resp, "dvd-set: a \"path\" comes with its descriptor (SCM_RIGHTS; a "
				    "jailed worker opens no host path), an eject with none");
		return;
	}
	if (path) {
		r = nfds ? disk_open_fd(path, fds[0], -1, DISK_OPEN_READ_ONLY, NULL, 0, &iso, why,
					sizeof(why))
			 : disk_open_in(path, DISK_OPEN_READ_ONLY,
					(const char *const *)w->cfg.storage_dirs, &iso, why,
					sizeof(why));
		if (r < 0) {
			snprintf(err, sizeof(err), "dvd %s: %s", path, why[0] ? why : strerror(-r));
			control_error(resp, err);
			return;
		}
	}
	r = machine_ide_change_media(w->machine, (unsigned)ch, (unsigned)unit, iso, force);
	if (r < 0) {
		disk_close(iso);
		control_error(resp, r == -EBUSY ? "the guest has locked the CD-ROM's tray (PREVENT "
						  "MEDIUM REMOVAL): eject it in the guest, or force"
						: strerror(-r));
		return;
	}
	/* The configuration holds the reference from now on (later boots attach it). */
	disk_close(cd->opened);
	cd->opened = iso;
	free(cd->path);
	cd->path = path ? strdup(path) : NULL;
	pv_log(LOG_INFO, "IDE %d:%d: %s", (int)ch, (int)unit,
	       path ? "media changed" : "media ejected");
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
}

#ifdef PARVIS_TEST_HOOKS
/* Maps and touches bytes of memory, kept for the worker's life (test-allocate). */
static bool test_allocate(size_t bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return false;
	for (i = 0; i < bytes; i += 4096)
		p[i] = 1;
	return true;
}
#endif

static bool get_bool(struct json_object *req, const char *key, bool *ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_boolean))
		return false;
	*ret = json_object_get_boolean(v);
	return true;
}

static void close_nics_of(struct nic_config *n)
{
	unsigned i;

	for (i = 0; i < n->nfds; i++)
		close(n->fds[i]);
	n->nfds = 0;
}

/* nic-add: the adapter's TAP queues came with the request, or (standalone) a TAP name. */
static void control_nic_add(struct worker *w, struct json_object *req, const int *fds,
			    unsigned nfds, struct json_object *resp)
{
	struct network *net = machine_network(w->machine);
	struct nic_config n = {.connected = true};
	const char *id = get_string(req, "id"), *mac = get_string(req, "mac");
	const char *tap = get_string(req, "tap");
	char err[512];
	unsigned i;
	int r;

	if (!id || strlen(id) >= sizeof(n.id)) {
		control_error(resp, "nic-add needs an \"id\" (at most 63 characters)");
		return;
	}
	snprintf(n.id, sizeof(n.id), "%s", id);
	if (mac && nic_parse_mac(mac, n.mac) < 0) {
		control_error(resp, "\"mac\" must be a unicast MAC, e.g. 00:15:5d:00:00:01");
		return;
	}
	if (!mac)
		network_default_mac(net, w->nic_tag, n.mac);
	get_bool(req, "mac_spoofing", &n.mac_spoofing);
	get_bool(req, "connected", &n.connected);
	if (nfds) {
		for (i = 0; i < nfds; i++) {
			n.fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
			if (n.fds[i] < 0 || tap_queue_setup(n.fds[i], TAP_OFFLOAD_CSUM) < 0) {
				n.nfds = i + (n.fds[i] >= 0);
				close_nics_of(&n);
				control_error(resp,
					      "the descriptors passed are not TAP queues with a "
					      "vnet header");
				return;
			}
			n.nfds = i + 1;
		}
	} else if (tap && !w->cfg.jail) {
		r = tap_open(tap, 1, n.fds);
		if (r < 0) {
			snprintf(err, sizeof(err), "TAP %s: %s", tap, strerror(-r));
			control_error(resp, err);
			return;
		}
		n.nfds = 1;
	} else {
		control_error(resp, w->cfg.jail ? "nic-add to a jailed worker needs the TAP queue "
						  "fds (SCM_RIGHTS): it opens no host path"
						: "nic-add needs the TAP queue fds (SCM_RIGHTS) or "
						  "\"tap\": NAME");
		return;
	}
	r = network_add(net, &n, err, sizeof(err));
	if (r < 0) {
		control_error(resp, err);
		return;
	}
	pv_log(LOG_INFO, "network adapter %s added (%02x:%02x:%02x:%02x:%02x:%02x)", n.id, n.mac[0],
	       n.mac[1], n.mac[2], n.mac[3], n.mac[4], n.mac[5]);
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
}

/* nic-add, nic-remove, nic-set (docs/control.md), under w->lock with a machine running. */
static void control_nic(struct worker *w, const char *cmd, struct json_object *req, const int *fds,
			unsigned nfds, struct json_object *resp)
{
	struct network *net = machine_network(w->machine);
	const char *id = get_string(req, "id");
	bool connected, spoofing, has_c, has_s;
	int r;

	if (!strcmp(cmd, "nic-add")) {
		control_nic_add(w, req, fds, nfds, resp);
		return;
	}
	if (!id) {
		control_error(resp, "needs the adapter's \"id\"");
		return;
	}
	if (!strcmp(cmd, "nic-remove")) {
		r = network_remove(net, id);
		if (r == 0)
			pv_log(LOG_INFO, "network adapter %s removed", id);
	} else { /* nic-set: the table has no other nic- command */
		has_c = get_bool(req, "connected", &connected);
		has_s = get_bool(req, "mac_spoofing", &spoofing);
		r = network_set(net, id, has_c ? &connected : NULL, has_s ? &spoofing : NULL);
		if (r == 0 && has_c)
			pv_log(LOG_INFO, "network adapter %s %s", id,
			       connected ? "connected" : "disconnected");
	}
	if (r == -EPERM)
		control_error(
			resp,
			"a legacy network adapter is a PCI device of the VM: it cannot be "
			"removed while the VM runs (stop the VM and change its configuration)");
	else if (r < 0)
		control_error(resp, "no network adapter with that \"id\"");
	else
		json_object_object_add(resp, "ok", json_object_new_boolean(1));
}

/*
 * save (docs/control.md), called under w->lock, which it drops while the state is written
 * (worker_hold_machine): a SIGTERM meanwhile is answered at once and deferred. On success
 * the machine stops and the worker ends.
 */
static void control_save(struct worker *w, struct json_object *req, const int *fds, unsigned nfds,
			 struct json_object *resp)
{
	struct machine *m;
	bool paused = w->paused;

	if (!w->machine || w->state.saved) {
		control_error(resp, w->state.saved ? "the VM is saved already"
						   : "the VM is between boots");
		return;
	}
	if (w->shutdown_requested) {
		control_error(resp, "the VM is shutting down");
		return;
	}
	m = worker_hold_machine(w, "save");
	pthread_mutex_unlock(&w->lock);
	saved_state_control_save(&w->state, m, &w->cfg, paused, req, fds, nfds, resp);
	pthread_mutex_lock(&w->lock);
	if (w->state.saved) {
		w->shutdown_requested = true;
		partition_request_stop(machine_partition(m), PARTITION_STOP_REQUESTED);
	}
	worker_release_machine(w, w->state.saved);
}

/* migrate-send (docs/migration.md), as control_save: on success the machine stops, the worker ends.
 */
static void control_migrate_send(struct worker *w, struct json_object *req, const int *fds,
				 unsigned nfds, struct json_object *resp)
{
	struct machine *m;
	bool paused, migrated = false;

	if (!w->machine || w->state.saved || w->migrated || w->shutdown_requested) {
		control_error(resp, w->migrated		    ? "the VM has migrated already"
				    : w->state.saved	    ? "the VM is saved already"
				    : w->shutdown_requested ? "the VM is shutting down"
							    : "the VM is between boots");
		return;
	}
	paused = w->paused;
	m = worker_hold_machine(w, "migrate-send");
	pthread_mutex_unlock(&w->lock); /* as control_save */
	migration_control_send(m, &w->cfg, paused, req, fds, nfds, &w->migration, &migrated, resp);
	pthread_mutex_lock(&w->lock);
	w->migrated = migrated;
	if (w->migrated) {
		w->shutdown_requested = true;
		partition_request_stop(machine_partition(m), PARTITION_STOP_REQUESTED);
	}
	worker_release_machine(w, w->migrated);
}

/*
 * One control command's call: the request, the descriptors that came with it and the answer
 * being built. Every handler below runs on the control thread, under w->lock unless its table
 * entry says CONTROL_UNLOCKED.
 */
struct control_call {
	const char *cmd;
	struct json_object *req;
	const int *fds;
	unsigned nfds;
	struct json_object *resp;
};

static void control_ok(struct json_object *resp)
{
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
}

/* shutdown: without w->lock, which worker_shutdown() takes itself. */
static void cmd_shutdown(struct worker *w, const struct control_call *c)
{
	const char *reason = get_string(c->req, "reason");

	control_ok(c->resp);
	json_object_object_add(
		c->resp, "method",
		json_object_new_string(worker_shutdown(w, reason ? reason : "host request")));
}

static const char *worker_state_name(const struct worker *w)
{
	return w->migrated	       ? "migrated"
	       : w->state.saved	       ? "saved"
	       : !w->machine	       ? "stopped"
	       : w->shutdown_requested ? "shutting-down"
	       : w->paused	       ? "paused"
				       : "running";
}

/* The devices' parts of status, each null between boots. */
static void status_devices(struct worker *w, struct json_object *resp)
{
	struct machine *m = w->machine;

	json_object_object_add(resp, "vmbus", m ? vmbus_host_status_json(machine_vmbus(m)) : NULL);
	json_object_object_add(resp, "storage", m ? storage_status_json(machine_storage(m)) : NULL);
	json_object_object_add(resp, "network", m ? network_status_json(machine_network(m)) : NULL);
	json_object_object_add(resp, "console",
			       vmconnect_status_json(m ? machine_vmconnect(m) : NULL, w->screen));
	json_object_object_add(resp, "ide", m ? machine_ide_status_json(m) : NULL);
	if (m) { /* this boot's exits by reason (bench/emulated.py reads them) */
		struct partition_exit_stats ex;

		partition_get_exit_stats(machine_partition(m), &ex);
		json_object_object_add(resp, "exits", exit_stats_exits_json(&ex));
		json_object_object_add(resp, "io_accesses", io_accesses_json(machine_partition(m)));
	}
}

static void cmd_status(struct worker *w, const struct control_call *c)
{
	control_ok(c->resp);
	json_object_object_add(c->resp, "state", json_object_new_string(worker_state_name(w)));
	json_object_object_add(c->resp, "boots", json_object_new_int((int)w->boots));
	if (w->cfg.restore_path) {
		json_object_object_add(c->resp, "restored_from",
				       json_object_new_string(w->cfg.restore_path));
		json_object_object_add(c->resp, "restore_ram", restore_ram_json(w));
	}
	add_status_times(w, c->resp);
	json_object_object_add(c->resp, "migration", migration_progress_json(&w->migration));
	status_devices(w, c->resp);
}

static void cmd_cpu(struct worker *w, const struct control_call *c)
{
	control_ok(c->resp);
	json_object_object_add(
		c->resp, "cpu",
		cpu_model_report_json(partition_cpu_model(machine_partition(w->machine)), true));
}

static void cmd_disk(struct worker *w, const struct control_call *c)
{
	control_disk(w, c->cmd, c->req, c->fds, c->nfds, c->resp);
}

static void cmd_dvd_set(struct worker *w, const struct control_call *c)
{
	control_dvd_set(w, c->req, c->fds, c->nfds, c->resp);
}

static void cmd_nic(struct worker *w, const struct control_call *c)
{
	control_nic(w, c->cmd, c->req, c->fds, c->nfds, c->resp);
}

/* restart: through the guest's shutdown IC, as Restart-VM without --force. */
static void cmd_restart(struct worker *w, const struct control_call *c)
{
	const char *reason = get_string(c->req, "reason");
	int r = w->machine ? ic_shutdown_request(vmbus_host_shutdown(machine_vmbus(w->machine)),
						 IC_SHUTDOWN_RESTART, true,
						 reason ? reason : "host request")
			   : -ENOTCONN;

	if (r < 0)
		control_error(c->resp, r == -EBUSY ? "a shutdown request is in progress"
						   : "the guest's shutdown service is not ready");
	else
		control_ok(c->resp);
}

static void cmd_kvp_set(struct worker *w, const struct control_call *c)
{
	const char *key = get_string(c->req, "key"), *value = get_string(c->req, "value");
	const char *pool_name = get_string(c->req, "pool");
	int pool = vmbus_kvp_pool_parse(pool_name ? pool_name : "external");
	int r = -EINVAL;

	if (pool >= 0 && key && value)
		r = ic_kvp_set(vmbus_host_kvp(machine_vmbus(w->machine)), (unsigned)pool, key,
			       value);
	if (r < 0)
		control_error(c->resp, r == -ENOSPC ? "too many writes queued"
						    : "needs \"key\" and \"value\" strings of "
						      "at most 255/1023 characters and a valid "
						      "\"pool\"");
	else
		control_ok(c->resp);
}

static void cmd_kvp_refresh(struct worker *w, const struct control_call *c)
{
	if (w->machine)
		ic_kvp_refresh(vmbus_host_kvp(machine_vmbus(w->machine)));
	json_object_object_add(c->resp, "ok", json_object_new_boolean(w->machine != NULL));
}

/* pause and resume: the vCPUs stopped or let go; either is a no-op when already so. */
static void cmd_pause_resume(struct worker *w, const struct control_call *c)
{
	bool pause = !strcmp(c->cmd, "pause");
	struct partition *p = machine_partition(w->machine);

	if (pause && w->shutdown_requested) {
		control_error(c->resp, "the VM is shutting down");
		return;
	}
	if (pause && !w->paused && partition_pause(p) == 0) {
		w->paused = true;
	} else if (!pause && w->paused) {
		partition_resume(p);
		w->paused = false;
	}
	control_ok(c->resp);
	json_object_object_add(c->resp, "paused", json_object_new_boolean(w->paused));
}

static void cmd_save(struct worker *w, const struct control_call *c)
{
	control_save(w, c->req, c->fds, c->nfds, c->resp);
}

static void cmd_migrate_send(struct worker *w, const struct control_call *c)
{
	control_migrate_send(w, c->req, c->fds, c->nfds, c->resp);
}

/* turn-off: without w->lock, which worker_turn_off() takes itself. */
static void cmd_turn_off(struct worker *w, const struct control_call *c)
{
	worker_turn_off(w);
	control_ok(c->resp);
}

static void cmd_vga_text(struct worker *w, const struct control_call *c)
{
	vga_text_json(w->machine ? machine_vga(w->machine) : NULL, c->resp);
}

#ifdef PARVIS_TEST_HOOKS
/* Test builds only: what an exploited device model would try (docs/security.md). */
static void cmd_test_forbidden_syscall(struct worker *w, const struct control_call *c)
{
	(void)w;
	sandbox_test_forbidden_syscall();
	control_error(c->resp, "the forbidden system call returned: no seccomp filter");
}

/* Test builds only: a worker whose memory grows past its cgroup's maximum. */
static void cmd_test_allocate(struct worker *w, const struct control_call *c)
{
	int64_t bytes = 0;

	(void)w;
	if (get_int(c->req, "bytes", &bytes) && bytes > 0 && test_allocate((size_t)bytes))
		control_ok(c->resp);
	else
		control_error(c->resp, "test-allocate: the allocation failed");
}
#endif

enum control_flags {
	CONTROL_UNLOCKED = 1u << 0, /* runs without w->lock */
	/* Refused while there is no machine, with the answer below. */
	CONTROL_NEEDS_BOOT = 1u << 1,	 /* "the VM is between boots" */
	CONTROL_NEEDS_RUNNING = 1u << 2, /* "the VM is not running" */
};

struct control_command {
	const char *name;
	unsigned flags;
	void (*run)(struct worker *w, const struct control_call *c);
};

/* The control socket's commands (docs/control.md). */
static const struct control_command control_commands[] = {
	{"shutdown", CONTROL_UNLOCKED, cmd_shutdown},
	{"status", 0, cmd_status},
	{"cpu", CONTROL_NEEDS_BOOT, cmd_cpu},
	{"disk-add", CONTROL_NEEDS_RUNNING, cmd_disk},
	{"disk-remove", CONTROL_NEEDS_RUNNING, cmd_disk},
	{"dvd-set", CONTROL_NEEDS_RUNNING, cmd_dvd_set},
	{"nic-add", CONTROL_NEEDS_RUNNING, cmd_nic},
	{"nic-remove", CONTROL_NEEDS_RUNNING, cmd_nic},
	{"nic-set", CONTROL_NEEDS_RUNNING, cmd_nic},
	{"restart", 0, cmd_restart},
	{"kvp-set", CONTROL_NEEDS_RUNNING, cmd_kvp_set},
	{"kvp-refresh", 0, cmd_kvp_refresh},
	{"pause", CONTROL_NEEDS_BOOT, cmd_pause_resume},
	{"resume", CONTROL_NEEDS_BOOT, cmd_pause_resume},
	{"save", 0, cmd_save},
	{"migrate-send", 0, cmd_migrate_send},
	{"turn-off", CONTROL_UNLOCKED, cmd_turn_off},
	{"vga-text", 0, cmd_vga_text},
#ifdef PARVIS_TEST_HOOKS
	{"test-forbidden-syscall", CONTROL_UNLOCKED, cmd_test_forbidden_syscall},
	{"test-allocate", CONTROL_UNLOCKED, cmd_test_allocate},
#endif
};

static const struct control_command *control_command_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(control_commands); i++)
		if (!strcmp(control_commands[i].name, name))
			return &control_commands[i];
	return NULL;
}

struct json_object *worker_control_handler(void *opaque, struct json_object *req, const int *fds,
					   unsigned nfds)
{
	struct worker *w = opaque;
	struct control_call c = {.cmd = get_string(req, "command"),
				 .req = req,
				 .fds = fds,
				 .nfds = nfds,
				 .resp = json_object_new_object()};
	const struct control_command *k;

	if (!c.cmd)
		return control_error(c.resp, "no \"command\"");
	k = control_command_find(c.cmd);
	if (!k)
		return control_error(c.resp, "unknown command");
	if (k->flags & CONTROL_UNLOCKED) {
		k->run(w, &c);
		return c.resp;
	}
	pthread_mutex_lock(&w->lock);
	if (!w->machine && (k->flags & CONTROL_NEEDS_BOOT))
		control_error(c.resp, "the VM is between boots");
	else if (!w->machine && (k->flags & CONTROL_NEEDS_RUNNING))
		control_error(c.resp, "the VM is not running");
	else
		k->run(w, &c);
	pthread_mutex_unlock(&w->lock);
	return c.resp;
}
