/*
 * State shared by the files of the service core (service.c: VMs, states,
 * events, the monitor, loading; power.c: start, stop, restart, pause;
 * calls.c: the other API calls and checks). Nothing outside src/vmms/
 * includes this. Functions here are called with svc->lock held unless
 * they say otherwise.
 */
#pragma once

#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc/api.h"
#include "vmms/inventory.h"
#include "vmms/service.h"
#include "vmms/cgroup.h"
#include "vmms/worker.h"

#define START_TIMEOUT_MS      30000
#define INCOMING_TIMEOUT_MS   900000 /* move-vm's destination: until the stream has come */
#define STATUS_TIMEOUT_MS     2000
#define CONTROL_TIMEOUT_MS    10000
#define DEFAULT_STOP_TIMEOUT  120
#define TURN_OFF_GRACE_S      20
#define MAX_EVENT_SINKS	      64
#define WORKER_SHUTDOWN_LIMIT 65535 /* the worker never turns off by itself: we decide */

struct vm {
	struct vm *next;
	struct vm_record rec;
	bool unreadable;  /* its file did not parse: only id and name are meaningful */
	bool removed;	  /* off the list, freed when refs drops to 0 */
	unsigned refs;	  /* calls using it while the lock is dropped */
	const char *busy; /* a long operation (snapshot.h) runs on it: others are refused */
	struct worker_paths paths;

	/* The worker, while vm_state_has_worker(rec.state). */
	pid_t pid;	     /* 0 if none */
	uint64_t start_time; /* /proc start time, against pid reuse */
	int pidfd;	     /* -1 if none */
	bool child;	     /* spawned by this service: waitid gives its status */
	/*
	 * move-vm (migration_service.h): on the source, migrating while its worker sends and
	 * migrated once the destination took it (its worker's exit is then no power-off); on
	 * the destination, incoming_fd is the worker's end of the relayed stream (its
	 * --incoming) until it is spawned, else -1.
	 */
	bool migrating, migrated;
	int incoming_fd;
	/* The screen's loopback port (console_tcp.h), or 0. */
	uint16_t console_tcp_port;

	/* From the monitor's last status poll. */
	struct json_object *status;
	uint64_t status_ns; /* CLOCK_MONOTONIC of that poll */
	bool heartbeat_alive;
	uint64_t cpu_ticks, cpu_sample_ns;
	double cpu_usage; /* percent of the host's processors */
};

struct service {
	struct service_config cfg;
	char *state_dir;
	char *vmwp;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct vm *vms;
	int event_fds[MAX_EVENT_SINKS];
	unsigned nevents;
	int wake_fd; /* eventfd: the monitor's pidfd set changed, or stop */
	pthread_t monitor;
	bool monitor_running;
	atomic_bool stopping; /* set by the thread that stops the others */
	long ticks_per_s;
	long host_cpus;
	uint64_t host_ram;
	struct cgroup_host *cgroups;   /* NULL: none usable, cgroup_error says why */
	struct net_state *net;	       /* the virtual switches and adapters (network.h) */
	struct migration_service *mig; /* the migration listener and moves (migration_service.h) */
	char cgroup_error[512];
};

/*
 * The monitor's view of the workers: every VM with a worker, however many
 * (no fixed cap). The arrays grow under svc->lock and are used without it.
 */
struct svc_watch {
	struct pollfd *fds; /* fds[0] is the monitor's wake eventfd */
	struct vm **vms;    /* vms[i] for fds[i] */
	unsigned cap;
};
/*
 * Under svc->lock: puts every VM with a worker (pidfd >= 0) at fds/vms[first..),
 * taking a reference on each; returns the count, first included.
 */
unsigned svc_watch_collect(struct service *svc, struct svc_watch *w, unsigned first);
void svc_watch_fini(struct svc_watch *w);

int64_t svc_now_ms(void);
/*
 * The caller of the API call this thread runs (NULL on the monitor thread and outside
 * calls): its uid goes into the history of the transitions the call causes.
 */
void svc_set_caller(const struct api_caller *c);
const struct api_caller *svc_caller(void);
int64_t svc_caller_uid(void);
void svc_emit(struct service *svc, struct json_object *ev);
struct json_object *svc_vm_event(const char *type, const struct vm *vm);
struct vm *svc_vm_find(struct service *svc, const char *name);
void svc_vm_free(struct vm *vm);
void svc_vm_put(struct service *svc, struct vm *vm);
int svc_transition(struct service *svc, struct vm *vm, enum vm_state to, const char *reason);
void svc_wake_monitor(struct service *svc);
bool svc_status_heartbeat_alive(struct json_object *st);
const char *svc_status_string(struct json_object *st, const char *key);
void svc_apply_status(struct service *svc, struct vm *vm, struct json_object *st);
int svc_call_worker(struct service *svc, struct vm *vm, const char *cmd, struct json_object *extra,
		    int timeout_ms, struct json_object **ret);
/* svc_call_worker with descriptors for the worker (SCM_RIGHTS; the caller closes its own). */
int svc_call_worker_fds(struct service *svc, struct vm *vm, const char *cmd,
			struct json_object *extra, const int *fds, unsigned nfds, int timeout_ms,
			struct json_object **ret);
const char *svc_worker_error(struct json_object *ans);
bool svc_worker_ok(struct json_object *ans);
struct json_object *svc_start_vm(struct service *svc, struct vm *vm, const char *reason,
				 struct api_error *err);
struct json_object *svc_call_start_vm(struct service *svc, const struct api_request *req,
				      struct api_error *err);
struct json_object *svc_stop_vm(struct service *svc, struct vm *vm, bool force, bool turn_off,
				uint64_t timeout_s, struct api_error *err);
struct json_object *svc_call_stop_vm(struct service *svc, const struct api_request *req,
				     struct api_error *err);
struct json_object *svc_call_restart_vm(struct service *svc, const struct api_request *req,
					struct api_error *err);
struct json_object *svc_call_pause(struct service *svc, const struct api_request *req, bool pause,
				   struct api_error *err);
struct json_object *svc_vm_json(const struct vm *vm);
int svc_check_file(const char *what, const char *path, struct api_error *err);
int svc_check_disk(struct service *svc, const struct vm *self, const char *path,
		   struct api_error *err);
/*
 * A host path named by the current caller (new-vm, add-vmharddiskdrive): for root, the
 * checks above; for anyone else also the storage-directory rules (access_check_path) and,
 * for a disk, that no other VM has it at all. resolved[PATH_MAX] gets the path with every
 * symlink resolved: what the VM's record keeps.
 */
/*
 * A path a VM's record keeps, before a start: if it lies in a storage directory it must
 * still resolve to itself and be a regular file (nobody put a symlink there since).
 */
int svc_check_stored_path(struct service *svc, const char *what, const char *path,
			  struct api_error *err);
int svc_check_named_path(struct service *svc, const struct vm *self, const char *what,
			 const char *path, bool write, char *resolved, struct api_error *err);
int svc_check_memory(struct service *svc, uint64_t bytes, struct api_error *err);
/*
 * Takes vm off the service: its file, run directory and adapters removed, "vm-removed" sent;
 * freed now or, with references left, by the last svc_vm_put. why goes to the log.
 */
int svc_vm_unregister(struct service *svc, struct vm *vm, const char *why, struct api_error *err);
/* migration_service.c: whether a VM of that name moved away (where to and when, in buf). */
bool svc_migration_moved(struct service *svc, const char *name, char *buf, size_t len);
int svc_check_cpus(uint64_t cpus, struct api_error *err);
/* processor.c: set-vmprocessor, get-vmprocessor, get-vmhostprocessor (under svc->lock). */
struct json_object *svc_call_set_processor(struct service *svc, const struct api_request *req,
					   struct api_error *err);
/* gen1.c: generation 1's DVD drives and BIOS (docs/generation1.md). */
struct json_object *svc_call_add_dvd(struct service *svc, const struct api_request *req,
				     struct api_error *err);
struct json_object *svc_call_get_dvd(struct service *svc, const struct api_request *req,
				     struct api_error *err);
struct json_object *svc_call_set_dvd(struct service *svc, const struct api_request *req,
				     struct api_error *err);
struct json_object *svc_call_remove_dvd(struct service *svc, const struct api_request *req,
					struct api_error *err);
struct json_object *svc_call_set_bios(struct service *svc, const struct api_request *req,
				      struct api_error *err);
struct json_object *svc_call_get_bios(struct service *svc, const struct api_request *req,
				      struct api_error *err);
/* A generation 1 VM without a kernel: the disk its BIOS boots (IDE 0:0), or NULL. */
const char *svc_bios_boot_disk(const struct vm *vm);
/* What holds IDE controller:location of vm (a disk's or a DVD's path), or NULL when free. */
const char *svc_ide_place_user(const struct vm *vm, unsigned controller, unsigned location);
/*
 * The IDE place a request names ("controller", "lun"), or the first free one (of the
 * controller given; for a DVD drive, controller 1 first): 0, or -errno with err (generation 2, out
 * of range, taken, none free).
 */
int svc_ide_place(struct service *svc, const struct vm *vm, const struct api_request *req,
		  const char *call, bool dvd, unsigned *controller, unsigned *location,
		  struct api_error *err) must_check;
struct json_object *svc_call_get_processor(struct service *svc, const struct api_request *req,
					   struct api_error *err);
struct json_object *svc_call_get_host_processor(struct service *svc, const struct api_request *req,
						struct api_error *err);
/* resources.c: the VM's cgroup and the calls on it (under svc->lock). */
/* 0 if a reserve of reserve% on cpus vCPUs fits beside the other running VMs' reserves. */
int svc_check_reserve(struct service *svc, const struct vm *vm, unsigned reserve, unsigned cpus,
		      struct api_error *err);
/* Before a start: the VM's cgroup made and set, its cgroup.procs descriptors in fds. */
int svc_cgroup_prepare(struct service *svc, struct vm *vm, int fds[CGROUP_MAX_FDS], unsigned *n,
		       struct api_error *err);
/* The CPU maximum and weight of every running VM's cgroup, from reserves and weights. */
void svc_cgroup_balance(struct service *svc);
/* After the worker is reaped: its cgroup removed. */
void svc_cgroup_release(struct service *svc, struct vm *vm);
struct json_object *svc_call_set_memory(struct service *svc, const struct api_request *req,
					struct api_error *err);
struct json_object *svc_call_measure_vm(struct service *svc, const struct api_request *req,
					struct api_error *err);
struct vm *svc_lookup(struct service *svc, const struct api_request *req, struct api_error *err);
/* 0 if vm is in one of the n states ok[], else -EPERM with err saying so (and hint). */
int svc_need_state(const struct vm *vm, const char *call, const enum vm_state *ok, unsigned n,
		   const char *hint, struct api_error *err);
