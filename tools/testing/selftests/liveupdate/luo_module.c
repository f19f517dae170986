// SPDX-License-Identifier: GPL-2.0
/*
 * A file handler in a module cannot be unloaded while Live Update may still
 * call it. The handler is lib/test_liveupdate_module.c, which carries
 * eventfds; its exit function unregisters it as KVM's does, and can only
 * report a failure. Were the module unloaded while a session holds a file
 * bound to the handler, the handler would stay registered, pointing into
 * freed module memory.
 *
 * Stage 1: with an eventfd preserved, the module cannot be unloaded;
 * closing the session lets it go, and it loads again. The eventfd is
 * preserved again, beside a memfd, and carried across the kexec.
 * Stage 2: without the module the file cannot be retrieved, and the module
 * can be loaded and unloaded again, for nothing is bound to it. Loaded to
 * fail its first retrieve, it keeps state for the retry: from then on it
 * cannot be unloaded. The retry succeeds, the memfd is intact, and once
 * the session is finished and the files closed the module unloads.
 */
#define _GNU_SOURCE
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "luo_test_utils.h"

#define MODULE_NAME	"test_liveupdate_module"
#define MODULE_PATH	"/lib/modules/" MODULE_NAME ".ko"
#define SESSION		"module"
#define TOKEN_EVENTFD	1
#define TOKEN_MEMFD	2
#define MEMFD_SIZE	(1 << 20)

static int load(const char *params)
{
	int fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0) {
		if (errno == ENOENT)
			skip("no %s (CONFIG_TEST_LIVEUPDATE_MODULE off)",
			     MODULE_PATH);
		fail("open %s: %s", MODULE_PATH, strerror(errno));
	}
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return ret;
}

static int unload(void)
{
	return syscall(SYS_delete_module, MODULE_NAME, O_NONBLOCK) ? -errno : 0;
}

static void preserve_eventfd(int session)
{
	int efd = eventfd(0, EFD_CLOEXEC);

	if (efd < 0)
		fail("eventfd: %s", strerror(errno));
	expect_ok("preserve the eventfd",
		  luo_preserve_fd(session, efd, TOKEN_EVENTFD));
	close(efd);
}

static int stage1(void)
{
	int dev, session, mfd;

	dev = luo_open();
	expect_ok("load the module", load(""));
	session = expect_ok("create session",
			    luo_create_session(dev, SESSION));
	preserve_eventfd(session);
	expect_err("unload the module while its handler holds a preserved file",
		   unload(), EWOULDBLOCK);
	close(session);
	expect_ok("unload the module once the session is closed", unload());
	expect_ok("load the module again", load(""));

	session = expect_ok("create session again",
			    luo_create_session(dev, SESSION));
	preserve_eventfd(session);
	mfd = memfd_create("luo-module", 0);
	if (mfd < 0 || ftruncate(mfd, MEMFD_SIZE))
		fail("memfd: %s", strerror(errno));
	luo_preserve_memfd(session, mfd, MEMFD_SIZE, TOKEN_MEMFD,
			   "memfd beside it", true);
	close(mfd);
	expect_err("unload the module before the kexec", unload(), EWOULDBLOCK);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, efd, mfd;
	void *map;

	dev = luo_open();
	session = expect_ok("retrieve session",
			    luo_retrieve_session(dev, SESSION));
	expect_err("retrieve the eventfd's file with no handler loaded",
		   luo_retrieve_fd(session, TOKEN_EVENTFD), ENOENT);

	expect_ok("load the module", load(""));
	expect_ok("unload it: no file is bound to it yet", unload());

	expect_ok("load the module, to fail one retrieve",
		  load("fail_retrieve=1"));
	expect_err("retrieve, failing once",
		   luo_retrieve_fd(session, TOKEN_EVENTFD), EAGAIN);
	expect_err("unload the module while it keeps state for a retry",
		   unload(), EWOULDBLOCK);
	efd = expect_ok("retrieve again",
			luo_retrieve_fd(session, TOKEN_EVENTFD));
	expect_err("unload the module while its file is retrieved",
		   unload(), EWOULDBLOCK);

	mfd = expect_ok("retrieve the memfd",
			luo_retrieve_fd(session, TOKEN_MEMFD));
	map = luo_map(mfd, MEMFD_SIZE);
	luo_verify("memfd", map, MEMFD_SIZE, 1, TOKEN_MEMFD);
	luo_check_pfns("memfd", map, MEMFD_SIZE);
	munmap(map, MEMFD_SIZE);

	expect_ok("finish", luo_finish(session));
	close(efd);
	close(mfd);
	close(session);
	close(dev);
	expect_ok("unload the module once everything is closed", unload());
	luo_expect_log(MODULE_NAME ": retrieved after 2 tries");
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_module", LUO_STAGES(stage1, stage2));
}
