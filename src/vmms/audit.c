/* The audit log; see audit.h. */
#include "vmms/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

int audit_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);

	return fd < 0 ? -errno : fd;
}

void audit_record(int fd, const struct api_caller *c, const char *call, const char *vm, bool ok,
		  const char *error)
{
	struct json_object *o = json_object_new_object();
	const char *s;
	size_t len;
	char *line;

	if (!o)
		return;
	json_object_object_add(o, "time_ms",
			       json_object_new_int64((int64_t)(time_realtime_ns() / 1000000)));
	json_object_object_add(o, "uid", json_object_new_int64(c->uid));
	json_object_object_add(o, "user", json_object_new_string(c->user));
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "call", json_object_new_string(call));
	if (vm)
		json_object_object_add(o, "vm", json_object_new_string(vm));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (error)
		json_object_object_add(o, "error", json_object_new_string(error));
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(s);
	line = malloc(len + 1);
	if (line) {
		memcpy(line, s, len);
		line[len] = '\n';
		if (write(fd, line, len + 1) != (ssize_t)(len + 1))
			pv_log(LOG_ERR, "audit log: cannot append a record (%s): %s", call,
			       strerror(errno));
		free(line);
	}
	json_object_put(o);
}
