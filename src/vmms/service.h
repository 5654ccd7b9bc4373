/*
 * The management service's core: the VMs (inventory records plus their
 * workers), the state machine applied to them, the API calls, the monitor
 * thread that watches workers (pidfd for their end, the control socket's
 * status every second for heartbeat and uptime), and the event stream.
 * main.c owns the process: the state directory lock, the API socket, the
 * client threads.
 */
#pragma once

struct audit_log;

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "ipc/api.h"
#include "vmms/access.h"

struct service;

struct web_console;

struct service_config {
	const char *state_dir; /* absolute */
	const char *vmwp;      /* the worker binary */
	unsigned poll_ms;      /* status poll period (1000) */
	/*
	 * Workers run jailed (docs/security.md), each as the uid and gid of its VM, taken from
	 * jail_uid_first .. jail_uid_first + jail_uid_count - 1.
	 */
	bool jail;
	uint32_t jail_uid_first, jail_uid_count;
	int jail_mntns_fd; /* worker_jail_mntns_new(), inherited by jailed workers; -1: none */
	/* Who may do what (access.h), where callers other than root may name files. */
	struct access_policy access;
	const char *const *storage_dirs; /* resolved, absolute; the caller keeps them */
	unsigned nstorage_dirs;
	struct audit_log *audit; /* the audit log (audit.h); NULL: none */
	struct web_console *web; /* --web: the web console (web_console.h), or NULL */
};

/* The default range of the VMs' uids: far above login accounts and /etc/subuid ranges. */
#define SERVICE_JAIL_UID_FIRST 2130706432u /* 0x7F000000 */
#define SERVICE_JAIL_UID_COUNT 65536u

/* Loads the inventory, finds running workers again, starts the monitor. */
int service_new(const struct service_config *cfg, struct service **ret, char *err,
		size_t errlen) must_check;
/* Stops the monitor; workers keep running. NULL is a no-op. */
struct service *service_free(struct service *svc);

/*
 * Runs one API call of caller (from a client thread; may block for the call's
 * duration, e.g. stop-vm) and returns the answer: a call the caller's role does
 * not allow is refused; one that changes something is written to the audit log. A "subscribe" call
 * writes its answer to event_fd itself and adds event_fd to the event
 * stream (*subscribed set; NULL returned): events are then written to it
 * until service_unsubscribe().
 */
struct json_object *service_call(struct service *svc, const struct api_caller *caller,
				 const struct api_request *req, int event_fd, bool *subscribed,
				 int *ret_fd);
/*
 * *ret_fd (-1 on entry) may come back with a descriptor to pass with the answer
 * (get-vmconsole "connect": the console's connected socket); the caller sends it
 * (jsonline_send_fd) and closes it.
 */
/* A connection refused for its caller (no role): written to the audit log. */
void service_audit_refused(struct service *svc, const struct api_caller *caller, const char *why);
void service_unsubscribe(struct service *svc, int event_fd);

/* Number of VMs with a worker (for the exit message). */
unsigned service_running_count(struct service *svc);
