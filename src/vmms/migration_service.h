/*
 * Live migration between services (docs/migration.md, "Between services"), as Hyper-V's
 * Enable-VMMigration, Get-VMHost and Move-VM. migration_service.c: the settings
 * (DIR/migration.json), the listener and its thread, the calls enable-vmmigration,
 * disable-vmmigration, get-vmhost, and where moved VMs went; migration_move.c: move-vm on the
 * source; migration_incoming.c: a move arriving (the checks, the worker with --incoming);
 * migration_channel.c: TLS and the relay; migration_peer.c: the messages (fuzzed).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "ipc/api.h"
#include "vmms/migration_channel.h"
#include "vmms/migration_peer.h"

struct service;
struct peer_chan;

#define MIG_MOVED_MAX 64 /* VMs that moved away, remembered for get-vm's answer */

/* Loads DIR/migration.json and, when enabled, starts the listener. Without svc->lock. */
int svc_migration_load(struct service *svc, char *err, size_t errlen) must_check;
/* Stops the listener (moves under way end with their connections). NULL mig is a no-op. */
void svc_migration_free(struct service *svc);

/* The calls (under svc->lock). */
struct json_object *svc_call_enable_migration(struct service *svc, const struct api_request *req,
					      struct api_error *err);
struct json_object *svc_call_disable_migration(struct service *svc, const struct api_request *req,
					       struct api_error *err);
struct json_object *svc_call_get_vmhost(struct service *svc, const struct api_request *req,
					struct api_error *err);
struct json_object *svc_call_move_vm(struct service *svc, const struct api_request *req,
				     int client_fd, struct api_error *err);

/*
 * For the move code: how this host authenticates (the key read from its file now, or the
 * certificate files' paths, copied) and its listener address; -EPERM with err when migration
 * is not enabled. Under svc->lock. svc_migration_auth_free wipes and frees auth (NULL: no-op).
 */
int svc_migration_auth(struct service *svc, struct mig_auth *auth, char *listen, size_t listenlen,
		       struct api_error *err) must_check;
void svc_migration_auth_free(struct mig_auth *auth);
/* Remembers that a VM moved to dest (DIR/migration.json keeps the last MIG_MOVED_MAX). */
void svc_migration_note_moved(struct service *svc, const char *name, const char *id,
			      const char *dest);
/* migration_incoming.c: serves one accepted connection (a thread of its own; takes fd). */
void svc_migration_incoming(struct service *svc, int fd);
