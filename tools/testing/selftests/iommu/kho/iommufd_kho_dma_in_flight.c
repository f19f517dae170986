// SPDX-License-Identifier: GPL-2.0
/*
 * DMA in flight at the kexec lands: a device handed over to keep
 * translating also keeps bus mastering, and its transfer completes into
 * guest RAM while one kernel goes down and the next comes up.
 *
 * Stage 1 hands over a VMM with edu attached (iommu_vmm_hand_over(), which
 * leaves the pattern of page 1 in edu's buffer). A child then has edu
 * write that buffer to page 64 + n of guest RAM for n = 0, 1, ... one
 * transfer after the other, noting in guest RAM which transfer it started
 * and which it saw end, until the CPUs stop for the kexec. With each
 * transfer taking about 100 ms, the last one is still running then.
 *
 * Stage 2: every transfer the child started has landed at its page, the
 * last one too, whether or not the child saw it end, and no page beyond
 * it was written. (The old kernel logged that edu kept bus mastering.)
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SIZE		(16ULL << 20)
#define IOVA_X		(16ULL << 20)
#define PAGE		4096ULL
#define SESSION		"in-flight"
#define FIRST		64		/* page of transfer 0 */
#define MAX_XFERS	2048
#define LOG_PAGE	3		/* where the child notes its progress */

/* Shared with the child: read and written with __atomic builtins */
struct flight_log {
	uint64_t started;	/* transfers started, the last one's n + 1 */
	uint64_t ended;		/* transfers seen to end */
};

static void log_set(uint64_t *field, uint64_t val)
{
	__atomic_store_n(field, val, __ATOMIC_SEQ_CST);
}

static uint64_t log_get(uint64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_SEQ_CST);
}

static struct iommu_vmm vmm;

/* The child: one transfer after the other until the kexec stops it */
static void keep_edu_busy(struct flight_log *log)
{
	int null = open("/dev/null", O_RDWR);
	uint64_t n;

	/* the test's output must end with the test, or its reader waits */
	if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		_exit(1);
	close(null);
	setsid();
	for (n = 0; n < MAX_XFERS; n++) {
		log_set(&log->started, n + 1);
		edu_dma_start(&vmm.edu, IOVA_X + (FIRST + n) * PAGE, 0,
			      EDU_DMA_MAX, true);
		if (edu_dma_wait(&vmm.edu, 10000))
			_exit(1);
		log_set(&log->ended, n + 1);
	}
	for (;;)
		pause();
}

static int stage1(void)
{
	struct flight_log *log;
	int dev = luo_open();
	pid_t pid;

	iommu_vmm_hand_over(&vmm, dev, SESSION, SIZE, IOVA_X);
	log = (struct flight_log *)(vmm.ram + LOG_PAGE * PAGE);
	log_set(&log->started, 0);
	log_set(&log->ended, 0);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0)
		keep_edu_busy(log);
	/* let it get going: a few transfers before the kexec */
	while (log_get(&log->ended) < 3)
		usleep(10000);
	msg("edu is busy: %llu transfers so far",
	    (unsigned long long)log_get(&log->ended));
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	struct iommu_vmm_note *note;
	struct flight_log *log;
	int dev, session, memfd;
	uint64_t last, n;

	luo_expect_log("adopting the handed-over tables");
	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	note = (struct iommu_vmm_note *)vmm.ram;
	log = (struct flight_log *)(vmm.ram + LOG_PAGE * PAGE);
	if (!log->started || log->started > MAX_XFERS)
		fail("no transfer was started (%llu)",
		     (unsigned long long)log->started);
	last = log->started - 1;
	msg("transfers started: %llu, seen to end: %llu",
	    (unsigned long long)log->started,
	    (unsigned long long)log->ended);
	for (n = 0; n <= last; n++)
		if (!edu_pattern_holds(vmm.ram + (FIRST + n) * PAGE,
				       note->seed))
			fail("transfer %llu of %llu did not land",
			     (unsigned long long)n,
			     (unsigned long long)log->started);
	if (edu_pattern_holds(vmm.ram + (FIRST + last + 1) * PAGE, note->seed))
		fail("a page past the last transfer was written");
	if (log->ended == log->started)
		msg("ok: every transfer landed; the last had ended before the kexec");
	else
		msg("ok: every transfer landed, the last one in flight at the kexec");
	expect_ok("finish", luo_finish(session));
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_kho_dma_in_flight",
			LUO_STAGES(stage1, stage2));
}
