/* parvis-vhd: the disk tool alone, until the parvis command calls cli_vhd_main for "vhd". */
#include "cli/vhd.h"

int main(int argc, char **argv)
{
	argv[0] = (char *)"vhd";
	return cli_vhd_main(argc, argv);
}
