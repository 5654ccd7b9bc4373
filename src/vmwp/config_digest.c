/*
 * The configuration digest (config_digest.h). The text lists, in a fixed
 * order: memory, virtual processors and their model, whether the synthetic
 * video (with keyboard and mouse) exists, each disk's SCSI controller,
 * LUN as configured and read-only flag, and each network adapter's id,
 * MAC, queue count and whether MAC spoofing is allowed; generation 1 and
 * its DVD drive, listed only when present. A version line
 * first: a later build that adds hardware starts a new version.
 */
#include "vmwp/config_digest.h"

#include <errno.h>
#include <gcrypt.h>
#include <stdio.h>
#include <stdlib.h>

#define CONFIG_TEXT_VERSION "parvis-hardware 1"

char *config_hardware_text(const struct vm_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	unsigned i;

	if (!f)
		return NULL;
	fprintf(f, "%s\nmemory=%llu\ncpus=%u\ncpu-model=%s\nvideo=%d\n", CONFIG_TEXT_VERSION,
		(unsigned long long)cfg->memory_bytes, cfg->cpus,
		cfg->cpu_model ? cfg->cpu_model : "host", !cfg->no_video);
	/* Only when not the default: generation 2 texts (and digests) stay as they were. */
	if (cfg->generation != 2)
		fprintf(f, "generation=%u\n", cfg->generation);
	if (cfg->has_dvd)
		fputs("dvd=ide 1:0\n", f);
	for (i = 0; i < cfg->ndisks; i++)
		fprintf(f, "disk%u=controller %u lun %d%s\n", i, cfg->disks[i].controller,
			cfg->disks[i].lun, cfg->disks[i].read_only ? " readonly" : "");
	for (i = 0; i < cfg->nnics; i++) {
		const struct nic_config *n = &cfg->nics[i];

		fprintf(f, "nic%u=id %s mac ", i, n->id);
		if (n->has_mac)
			fprintf(f, "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
				n->mac[3], n->mac[4], n->mac[5]);
		else
			fputs("default", f);
		/* A TAP adapter opens `queues` queues; inherited descriptors are the queues. */
		fprintf(f, " queues %u%s\n", n->tap ? n->queues : n->nfds,
			n->mac_spoofing ? " mac-spoofing" : "");
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int config_digest(const struct vm_config *cfg, uint8_t digest[CONFIG_DIGEST_BYTES])
{
	char *text = config_hardware_text(cfg);
	size_t len;

	if (!text)
		return -ENOMEM;
	for (len = 0; text[len]; len++)
		;
	/* Needs no secure memory and no further set-up (the console server does the same). */
	(void)gcry_check_version(NULL);
	gcry_md_hash_buffer(GCRY_MD_SHA256, digest, text, len);
	free(text);
	return 0;
}
