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
#include <string.h>

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
	for (i = 0; i < cfg->ndvds; i++)
		fprintf(f, "dvd=ide %u:%d\n", cfg->dvds[i].controller, cfg->dvds[i].lun);
	for (i = 0; i < cfg->ndisks; i++)
		fprintf(f, "disk%u=controller %u lun %d%s%s\n", i, cfg->disks[i].controller,
			cfg->disks[i].lun, cfg->disks[i].read_only ? " readonly" : "",
			cfg->disks[i].ide ? " ide" : "");
	for (i = 0; i < cfg->nnics; i++) {
		const struct nic_config *n = &cfg->nics[i];

		fprintf(f, "nic%u=id %s mac ", i, n->id);
		if (n->has_mac)
			fprintf(f, "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
				n->mac[3], n->mac[4], n->mac[5]);
		else
			fputs("default", f);
		/* A TAP adapter opens `queues` queues; inherited descriptors are the queues. */
		fprintf(f, " queues %u%s%s\n", n->tap ? n->queues : n->nfds,
			n->mac_spoofing ? " mac-spoofing" : "", n->legacy ? " legacy" : "");
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

/* The value of key in a "key=value" line text, its length in *len; NULL if absent. */
static const char *find_key(const char *text, size_t textlen, const char *key, size_t keylen,
			    size_t *len)
{
	const char *p = text, *end = text + textlen;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;

		if ((size_t)(le - p) > keylen && p[keylen] == '=' && !memcmp(p, key, keylen)) {
			*len = (size_t)(le - p - (ptrdiff_t)keylen - 1);
			return p + keylen + 1;
		}
		p = le + 1;
	}
	return NULL;
}

/*
 * The first line of a that b lacks or has with another value, as a message
 * (a_name/b_name say whose); false if every line of a is in b.
 */
static bool first_difference(const char *a, size_t alen, const char *a_name, const char *b,
			     size_t blen, const char *b_name, char *err, size_t errlen)
{
	const char *p = a, *end = a + alen;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *eq = memchr(p, '=', (size_t)(le - p));
		size_t vlen, keylen;
		const char *v;

		if (eq) {
			keylen = (size_t)(eq - p);
			v = find_key(b, blen, p, keylen, &vlen);
			if (!v) {
				snprintf(err, errlen, "%s has %.*s (%.*s), %s has none", a_name,
					 (int)keylen, p, (int)(le - eq - 1), eq + 1, b_name);
				return true;
			}
			if (vlen != (size_t)(le - eq - 1) || memcmp(v, eq + 1, vlen)) {
				snprintf(err, errlen, "%.*s differs: %s has '%.*s', %s has '%.*s'",
					 (int)keylen, p, a_name, (int)(le - eq - 1), eq + 1, b_name,
					 (int)vlen, v);
				return true;
			}
		}
		p = le + 1;
	}
	return false;
}

bool config_text_difference(const char *saved, size_t saved_len, const char *ours, size_t ours_len,
			    char *what, size_t whatlen)
{
	return first_difference(saved, saved_len, "the saved state", ours, ours_len, "this VM",
				what, whatlen) ||
	       first_difference(ours, ours_len, "this VM", saved, saved_len, "the saved state",
				what, whatlen);
}
