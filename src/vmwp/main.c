/*
 * parvis-vmwp: the VM worker process. One per running VM: it builds the
 * partition from its configuration, runs it until the guest powers off,
 * restarts it when the guest reboots, and reports how it ended in its exit
 * status (docs/vmwp.md).
 *
 * Threads: main (builds machines, waits for them to stop), one per vCPU,
 * the console input thread, and a signal thread that turns SIGTERM/SIGINT
 * into a graceful shutdown request.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/compiler.h"
#include "disk/disk.h"
#include "base/log.h"
#include "cpu/cpu_report.h"
#include "net/tap.h"
#include "state/state.h"
#include "state/state_lazy.h"
#include "vmwp/console.h"
#include "vmwp/control.h"
#include "vmwp/exit_stats.h"
#include "vmwp/firmware.h"
#include "vmwp/machine.h"
#include "vmwp/rfb_server.h"
#include "vmwp/machine_state.h"
#include "vmwp/sandbox.h"
#include "migration/migration_stream.h"
#include "vmwp/migration_send.h"
#include "vmwp/saved_state.h"
#include "vmwp/vmconnect.h"
#include "vmwp/vm_config.h"
#include "vmwp/vmbus_status.h"

enum exit_status {
	EXIT_POWERED_OFF = 0,
	EXIT_BAD_CONFIG = 1,
	EXIT_HOST_ERROR = 2,
	EXIT_TRIPLE_FAULT = 3,
	EXIT_EMULATION_FAILURE = 4,
	EXIT_TURNED_OFF = 5,
};

struct worker {
	struct vm_config cfg;
	struct boot_files files;
	struct console *com1, *com2;
	uint64_t start_ns;

	pthread_mutex_t lock;	 /* protects machine and shutdown_requested */
	struct machine *machine; /* the running machine, or NULL between boots */
	bool shutdown_requested; /* a SIGTERM arrived: do not restart the guest */
	uint64_t shutdown_deadline_ns;
	unsigned boots;		      /* machines started so far */
	bool paused;		      /* the running machine's vCPUs are held (control "pause") */
	uint64_t boot_start_ns;	      /* CLOCK_MONOTONIC when the current machine was started */
	uint64_t first_run_ns;	      /* CLOCK_MONOTONIC of the first KVM_RUN of the first boot */
	uint64_t first_run_cpu_ns;    /* the process\'s CPU time by then */
	struct control *control;      /* --control socket, or NULL */
	int exit_status_fd;	      /* --exit-status-file, opened at start; -1 if none */
	int stats_fd, proc_status_fd; /* --exit-stats (exit_stats_open), opened at start; -1 */
	uint16_t nic_tag; /* default MACs: 00:15:5D, this, the adapter's index (nic_config.h) */
	struct rfb_server *screen;	/* --vnc / --vnc-tcp console server, or NULL */
	struct saved_state_files state; /* --restore, --state-dir, and whether "save" ended it */
	bool restore_ram_lazy;		/* the restore's RAM came through userfaultfd */
	int incoming_fd;		/* --incoming's socket until the destination runs, or -1 */
	bool migrated;			/* "migrate-send" succeeded: the worker ends */
	struct migration_progress migration; /* the last "migrate-send" */
	/* A guest that resets for ever must not fill the log: a few lines a minute. */
	struct ratelimit reset_rl;
};

/* Turns the running machine off (Ctrl-A x, a second signal, the shutdown timeout). */
static void worker_turn_off(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->shutdown_requested = true;
	if (w->machine)
		partition_request_stop(machine_partition(w->machine), PARTITION_STOP_REQUESTED);
	pthread_mutex_unlock(&w->lock);
}

/*
 * Asks the guest to power off, under w->lock: through the shutdown
 * integration service when the guest has negotiated it (Linux's hv_utils
 * then powers off), else with the ACPI power button. Returns which.
 */
static const char *ask_guest_to_power_off(struct worker *w, const char *reason)
{
	struct ic_shutdown *sd;

	if (!w->machine)
		return "nothing (the guest is between boots and will not be started again)";
	if (w->paused) { /* a paused guest cannot answer: let it run to shut down */
		partition_resume(machine_partition(w->machine));
		w->paused = false;
	}
	sd = vmbus_host_shutdown(machine_vmbus(w->machine));
	if (ic_shutdown_request(sd, IC_SHUTDOWN_POWER_OFF, true, reason) == 0)
		return "shutdown integration service";
	machine_press_power_button(w->machine);
	return "ACPI power button";
}

/* Starts a graceful shutdown with the configured timeout (SIGTERM, control "shutdown"). */
static const char *worker_shutdown(struct worker *w, const char *reason)
{
	const char *how;

	pthread_mutex_lock(&w->lock);
	w->shutdown_requested = true;
	if (!w->shutdown_deadline_ns)
		w->shutdown_deadline_ns =
			time_monotonic_ns() + w->cfg.shutdown_timeout_s * 1000000000ull;
	how = ask_guest_to_power_off(w, reason);
	pthread_mutex_unlock(&w->lock);
	return how;
}

static void console_escape(void *opaque)
{
	pv_log(LOG_INFO, "console: Ctrl-A x, turning the VM off");
	worker_turn_off(opaque);
}

/*
 * The first SIGTERM/SIGINT asks the guest to power off (shutdown integration
 * service, else ACPI power button) and gives it shutdown_timeout_s; the
 * second, or the timeout, turns it off.
 */
static void *signal_thread(void *arg)
{
	struct worker *w = arg;
	sigset_t set;
	int sig, count = 0;

	pthread_setname_np(pthread_self(), "signals");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (++count > 1) {
			pv_log(LOG_WARN, "%s again: turning the VM off", strsignal(sig));
			worker_turn_off(w);
			continue;
		}
		pv_log(LOG_INFO, "%s: graceful shutdown via %s (%us timeout)", strsignal(sig),
		       worker_shutdown(w, strsignal(sig)), w->cfg.shutdown_timeout_s);
	}
	return NULL;
}

/* Blocked in every thread (inherited), so only the signal thread's sigwait() sees them. */
static void block_shutdown_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int start_signal_thread(struct worker *w)
{
	pthread_t t;

	if (pthread_create(&t, NULL, signal_thread, w))
		return -EAGAIN;
	pthread_detach(t);
	return 0;
}

static enum exit_status status_for(enum partition_stop_reason why)
{
	switch (why) {
	case PARTITION_STOP_POWER_OFF:
	case PARTITION_STOP_RESET: return EXIT_POWERED_OFF;
	case PARTITION_STOP_TRIPLE_FAULT: return EXIT_TRIPLE_FAULT;
	case PARTITION_STOP_EMULATION_FAILURE: return EXIT_EMULATION_FAILURE;
	case PARTITION_STOP_REQUESTED: return EXIT_TURNED_OFF;
	default: return EXIT_HOST_ERROR;
	}
}

/* Waits for the machine to stop, enforcing the shutdown deadline once one is set. */
static enum partition_stop_reason wait_machine(struct worker *w, struct partition *p)
{
	enum partition_stop_reason why;
	uint64_t deadline;

	for (;;) {
		why = partition_wait_timeout(p, 200);
		if (why != PARTITION_RUNNING)
			return why;
		pthread_mutex_lock(&w->lock);
		deadline = w->shutdown_deadline_ns;
		pthread_mutex_unlock(&w->lock);
		if (deadline && time_monotonic_ns() >= deadline) {
			pv_log(LOG_WARN, "the guest did not shut down in %us: turning it off",
			       w->cfg.shutdown_timeout_s);
			partition_request_stop(p, PARTITION_STOP_REQUESTED);
		}
	}
}

/* Once per worker: the processor the guest gets, and what KVM cannot enforce here. */
static void log_cpu_model(const struct cpu_model *m)
{
	unsigned i, missing = 0;

	for (i = 0; i < cpu_feature_count; i++)
		missing += m->state[i] == CPU_FEATURE_MISSING;
	pv_log(LOG_INFO, "cpu: model %s: %s (%s family %#x model %#x)%s", m->name, m->brand,
	       m->vendor_id, m->family, m->model,
	       missing ? "; some of its features are missing here (get-vmprocessor)" : "");
	if (m->nunenforced) {
		char leaves[128] = "";
		size_t len = 0;

		for (i = 0; i < m->nunenforced && len < sizeof(leaves); i++)
			len += (size_t)snprintf(leaves + len, sizeof(leaves) - len, "%s%#x.%u",
						i ? ", " : "", m->unenforced[i].function,
						m->unenforced[i].index);
		pv_log(LOG_WARN,
		       "cpu: KVM on this host cannot set the feature bits of CPUID leaves %s: the "
		       "guest sees the host's own there (get-vmprocessor lists them as \"host\")",
		       leaves);
	}
}

/* Once per worker, after the first start: the MSRs KVM refused, and what the guest lost. */
static void log_cpu_refusals(const struct cpu_model *m)
{
	unsigned i;

	for (i = 0; i < m->nrefused; i++)
		pv_log(LOG_INFO,
		       "cpu: KVM refuses MSR %#x = %#llx here; the guest is not told of what needs "
		       "it "
		       "(docs/cpu.md)",
		       m->refused[i].index, (unsigned long long)m->refused[i].value);
}

/* The first machine of a migration's destination, from the stream on --incoming. */
static int incoming_machine(struct worker *w, struct machine **m, bool *config_error, char *err,
			    size_t errlen)
{
	struct migration_reader *in = NULL;
	int r = migration_reader_new(w->incoming_fd, &in, err, errlen);

	if (r == 0)
		r = machine_incoming_new(&w->cfg, &w->files, in, w->com1, w->com2, w->screen, m,
					 config_error, err, errlen);
	migration_reader_free(in);
	if (r == 0) {
		pv_log(LOG_INFO, "the migration stream checked: the guest goes on here");
		return 0;
	}
	*config_error = false; /* a stream that does not fit: exit 2, as a saved state's */
	close(w->incoming_fd); /* the source sees no ack: its VM goes on there */
	w->incoming_fd = -1;
	return r;
}

/* The destination runs the guest: the source may end (migration_send.h). */
static void acknowledge_incoming(struct worker *w)
{
	const char ack[] = MIGRATION_ACK;

	if (w->incoming_fd < 0)
		return;
	if (send(w->incoming_fd, ack, sizeof(ack) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ack) - 1)
		pv_log(LOG_WARN, "cannot acknowledge the migration: %s", strerror(errno));
	close(w->incoming_fd);
	w->incoming_fd = -1;
}

/*
 * The next machine: the first one from --restore's saved state (then let go: a reboot of the
 * restored guest boots its kernel), every other one booted.
 */
static int new_machine(struct worker *w, struct machine **m, bool *config_error, char *err,
		       size_t errlen)
{
	int r;

	if (w->incoming_fd >= 0 && w->boots == 0)
		return incoming_machine(w, m, config_error, err, errlen);
	if (!w->state.restore)
		return machine_new(&w->cfg, &w->files, w->com1, w->com2, w->screen, m, config_error,
				   err, errlen);
	r = machine_restore_new(&w->cfg, &w->files, w->state.restore, w->state.uffd, w->com1,
				w->com2, w->screen, m, config_error, err, errlen);
	w->state.restore = state_reader_free(w->state.restore);
	w->restore_ram_lazy = w->state.uffd >= 0;
	w->state.uffd = -1; /* taken */
	if (r == 0 && w->restore_ram_lazy)
		pv_log(LOG_INFO, "restored from %s (RAM lazily: userfaultfd)", w->cfg.restore_path);
	else if (r == 0)
		pv_log(LOG_INFO, "restored from %s (RAM read at once: %s)", w->cfg.restore_path,
		       w->state.eager_why);
	else
		*config_error = false; /* a file that does not fit: exit 2 (docs/saved-state.md) */
	return r;
}

/* Runs machines until the guest powers off (or fails); returns the exit status. */
static enum exit_status worker_run(struct worker *w)
{
	struct exit_stats_sink stats = {.out_fd = w->stats_fd, .status_fd = w->proc_status_fd};
	unsigned boots = 0;

	for (;;) {
		enum partition_stop_reason why;
		struct machine *m;
		struct partition *p;
		bool config_error, restored;
		char err[512];
		int r;

		restored = w->state.restore != NULL || (w->incoming_fd >= 0 && boots == 0);
		r = new_machine(w, &m, &config_error, err, sizeof(err));
		if (r < 0) {
			pv_log(LOG_ERR, "%s", err);
			exit_stats_fini(&stats);
			return config_error ? EXIT_BAD_CONFIG : EXIT_HOST_ERROR;
		}
		p = machine_partition(m);
		pthread_mutex_lock(&w->lock);
		w->boots = boots + 1;
		pthread_mutex_unlock(&w->lock);
		if (boots++ == 0) {
			pv_log(LOG_INFO, "starting VM: %u vCPU%s, %llu MiB%s", w->cfg.cpus,
			       w->cfg.cpus > 1 ? "s" : "",
			       (unsigned long long)(w->cfg.memory_bytes >> 20),
			       partition_is_pvm(p) ? " (PVM host: guest kernel code is emulated)"
						   : "");
			log_cpu_model(partition_cpu_model(p));
		}
		pthread_mutex_lock(&w->lock);
		w->machine = m;
		w->paused = false;
		w->boot_start_ns = time_monotonic_ns();
		r = w->shutdown_requested ? -ECANCELED : partition_start(p);
		if (r == 0 && restored)
			machine_restore_started(m);
		if (r == 0 && boots == 1)
			acknowledge_incoming(w);
		pthread_mutex_unlock(&w->lock);
		if (r < 0) {
			if (r != -ECANCELED)
				pv_log(LOG_ERR, "cannot start the VM: %s", strerror(-r));
			why = r == -ECANCELED ? PARTITION_STOP_REQUESTED
					      : PARTITION_STOP_HOST_ERROR;
		} else {
			if (boots == 1)
				log_cpu_refusals(partition_cpu_model(p));
			why = wait_machine(w, p);
		}
		exit_stats_record(&stats, p, w->start_ns);
		exit_stats_record_hv(&stats, machine_hv(m));
		if (w->cfg.exit_stats_path)
			exit_stats_record_status(&stats, vmbus_host_status_json(machine_vmbus(m)),
						 storage_status_json(machine_storage(m)));
		pthread_mutex_lock(&w->lock);
		w->machine = NULL;
		w->paused = false;
		pthread_mutex_unlock(&w->lock);

		switch (why) {
		case PARTITION_STOP_RESET:
			if (!w->cfg.no_reboot && !w->shutdown_requested) {
				pv_log_ratelimited(&w->reset_rl, LOG_INFO,
						   "the guest reset: restarting it (boot %u)",
						   boots + 1);
				machine_free(m);
				continue;
			}
			pv_log(LOG_INFO, "the guest reset: exiting (%s)",
			       w->cfg.no_reboot ? "--no-reboot" : "a shutdown was requested");
			break;
		case PARTITION_STOP_POWER_OFF: pv_log(LOG_INFO, "the guest powered off"); break;
		case PARTITION_STOP_REQUESTED:
			if (w->migrated) {
				pv_log(LOG_INFO, "migrated: the VM runs on the destination");
				why = PARTITION_STOP_POWER_OFF; /* exit 0 */
				break;
			}
			if (w->state.saved) {
				pv_log(LOG_INFO, "saved: the VM no longer runs");
				why = PARTITION_STOP_POWER_OFF; /* exit 0 */
				break;
			}
			pv_log(LOG_INFO, "the VM was turned off");
			break;
		default:
			pv_log(LOG_ERR, "the VM stopped: %s\n%s", partition_stop_reason_name(why),
			       partition_stop_detail(p));
			break;
		}
		machine_free(m);
		if (w->stats_fd >= 0 && exit_stats_write(&stats, boots) < 0)
			pv_log(LOG_WARN, "--exit-stats %s: cannot write it",
			       w->cfg.exit_stats_path);
		exit_stats_fini(&stats);
		return status_for(why);
	}
}

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

/* The timing members of a status answer (docs/control.md), under w->lock. */
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

/* save (docs/control.md), under w->lock: on success the machine stops and the worker ends. */
static void control_save(struct worker *w, struct json_object *req, const int *fds, unsigned nfds,
			 struct json_object *resp)
{
	if (!w->machine || w->state.saved) {
		control_error(resp, w->state.saved ? "the VM is saved already"
						   : "the VM is between boots");
		return;
	}
	if (w->shutdown_requested) {
		control_error(resp, "the VM is shutting down");
		return;
	}
	saved_state_control_save(&w->state, w->machine, &w->cfg, w->paused, req, fds, nfds, resp);
	if (w->state.saved) {
		w->shutdown_requested = true;
		partition_request_stop(machine_partition(w->machine), PARTITION_STOP_REQUESTED);
	}
}

/* migrate-send (docs/migration.md), under w->lock: on success the machine stops, the worker ends.
 */
static void control_migrate_send(struct worker *w, struct json_object *req, const int *fds,
				 unsigned nfds, struct json_object *resp)
{
	if (!w->machine || w->state.saved || w->migrated || w->shutdown_requested) {
		control_error(resp, w->migrated		    ? "the VM has migrated already"
				    : w->state.saved	    ? "the VM is saved already"
				    : w->shutdown_requested ? "the VM is shutting down"
							    : "the VM is between boots");
		return;
	}
	migration_control_send(w->machine, &w->cfg, w->paused, req, fds, nfds, &w->migration,
			       &w->migrated, resp);
	if (w->migrated) {
		w->shutdown_requested = true;
		partition_request_stop(machine_partition(w->machine), PARTITION_STOP_REQUESTED);
	}
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

static void cmd_turn_off(struct worker *w, const struct control_call *c)
{
	w->shutdown_requested = true;
	if (w->machine)
		partition_request_stop(machine_partition(w->machine), PARTITION_STOP_REQUESTED);
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
	{"turn-off", 0, cmd_turn_off},
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

/* The control socket's handler (control.c): runs on the control thread. */
static struct json_object *control_handler(void *opaque, struct json_object *req, const int *fds,
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

/*
 * --exit-status-file: a service that did not start this worker (it was
 * restarted) cannot wait() for it, so the status is left in a file. The
 * file is created empty at start, before the jail (which could not create
 * it), and the status written into it at exit in one small write: a reader
 * sees either nothing (the worker has not ended, or was killed) or the
 * whole line.
 */
static int open_exit_status(const char *path)
{
	return path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
}

static void write_exit_status(int fd, int status)
{
	char line[16];
	int n = snprintf(line, sizeof(line), "%d\n", status);

	if (fd < 0)
		return;
	if (pwrite(fd, line, (size_t)n, 0) != n || fsync(fd) < 0)
		pv_log(LOG_WARN, "--exit-status-file: %s", strerror(errno));
}

/*
 * Every configured disk, opened once for the worker's life: before the jail (which has no
 * host paths), and kept across reboots, each boot's controllers taking a reference. A
 * worker started by parvis-vmms gets each disk's file, its O_DIRECT twin and its parents as
 * inherited descriptors ("fd", "direct-fd", "parents") and opens no path; the standalone
 * worker opens the paths itself.
 */
static int open_disk(struct vm_config *cfg, struct disk_config *d, char *err, size_t errlen)
{
	unsigned flags = d->read_only ? DISK_OPEN_READ_ONLY : 0;
	char why[256] = "";
	int r;

	if (d->fd >= 0)
		r = disk_open_fd(d->path, d->fd, d->direct_fd, flags, d->parents, d->nparents,
				 &d->opened, why, sizeof(why));
	else
		r = disk_open_in(d->path, flags, (const char *const *)cfg->storage_dirs, &d->opened,
				 why, sizeof(why));
	disk_config_close_fds(d); /* the disk has its own duplicates */
	if (r < 0) {
		d->opened = NULL;
		snprintf(err, errlen, "--disk %s: %s", d->path, why[0] ? why : strerror(-r));
	}
	return r;
}

static int open_disks(struct vm_config *cfg, char *err, size_t errlen)
{
	unsigned i;
	int r;

	for (i = 0; i < cfg->ndisks; i++) {
		r = open_disk(cfg, &cfg->disks[i], err, errlen);
		if (r < 0)
			return r;
	}
	for (i = 0; i < cfg->ndvds; i++) { /* CD-ROMs: read-only; an empty drive has no file */
		r = cfg->dvds[i].path ? open_disk(cfg, &cfg->dvds[i], err, errlen) : 0;
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Every configured network adapter's TAP queues, opened (tap=NAME) or checked (fd=N) once for
 * the worker's life, before the jail; each boot's adapters get duplicates.
 */
static int open_nics(struct worker *w, char *err, size_t errlen)
{
	struct vm_config *cfg = &w->cfg;
	unsigned i, q;
	int r;

	if (getrandom(&w->nic_tag, sizeof(w->nic_tag), 0) != sizeof(w->nic_tag))
		w->nic_tag = (uint16_t)getpid();
	r = nic_config_check(cfg->nics, cfg->nnics, w->nic_tag, err, errlen);
	for (i = 0; r == 0 && i < cfg->nnics; i++) {
		struct nic_config *n = &cfg->nics[i];

		if (n->tap) {
			r = tap_open(n->tap, n->queues, n->fds);
			if (r < 0) {
				snprintf(err, errlen, "--nic tap=%s: %s%s", n->tap, strerror(-r),
					 r == -EPERM ? " (needs CAP_NET_ADMIN, or a TAP made for "
						       "this user: ip tuntap add ... user U)"
						     : "");
				return r;
			}
			n->nfds = n->queues;
			continue;
		}
		for (q = 0; q < n->nfds; q++) {
			r = tap_queue_setup(n->fds[q], TAP_OFFLOAD_CSUM);
			if (r < 0) {
				snprintf(err, errlen,
					 "--nic %s: fd %d is not a TAP queue with a vnet "
					 "header (%s)",
					 n->id, n->fds[q], strerror(-r));
				return r;
			}
		}
	}
	return r;
}

static void close_nics(struct vm_config *cfg)
{
	unsigned i, q;

	for (i = 0; i < cfg->nnics; i++) {
		for (q = 0; q < cfg->nics[i].nfds; q++)
			close(cfg->nics[i].fds[q]);
		cfg->nics[i].nfds = 0;
	}
}

static void close_disks(struct vm_config *cfg)
{
	unsigned i;

	for (i = 0; i < cfg->ndisks; i++) {
		cfg->disks[i].opened = disk_close(cfg->disks[i].opened);
		disk_config_close_fds(&cfg->disks[i]);
	}
	for (i = 0; i < cfg->ndvds; i++)
		cfg->dvds[i].opened = disk_close(cfg->dvds[i].opened);
}

/* --vnc-password-file: its first line (docs/console.md). */
static int read_password(const char *path, char *pw, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "--vnc-password-file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!fgets(pw, (int)len, f))
		pw[0] = 0;
	fclose(f);
	n = strcspn(pw, "\r\n");
	pw[n] = 0;
	if (!n) {
		snprintf(err, errlen,
			 "--vnc-password-file %s: empty (the password is its first line)", path);
		return -EINVAL;
	}
	return 0;
}

/* The console server, if asked for: its listeners exist before the jail. */
static int open_screen(struct worker *w, char *err, size_t errlen)
{
	struct rfb_server_config rc = {.name = "parvis",
				       .unix_path = w->cfg.vnc_path,
				       .tcp = w->cfg.vnc_tcp,
				       .tcp_fd = w->cfg.vnc_tcp_fd};
	char pw[128] = "";
	int r;

	if (w->cfg.no_video || (!w->cfg.vnc_path && !w->cfg.vnc_tcp && w->cfg.vnc_tcp_fd < 0))
		return 0;
	if (w->cfg.vnc_password_file) {
		r = read_password(w->cfg.vnc_password_file, pw, sizeof(pw), err, errlen);
		if (r < 0)
			return r;
		rc.password = pw;
	}
	r = rfb_server_new(&rc, &w->screen, err, errlen);
	explicit_bzero(pw, sizeof(pw));
	return r;
}

/* The jail's limits from the configuration (sandbox.h). */
static int enter_jail(struct worker *w, char *err, size_t errlen)
{
	struct stat st;
	struct sandbox_config sc = {.uid = w->cfg.jail_uid,
				    .gid = w->cfg.jail_gid,
				    .memory_bytes = w->cfg.memory_bytes,
				    .vcpus = w->cfg.cpus,
				    .mntns_fd = w->cfg.jail_mntns_fd};

	if (fstat(w->files.kernel_fd, &st) == 0)
		sc.mapped_bytes += (uint64_t)st.st_size;
	if (w->files.initrd_fd >= 0 && fstat(w->files.initrd_fd, &st) == 0)
		sc.mapped_bytes += (uint64_t)st.st_size;
	return sandbox_enter(&sc, err, errlen);
}

/*
 * --print-cpu and --host-cpu: the processor a VM would get, or what this
 * host offers, as JSON on stdout; the service runs these for
 * get-vmprocessor on a VM that is off and for get-vmhostprocessor.
 */
static enum exit_status print_cpu_report(const struct vm_config *cfg)
{
	struct cpu_host *host = calloc(1, sizeof(*host));
	struct cpu_model *m = calloc(1, sizeof(*m));
	struct json_object *o = NULL;
	enum exit_status status = EXIT_HOST_ERROR;
	char err[256];
	int r;

	if (!host || !m)
		goto out;
	r = partition_probe_cpu_host(host, err, sizeof(err));
	if (r < 0) {
		pv_log(LOG_ERR, "%s", err);
		goto out;
	}
	if (cfg->print_host_cpu) {
		o = cpu_host_report_json(host);
	} else {
		r = cpu_model_build(cfg->cpu_model ? cfg->cpu_model : "host", host,
				    cfg->cpus ? cfg->cpus : 1, m, err, sizeof(err));
		if (r < 0) {
			pv_log(LOG_ERR, "%s", err);
			status = EXIT_BAD_CONFIG;
			goto out;
		}
		o = cpu_model_report_json(m, true);
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	status = EXIT_POWERED_OFF;
out:
	json_object_put(o);
	free(host);
	free(m);
	return status;
}

/*
 * --disk-parent: what the disk open on stdin says of its parent, as JSON on stdout, for
 * parvis-vmms, which opens a jailed worker's disks and their parents itself but parses no
 * image: it runs this as an unprivileged uid, and the parsing runs under a filter that
 * allows reading and memory only (sandbox_enter_parser). Exit 0, or 1 with the reason on
 * stderr.
 */
static enum exit_status print_disk_parent(void)
{
	struct disk_parent_locator loc;
	struct json_object *o;
	char err[512] = "";
	int r = sandbox_enter_parser();

	if (r < 0) {
		pv_log(LOG_ERR, "--disk-parent: seccomp: %s", strerror(-r));
		return EXIT_HOST_ERROR;
	}
	r = disk_read_parent_locator("the disk", STDIN_FILENO, &loc, err, sizeof(err));
	if (r < 0) {
		pv_log(LOG_ERR, "%s", err[0] ? err : strerror(-r));
		return EXIT_BAD_CONFIG;
	}
	o = json_object_new_object();
	json_object_object_add(o, "differencing", json_object_new_boolean(loc.differencing));
	if (loc.relative_path)
		json_object_object_add(o, "relative_path",
				       json_object_new_string(loc.relative_path));
	if (loc.absolute_path)
		json_object_object_add(o, "absolute_path",
				       json_object_new_string(loc.absolute_path));
	if (loc.linkage)
		json_object_object_add(o, "linkage", json_object_new_string(loc.linkage));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
	disk_parent_locator_fini(&loc);
	return EXIT_POWERED_OFF;
}

int main(int argc, char **argv)
{
	struct worker w = {.lock = PTHREAD_MUTEX_INITIALIZER,
			   .reset_rl = RATELIMIT_INIT(60000, 10),
			   .files = {.kernel_fd = -1, .initrd_fd = -1},
			   .exit_status_fd = -1,
			   .stats_fd = -1,
			   .proc_status_fd = -1,
			   .state = SAVED_STATE_FILES_INIT,
			   .incoming_fd = -1};
	enum exit_status status;
	char err[512];
	int r;

	w.start_ns = time_monotonic_ns();
	log_set_sink(log_sink_stderr, NULL); /* prefixes lines with the program name */
	/* Blocked before any thread exists, so that only the signal thread takes them. */
	block_shutdown_signals();
	vm_config_init(&w.cfg);
	r = vm_config_parse_args(&w.cfg, argc, argv, err, sizeof(err));
	if (r == 1)
		return EXIT_POWERED_OFF;
	if (r == 0 && w.cfg.print_disk_parent) {
		status = print_disk_parent();
		vm_config_fini(&w.cfg);
		return (int)status;
	}
	if (r == 0 && (w.cfg.print_cpu || w.cfg.print_host_cpu)) {
		status = print_cpu_report(&w.cfg);
		vm_config_fini(&w.cfg);
		return (int)status;
	}
	w.exit_status_fd = open_exit_status(w.cfg.exit_status_path);
	if (r == 0)
		r = vm_config_validate(&w.cfg, err, sizeof(err));
	/* The standalone --jail makes its own namespaces; the service spawns us in ours. */
	if (r == 0 && w.cfg.jail && getpid() != 1)
		r = sandbox_unshare(err, sizeof(err));
	if (r == 0)
		r = boot_files_load(&w.cfg, &w.files, err, sizeof(err));
	if (r == 0)
		r = open_disks(&w.cfg, err, sizeof(err));
	if (r == 0 && saved_state_open(&w.cfg, &w.state, err, sizeof(err)) < 0) {
		pv_log(LOG_ERR, "%s", err);
		status = EXIT_HOST_ERROR; /* a file that is no saved state: as a mismatch */
		goto out;
	}
	if (r == 0 && w.cfg.incoming && w.cfg.restore_path) {
		pv_log(LOG_ERR, "--incoming and --restore: give one of them");
		status = EXIT_BAD_CONFIG;
		goto out;
	}
	if (r == 0 && w.cfg.incoming &&
	    migration_incoming_open(w.cfg.incoming, &w.incoming_fd, err, sizeof(err)) < 0) {
		pv_log(LOG_ERR, "%s", err);
		status = EXIT_HOST_ERROR;
		goto out;
	}
	if (r == 0 && w.cfg.exit_stats_path) {
		r = exit_stats_open(w.cfg.exit_stats_path, &w.stats_fd, &w.proc_status_fd);
		if (r < 0)
			snprintf(err, sizeof(err), "--exit-stats %s: %s", w.cfg.exit_stats_path,
				 strerror(-r));
	}
	if (r == 0)
		r = open_nics(&w, err, sizeof(err));
	if (r < 0) {
		pv_log(LOG_ERR, "%s", err);
		status = EXIT_BAD_CONFIG;
		goto out;
	}
	r = console_open(&w.cfg.com1, &w.com1, err, sizeof(err));
	if (r == 0)
		r = console_open(&w.cfg.com2, &w.com2, err, sizeof(err));
	if (r < 0) {
		pv_log(LOG_ERR, "%s", err);
		status = EXIT_BAD_CONFIG;
		goto out;
	}
	if (w.cfg.control_path && control_new(w.cfg.control_path, control_handler, &w, &w.control,
					      err, sizeof(err)) < 0) {
		pv_log(LOG_ERR, "%s", err);
		status = EXIT_BAD_CONFIG;
		goto out;
	}
	if (open_screen(&w, err, sizeof(err)) < 0) {
		pv_log(LOG_ERR, "%s", err);
		status = EXIT_BAD_CONFIG;
		goto out;
	}
	/* Everything on the host is open: from here on, no host path is reachable. */
	if (w.cfg.jail) {
		r = enter_jail(&w, err, sizeof(err));
		if (r < 0) {
			pv_log(LOG_ERR, "%s", err);
			status = EXIT_HOST_ERROR;
			goto out;
		}
		pv_log(LOG_INFO, "jailed as uid %u gid %u", (unsigned)w.cfg.jail_uid,
		       (unsigned)w.cfg.jail_gid);
	}
	/* Every thread starts here, in the jail (console.h). */
	if (console_start(w.com1) < 0 || console_start(w.com2) < 0 ||
	    control_start(w.control) < 0 || start_signal_thread(&w) < 0) {
		pv_log(LOG_ERR, "cannot start threads");
		status = EXIT_HOST_ERROR;
		goto out;
	}
	if (w.screen && rfb_server_start(w.screen) < 0) {
		pv_log(LOG_ERR, "cannot start the console server's thread");
		status = EXIT_HOST_ERROR;
		goto out;
	}
	console_set_escape_handler(w.com1, console_escape, &w);
	console_set_escape_handler(w.com2, console_escape, &w);
	status = worker_run(&w);
out:
	write_exit_status(w.exit_status_fd, (int)status);
	control_free(w.control);
	rfb_server_free(w.screen);
	console_free(w.com1);
	console_free(w.com2);
	boot_files_release(&w.files);
	close_disks(&w.cfg);
	saved_state_close(&w.state);
	if (w.stats_fd >= 0)
		close(w.stats_fd);
	if (w.proc_status_fd >= 0)
		close(w.proc_status_fd);
	close_nics(&w.cfg);
	vm_config_fini(&w.cfg);
	return (int)status;
}
