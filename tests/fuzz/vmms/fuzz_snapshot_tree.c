/* Fuzz target: the parser of a VM's checkpoint tree (DIR/snapshots/ID.json, snapshot_tree.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmms/snapshot_tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_tree *t = malloc(sizeof(*t)), *again = malloc(sizeof(*again));
	char err[256];

	if (!t || !again)
		goto out;
	if (snap_tree_parse((const char *)data, size, t, err, sizeof(err)) == 0) {
		struct json_object *o = snap_tree_to_json(t);
		const char *text = json_object_to_json_string(o);

		/* what we write, we read back, the same tree */
		if (snap_tree_parse(text, strlen(text), again, err, sizeof(err)) != 0 ||
		    again->n != t->n || again->current != t->current ||
		    again->nleaves != t->nleaves)
			__builtin_trap();
		for (unsigned i = 0; i < t->n; i++)
			if (again->snaps[i].parent != t->snaps[i].parent ||
			    strcmp(again->snaps[i].name, t->snaps[i].name))
				__builtin_trap();
		snap_tree_fini(again);
		json_object_put(o);
		snap_tree_fini(t);
	}
out:
	free(t);
	free(again);
	return 0;
}
