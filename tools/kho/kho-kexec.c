// SPDX-License-Identifier: GPL-2.0
/*
 * kho-kexec: load a kernel with kexec_file_load(2) and optionally boot it.
 *
 *   kho-kexec [-e] KERNEL INITRD CMDLINE   load (and with -e, boot) KERNEL
 *   kho-kexec -u                           unload
 *
 * The test harness's own loader; Debian's kexec-tools does the same job and
 * the suite runs with both.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kexec.h>
#include <linux/reboot.h>
#include <sys/reboot.h>
#include <sys/syscall.h>

static int open_or_die(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "kho-kexec: open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	int boot = 0, kfd, ifd;

	if (argc == 2 && !strcmp(argv[1], "-u")) {
		if (syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL,
			    KEXEC_FILE_UNLOAD)) {
			perror("kho-kexec: unload");
			return 1;
		}
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "-e")) {
		boot = 1;
		argc--;
		argv++;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: kho-kexec [-e] KERNEL INITRD CMDLINE | kho-kexec -u\n");
		return 2;
	}
	kfd = open_or_die(argv[1]);
	ifd = open_or_die(argv[2]);
	if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(argv[3]) + 1,
		    argv[3], 0UL)) {
		fprintf(stderr, "kho-kexec: kexec_file_load: %s\n", strerror(errno));
		return 1;
	}
	close(kfd);
	close(ifd);
	if (!boot)
		return 0;
	sync();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	fprintf(stderr, "kho-kexec: reboot(LINUX_REBOOT_CMD_KEXEC): %s\n", strerror(errno));
	return 1;
}
