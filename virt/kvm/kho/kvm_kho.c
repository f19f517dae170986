// SPDX-License-Identifier: GPL-2.0
/*
 * KVM Live Update: carry a VM across a kexec ("kvm-vm-v1" file handler).
 *
 * A VMM preserves its VM fd in a Live Update session, next to the memfds
 * that back guest RAM. The preserve checks the vCPUs, each under its
 * mutex, kicking them out of KVM_RUN for that moment as quiesce does; what
 * it checks is checked again later, for a VMM may change it meanwhile.
 *
 * freeze(), when the handover is finalized, arms the VM: it allocates and
 * preserves the VM and vCPU records and writes what the VM is made of
 * (memslots, number of vCPUs). From then on the ioctls that would change
 * that fail with EBUSY, but the guest runs on, and so do the VM ioctls a
 * running VM needs (interrupts, eventfds, routing, getters).
 *
 * quiesce(), on the kexec itself after the operator's last step (or right
 * after freeze() with liveupdate.quiesce=finalize):
 *
 *  - marks the VM frozen: from now on KVM_RUN sleeps before taking the
 *    vCPU mutex, any other vCPU ioctl and every VM ioctl fail with EBUSY;
 *  - kicks each vCPU thread out of KVM_RUN with a signal-like task work
 *    (KVM_RUN returns EINTR, as for a signal; VMMs call it again);
 *  - takes each vCPU's mutex in turn, kicking again whichever thread runs
 *    the vCPU by then, and captures its architectural state, then the
 *    VM's (irqchip, PIT, clock), into the records freeze() allocated.
 *    A vCPU whose mutex stays held (a thread stuck in another vCPU ioctl)
 *    fails the quiesce, and with it the kexec, after KVM_KHO_SETTLE_MS
 *    instead of hanging it.
 *
 * The guest stops for good at that moment; its memory is in the memfds.
 * If the kexec is refused, unquiesce() wakes the sleeping KVM_RUN calls
 * and the guest goes on; if the handover is aborted, unfreeze() drops the
 * records as well. Nothing of the guest changed either way.
 *
 * In the next kernel, retrieving the file creates a new VM of the same
 * type with its in-kernel irqchip and PIT in their carried state and its
 * kvmclock advanced by the time that passed. The VMM maps the retrieved
 * memfds and adds the same memslots again, then creates its vCPUs with the
 * same ids. Each carried vCPU is loaded with its state at its first
 * KVM_RUN, once the memslots match what was carried; until then its other
 * ioctls fail with EBUSY.
 *
 * What a VM needs to be carried, and what it refuses, is up to the
 * architecture (kvm_kho_x86.c). VM capabilities enabled with
 * KVM_ENABLE_CAP, and the TSS and identity map addresses of VMX, are
 * configuration: the VMM sets them again before creating vCPUs.
 */
#define pr_fmt(fmt) "kvm-kho: " fmt

#include <linux/delay.h>
#include <linux/file.h>
#include <linux/kexec_handover.h>
#include <linux/kvm_host.h>
#include <linux/liveupdate.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "kvm_kho.h"
#include "kvm_kho_internal.h"

DEFINE_STATIC_KEY_FALSE(kvm_kho_active);

/*
 * struct kvm_kho_vm for each VM that is preserved or was rebuilt, keyed by
 * its struct kvm. Entries are added and removed under kvm_kho_mutex and
 * freed after an RCU grace period, so the fast checks only need RCU.
 *
 * Lock order: luo_mutex, then vcpu->mutex or kvm->lock or kvm->slots_lock,
 * then kvm_kho_mutex. An entry's @armed, @frozen and @held are written only by the
 * Live Update ops, which luo_mutex serializes, and read under RCU; a
 * KVM_RUN that reads them before taking its vCPU mutex reads them again
 * under it, so one that could miss them is kicked out or waited for.
 */
static DEFINE_XARRAY(kvm_kho_vms);
static DEFINE_MUTEX(kvm_kho_mutex);
/* KVM_RUN calls that wait for a quiesced VM to be released. */
static DECLARE_WAIT_QUEUE_HEAD(kvm_kho_wq);

/**
 * struct kvm_kho_vm - what is kept for one VM
 * @kvm: the VM
 * @rcu: to free the entry
 * @armed: outgoing, from freeze (finalize): its records are allocated and
 *	its layout (memslots, vCPUs) written; ioctls that would change that
 *	layout fail with EBUSY, the guest runs on
 * @frozen: outgoing, from quiesce (the kexec): stopped, its state captured
 *	or about to be
 * @captured: outgoing: its quiesce succeeded
 * @held: outgoing, while being preserved: KVM_RUN kept out of the guest
 * @ser_folio: outgoing, while armed: the VM record
 * @vcpu_folios: outgoing, while armed: the vCPU records
 * @nr_vcpu_folios: how many
 * @in_folio: incoming: the VM record, or NULL for an outgoing VM
 * @in_vcpus: incoming: the vCPU records not loaded yet (NULL once loaded)
 * @nr_pending: incoming: how many of @in_vcpus are still to be loaded
 * @slots_ok: incoming: the memslots were found to match the carried ones
 */
struct kvm_kho_vm {
	struct kvm *kvm;
	struct rcu_head rcu;
	bool armed;
	bool frozen;
	bool captured;
	bool held;
	struct folio *ser_folio;
	struct folio **vcpu_folios;
	unsigned int nr_vcpu_folios;
	struct folio *in_folio;
	struct folio **in_vcpus;
	unsigned int nr_pending;
	bool slots_ok;
};

static struct kvm_kho_vm *kvm_kho_add(struct kvm *kvm)
{
	struct kvm_kho_vm *vm;
	int err;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL);
	if (!vm)
		return ERR_PTR(-ENOMEM);
	vm->kvm = kvm;
	mutex_lock(&kvm_kho_mutex);
	err = xa_insert(&kvm_kho_vms, (unsigned long)kvm, vm, GFP_KERNEL);
	mutex_unlock(&kvm_kho_mutex);
	if (err) {
		kfree(vm);
		return ERR_PTR(err);
	}
	static_branch_inc(&kvm_kho_active);
	return vm;
}

static void kvm_kho_del(struct kvm_kho_vm *vm)
{
	mutex_lock(&kvm_kho_mutex);
	xa_erase(&kvm_kho_vms, (unsigned long)vm->kvm);
	mutex_unlock(&kvm_kho_mutex);
	static_branch_dec(&kvm_kho_active);
	kfree_rcu(vm, rcu);
}

/* Must KVM_RUN stay out of the guest: frozen, or being preserved? */
static bool kvm_kho_stopped(struct kvm *kvm)
{
	struct kvm_kho_vm *vm;
	bool stopped;

	rcu_read_lock();
	vm = xa_load(&kvm_kho_vms, (unsigned long)kvm);
	stopped = vm && (READ_ONCE(vm->frozen) || READ_ONCE(vm->held));
	rcu_read_unlock();
	return stopped;
}

/* ----- preserved blocks ----- */

static void *kvm_kho_alloc_block(size_t size, struct folio **foliop)
{
	unsigned int order = get_order(size);
	struct folio *folio;
	int err;

	if (order > KVM_KHO_MAX_ORDER)
		return ERR_PTR(-E2BIG);
	folio = folio_alloc(GFP_KERNEL | __GFP_ZERO, order);
	if (!folio)
		return ERR_PTR(-ENOMEM);
	err = kho_preserve_folio(folio);
	if (err) {
		folio_put(folio);
		return ERR_PTR(err);
	}
	*foliop = folio;
	return folio_address(folio);
}

static void kvm_kho_free_block(struct folio *folio)
{
	WARN_ON_ONCE(kho_unpreserve_folio(folio));
	folio_put(folio);
}

/* Drop the records freeze allocated. */
static void kvm_kho_release_out(struct kvm_kho_vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_vcpu_folios; i++)
		kvm_kho_free_block(vm->vcpu_folios[i]);
	kfree(vm->vcpu_folios);
	vm->vcpu_folios = NULL;
	vm->nr_vcpu_folios = 0;
	if (vm->ser_folio)
		kvm_kho_free_block(vm->ser_folio);
	vm->ser_folio = NULL;
}

/* ----- outgoing ----- */

/* Does @kvm have the memslots of @ser? kvm->slots_lock held. */
static int kvm_kho_match_slots(struct kvm *kvm, struct kvm_kho_vm_ser *ser)
{
	struct kvm_kho_slot_ser *rec = kvm_kho_vm_slots(ser);
	struct kvm_memory_slot *slot;
	int err = 0;
	u32 i;

	lockdep_assert_held(&kvm->slots_lock);
	for (i = 0; i < ser->nr_slots && !err; i++) {
		slot = id_to_memslot(__kvm_memslots(kvm, rec[i].id >> 16),
				     rec[i].id & 0xffff);
		if (!slot || gfn_to_gpa(slot->base_gfn) != rec[i].gpa ||
		    (slot->npages << PAGE_SHIFT) != rec[i].size ||
		    slot->flags != rec[i].flags) {
			pr_warn("memslot %u/%u (gpa %#llx, %llu bytes, flags %#x) not attached as it was\n",
				rec[i].id >> 16, rec[i].id & 0xffff, rec[i].gpa,
				rec[i].size, rec[i].flags);
			err = -EINVAL;
		}
	}
	return err;
}

/* Memslot features the handover does not carry. */
#define KVM_KHO_SLOT_REFUSED	(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_GUEST_MEMFD)

static int kvm_kho_check_vm(struct kvm *kvm)
{
	struct kvm_memory_slot *slot;
	struct kvm_memslots *slots;
	unsigned int nr = 0;
	int i, bkt, err = 0;

	if (kvm->dirty_ring_size) {
		pr_warn("VM %s: a dirty ring is not carried\n", kvm->stats_id);
		return -EOPNOTSUPP;
	}
	err = kvm_kho_arch_check_vm(kvm);
	if (err)
		return err;

	mutex_lock(&kvm->slots_lock);
	for (i = 0; i < kvm_arch_nr_memslot_as_ids(kvm); i++) {
		slots = __kvm_memslots(kvm, i);
		kvm_for_each_memslot(slot, bkt, slots) {
			if (slot->id >= KVM_USER_MEM_SLOTS)
				continue;	/* KVM's own, made again by it */
			if (slot->flags & KVM_KHO_SLOT_REFUSED) {
				pr_warn("VM %s: memslot %d: dirty logging or guest_memfd: not carried\n",
					kvm->stats_id, slot->id);
				err = -EOPNOTSUPP;
			}
			nr++;
		}
	}
	mutex_unlock(&kvm->slots_lock);
	if (!err && nr > KVM_KHO_MAX_SLOTS)
		err = -E2BIG;
	return err;
}

static bool kvm_kho_can_preserve(struct liveupdate_file_handler *handler,
				 struct file *file)
{
	return file_is_kvm(file);
}

static void kvm_kho_kick_done(struct callback_head *cb)
{
	kfree(cb);
}

/*
 * Make the thread that last ran @vcpu leave KVM_RUN: a task work queued
 * with TWA_SIGNAL is a pending signal to KVM's run loop, which returns
 * EINTR to userspace. The work itself does nothing.
 */
static void kvm_kho_kick(struct kvm_vcpu *vcpu)
{
	struct callback_head *cb;
	struct task_struct *task;

	rcu_read_lock();
	task = get_pid_task(rcu_dereference(vcpu->pid), PIDTYPE_PID);
	rcu_read_unlock();
	if (!task)
		return;
	cb = kmalloc(sizeof(*cb), GFP_KERNEL);
	if (cb) {
		init_task_work(cb, kvm_kho_kick_done);
		if (task_work_add(task, cb, TWA_SIGNAL))
			kfree(cb);	/* exiting: not in KVM_RUN for long */
	}
	put_task_struct(task);
	kvm_vcpu_kick(vcpu);
}

/* How long a VMM may take to come back and complete a vCPU's exit. */
#define KVM_KHO_SETTLE_MS	1000

/*
 * Take @vcpu's mutex, by @deadline. The holder is kicked out of KVM_RUN,
 * and kicked again whenever another thread has become the one that runs
 * the vCPU: the kick goes to the thread that last entered KVM_RUN, so one
 * that entered it just after a kick, from another thread, would otherwise
 * keep the guest running and the mutex held for good. A thread held in
 * another vCPU ioctl (by a userfaultfd, say) fails the caller with -EBUSY
 * at @deadline rather than hang every Live Update operation behind it.
 */
static int kvm_kho_lock_vcpu(struct kvm_vcpu *vcpu, unsigned long deadline)
{
	struct pid *kicked = NULL, *runner;

	while (!mutex_trylock(&vcpu->mutex)) {
		rcu_read_lock();
		runner = rcu_dereference(vcpu->pid);
		rcu_read_unlock();
		/* only compared: a new runner is kicked once */
		if (runner != kicked) {
			kvm_kho_kick(vcpu);
			kicked = runner;
		}
		if (fatal_signal_pending(current))
			return -EINTR;
		if (time_after(jiffies, deadline)) {
			pr_err("%s: vCPU %d: its mutex is held by a thread that does not leave its vCPU ioctl\n",
			       vcpu->kvm->stats_id, vcpu->vcpu_id);
			return -EBUSY;
		}
		usleep_range(100, 500);
	}
	return 0;
}

/*
 * Check the vCPUs the VM has now, each under its mutex. A vCPU thread
 * holds that mutex for as long as it is in KVM_RUN, which is for good
 * with a guest halted with interrupts off: so keep KVM_RUN out of the
 * guest (@held, as a freeze does), kick the threads out of it, check, and
 * let them go on. They see EINTR once, as for a signal.
 */
static int kvm_kho_check_vcpus(struct kvm_kho_vm *vm)
{
	unsigned int i, nr = atomic_read(&vm->kvm->online_vcpus);
	struct kvm_vcpu *vcpu;
	int err = 0;

	/* ordered before KVM_RUN's check by the vCPU mutex, as for freeze */
	WRITE_ONCE(vm->held, true);
	for (i = 0; i < nr; i++)
		kvm_kho_kick(kvm_get_vcpu(vm->kvm, i));
	for (i = 0; i < nr && !err; i++) {
		vcpu = kvm_get_vcpu(vm->kvm, i);
		err = kvm_kho_lock_vcpu(vcpu, jiffies +
					msecs_to_jiffies(KVM_KHO_SETTLE_MS));
		if (err)
			break;
		err = kvm_kho_arch_check_vcpu(vcpu);
		mutex_unlock(&vcpu->mutex);
	}
	WRITE_ONCE(vm->held, false);
	wake_up_all(&kvm_kho_wq);
	return err;
}

static int kvm_kho_preserve(struct liveupdate_file_op_args *args)
{
	struct kvm *kvm = args->file->private_data;
	struct kvm_kho_vm *vm;
	int err;

	if (kvm->vm_dead)
		return -EIO;
	err = kvm_kho_check_vm(kvm);
	if (err)
		return err;
	if (atomic_read(&kvm->online_vcpus) > KVM_KHO_MAX_VCPUS)
		return -E2BIG;

	/* EBUSY too for a rebuilt VM whose handover is not finished yet */
	vm = kvm_kho_add(kvm);
	if (IS_ERR(vm))
		return PTR_ERR(vm);
	err = kvm_kho_check_vcpus(vm);
	if (err) {
		kvm_kho_del(vm);
		return err;
	}
	args->private_data = vm;
	args->serialized_data = 0;
	return 0;
}

static void kvm_kho_unpreserve(struct liveupdate_file_op_args *args)
{
	struct kvm_kho_vm *vm = args->private_data;

	kvm_kho_release_out(vm);
	kvm_kho_del(vm);
}

static int kvm_kho_save_slots(struct kvm *kvm, struct kvm_kho_vm_ser *ser,
			      unsigned int max)
{
	struct kvm_kho_slot_ser *rec = kvm_kho_vm_slots(ser);
	struct kvm_memory_slot *slot;
	struct kvm_memslots *slots;
	unsigned int nr = 0;
	int i, bkt;

	lockdep_assert_held(&kvm->slots_lock);
	for (i = 0; i < kvm_arch_nr_memslot_as_ids(kvm); i++) {
		slots = __kvm_memslots(kvm, i);
		kvm_for_each_memslot(slot, bkt, slots) {
			if (slot->id >= KVM_USER_MEM_SLOTS)
				continue;
			if (nr == max)
				return -EBUSY;
			/* changed by an ioctl that began before the freeze */
			if (slot->flags & KVM_KHO_SLOT_REFUSED) {
				pr_err("VM %s: memslot %d: dirty logging or guest_memfd: not carried\n",
				       kvm->stats_id, slot->id);
				return -EOPNOTSUPP;
			}
			rec[nr].id = (u32)i << 16 | slot->id;
			rec[nr].flags = slot->flags;
			rec[nr].gpa = gfn_to_gpa(slot->base_gfn);
			rec[nr].size = slot->npages << PAGE_SHIFT;
			nr++;
		}
	}
	return nr == max ? 0 : -EBUSY;
}

static unsigned int kvm_kho_count_slots(struct kvm *kvm)
{
	struct kvm_memory_slot *slot;
	unsigned int nr = 0;
	int i, bkt;

	for (i = 0; i < kvm_arch_nr_memslot_as_ids(kvm); i++)
		kvm_for_each_memslot(slot, bkt, __kvm_memslots(kvm, i))
			if (slot->id < KVM_USER_MEM_SLOTS)
				nr++;
	return nr;
}

/*
 * Take the vCPU's mutex once it is out of KVM_RUN with nothing half
 * done: an exit to userspace (PIO, MMIO) that its VMM is handling is
 * completed by the VMM's next KVM_RUN, which the frozen VM lets through
 * without entering the guest. A VMM that does not come back within
 * KVM_KHO_SETTLE_MS (paused, say) fails the freeze.
 */
static int kvm_kho_lock_settled(struct kvm_vcpu *vcpu)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(KVM_KHO_SETTLE_MS);
	int err;

	for (;;) {
		/* waits for KVM_RUN to return; a new one sees the VM frozen */
		err = kvm_kho_lock_vcpu(vcpu, timeout);
		if (err)
			return err;
		if (!kvm_kho_arch_exit_pending(vcpu))
			return 0;
		mutex_unlock(&vcpu->mutex);
		if (time_after(jiffies, timeout)) {
			pr_err("vCPU %d: its VMM did not complete an exit to userspace within %d ms\n",
			       vcpu->vcpu_id, KVM_KHO_SETTLE_MS);
			return -EBUSY;
		}
		usleep_range(200, 1000);
	}
}

/* Capture one vCPU into its record, allocated at freeze; its mutex is held. */
static int kvm_kho_save_vcpu(struct kvm_vcpu *vcpu, struct folio *folio)
{
	struct kvm_kho_vcpu_ser *s = folio_address(folio);
	int err;

	err = kvm_kho_arch_check_vcpu(vcpu);
	if (err)
		return err;
	/* a kexec refused after an earlier capture left one here */
	memset(s, 0, folio_size(folio));
	s->magic = KVM_KHO_VCPU_MAGIC;
	s->vcpu_id = vcpu->vcpu_id;
	return kvm_kho_arch_save_vcpu(vcpu, s, folio_size(folio));
}

/*
 * At freeze: allocate and preserve the records, and write what the VM is
 * made of (its memslots, how many vCPUs), which the VM, armed, can no
 * longer change. Its state is captured into them at quiesce.
 */
static int kvm_kho_prepare(struct kvm_kho_vm *vm)
{
	struct kvm *kvm = vm->kvm;
	struct kvm_kho_vm_ser *ser;
	unsigned int nr_vcpus, nr_slots;
	struct kvm_vcpu *vcpu;
	unsigned long i;
	void *rec;
	int err;

	/* What was refused at preserve may have been set up since. */
	err = kvm->vm_dead ? -EIO : kvm_kho_check_vm(kvm);
	if (err) {
		pr_err("VM %s can no longer be carried (%d): finalize refused\n",
		       kvm->stats_id, err);
		return err;
	}

	/*
	 * A vCPU half created would be missed: refuse, the VMM can retry.
	 * Under kvm->lock, which KVM_CREATE_VCPU takes to count a new vCPU
	 * and, seeing the VM armed, to refuse it: from here on the VM has
	 * exactly nr_vcpus vCPUs.
	 */
	mutex_lock(&kvm->lock);
	nr_vcpus = atomic_read(&kvm->online_vcpus);
	err = kvm->created_vcpus != nr_vcpus ? -EBUSY : 0;
	mutex_unlock(&kvm->lock);
	if (err) {
		pr_err("VM %s: a vCPU is being created: finalize refused, retry\n",
		       kvm->stats_id);
		return err;
	}
	if (nr_vcpus > KVM_KHO_MAX_VCPUS)
		return -E2BIG;

	vm->vcpu_folios = kcalloc(nr_vcpus ?: 1, sizeof(*vm->vcpu_folios),
				  GFP_KERNEL);
	if (!vm->vcpu_folios)
		return -ENOMEM;
	for (i = 0; i < nr_vcpus; i++) {
		vcpu = kvm_get_vcpu(kvm, i);
		if (WARN_ON_ONCE(!vcpu))
			return -EBUSY;
		rec = kvm_kho_alloc_block(kvm_kho_arch_vcpu_size(vcpu),
					  &vm->vcpu_folios[i]);
		if (IS_ERR(rec))
			return PTR_ERR(rec);
		vm->nr_vcpu_folios++;
	}

	mutex_lock(&kvm->slots_lock);
	nr_slots = kvm_kho_count_slots(kvm);
	ser = kvm_kho_alloc_block(kvm_kho_vm_ser_size(nr_slots, nr_vcpus),
				  &vm->ser_folio);
	if (IS_ERR(ser)) {
		mutex_unlock(&kvm->slots_lock);
		vm->ser_folio = NULL;
		return PTR_ERR(ser);
	}
	ser->magic = KVM_KHO_VM_MAGIC;
	ser->version = KVM_KHO_VERSION;
	ser->nr_slots = nr_slots;
	ser->nr_vcpus = nr_vcpus;
	err = kvm_kho_save_slots(kvm, ser, nr_slots);
	mutex_unlock(&kvm->slots_lock);
	if (err)
		return err;
	for (i = 0; i < nr_vcpus; i++)
		kvm_kho_vm_vcpus(ser)[i] =
			PFN_PHYS(folio_pfn(vm->vcpu_folios[i]));
	return 0;
}

/*
 * Are the memslots still the ones freeze wrote? An ioctl that passed the
 * armed check just before freeze may have changed them after.
 */
static int kvm_kho_slots_unchanged(struct kvm_kho_vm *vm)
{
	struct kvm_kho_vm_ser *ser = folio_address(vm->ser_folio);
	struct kvm *kvm = vm->kvm;
	int err;

	mutex_lock(&kvm->slots_lock);
	err = kvm_kho_count_slots(kvm) == ser->nr_slots ?
	      kvm_kho_match_slots(kvm, ser) : -EBUSY;
	mutex_unlock(&kvm->slots_lock);
	if (err)
		pr_err("VM %s: memslots changed after finalize\n", kvm->stats_id);
	return err;
}

/* At quiesce, stopped: capture the vCPUs and the VM into the records. */
static int kvm_kho_capture(struct kvm_kho_vm *vm)
{
	struct kvm_kho_vm_ser *ser = folio_address(vm->ser_folio);
	struct kvm *kvm = vm->kvm;
	struct kvm_vcpu *vcpu;
	unsigned long i;
	int err;

	err = kvm->vm_dead ? -EIO : kvm_kho_check_vm(kvm);
	if (!err)
		err = kvm_kho_slots_unchanged(vm);
	if (err) {
		pr_err("VM %s can no longer be carried (%d)\n", kvm->stats_id,
		       err);
		return err;
	}

	/* armed: the VM has exactly the vCPUs it had at freeze, all kicked */
	for (i = 0; i < vm->nr_vcpu_folios; i++) {
		vcpu = kvm_get_vcpu(kvm, i);
		err = kvm_kho_lock_settled(vcpu);
		if (err)
			return err;
		err = kvm_kho_save_vcpu(vcpu, vm->vcpu_folios[i]);
		mutex_unlock(&vcpu->mutex);
		if (err) {
			pr_err("cannot capture vCPU %d: %d\n", vcpu->vcpu_id,
			       err);
			return err;
		}
	}
	return kvm_kho_arch_save_vm(kvm, ser);
}

static int kvm_kho_freeze(struct liveupdate_file_op_args *args)
{
	struct kvm_kho_vm *vm = args->private_data;
	int err;

	/* KVM_CREATE_VCPU and memslot changes from now on see it armed */
	WRITE_ONCE(vm->armed, true);
	err = kvm_kho_prepare(vm);
	if (err) {
		kvm_kho_release_out(vm);
		WRITE_ONCE(vm->armed, false);
		return err;
	}
	args->serialized_data = PFN_PHYS(folio_pfn(vm->ser_folio));
	pr_info("VM %s ready for the kexec: %u vCPUs run on until then\n",
		vm->kvm->stats_id, vm->nr_vcpu_folios);
	return 0;
}

/*
 * Stop every armed VM that is not yet, before the first capture: their
 * vCPU threads then leave KVM_RUN together rather than one VM after the
 * other. Live Update calls every handler under its mutex, which also
 * keeps the entries from going away.
 */
static void kvm_kho_stop_all(void)
{
	struct kvm_kho_vm *vm;
	unsigned long idx, i;

	xa_for_each(&kvm_kho_vms, idx, vm) {
		if (!vm->armed || vm->frozen)
			continue;
		WRITE_ONCE(vm->frozen, true);
		for (i = 0; i < vm->nr_vcpu_folios; i++)
			kvm_kho_kick(kvm_get_vcpu(vm->kvm, i));
	}
}

/* A quiesce failed or was undone: let run what was stopped uncaptured. */
static void kvm_kho_release_stopped(void)
{
	struct kvm_kho_vm *vm;
	unsigned long idx;

	xa_for_each(&kvm_kho_vms, idx, vm)
		if (vm->frozen && !vm->captured)
			WRITE_ONCE(vm->frozen, false);
	wake_up_all(&kvm_kho_wq);
}

static int kvm_kho_quiesce(struct liveupdate_file_op_args *args)
{
	struct kvm_kho_vm *vm = args->private_data;
	u64 start = ktime_get_ns();
	int err;

	/*
	 * A KVM_RUN that takes the vCPU mutex after the capture below took
	 * and released it sees the VM frozen: the mutex orders the two.
	 */
	if (!vm->frozen)
		kvm_kho_stop_all();
	err = kvm_kho_capture(vm);
	if (err) {
		kvm_kho_release_stopped();
		return err;
	}
	vm->captured = true;
	pr_info("VM quiesced: %u vCPUs captured in %llu us (VM %s)\n",
		vm->nr_vcpu_folios,
		div_u64(ktime_get_ns() - start, NSEC_PER_USEC),
		vm->kvm->stats_id);
	return 0;
}

/* The kexec was refused, or the handover is being aborted: run again. */
static void kvm_kho_unquiesce(struct liveupdate_file_op_args *args)
{
	struct kvm_kho_vm *vm = args->private_data;

	vm->captured = false;
	kvm_kho_release_stopped();
}

static void kvm_kho_unfreeze(struct liveupdate_file_op_args *args)
{
	struct kvm_kho_vm *vm = args->private_data;

	kvm_kho_release_out(vm);
	args->serialized_data = 0;
	vm->captured = false;
	WRITE_ONCE(vm->frozen, false);
	WRITE_ONCE(vm->armed, false);
	wake_up_all(&kvm_kho_wq);
	pr_info("VM resumed: the handover was aborted\n");
}

/* ----- incoming ----- */

static void kvm_kho_put_in(struct folio *ser_folio, struct folio **vcpus,
			   unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (vcpus[i])
			folio_put(vcpus[i]);
	kfree(vcpus);
	folio_put(ser_folio);
}

static int kvm_kho_check_ser(struct kvm_kho_vm_ser *ser, size_t size)
{
	struct kvm_kho_slot_ser *rec;
	u32 i;

	if (size < sizeof(*ser) || ser->magic != KVM_KHO_VM_MAGIC ||
	    ser->version != KVM_KHO_VERSION || ser->reserved ||
	    ser->flags & ~KVM_KHO_VM_FLAGS)
		return -EINVAL;
	if (ser->nr_slots > KVM_KHO_MAX_SLOTS ||
	    ser->nr_vcpus > KVM_KHO_MAX_VCPUS ||
	    kvm_kho_vm_ser_size(ser->nr_slots, ser->nr_vcpus) > size)
		return -EINVAL;
	/* address space 1 is SMM's, where KVM has it (2 spaces, else 1) */
	rec = kvm_kho_vm_slots(ser);
	for (i = 0; i < ser->nr_slots; i++) {
		if ((rec[i].id >> 16) >= KVM_MAX_NR_ADDRESS_SPACES ||
		    (rec[i].id & 0xffff) >= KVM_USER_MEM_SLOTS ||
		    !PAGE_ALIGNED(rec[i].gpa) || !PAGE_ALIGNED(rec[i].size) ||
		    !rec[i].size)
			return -EINVAL;
	}
	return kvm_kho_arch_check_vm_ser(ser);
}

/* The order of the unclaimed preserved block at @phys, or -1. */
static int kvm_kho_block_order(phys_addr_t phys)
{
	unsigned int order;

	for (order = 0; order <= KVM_KHO_MAX_ORDER; order++)
		if (kho_is_preserved(phys, order))
			return order;
	return -1;
}

/*
 * Check a carried VM in place, its record at @phys and every vCPU record
 * it names, before anything is claimed: a corrupt handover could name
 * blocks that belong to someone else (guest memory), and those must stay
 * untouched.
 */
static int kvm_kho_check_in(phys_addr_t phys)
{
	struct kvm_kho_vcpu_ser *s, *t;
	struct kvm_kho_vm_ser *ser;
	int order;
	u64 *vcpus;
	u32 i, j;

	order = kvm_kho_block_order(phys);
	if (order < 0) {
		pr_err("no preserved VM record at %pa\n", &phys);
		return -EINVAL;
	}
	ser = phys_to_virt(phys);
	/* a later kernel's format: say so, rather than call it corrupt */
	if (ser->magic == KVM_KHO_VM_MAGIC && ser->version != KVM_KHO_VERSION) {
		pr_err("the VM record at %pa is of version %u; this kernel reads version %u only\n",
		       &phys, ser->version, KVM_KHO_VERSION);
		return -EINVAL;
	}
	if (kvm_kho_check_ser(ser, PAGE_SIZE << order)) {
		pr_err("the VM record at %pa is corrupt\n", &phys);
		return -EINVAL;
	}
	vcpus = kvm_kho_vm_vcpus(ser);
	for (i = 0; i < ser->nr_vcpus; i++) {
		order = kvm_kho_block_order(vcpus[i]);
		s = order < 0 ? NULL : phys_to_virt(vcpus[i]);
		if (!s || kvm_kho_arch_check_vcpu_ser(s, PAGE_SIZE << order)) {
			pr_err("vCPU record %u at %#llx is missing or corrupt\n",
			       i, vcpus[i]);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			t = phys_to_virt(vcpus[j]);
			if (vcpus[j] == vcpus[i] || t->vcpu_id == s->vcpu_id) {
				pr_err("vCPU record %u repeats an earlier one\n",
				       i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/*
 * Take a carried VM's records once kvm_kho_check_in() passed: the VM
 * record into *@ser_folio, the vCPU records into the returned array.
 */
static struct folio **kvm_kho_claim(phys_addr_t phys, struct folio **ser_folio)
{
	struct kvm_kho_vm_ser *ser;
	struct folio **vcpus;
	u64 *phys_vcpus;
	int err;
	u32 i;

	err = kvm_kho_check_in(phys);
	if (err)
		return ERR_PTR(err);
	ser = phys_to_virt(phys);
	vcpus = kcalloc(ser->nr_vcpus ?: 1, sizeof(*vcpus), GFP_KERNEL);
	if (!vcpus)
		return ERR_PTR(-ENOMEM);
	*ser_folio = kho_restore_folio(phys);
	if (WARN_ON_ONCE(!*ser_folio)) {
		kfree(vcpus);
		return ERR_PTR(-EINVAL);
	}
	phys_vcpus = kvm_kho_vm_vcpus(ser);
	for (i = 0; i < ser->nr_vcpus; i++) {
		vcpus[i] = kho_restore_folio(phys_vcpus[i]);
		if (WARN_ON_ONCE(!vcpus[i])) {
			kvm_kho_put_in(*ser_folio, vcpus, ser->nr_vcpus);
			return ERR_PTR(-EINVAL);
		}
	}
	return vcpus;
}

/*
 * The records of a carried VM, claimed by a retrieve that then failed:
 * kept in the file's private_data so that a retry, or finish(), takes
 * them from there. They cannot be claimed twice.
 */
struct kvm_kho_claimed {
	struct folio *ser_folio;
	struct folio **vcpus;
};

static int kvm_kho_retrieve(struct liveupdate_file_op_args *args)
{
	static atomic_t nr_rebuilt = ATOMIC_INIT(0);
	struct kvm_kho_claimed *claimed = args->private_data;
	struct kvm_kho_vm_ser *ser;
	struct kvm_kho_vm *vm;
	char name[16];
	struct file *file;
	struct kvm *kvm;
	int err;

	if (!claimed) {
		struct folio **vcpus;

		claimed = kzalloc(sizeof(*claimed), GFP_KERNEL);
		if (!claimed)
			return -ENOMEM;
		vcpus = kvm_kho_claim(args->serialized_data,
				      &claimed->ser_folio);
		if (IS_ERR(vcpus)) {
			kfree(claimed);
			return PTR_ERR(vcpus);
		}
		claimed->vcpus = vcpus;
		args->private_data = claimed;
	}
	ser = folio_address(claimed->ser_folio);

	snprintf(name, sizeof(name), "kho%d", atomic_inc_return(&nr_rebuilt));
	file = kvm_create_vm_file(ser->vm_type, name);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		pr_err("cannot create the VM: %d (the records are kept for a retry)\n",
		       err);
		return err;
	}
	kvm = file->private_data;
	err = kvm_kho_arch_create_vm(file, ser);
	if (err) {
		pr_err("cannot rebuild the VM's devices: %d (the records are kept for a retry)\n",
		       err);
		goto err_fput;
	}

	vm = kvm_kho_add(kvm);
	if (IS_ERR(vm)) {
		err = PTR_ERR(vm);
		goto err_fput;
	}
	mutex_lock(&kvm_kho_mutex);
	vm->in_folio = claimed->ser_folio;
	vm->in_vcpus = claimed->vcpus;
	WRITE_ONCE(vm->nr_pending, ser->nr_vcpus);
	mutex_unlock(&kvm_kho_mutex);
	kfree(claimed);
	args->private_data = NULL;

	args->file = file;
	pr_info("VM rebuilt: %u vCPUs and %u memslots to attach\n",
		ser->nr_vcpus, ser->nr_slots);
	return 0;

err_fput:
	fput(file);
	return err;
}

static void kvm_kho_finish(struct liveupdate_file_op_args *args)
{
	phys_addr_t phys = args->serialized_data;
	struct kvm_kho_vm_ser *ser;
	struct kvm_kho_vm *vm;
	struct folio *folio;
	struct folio **vcpus;

	if (args->retrieved) {
		struct kvm *kvm = args->file->private_data;

		/* a vCPU being loaded holds the mutex: wait for it */
		mutex_lock(&kvm_kho_mutex);
		vm = xa_load(&kvm_kho_vms, (unsigned long)kvm);
		if (!vm || !vm->in_folio) {
			mutex_unlock(&kvm_kho_mutex);
			return;
		}
		if (vm->nr_pending)
			pr_warn("handover finished with %u carried vCPUs never run: their state is dropped\n",
				vm->nr_pending);
		ser = folio_address(vm->in_folio);
		kvm_kho_put_in(vm->in_folio, vm->in_vcpus, ser->nr_vcpus);
		vm->in_folio = NULL;
		vm->in_vcpus = NULL;
		WRITE_ONCE(vm->nr_pending, 0);
		mutex_unlock(&kvm_kho_mutex);
		kvm_kho_del(vm);
		return;
	}

	/* a retrieve that failed claimed them already */
	if (args->private_data) {
		struct kvm_kho_claimed *claimed = args->private_data;

		ser = folio_address(claimed->ser_folio);
		kvm_kho_put_in(claimed->ser_folio, claimed->vcpus,
			       ser->nr_vcpus);
		kfree(claimed);
		args->private_data = NULL;
		return;
	}

	/* never retrieved: free the records, if they are what they claim */
	vcpus = kvm_kho_claim(phys, &folio);
	if (IS_ERR(vcpus))
		return;
	ser = folio_address(folio);
	kvm_kho_put_in(folio, vcpus, ser->nr_vcpus);
}

/* ----- hooks ----- */

int __kvm_kho_vcpu_wait(struct kvm_vcpu *vcpu, unsigned int ioctl)
{
	if (ioctl != KVM_RUN)
		return 0;
	/* only the vCPU's own KVM_RUN changes what is pending */
	if (wait_event_killable(kvm_kho_wq, !kvm_kho_stopped(vcpu->kvm) ||
				kvm_kho_arch_exit_pending(vcpu)))
		return -EINTR;
	return 0;
}

bool __kvm_kho_vcpu_held(struct kvm_vcpu *vcpu)
{
	return kvm_kho_stopped(vcpu->kvm);
}

/* Do the memslots of a rebuilt VM match the carried ones? */
static int kvm_kho_check_slots(struct kvm *kvm, struct kvm_kho_vm_ser *ser)
{
	int err;

	mutex_lock(&kvm->slots_lock);
	err = kvm_kho_match_slots(kvm, ser);
	mutex_unlock(&kvm->slots_lock);
	return err;
}

/* Load the carried state of @vcpu, if it has some; kvm_kho_mutex held. */
static int kvm_kho_load_vcpu(struct kvm_kho_vm *vm, struct kvm_vcpu *vcpu,
			     unsigned int ioctl)
{
	struct kvm_kho_vm_ser *ser = folio_address(vm->in_folio);
	struct kvm_kho_vcpu_ser *s = NULL;
	u32 i;
	int err;

	for (i = 0; i < ser->nr_vcpus; i++) {
		if (!vm->in_vcpus[i])
			continue;
		s = folio_address(vm->in_vcpus[i]);
		if (s->vcpu_id == vcpu->vcpu_id)
			break;
	}
	if (i == ser->nr_vcpus)
		return 0;	/* a vCPU the VM did not have before */
	if (ioctl != KVM_RUN)
		return -EBUSY;	/* its state is loaded at its first KVM_RUN */

	if (!vm->slots_ok) {
		err = kvm_kho_check_slots(vm->kvm, ser);
		if (err)
			return err;
		vm->slots_ok = true;
	}
	err = kvm_kho_arch_load_vcpu(vcpu, ser, s);
	if (err) {
		pr_err("cannot load the state of vCPU %d: %d\n", vcpu->vcpu_id,
		       err);
		return err;
	}
	folio_put(vm->in_vcpus[i]);
	vm->in_vcpus[i] = NULL;
	WRITE_ONCE(vm->nr_pending, vm->nr_pending - 1);
	/* the blackout as the guest saw it: from capture to running again */
	pr_info("%s: vCPU %d resumed, %llu us after it was stopped\n",
		vcpu->kvm->stats_id, vcpu->vcpu_id,
		kvm_kho_arch_blackout_us(ser));
	return 0;
}

int __kvm_kho_vcpu_ioctl(struct kvm_vcpu *vcpu, unsigned int ioctl)
{
	bool frozen, held, pending;
	struct kvm_kho_vm *vm;
	int err = 0;

	/* the common case, every KVM_RUN of every VM: no lock */
	rcu_read_lock();
	vm = xa_load(&kvm_kho_vms, (unsigned long)vcpu->kvm);
	frozen = vm && READ_ONCE(vm->frozen);
	held = vm && READ_ONCE(vm->held);
	pending = vm && READ_ONCE(vm->nr_pending);
	rcu_read_unlock();

	if (frozen || (held && ioctl == KVM_RUN)) {
		if (ioctl != KVM_RUN)
			return -EBUSY;
		/*
		 * KVM_RUN goes on, held out of the guest (kvm_kho_vcpu_held()):
		 * it completes a pending exit, if any, and returns EINTR, as
		 * for a signal. The next one waits.
		 */
		vcpu->run->exit_reason = KVM_EXIT_INTR;
		return 0;
	}
	if (!pending)
		return 0;

	mutex_lock(&kvm_kho_mutex);
	vm = xa_load(&kvm_kho_vms, (unsigned long)vcpu->kvm);
	if (vm && vm->in_folio && vm->nr_pending)
		err = kvm_kho_load_vcpu(vm, vcpu, ioctl);
	mutex_unlock(&kvm_kho_mutex);
	return err;
}

/*
 * What a VMM does to a running VM, and the getters: allowed on an armed
 * VM. Everything else may change what freeze wrote (memslots, vCPUs,
 * capabilities, devices) or what quiesce captures from a stopped VM.
 */
static bool kvm_kho_vm_ioctl_runs_on(unsigned int ioctl)
{
	switch (ioctl) {
	case KVM_CHECK_EXTENSION:
	case KVM_IRQFD:
	case KVM_IOEVENTFD:
	case KVM_SIGNAL_MSI:
	case KVM_SET_GSI_ROUTING:
	case KVM_REGISTER_COALESCED_MMIO:
	case KVM_UNREGISTER_COALESCED_MMIO:
	case KVM_GET_STATS_FD:
#ifdef __KVM_HAVE_IRQ_LINE
	case KVM_IRQ_LINE:
	case KVM_IRQ_LINE_STATUS:
#endif
#ifdef CONFIG_X86
	case KVM_GET_IRQCHIP:
	case KVM_GET_PIT2:
	case KVM_GET_CLOCK:
#endif
		return true;
	default:
		return false;
	}
}

int __kvm_kho_vm_ioctl(struct kvm *kvm, unsigned int ioctl)
{
	struct kvm_kho_vm *vm;
	bool armed, frozen;

	rcu_read_lock();
	vm = xa_load(&kvm_kho_vms, (unsigned long)kvm);
	armed = vm && READ_ONCE(vm->armed);
	frozen = vm && READ_ONCE(vm->frozen);
	rcu_read_unlock();

	if (!armed || (!frozen && kvm_kho_vm_ioctl_runs_on(ioctl)))
		return 0;
	return -EBUSY;
}

static const struct liveupdate_file_ops kvm_kho_ops = {
	.can_preserve = kvm_kho_can_preserve,
	.preserve = kvm_kho_preserve,
	.unpreserve = kvm_kho_unpreserve,
	.freeze = kvm_kho_freeze,
	.unfreeze = kvm_kho_unfreeze,
	.quiesce = kvm_kho_quiesce,
	.unquiesce = kvm_kho_unquiesce,
	.retrieve = kvm_kho_retrieve,
	.finish = kvm_kho_finish,
};

static struct liveupdate_file_handler kvm_kho_handler = {
	.ops = &kvm_kho_ops,
	.compatible = KVM_KHO_COMPATIBLE,
	.owner = THIS_MODULE,
};

/**
 * kvm_kho_init - let Live Update carry KVM VMs
 *
 * Called from kvm_init(). Live Update being off (kho=off) is not an error.
 *
 * Return: 0 or a negative errno.
 */
int kvm_kho_init(void)
{
	int err = liveupdate_register_file_handler(&kvm_kho_handler);

	if (err == -EOPNOTSUPP)
		return 0;
	if (err)
		pr_err("cannot register the VM handler: %d\n", err);
	return err;
}

/**
 * kvm_kho_exit - undo kvm_kho_init()
 */
void kvm_kho_exit(void)
{
	/*
	 * Never in use here: every VM file Live Update holds, preserved or
	 * incoming, holds this module too. -ENOENT: Live Update is off.
	 */
	int err = liveupdate_unregister_file_handler(&kvm_kho_handler);

	WARN_ON(err && err != -ENOENT);
}
