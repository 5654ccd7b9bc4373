/* `parvis vhd ...`: the virtual disk tool (Hyper-V's VHD cmdlets), see docs/disks.md. */
#pragma once

/* argv[0] is "vhd", argv[1] the verb. Returns the process exit status. */
int cli_vhd_main(int argc, char **argv);
