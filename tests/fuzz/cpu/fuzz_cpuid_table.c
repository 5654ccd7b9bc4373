/*
 * A recorded CPUID table (cpuid_table_parse) and every model built over
 * it: whatever a host file says, the builder answers or refuses cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpu_host *host = calloc(1, sizeof(*host));
	struct cpu_model *m = calloc(1, sizeof(*m));
	char *text = malloc(size + 1), err[256];
	unsigned i;

	if (!host || !m || !text)
		goto out;
	memcpy(text, data, size);
	text[size] = 0;
	host->pvm = size && (data[0] & 1);
	if (cpuid_table_parse(text, &host->supported, err, sizeof(err)) < 0)
		goto out;
	for (i = 0; cpu_model_names[i]; i++)
		if (cpu_model_build(cpu_model_names[i], host, 1 + (unsigned)(size % 64), m, err,
				    sizeof(err)) == 0) {
			struct cpuid_table *t = malloc(sizeof(*t));

			if (t)
				cpu_model_vcpu_cpuid(m, m->vcpus - 1, t);
			free(t);
		}
out:
	free(text);
	free(m);
	free(host);
	return 0;
}
