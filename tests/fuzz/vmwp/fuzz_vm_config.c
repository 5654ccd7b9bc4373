/* Fuzz target: the worker's JSON configuration parser and validator. */
#include <stddef.h>
#include <stdint.h>

#include "vmwp/vm_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	char err[256];

	vm_config_init(&cfg);
	if (vm_config_parse_json(&cfg, (const char *)data, size, err, sizeof(err)) == 0 &&
	    vm_config_validate(&cfg, err, sizeof(err)) == 0 &&
	    ((!cfg.kernel && cfg.generation != 1) || (cfg.initrd && !cfg.kernel)))
		__builtin_trap(); /* only generation 1 boots without a kernel, and never with a
				     ramdisk */
	vm_config_fini(&cfg);
	return 0;
}
