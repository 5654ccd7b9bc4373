/* parvis's output: JSON (--json) and the tables of the verbs that list things. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"

void cli_print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
}

const char *cli_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : "";
}

/*
 * A string that came from a guest (KVP items), made safe for the terminal: C0 controls, DEL
 * and the C1 controls' UTF-8 forms become '?', and it is cut at n - 1 bytes. The worker
 * already replaces them; this is the CLI not trusting what reaches it.
 */
const char *cli_printable(const char *s, char *buf, size_t n)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < n; p++) {
		if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] < 0xA0) {
			buf[o++] = '?';
			p++;
		} else {
			buf[o++] = *p < 0x20 || *p == 0x7F ? '?' : (char)*p;
		}
	}
	buf[o] = '\0';
	return buf;
}

double cli_jnum(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0;
}

/* --- output --------------------------------------------------------------------------------- */

static void format_uptime(double s, char *buf, size_t len)
{
	unsigned long t = (unsigned long)s;

	if (t >= 86400)
		snprintf(buf, len, "%lu.%02lu:%02lu:%02lu", t / 86400, t / 3600 % 24, t / 60 % 60,
			 t % 60);
	else
		snprintf(buf, len, "%02lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

void cli_print_vm_table(struct json_object *vms)
{
	size_t i, n = json_object_array_length(vms);
	int w = 4;

	for (i = 0; i < n; i++) {
		int l = (int)strlen(cli_jstr(json_object_array_get_idx(vms, i), "name"));

		if (l > w)
			w = l;
	}
	printf("%-*s  %-8s  %11s  %17s  %-10s  %s\n", w, "Name", "State", "CPUUsage(%)",
	       "MemoryAssigned(M)", "Uptime", "Status");
	printf("%-*s  %-8s  %11s  %17s  %-10s  %s\n", w, "----", "-----", "-----------",
	       "-----------------", "------", "------");
	for (i = 0; i < n; i++) {
		struct json_object *vm = json_object_array_get_idx(vms, i);
		char up[32];

		format_uptime(cli_jnum(vm, "uptime_s"), up, sizeof(up));
		printf("%-*s  %-8s  %11.0f  %17.0f  %-10s  %s\n", w, cli_jstr(vm, "name"),
		       cli_jstr(vm, "state"), cli_jnum(vm, "cpu_usage_percent"),
		       cli_jnum(vm, "memory_assigned_bytes") / 1048576.0, up,
		       cli_jstr(vm, "status"));
	}
}

int cli_print_vm_or_json(struct json_object *res, const char *what)
{
	if (cli_json_out)
		cli_print_json(res);
	else if (what)
		printf("%s\n", what);
	json_object_put(res);
	return EXIT_OK;
}
