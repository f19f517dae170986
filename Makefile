# kho-v: Kexec HandOver for Linux 6.12 hypervisor hosts.
#
#   make demo     a VM-host kernel live-updates itself under QEMU, with a report
#   make check    every test, under QEMU (T=<pattern> for a subset, DEBUG=1 for
#                 the KASAN/lockdep/kmemleak kernel, which skips the prod ones);
#                 NAME@prod and NAME@cross run on and across the prod kernel
#                 (VARIANTS=cross: every QEMU test also as NAME@cross)
#   make prod-kernel  the production-shaped kernel (configs/prod.config: NUMA,
#                 MAXSMP, KVM/VFIO/iommufd modules, signed) in build/obj-prod
#   make fleet    Ansible live-updates a fleet of three QEMU hosts, host by host
#   make fuzz     fuzz every parser of handed-over data in userspace
#                 (FUZZ_TIME=<seconds per target>); make fuzz-capture
#                 rewrites its seeds from a real handover captured in QEMU
#   make distro-check  Debian's cloud-amd64 config + configs/kho-v.fragment,
#                 built end to end; warnings in kho-v's code fail it
#   make kernel / initramfs / next-kernel / patches / bench / clean
#
# Nothing generated is tracked: everything lands in $(BUILD).

BUILD     ?= $(CURDIR)/build
SRC_TAR   ?= /usr/src/linux-source-6.12.tar.xz
KSRC      ?= $(BUILD)/base/linux-source-6.12
DEBUG     ?= 0
JOBS      ?= $(shell nproc)
T         ?=
# VARIANTS=cross: run every QEMU test as NAME@cross too
VARIANTS  ?=
comma     := ,
QEMU_TIMEOUT ?= 300

TREE      := $(BUILD)/tree
ifeq ($(DEBUG),1)
OBJ       := $(BUILD)/obj-debug
FRAGS     := configs/qemu-host.config configs/debug.config
else
OBJ       := $(BUILD)/obj
FRAGS     := configs/qemu-host.config
endif
BZIMAGE   := $(OBJ)/arch/x86/boot/bzImage
INITRAMFS := $(OBJ)/initramfs.cpio
# The fleet: the kernel the hosts update to (the same one, another build
# number), their initramfs, and the SSH keys of hosts and controller.
NEXT_OBJ  := $(OBJ)-next
NEXT_BZIMAGE := $(NEXT_OBJ)/arch/x86/boot/bzImage
FLEET     := $(BUILD)/fleet$(if $(filter 1,$(DEBUG)),-debug)
FLEET_IMAGE := $(FLEET)/fleet-initramfs.cpio
LOGDIR    := $(BUILD)/logs$(if $(filter 1,$(DEBUG)),-debug)
# The production-shaped kernel: the same tree and ccache, configured from
# qemu-host.config + prod.config. Its modules and images are signed with the
# test kernel's key (prod.config's MODULE_SIG_KEY names it), which both
# kernels trust, so each can kexec the other under lockdown.
PROD_OBJ  := $(BUILD)/obj-prod
PROD_FRAGS := configs/qemu-host.config configs/prod.config
PROD_BZIMAGE := $(PROD_OBJ)/arch/x86/boot/bzImage
PROD_MODULES := $(PROD_OBJ)/modules-root
TEST_KEY  := $(BUILD)/obj/certs/signing_key.pem
# PROD=1: build it too and carry it in the test initramfs, for the prod and
# cross variants; make check does. Never with DEBUG=1, whose kernel is not
# the one the prod kernel trusts: the variants are skipped there.
PROD      ?= $(if $(filter check,$(MAKECMDGOALS)),1,0)
WITH_PROD := $(if $(filter 1,$(DEBUG)),,$(filter 1,$(PROD)))

# ccache keyed on paths relative to the checkout, so a fresh clone in another
# directory still hits the cache.
export CCACHE_BASEDIR := $(CURDIR)
export KBUILD_BUILD_TIMESTAMP := 2026-01-01 00:00:00 UTC
export KBUILD_BUILD_USER := kho-v
export KBUILD_BUILD_HOST := qemu
KMAKE = $(MAKE) -C $(TREE) O=$(OBJ) CC="ccache gcc" -j$(JOBS)

# Debian packages the build and the QEMU runs need.
PKGS := linux-source-6.12 linux-config-6.12 build-essential flex bison bc libelf-dev libssl-dev \
	cpio xz-utils rsync ccache python3 qemu-system-x86 busybox-static \
	kexec-tools libfdt-dev device-tree-compiler kmod \
	ansible-core dropbear-bin openssh-client python3-jsonschema \
	clang libclang-rt-14-dev osslsigncode openssl gnuplot-nox
PKG_STAMP := $(BUILD)/.packages

.PHONY: all kernel initramfs check demo patches patches-check bench clean \
	packages tree config fleet fleet-image next-kernel prod-kernel fuzz fuzz-replay \
	fuzz-prepare fuzz-capture distro-check FORCE

all: kernel initramfs

packages: $(PKG_STAMP)
# checked again when this Makefile (and so PKGS) changes
$(PKG_STAMP): Makefile
	@mkdir -p $(BUILD)
	@missing=$$(for p in $(PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "==> Installing build packages with apt-get: $$missing"; \
		if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || \
		{ echo "error: apt-get install failed for: $$missing"; exit 1; }; \
	fi
	@touch $@

# The base tree: Debian's linux-source-6.12, unless KSRC points elsewhere.
$(BUILD)/base/linux-source-6.12/Makefile: | $(PKG_STAMP)
	@echo "==> Unpacking $(SRC_TAR) into $(BUILD)/base"
	@mkdir -p $(BUILD)/base
	@tar -C $(BUILD)/base -xf $(SRC_TAR)
	@touch $@

tree: $(KSRC)/Makefile | $(PKG_STAMP)
	@echo "==> Assembling the build tree: 6.12 base + kho-v files + patches/series"
	@harness/assemble.sh $(KSRC) $(TREE) $(CURDIR)

$(OBJ)/.config: $(FRAGS) harness/config.sh $(TREE)/.kho-v-stamp
	@echo "==> Configuring $(OBJ) from tinyconfig + $(FRAGS)"
	@harness/config.sh $(TREE) $(OBJ) $(FRAGS)


kernel: tree
	@$(MAKE) --no-print-directory $(OBJ)/.config
	@echo "==> Building bzImage in $(OBJ) (ccache; a cold build takes ~10 min on 2 cores)"
	@$(KMAKE) -s bzImage modules headers
	@echo "    $(BZIMAGE)"
	@$(MAKE) --no-print-directory $(BZIMAGE).signed

# bzImage signed with the module signing key kbuild made, which the kernel
# trusts: what kexec_file_load takes under lockdown (luo_lockdown)
# $(call sign_bzimage,OBJ,KEY): sign $< into $@ where OBJ's kernel verifies
sign_bzimage = if grep -q '^CONFIG_KEXEC_BZIMAGE_VERIFY_SIG=y' $(1)/.config; then \
		echo "==> Signing $@ for kexec under lockdown"; \
		rm -f $@; \
		osslsigncode sign -h sha256 -certs $(2) -key $(2) \
			-in $< -out $@ >/dev/null; \
	fi
$(BZIMAGE).signed: $(BZIMAGE)
	@$(call sign_bzimage,$(OBJ),$(OBJ)/certs/signing_key.pem)

# --- the production-shaped kernel ---
$(PROD_OBJ)/.config: $(PROD_FRAGS) harness/config.sh $(TREE)/.kho-v-stamp
	@echo "==> Configuring $(PROD_OBJ) from tinyconfig + $(PROD_FRAGS)"
	@harness/config.sh $(TREE) $(PROD_OBJ) $(PROD_FRAGS)

# It needs the test kernel's key: with DEBUG=1 that is still build/obj's
prod-kernel: $(if $(filter 1,$(DEBUG)),tree,kernel)
	@[ -f $(TEST_KEY) ] || $(MAKE) --no-print-directory kernel DEBUG=0
	@$(MAKE) --no-print-directory $(PROD_OBJ)/.config
	@echo "==> Building the production-shaped kernel in $(PROD_OBJ) (cold: ~12 min on 2 cores)"
	@$(MAKE) -C $(TREE) O=$(PROD_OBJ) CC="ccache gcc" -j$(JOBS) -s bzImage modules
	@rm -rf $(PROD_MODULES)
	@$(MAKE) -C $(TREE) O=$(PROD_OBJ) -s INSTALL_MOD_PATH=$(PROD_MODULES) \
		INSTALL_MOD_STRIP=1 modules_install
	@echo "    $(PROD_BZIMAGE), modules for $$(cat $(PROD_OBJ)/include/config/kernel.release)"
	@$(MAKE) --no-print-directory $(PROD_BZIMAGE).signed

# signed with the test kernel's key, so the test kernel can kexec it
$(PROD_BZIMAGE).signed: $(PROD_BZIMAGE) $(TEST_KEY)
	@$(call sign_bzimage,$(PROD_OBJ),$(TEST_KEY))

# --- initramfs: busybox, our loader, the tests, and the kernel to kexec into ---
# Libraries are not run: shell ones (NAME_lib.sh) are copied into the
# initramfs for their users to source, C ones are linked into the tests.
SH_LIBS := $(sort $(wildcard tools/testing/selftests/kho/*_lib.sh bench/*_lib.sh demo/*_lib.sh))
C_LIBS := $(wildcard tools/testing/selftests/liveupdate/luo_test_utils.c \
	tools/testing/selftests/kvm/kho/kvm_kho_util*.c \
	tools/testing/selftests/iommu/kho/iommu_kho_util.c)
not_lib = $(sort $(filter-out $(SH_LIBS) $(C_LIBS),$(wildcard $(1))))
TEST_SRCS := $(call not_lib,tools/testing/selftests/kho/*.sh \
	tools/testing/selftests/liveupdate/luo_*.c tools/testing/selftests/kvm/kho/kvm_kho_*.c \
	tools/testing/selftests/iommu/kho/*.c)
DEMO_SRCS := $(call not_lib,demo/*.sh demo/*.c)
# tests run from this machine against QEMU hosts (harness/fleet.py)
FLEET_TESTS := $(wildcard tools/kho/ansible/tests/*.py)
BENCH_SRCS := $(call not_lib,bench/*.sh bench/*.c)
USER_CFLAGS := -O2 -g -Wall -Wextra -I$(CURDIR)/include/uapi \
	-I$(CURDIR)/tools/testing/selftests/liveupdate \
	-I$(CURDIR)/tools/testing/selftests/kvm/kho \
	-I$(CURDIR)/tools/testing/selftests/iommu/kho

initramfs: kernel $(if $(WITH_PROD),prod-kernel)
	@echo "==> Building the test initramfs"
	@KHO_PROD_OBJ=$(if $(WITH_PROD),$(PROD_OBJ)) \
	harness/mkinitramfs.sh $(OBJ) $(BZIMAGE) $(INITRAMFS) "$(USER_CFLAGS)" $(SH_LIBS) $(TEST_SRCS) $(DEMO_SRCS) $(BENCH_SRCS)

# --- the fleet: hosts for Ansible ---
# The kernel to update to: a copy of the object directory relinked with
# another build number, so that "the new kernel runs" can be told apart.
next-kernel: kernel
	@echo "==> Relinking the kernel as the fleet's next kernel in $(NEXT_OBJ)"
	@mkdir -p $(NEXT_OBJ)
	@rsync -a --delete --exclude initramfs-root --exclude initramfs-bin \
		--exclude fleet-root --exclude initramfs.cpio $(OBJ)/ $(NEXT_OBJ)/
	@$(MAKE) -C $(TREE) O=$(NEXT_OBJ) CC="ccache gcc" -j$(JOBS) -s \
		KBUILD_BUILD_VERSION=$$(( $$(cat $(OBJ)/.version) + 1000 )) bzImage

fleet-image: initramfs next-kernel
	@echo "==> Building the fleet host initramfs (dropbear, Python, the demo VMM)"
	@harness/mkfleetimage.sh $(OBJ) $(FLEET_IMAGE) $(FLEET)/keys

FLEET_ARGS = --kernel $(BZIMAGE) --next-kernel $(NEXT_BZIMAGE) \
	--image $(FLEET_IMAGE) --key $(FLEET)/keys/id_ed25519
fleet: fleet-image
	@echo "==> Rolling live update of 3 QEMU hosts with Ansible (tools/kho/ansible)"
	@/usr/bin/python3 harness/fleet.py $(FLEET_ARGS) --logdir $(BUILD)/logs-fleet

# --- running ---
check: initramfs fleet-image fuzz-prepare
	@echo "==> Running tests under QEMU TCG ($(if $(filter 1,$(DEBUG)),debug kernel,test kernel$(if $(WITH_PROD), and the production-shaped one)), $(JOBS) at a time)"
	@KHO_FUZZ_VARS="$(KFUZZ_VARS)" KHO_TREE="$(TREE)" \
	python3 harness/run-tests.py --kernel $(BZIMAGE) --initrd $(INITRAMFS) \
		--logdir $(LOGDIR) --jobs $(JOBS) --timeout $(QEMU_TIMEOUT) \
		--fleet-args "$(FLEET_ARGS)" \
		$(if $(filter 1,$(DEBUG)),--debug) $(if $(WITH_PROD),--prod-kernel $(PROD_BZIMAGE)) \
		$(foreach v,$(subst $(comma), ,$(VARIANTS)),--every-variant $(v)) \
		$(if $(T),--filter '$(T)') $(TEST_SRCS) \
		$(FLEET_TESTS) $(FUZZ_TESTS) $(CONFIG_TESTS)

demo: initramfs
	@python3 harness/demo.py --kernel $(BZIMAGE) --initrd $(INITRAMFS) \
		--logdir $(BUILD)/logs-demo --timeout $(QEMU_TIMEOUT)

# kvm_blackout's tables per backing and its chart (build/logs-bench/
# kvm_blackout.png) come from harness/bench_report.py, over the logs of
# this run
bench: initramfs
	@mkdir -p $(BUILD)/logs-bench && touch $(BUILD)/logs-bench/.started
	@python3 harness/run-tests.py --kernel $(BZIMAGE) --initrd $(INITRAMFS) \
		--logdir $(BUILD)/logs-bench --jobs 1 --timeout $(QEMU_TIMEOUT) --bench \
		$(if $(T),--filter '$(T)') $(BENCH_SRCS); rc=$$?; \
	python3 harness/bench_report.py --logdir $(BUILD)/logs-bench \
		--since $(BUILD)/logs-bench/.started || rc=1; \
	exit $$rc

# --- fuzzing: the parsers of handed-over data, in userspace ---
# tools/testing/kho-fuzz builds them from this checkout against the
# assembled tree's headers and generated files, with clang's libFuzzer,
# ASan and UBSan. About 23,000 runs a second per target on one of these
# cores: 450 s makes 10 million.
FUZZ_TIME ?= 450
# FUZZ_RUNS=<inputs per target>: run that many instead, however long it takes
FUZZ_RUNS ?=
# The targets build against the test kernel's config, also for DEBUG=1:
# KASAN's and lockdep's hooks (__kasan_check_read(), mutex_lock_nested())
# mean nothing in userspace, where ASan and UBSan do that job. With
# DEBUG=1 that object directory is configured and prepared, not built.
FUZZ_OBJ  := $(BUILD)/obj
KFUZZ_VARS = KTREE=$(TREE) KOBJ=$(FUZZ_OBJ) O=$(BUILD)/kho-fuzz
KFUZZ = $(MAKE) --no-print-directory -C tools/testing/kho-fuzz $(KFUZZ_VARS)
# make check replays the seeds and regression inputs as one test
FUZZ_TESTS := tools/testing/kho-fuzz/fuzz_replay.py
# Debian's own configs with configs/kho-v.fragment keep kho-v on
CONFIG_TESTS := configs/distro_config.py

ifeq ($(DEBUG),1)
$(FUZZ_OBJ)/.config: configs/qemu-host.config harness/config.sh $(TREE)/.kho-v-stamp
	@echo "==> Configuring $(FUZZ_OBJ) for the fuzz targets"
	@harness/config.sh $(TREE) $(FUZZ_OBJ) configs/qemu-host.config
endif

fuzz-prepare: tree
	@$(MAKE) --no-print-directory $(FUZZ_OBJ)/.config
	@$(MAKE) -C $(TREE) O=$(FUZZ_OBJ) CC="ccache gcc" -j$(JOBS) -s prepare

fuzz: fuzz-prepare
	@FUZZ_RUNS=$(FUZZ_RUNS) $(KFUZZ) run FUZZ_TIME=$(FUZZ_TIME)

fuzz-replay: fuzz-prepare
	@$(KFUZZ) replay

# Seeds from a real handover: kvm_kho_capture finalizes a running VM and
# memfds under QEMU and prints the records; capture.py lays each out as
# its fuzz target's input in corpus/ and checks that the target accepts it.
fuzz-capture: initramfs fuzz-prepare
	@echo "==> Capturing a real handover under QEMU (kvm_kho_capture)"
	@python3 harness/run-tests.py --kernel $(BZIMAGE) --initrd $(INITRAMFS) \
		--logdir $(LOGDIR) --jobs 1 --timeout $(QEMU_TIMEOUT) \
		--fleet-args "$(FLEET_ARGS)" --filter kvm_kho_capture \
		$(TEST_SRCS) $(FLEET_TESTS) $(FUZZ_TESTS)
	@$(KFUZZ) all
	@echo "==> Writing the seeds in tools/testing/kho-fuzz/corpus"
	@python3 tools/testing/kho-fuzz/capture.py $(LOGDIR)/kvm_kho_capture.log \
		tools/testing/kho-fuzz/corpus --check $(BUILD)/kho-fuzz

# --- a distribution's build: Debian's cloud-amd64 config + kho-v.fragment ---
# Not part of `make check` (an hour or more on 2 cores): run before a release.
DISTRO_OBJ := $(BUILD)/obj-distro
distro-check: tree
	@harness/distro-check.sh $(TREE) $(DISTRO_OBJ) $(CURDIR) $(JOBS)

# --- patches for kernel teams ---
patches: $(KSRC)/Makefile
	@harness/export-patches.sh $(CURDIR) $(BUILD)/patches
patches-check: patches
	@harness/check-patches.sh $(KSRC) $(BUILD)/patches $(BUILD)/patches-check

clean:
	rm -rf $(BUILD)
