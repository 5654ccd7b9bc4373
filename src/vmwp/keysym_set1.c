/*
 * Keysyms to set-1 scan codes (keysym_set1.h). Keysym values: X11
 * keysymdef.h (Latin-1 keysyms are their ISO 8859-1 code; function keys
 * 0xFFxx). Scan codes: the IBM PC AT set 1 as Linux's atkbd reads it in
 * translated mode (drivers/input/keyboard/atkbd.c atkbd_unxlate_table):
 * e.g. Alt+SysRq is 0x54, which atkbd maps to KEY_SYSRQ.
 */
#include "vmwp/keysym_set1.h"

#include <stddef.h>

struct keysym_entry {
	uint32_t keysym;
	uint8_t code;
	uint8_t e0;
};

/* Latin-1 printable keys, both of each key's symbols (US layout), by row. */
static const struct keysym_entry table[] = {
	{'1', 0x02, 0},
	{'!', 0x02, 0},
	{'2', 0x03, 0},
	{'@', 0x03, 0},
	{'3', 0x04, 0},
	{'#', 0x04, 0},
	{'4', 0x05, 0},
	{'$', 0x05, 0},
	{'5', 0x06, 0},
	{'%', 0x06, 0},
	{'6', 0x07, 0},
	{'^', 0x07, 0},
	{'7', 0x08, 0},
	{'&', 0x08, 0},
	{'8', 0x09, 0},
	{'*', 0x09, 0},
	{'9', 0x0A, 0},
	{'(', 0x0A, 0},
	{'0', 0x0B, 0},
	{')', 0x0B, 0},
	{'-', 0x0C, 0},
	{'_', 0x0C, 0},
	{'=', 0x0D, 0},
	{'+', 0x0D, 0},
	{'q', 0x10, 0},
	{'w', 0x11, 0},
	{'e', 0x12, 0},
	{'r', 0x13, 0},
	{'t', 0x14, 0},
	{'y', 0x15, 0},
	{'u', 0x16, 0},
	{'i', 0x17, 0},
	{'o', 0x18, 0},
	{'p', 0x19, 0},
	{'[', 0x1A, 0},
	{'{', 0x1A, 0},
	{']', 0x1B, 0},
	{'}', 0x1B, 0},
	{'a', 0x1E, 0},
	{'s', 0x1F, 0},
	{'d', 0x20, 0},
	{'f', 0x21, 0},
	{'g', 0x22, 0},
	{'h', 0x23, 0},
	{'j', 0x24, 0},
	{'k', 0x25, 0},
	{'l', 0x26, 0},
	{';', 0x27, 0},
	{':', 0x27, 0},
	{'\'', 0x28, 0},
	{'"', 0x28, 0},
	{'`', 0x29, 0},
	{'~', 0x29, 0},
	{'\\', 0x2B, 0},
	{'|', 0x2B, 0},
	{'z', 0x2C, 0},
	{'x', 0x2D, 0},
	{'c', 0x2E, 0},
	{'v', 0x2F, 0},
	{'b', 0x30, 0},
	{'n', 0x31, 0},
	{'m', 0x32, 0},
	{',', 0x33, 0},
	{'<', 0x33, 0},
	{'.', 0x34, 0},
	{'>', 0x34, 0},
	{'/', 0x35, 0},
	{'?', 0x35, 0},
	{' ', 0x39, 0},
	/* Function and modifier keys (0xFFxx). */
	{0xFF1B, 0x01, 0}, /* Escape */
	{0xFF08, 0x0E, 0}, /* BackSpace */
	{0xFF09, 0x0F, 0}, /* Tab */
	{0xFE20, 0x0F, 0}, /* ISO_Left_Tab (Shift+Tab) */
	{0xFF0D, 0x1C, 0}, /* Return */
	{0xFFE3, 0x1D, 0}, /* Control_L */
	{0xFFE1, 0x2A, 0}, /* Shift_L */
	{0xFFE2, 0x36, 0}, /* Shift_R */
	{0xFFE9, 0x38, 0}, /* Alt_L */
	{0xFFE7, 0x38, 0}, /* Meta_L */
	{0xFFE5, 0x3A, 0}, /* Caps_Lock */
	{0xFFBE, 0x3B, 0}, /* F1 .. F10 */
	{0xFFBF, 0x3C, 0},
	{0xFFC0, 0x3D, 0},
	{0xFFC1, 0x3E, 0},
	{0xFFC2, 0x3F, 0},
	{0xFFC3, 0x40, 0},
	{0xFFC4, 0x41, 0},
	{0xFFC5, 0x42, 0},
	{0xFFC6, 0x43, 0},
	{0xFFC7, 0x44, 0},
	{0xFF7F, 0x45, 0}, /* Num_Lock */
	{0xFF14, 0x46, 0}, /* Scroll_Lock */
	{0xFF15, 0x54, 0}, /* Sys_Req: what Alt+Print Screen sends */
	{0xFFC8, 0x57, 0}, /* F11 */
	{0xFFC9, 0x58, 0}, /* F12 */
	/* Keypad, with Num Lock on and off. */
	{0xFFAA, 0x37, 0}, /* KP_Multiply */
	{0xFFB7, 0x47, 0},
	{0xFF95, 0x47, 0}, /* KP_7, KP_Home */
	{0xFFB8, 0x48, 0},
	{0xFF97, 0x48, 0}, /* KP_8, KP_Up */
	{0xFFB9, 0x49, 0},
	{0xFF9A, 0x49, 0}, /* KP_9, KP_Prior */
	{0xFFAD, 0x4A, 0}, /* KP_Subtract */
	{0xFFB4, 0x4B, 0},
	{0xFF96, 0x4B, 0}, /* KP_4, KP_Left */
	{0xFFB5, 0x4C, 0},
	{0xFF9D, 0x4C, 0}, /* KP_5, KP_Begin */
	{0xFFB6, 0x4D, 0},
	{0xFF98, 0x4D, 0}, /* KP_6, KP_Right */
	{0xFFAB, 0x4E, 0}, /* KP_Add */
	{0xFFB1, 0x4F, 0},
	{0xFF9C, 0x4F, 0}, /* KP_1, KP_End */
	{0xFFB2, 0x50, 0},
	{0xFF99, 0x50, 0}, /* KP_2, KP_Down */
	{0xFFB3, 0x51, 0},
	{0xFF9B, 0x51, 0}, /* KP_3, KP_Next */
	{0xFFB0, 0x52, 0},
	{0xFF9E, 0x52, 0}, /* KP_0, KP_Insert */
	{0xFFAE, 0x53, 0},
	{0xFF9F, 0x53, 0}, /* KP_Decimal, KP_Delete */
	/* The E0-prefixed keys of the 101-key layout. */
	{0xFF8D, 0x1C, 1}, /* KP_Enter */
	{0xFFE4, 0x1D, 1}, /* Control_R */
	{0xFFAF, 0x35, 1}, /* KP_Divide */
	{0xFF61, 0x37, 1}, /* Print (atkbd: KEY_SYSRQ, so Alt+Print works as SysRq too) */
	{0xFFEA, 0x38, 1}, /* Alt_R */
	{0xFE03, 0x38, 1}, /* ISO_Level3_Shift (AltGr) */
	{0xFF50, 0x47, 1}, /* Home */
	{0xFF52, 0x48, 1}, /* Up */
	{0xFF55, 0x49, 1}, /* Prior (Page Up) */
	{0xFF51, 0x4B, 1}, /* Left */
	{0xFF53, 0x4D, 1}, /* Right */
	{0xFF57, 0x4F, 1}, /* End */
	{0xFF54, 0x50, 1}, /* Down */
	{0xFF56, 0x51, 1}, /* Next (Page Down) */
	{0xFF63, 0x52, 1}, /* Insert */
	{0xFFFF, 0x53, 1}, /* Delete */
	{0xFFEB, 0x5B, 1}, /* Super_L */
	{0xFFEC, 0x5C, 1}, /* Super_R */
	{0xFF67, 0x5D, 1}, /* Menu */
};

bool keysym_to_set1(uint32_t keysym, struct set1_key *key)
{
	size_t i;

	/* Upper-case letters are the lower-case keys. */
	if (keysym >= 'A' && keysym <= 'Z')
		keysym += 'a' - 'A';
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].keysym == keysym) {
			*key = (struct set1_key){.code = table[i].code, .e0 = table[i].e0};
			return true;
		}
	return false;
}
