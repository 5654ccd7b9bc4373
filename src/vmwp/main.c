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
#include "vmwp/worker.h"

/* Turns the running machine off (Ctrl-A x, a second signal, the shutdown timeout). */
void worker_turn_off(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->shutdown_requested = true;
	w->turn_off_requested = true;
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
	if (w->state.saved || w->migrated) /* its machine is stopping: nothing to ask */
		return "nothing (the VM was saved or moved: it no longer runs here)";
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

/* The shutdown's deadline from now, and the guest asked; under w->lock. */
static const char *shutdown_now(struct worker *w, const char *reason)
{
	if (!w->shutdown_deadline_ns)
		w->shutdown_deadline_ns =
			time_monotonic_ns() + w->cfg.shutdown_timeout_s * 1000000000ull;
	return ask_guest_to_power_off(w, reason);
}

/* Starts a graceful shutdown with the configured timeout (SIGTERM, control "shutdown"). */
const char *worker_shutdown(struct worker *w, const char *reason)
{
	const char *how;

	pthread_mutex_lock(&w->lock);
	w->shutdown_requested = true;
	if (w->long_command) {
		snprintf(w->deferred_shutdown, sizeof(w->deferred_shutdown), "%s", reason);
		how = "nothing yet: a save or migration runs, and the guest is asked once it "
		      "ends, unless it ends the VM";
	} else {
		how = shutdown_now(w, reason);
	}
	pthread_mutex_unlock(&w->lock);
	return how;
}

struct machine *worker_hold_machine(struct worker *w, const char *command)
{
	w->machine_users++;
	w->long_command = command;
	return w->machine;
}

void worker_release_machine(struct worker *w, bool vm_ended)
{
	char reason[sizeof(w->deferred_shutdown)];

	w->long_command = NULL;
	if (--w->machine_users == 0)
		pthread_cond_broadcast(&w->machine_idle);
	if (!w->deferred_shutdown[0])
		return;
	memcpy(reason, w->deferred_shutdown, sizeof(reason));
	w->deferred_shutdown[0] = '\0';
	if (!vm_ended)
		pv_log(LOG_INFO, "%s (deferred): graceful shutdown via %s", reason,
		       shutdown_now(w, reason));
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
		while (w->machine_users) /* a save or migration still reads it */
			pthread_cond_wait(&w->machine_idle, &w->lock);
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
			if (w->turn_off_requested && !w->cfg.no_reboot) {
				/* A turn-off that met the guest's own reset: still a turn-off. */
				pv_log(LOG_INFO, "the VM was turned off (as the guest reset)");
				why = PARTITION_STOP_REQUESTED;
				break;
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
			   .machine_idle = PTHREAD_COND_INITIALIZER,
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
	if (w.cfg.control_path && control_new(w.cfg.control_path, worker_control_handler, &w,
					      &w.control, err, sizeof(err)) < 0) {
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
