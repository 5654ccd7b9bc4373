"""A disk image that boots through a PC BIOS to GRUB, made as a BIOS boot disk is made.

make_grub_disk(work, marker): an MBR partition table (sfdisk) with one ext2 partition holding
/boot/grub/grub.cfg (mke2fs -d), GRUB's boot.img in the MBR and its core image (grub-mkimage -O
i386-pc, with the biosdisk, part_msdos and ext2 modules and the prefix (hd0,msdos1)/boot/grub)
in the sectors after it, as grub-bios-setup writes them. grub.cfg sets GRUB's terminal to COM1
and echoes the marker. Used by test_gen1_bios.py (the worker), test_gen1_bios_save.py (its own
grub.cfg) and test_vmms_gen1_linux.py (the service).
"""
import os
import subprocess

GRUB_DIR = '/usr/lib/grub/i386-pc'
BIOS = '/usr/share/seabios/bios-256k.bin'
TOOLS = ('grub-mkimage', 'sfdisk', 'mke2fs')


def grub_cfg(marker):
    return f"""serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo {marker}
"""


def make_grub_disk(work, marker, cfg=None, modules=()):
    """A 16 MiB MBR disk: partition 1 (ext2, from sector 2048) with grub.cfg, GRUB in the gap.
    cfg replaces grub_cfg(marker); modules are GRUB modules the core image needs for it."""
    disk = os.path.join(work, 'bios-disk.raw')
    with open(disk, 'wb') as f:
        f.truncate(16 << 20)
    subprocess.run(['sfdisk', '-q', disk], input='start=2048, type=83, bootable\n', text=True,
                   check=True, timeout=60)
    root = os.path.join(work, 'root')
    os.makedirs(os.path.join(root, 'boot', 'grub'))
    with open(os.path.join(root, 'boot', 'grub', 'grub.cfg'), 'w') as f:
        f.write(cfg if cfg is not None else grub_cfg(marker))
    subprocess.run(['mke2fs', '-q', '-F', '-t', 'ext2', '-E', 'offset=1048576', '-d', root, disk,
                    '15M'], check=True, timeout=60)
    core = os.path.join(work, 'core.img')
    subprocess.run(['grub-mkimage', '-O', 'i386-pc', '-d', GRUB_DIR, '-o', core,
                    '-p', '(hd0,msdos1)/boot/grub', 'biosdisk', 'part_msdos', 'ext2', 'normal',
                    'serial', 'terminal', 'echo'] + list(modules), check=True, timeout=120)
    with open(os.path.join(GRUB_DIR, 'boot.img'), 'rb') as f:
        boot = bytearray(f.read())
    with open(core, 'rb') as f:
        core_img = f.read()
    # What grub-bios-setup does for a hard disk (grub-core/../util/setup.c): boot.img's code
    # (the partition table stays), its drive check made a no-op (GRUB_BOOT_MACHINE_DRIVE_CHECK,
    # 0x66); boot.img loads sector 1 (GRUB_BOOT_MACHINE_KERNEL_SECTOR, 0x5C, already 1), and
    # grub-mkimage left diskboot's block list at sector 2 for the core image's length.
    boot[0x66:0x68] = b'\x90\x90'
    assert len(core_img) <= 2047 * 512, 'core image larger than the gap before partition 1'
    with open(disk, 'r+b') as f:
        f.write(boot[:440])
        f.seek(512)
        f.write(core_img)
    return disk
