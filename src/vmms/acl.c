/* The port ACL calls: add-, get- and remove-vmnetworkadapteracl (docs/switches.md). */
#include "vmms/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"
#include "net/switch/leases.h"
#include "net/switch/tap.h"
#include "net/switch/tc.h"

/* --- port ACLs ---------------------------------------------------------------------------------
 */

static int acl_from_request(const struct api_request *req, struct vsw_acl *acl, bool need_action,
			    struct api_error *err)
{
	const char *ip = NULL, *mac = NULL, *dir = NULL, *action = NULL;
	char why[512];

	*acl = (struct vsw_acl){0};
	if (api_param_string(req, "remote_ip_address", false, 64, &ip, err) < 0 ||
	    api_param_string(req, "remote_mac_address", false, 64, &mac, err) < 0 ||
	    api_param_string(req, "direction", true, 32, &dir, err) < 0 ||
	    api_param_string(req, "action", need_action, 32, &action, err) < 0)
		return -EINVAL;
	if (!ip == !mac) {
		api_error_set(err, API_ERR_INVALID,
			      "give remote_ip_address or remote_mac_address (one of them)");
		return -EINVAL;
	}
	if (vsw_acl_dir_parse("direction", dir, &acl->dir, why, sizeof(why)) < 0 ||
	    (action &&
	     vsw_acl_action_parse("action", action, &acl->action, why, sizeof(why)) < 0) ||
	    (mac && vsw_mac_parse("remote_mac_address", mac, acl->mac, why, sizeof(why)) < 0) ||
	    (ip && vsw_prefix_parse("remote_ip_address", ip, &acl->ip, why, sizeof(why)) < 0)) {
		api_error_set(err, API_ERR_INVALID, "%s", why);
		return -EINVAL;
	}
	acl->is_mac = mac != NULL;
	return 0;
}

static struct json_object *acl_entry_json(const struct net_adapter *a, const struct vsw_acl *acl)
{
	struct json_object *o = json_object_new_object();
	char buf[VSW_PREFIX_TEXT];

	json_object_object_add(o, "adapter", json_object_new_string(a->name));
	json_object_object_add(o, "direction", json_object_new_string(vsw_acl_dir_name(acl->dir)));
	json_object_object_add(o, "action",
			       json_object_new_string(vsw_acl_action_name(acl->action)));
	if (acl->is_mac) {
		vsw_mac_format(acl->mac, buf);
		json_object_object_add(o, "remote_mac_address", json_object_new_string(buf));
	} else {
		vsw_prefix_format(&acl->ip, buf);
		json_object_object_add(o, "remote_ip_address", json_object_new_string(buf));
	}
	return o;
}

/* remove: entries that match the request's remote address and direction (and action if given). */
static bool acl_matches(const struct vsw_acl *have, const struct vsw_acl *want, bool any_action)
{
	struct vsw_acl w = *want;

	if (any_action)
		w.action = have->action;
	return vsw_acl_same(have, &w);
}

struct json_object *svc_call_acl(struct service *svc, const struct api_request *req,
				 enum api_call call, struct api_error *err)
{
	struct vm *vm = svc_lookup(svc, req, err);
	unsigned idx[NET_MAX_VM_ADAPTERS], i, j, changed = 0;
	struct json_object *list, *res;
	struct vsw_acl acl;
	const char *action = NULL;
	int n;

	if (!vm || (n = svc_net_select_adapters(svc, vm, req, idx, err)) < 0)
		return NULL;
	if (call == API_CALL_GET_VMNETWORKADAPTERACL) {
		list = json_object_new_array();
		for (i = 0; i < (unsigned)n; i++) {
			const struct net_adapter *a = &svc->net->adapters[idx[i]];

			for (j = 0; j < a->nacls; j++)
				json_object_array_add(list, acl_entry_json(a, &a->acls[j]));
		}
		res = json_object_new_object();
		json_object_object_add(res, "acls", list);
		return res;
	}
	if (api_param_string(req, "action", false, 32, &action, err) < 0 ||
	    acl_from_request(req, &acl, call == API_CALL_ADD_VMNETWORKADAPTERACL, err) < 0 ||
	    svc_net_need_state(vm, api_call_name(call), err) < 0)
		return NULL;
	for (i = 0; i < (unsigned)n; i++) {
		struct net_adapter *a = &svc->net->adapters[idx[i]];

		if (call == API_CALL_ADD_VMNETWORKADAPTERACL) {
			for (j = 0; j < a->nacls && !vsw_acl_same(&a->acls[j], &acl); j++)
				;
			if (j < a->nacls)
				continue;
			if (a->nacls == NET_MAX_ACLS) {
				api_error_set(err, API_ERR_INVALID,
					      "adapter '%s' has %d ACL entries: the most", a->name,
					      NET_MAX_ACLS);
				return NULL;
			}
			a->acls[a->nacls++] = acl;
			changed++;
		} else {
			j = 0;
			while (j < a->nacls) {
				if (!acl_matches(&a->acls[j], &acl, action == NULL)) {
					j++;
					continue;
				}
				memmove(&a->acls[j], &a->acls[j + 1],
					sizeof(acl) * (a->nacls - j - 1));
				a->nacls--;
				changed++;
			}
		}
	}
	if (!changed) {
		api_error_set(err,
			      call == API_CALL_ADD_VMNETWORKADAPTERACL ? API_ERR_EXISTS
								       : API_ERR_NOT_FOUND,
			      call == API_CALL_ADD_VMNETWORKADAPTERACL
				      ? "VM '%s' has this ACL entry already"
				      : "VM '%s' has no such ACL entry (see parvis "
					"get-vmnetworkadapteracl)",
			      vm->rec.name);
		return NULL;
	}
	if (svc_net_save_or_fail(svc, err) < 0)
		return NULL;
	if (svc_net_vm_runs(vm)) {
		char e[512];

		if (svc_net_apply_rules(svc, e, sizeof(e)) < 0) {
			api_error_set(err, API_ERR_HOST, "the ACL is kept but not in force: %s", e);
			return NULL;
		}
	}
	list = json_object_new_array();
	for (i = 0; i < (unsigned)n; i++) {
		const struct net_adapter *a = &svc->net->adapters[idx[i]];

		for (j = 0; j < a->nacls; j++)
			json_object_array_add(list, acl_entry_json(a, &a->acls[j]));
	}
	res = json_object_new_object();
	json_object_object_add(res, "acls", list);
	return res;
}
