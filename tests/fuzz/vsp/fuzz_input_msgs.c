/*
 * Fuzz target: the synthetic keyboard's and mouse's parsers of guest
 * messages (src/vsp/input/synthkbd.c, synthhid.c). Byte 0 picks the
 * parser (even: keyboard, odd: mouse); the rest is one packet payload.
 * Seeds: corpus/input_msgs (make_console_corpus.py).
 */
#include <stddef.h>
#include <stdint.h>

#include "vsp/input/synthhid.h"
#include "vsp/input/synthkbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct synthhid_msg m;

		if (synthhid_msg_parse(data + 1, size - 1, &m, &why) < 0 && !why)
			__builtin_trap();
	} else {
		struct synthkbd_msg m;

		if (synthkbd_msg_parse(data + 1, size - 1, &m, &why) < 0 && !why)
			__builtin_trap();
	}
	return 0;
}
